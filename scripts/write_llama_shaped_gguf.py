"""Writes a Llama-architecture GGUF file of a given shape with random Q4_K
matrices, for measuring what a large model costs without downloading one:
    python write_llama_shaped_gguf.py --shape 7b --tokenizer-from SMOLLM2.gguf -o OUT.gguf
The shapes are Llama 3 8B's (d 4096, 32 layers, 32 query and 8 key/value
heads, FFN 14336, vocabulary 128256) and a small one for checking the
script. Each Q4_K block gets random quants, 6-bit scales and mins, and f16
super-block scales that keep weights within about +-0.06 around zero, so
activations stay finite through the RMSNorms. The tokenizer (byte-level BPE
tokens, types, merges, BOS/EOS) is copied from another GGUF file and padded
with control tokens up to the vocabulary size. Tensors are written one at a
time, so memory stays small whatever the file's size; the file appears under
its name only once it is whole. Needs the `gguf` package (and numpy).
"""
import argparse
import os

import numpy as np
import gguf

SHAPES = {
    "7b": dict(d=4096, layers=32, heads=32, kv_heads=8, ffn=14336, vocab=128256),
    "small": dict(d=512, layers=2, heads=8, kv_heads=2, ffn=1024, vocab=50000),
}
Q4_K_BLOCK_VALUES, Q4_K_BLOCK_BYTES = 256, 144


def string_array(reader, key):
    field = reader.fields[key]
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def scalar(reader, key):
    field = reader.fields.get(key)
    return None if field is None else int(field.parts[field.data[0]][0])


def q4_k_blocks(rng, rows, cols):
    """Random Q4_K data of a [rows, cols] matrix as raw bytes [rows, cols / 256 * 144]."""
    blocks = rng.integers(0, 256, size=(rows * cols // Q4_K_BLOCK_VALUES, Q4_K_BLOCK_BYTES), dtype=np.uint8)
    # d * scale * q - dmin * min, scale and min in 0..63, q in 0..15: about zero on average.
    d, dmin = np.float16(0.06 / (63 * 15)), np.float16(0.03 / 63)
    blocks[:, 0:2] = np.frombuffer(d.tobytes(), dtype=np.uint8)
    blocks[:, 2:4] = np.frombuffer(dmin.tobytes(), dtype=np.uint8)
    return blocks.reshape(rows, cols // Q4_K_BLOCK_VALUES * Q4_K_BLOCK_BYTES)


def shaped_model_arguments(description):
    """The command line of a shaped-model writer, and its shape's d, layers, heads, kv_heads, ffn, vocab."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    parser.add_argument("--tokenizer-from", required=True, help="a GGUF file whose byte-level BPE tokenizer to copy")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shape = SHAPES[args.shape]
    return args, tuple(shape[k] for k in ("d", "layers", "heads", "kv_heads", "ffn", "vocab"))


def main():
    args, (d, layers, heads, kv_heads, ffn, vocab) = shaped_model_arguments(__doc__.splitlines()[0])
    head_dim = d // heads

    source = gguf.GGUFReader(args.tokenizer_from)
    tokens = string_array(source, "tokenizer.ggml.tokens")
    types = [int(source.fields["tokenizer.ggml.token_type"].parts[i][0])
             for i in source.fields["tokenizer.ggml.token_type"].data]
    if len(tokens) > vocab:
        raise SystemExit(f"{args.tokenizer_from} has {len(tokens)} tokens, more than the shape's {vocab}")
    padding = range(len(tokens), vocab)
    tokens += [f"<|reserved_special_token_{i}|>" for i in padding]
    types += [int(gguf.TokenType.CONTROL)] * len(padding)

    partial = args.output + ".part"
    writer = gguf.GGUFWriter(partial, "llama")
    writer.add_name(f"random Q4_K Llama, {args.shape} shape")
    writer.add_block_count(layers)
    writer.add_embedding_length(d)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(500000.0)
    writer.add_rope_dimension_count(head_dim)
    writer.add_context_length(8192)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("gpt2")
    pre = source.fields.get("tokenizer.ggml.pre")
    if pre is not None:
        writer.add_tokenizer_pre(bytes(pre.parts[pre.data[0]]).decode("utf-8"))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(string_array(source, "tokenizer.ggml.merges"))
    for key, add in (("tokenizer.ggml.bos_token_id", writer.add_bos_token_id),
                     ("tokenizer.ggml.eos_token_id", writer.add_eos_token_id)):
        if scalar(source, key) is not None:
            add(scalar(source, key))

    # (name, torch-order [rows, cols] or [n], Q4_K or F32)
    plan = [("token_embd.weight", (vocab, d), True)]
    for i in range(layers):
        b = f"blk.{i}."
        plan += [(b + "attn_norm.weight", (d,), False), (b + "attn_q.weight", (d, d), True),
                 (b + "attn_k.weight", (kv_heads * head_dim, d), True),
                 (b + "attn_v.weight", (kv_heads * head_dim, d), True), (b + "attn_output.weight", (d, d), True),
                 (b + "ffn_norm.weight", (d,), False), (b + "ffn_gate.weight", (ffn, d), True),
                 (b + "ffn_up.weight", (ffn, d), True), (b + "ffn_down.weight", (d, ffn), True)]
    plan += [("output_norm.weight", (d,), False), ("output.weight", (vocab, d), True)]
    for name, dims, quantized in plan:
        if quantized:
            byte_shape = (dims[0], dims[1] // Q4_K_BLOCK_VALUES * Q4_K_BLOCK_BYTES)
            writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), byte_shape[0] * byte_shape[1],
                                   raw_dtype=gguf.GGMLQuantizationType.Q4_K)
        else:
            writer.add_tensor_info(name, dims, np.dtype(np.float32), 4 * dims[0])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(args.seed)
    for name, dims, quantized in plan:
        writer.write_tensor_data(q4_k_blocks(rng, *dims) if quantized else np.ones(dims, dtype=np.float32))
    writer.close()
    os.replace(partial, args.output)


if __name__ == "__main__":
    main()
