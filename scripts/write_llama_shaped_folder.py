"""Writes a Hugging Face Llama folder of a given shape with random bfloat16
weights, as released checkpoints store them, for measuring what a large
model costs without downloading one:
    python write_llama_shaped_folder.py --shape 7b --tokenizer-from SMOLLM2.gguf -o OUT
The shapes are write_llama_shaped_gguf.py's (Llama 3 8B's: d 4096, 32 layers,
GQA 32/8, FFN 14336, vocabulary 128256, an untied head). Matrices get random
bfloat16 values of magnitude 2^-11 to 2^-7 with random signs, norm gains 1,
so activations stay finite through the RMSNorms. The tokenizer (byte-level
BPE vocabulary, completed with any byte token it lacks, and merges) is
copied from a GGUF file as vocab.json and merges.txt. One model.safetensors, written a block of rows at a time, so
memory stays small whatever the folder's size; the folder appears under its
name only once it is whole. Needs the `gguf` package (and numpy).
"""
import json
import os
import shutil

import numpy as np
import gguf

from write_llama_shaped_gguf import shaped_model_arguments, string_array

VALUES_PER_BLOCK = 1 << 25  # values generated and written at a time
BF16_ONE = 0x3F80


def byte_tokens():
    """The 256 characters GPT-2's byte-level BPE spells bytes with: printable Latin-1 bytes as themselves, the
    others as the characters from U+0100 on, in byte order."""
    kept = set(range(ord("!"), ord("~") + 1)) | set(range(ord("\u00a1"), ord("\u00ac") + 1)) | set(
        range(ord("\u00ae"), ord("\u00ff") + 1))
    spelled, shifted = [], 0
    for byte in range(256):
        if byte in kept:
            spelled.append(chr(byte))
        else:
            spelled.append(chr(256 + shifted))
            shifted += 1
    return spelled


def random_bf16(rng, count):
    """`count` bfloat16 bit patterns: random sign and mantissa, exponent 116..119 (2^-11 .. 2^-7)."""
    bits = rng.integers(0, 1 << 16, size=count, dtype=np.uint16)
    exponent = (116 + ((bits >> 7) & 3)).astype(np.uint16)
    return (bits & 0x807F) | (exponent << 7)


def main():
    args, (d, layers, heads, kv_heads, ffn, vocab) = shaped_model_arguments(__doc__.splitlines()[0])
    head_dim = d // heads

    partial = args.output + ".part"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    source = gguf.GGUFReader(args.tokenizer_from)
    tokens = string_array(source, "tokenizer.ggml.tokens")
    if len(tokens) > vocab:
        raise SystemExit(f"{args.tokenizer_from} has {len(tokens)} tokens, more than the shape's {vocab}")
    # A byte-level vocabulary spells every byte; SmolLM2's lacks a few control bytes, given the ids after it.
    known = set(tokens)
    tokens += [token for token in byte_tokens() if token not in known]
    if len(tokens) > vocab:
        raise SystemExit(f"{args.tokenizer_from}'s tokens and the missing byte tokens are more than {vocab}")
    with open(os.path.join(partial, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(tokens)}, f, ensure_ascii=False)
    with open(os.path.join(partial, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.write("\n".join(string_array(source, "tokenizer.ggml.merges")) + "\n")
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": d,
              "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
              "intermediate_size": ffn, "vocab_size": vocab, "max_position_embeddings": 8192,
              "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "hidden_act": "silu", "tie_word_embeddings": False,
              "torch_dtype": "bfloat16"}
    with open(os.path.join(partial, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    # (name, torch-order shape, random or ones)
    plan = [("model.embed_tokens.weight", (vocab, d), True)]
    for i in range(layers):
        b = f"model.layers.{i}."
        plan += [(b + "input_layernorm.weight", (d,), False), (b + "self_attn.q_proj.weight", (d, d), True),
                 (b + "self_attn.k_proj.weight", (kv_heads * head_dim, d), True),
                 (b + "self_attn.v_proj.weight", (kv_heads * head_dim, d), True),
                 (b + "self_attn.o_proj.weight", (d, d), True),
                 (b + "post_attention_layernorm.weight", (d,), False),
                 (b + "mlp.gate_proj.weight", (ffn, d), True), (b + "mlp.up_proj.weight", (ffn, d), True),
                 (b + "mlp.down_proj.weight", (d, ffn), True)]
    plan += [("model.norm.weight", (d,), False), ("lm_head.weight", (vocab, d), True)]
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dims, _ in plan:
        size = 2 * int(np.prod(dims))
        header[name] = {"dtype": "BF16", "shape": list(dims), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
    rng = np.random.default_rng(args.seed)
    with open(os.path.join(partial, "model.safetensors"), "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for name, dims, random in plan:
            count = int(np.prod(dims))
            if not random:
                f.write(np.full(count, BF16_ONE, dtype="<u2").tobytes())
                continue
            for first in range(0, count, VALUES_PER_BLOCK):
                f.write(random_bf16(rng, min(VALUES_PER_BLOCK, count - first)).astype("<u2").tobytes())
    shutil.rmtree(args.output, ignore_errors=True)
    os.replace(partial, args.output)


if __name__ == "__main__":
    main()
