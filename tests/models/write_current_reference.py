"""Reference data for the families that need a current transformers (scripts/python-env-current.sh:
torch 2.9.1, transformers 4.57.1), as write_transformers_reference.py writes it for the older ones.

    write_current_reference.py LLAMA_CPP_DIR OUT_DIR
        Tiny random models saved with save_pretrained, turned into F32 GGUF files by llama.cpp's own
        convert_hf_to_gguf.py (llama-cpp-python 0.3.16, run from scripts/fetch-llama-cpp.sh 0.3.16's
        folder), and their float64 logits and residual stream (each block's input, the last one before the
        final norm) for the tiny id sequences, in OUT_DIR/NAME.json:
        - qwen3: RMSNorm over each head's queries and keys;
        - gemma3: (1 + w) norms before and after attention and MLP, embeddings times sqrt(d), GeGLU,
          query/key norms, windowed layers (a window of 4, shorter than the sequences) with their own RoPE
          base, linear RoPE scaling on the full layers, query_pre_attn_scalar;
        - gemma2: soft-capped attention scores and logits, every other layer windowed;
        - mistral_window: Mistral with a window of 4 (folder only: the converter drops the window);
        - phi3: fused qkv_proj and gate_up_proj, a window of 4 on every layer (phi3_longrope and
          phi3_odd_rotary only for the refusals); phi3_partial: RoPE over half of each head (Phi-4-mini);
        - gpt2: GPT-2 with GPT-2's own tokenizer (50257 tokens), which the converter must recognise to write
          the file at all: its tokens and merges come from llama.cpp's test vocabulary
          models/ggml-vocab-gpt-2.gguf, saved as the folder's vocab.json and merges.txt. Its reference holds
          two of the id sequences (the logits are 50257 wide);
        - gpt_neox: GPT-NeoX as Pythia is made (attention and MLP in parallel, RoPE over half of each head,
          exact GELU, an untied head, LayerNorms and biases everywhere) with the same GPT-2 tokenizer;
          gpt_neox_sequential: use_parallel_residual false; gpt_neox_no_rotary.gguf: the converted file
          without gptneox.rope.dimension_count (llama.cpp's gguf_new_metadata.py drops it), to be refused;
        - olmo2: OLMo 2's norms after attention and MLP only, RMSNorm over all heads' queries (keys) together,
          with the same GPT-2 tokenizer.
        Gemma's and Mistral's folders hold a SentencePiece BPE with byte fallback, as tokenizer.model and as
        the tokenizer.json transformers' own converter makes of it, Qwen3's a byte-level BPE with Qwen2's
        regex (tiny_text.py); OUT_DIR/NAME_text.json holds the ids of TEXT_PROMPT and TEXT_TARGET by that
        tokenizer and the model's float64 probability of each target token, as `iglens attribute
        --target` reads them.
        The converter stores Gemma's norm gains as 1 + w rounded to float32: OUT_DIR/NAME_gguf.json is the
        reference of the same model with those gains, which the GGUF files hold exactly.
        The converted models also as F16 and Q8_0 files (NAME_f16.gguf, NAME_q8_0.gguf), each with the
        reference of the same model holding the file's weights as transformers' GGUF reader dequantizes
        them (gguf-py), in NAME_f16.json and NAME_q8_0.json.

transformers computes parts of a float64 model in float32 (RMSNorm's upcast, the rotary tables, the eager
attention's softmax), each worth 1e-8 to 1e-7 of error; the replacements below compute the same formulas
in the input's dtype.
"""
import copy
import json
import os
import shutil
import subprocess
import sys

import torch
import transformers
from tiny_sentencepiece import write_sentencepiece_folder_tokenizer, write_sentencepiece_tokenizer
from tiny_text import QWEN2_REGEX, TOKENIZER_TRAINING_TEXT, write_family_tokenizer, write_text_reference

torch.set_num_threads(1)
QUANTIZED_TYPES = ("f16", "q8_0")
TINY_IDS = [[3, 17, 42, 99, 5, 61, 0, 100, 23], [7, 7, 8], [55, 1, 90, 33, 12, 64, 2]]
def in_float64():
    softmax = torch.nn.functional.softmax

    def softmax_keeping_float64(input, *args, dtype=None, **kwargs):
        return softmax(input, *args, dtype=None if input.dtype == torch.float64 else dtype, **kwargs)

    def rms_norm(self, hidden_states):
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))

    def gemma_rms_norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (1.0 + self.weight)

    def rotary(self, x, position_ids):
        config = self.config
        dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        dim = int(dim * getattr(config, "partial_rotary_factor", 1.0))
        inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        scaling = getattr(config, "rope_scaling", None) or {"rope_type": "default"}
        kind = scaling.get("rope_type", scaling.get("type"))
        assert kind in ("default", "linear"), "only plain and linear RoPE are patched"
        if kind == "linear":
            inv_freq = inv_freq / scaling["factor"]
        angles = position_ids[:, :, None].to(torch.float64) * inv_freq
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos().to(x.dtype), angles.sin().to(x.dtype)

    torch.nn.functional.softmax = softmax_keeping_float64
    models = transformers.models
    for norm in (models.qwen3.modeling_qwen3.Qwen3RMSNorm, models.mistral.modeling_mistral.MistralRMSNorm,
                 models.phi3.modeling_phi3.Phi3RMSNorm, models.olmo2.modeling_olmo2.Olmo2RMSNorm):
        norm.forward = rms_norm
    for norm in (models.gemma2.modeling_gemma2.Gemma2RMSNorm, models.gemma3.modeling_gemma3.Gemma3RMSNorm):
        norm.forward = gemma_rms_norm
    for embedding in (models.qwen3.modeling_qwen3.Qwen3RotaryEmbedding,
                      models.mistral.modeling_mistral.MistralRotaryEmbedding,
                      models.gemma2.modeling_gemma2.Gemma2RotaryEmbedding,
                      models.gemma3.modeling_gemma3.Gemma3RotaryEmbedding,
                      models.phi3.modeling_phi3.Phi3RotaryEmbedding,
                      models.gpt_neox.modeling_gpt_neox.GPTNeoXRotaryEmbedding,
                      models.olmo2.modeling_olmo2.Olmo2RotaryEmbedding):
        embedding.forward = rotary


in_float64()


def residual_stream(model, ids):
    """float64 logits [S, V] and residual stream [L+1, S, d] (the last before the final norm)."""
    captured = {}
    final_norm = (model.transformer.ln_f if hasattr(model, "transformer") else
                  model.gpt_neox.final_layer_norm if hasattr(model, "gpt_neox") else model.model.norm)
    handle = final_norm.register_forward_pre_hook(lambda module, args: captured.update(pre_norm=args[0]))
    try:
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_hidden_states=True)
    finally:
        handle.remove()
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1, len(out.hidden_states)
    stream = torch.stack(list(out.hidden_states[:-1]) + [captured["pre_norm"]])[:, 0]
    return out.logits[0], stream


def with_gguf_weights(model, gguf_path):
    """A float64 copy of `model` holding a GGUF file's weights, dequantized by transformers' GGUF reader."""
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    quantized = copy.deepcopy(model)
    tensors = load_gguf_checkpoint(gguf_path, return_tensors=True, model_to_load=quantized)["tensors"]
    missing, unexpected = quantized.load_state_dict({k: v.to(torch.float64) for k, v in tensors.items()},
                                                    strict=False)
    # A tied head is the embedding; nothing else may be left out.
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    return quantized


def write_reference(model, path, id_lists=TINY_IDS):
    sequences = []
    for ids in id_lists:
        logits, stream = residual_stream(model, ids)
        sequences.append({"ids": ids, "logits": logits.tolist(), "residual_stream": stream.tolist()})
    with open(path, "w") as f:
        json.dump({"sequences": sequences}, f)


def run_converter(llama_cpp_dir, folder, path, outtype="f32"):
    runner = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_llama_cpp_converter.py")
    done = subprocess.run([sys.executable, runner, llama_cpp_dir, folder, path, outtype], capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"llama.cpp's converter failed on {folder} ({outtype}):\n{done.stderr}")


def write_gpt2_tokenizer(llama_cpp_dir, folder):
    """GPT-2's vocab.json and merges.txt from llama.cpp's test vocabulary; the tokenizer transformers makes
    of them."""
    import gguf
    reader = gguf.GGUFReader(os.path.join(llama_cpp_dir, "models", "ggml-vocab-gpt-2.gguf"))

    def strings(key):
        field = reader.fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    tokens = strings("tokenizer.ggml.tokens")
    assert len(tokens) == 50257 and tokens[50256] == "<|endoftext|>", len(tokens)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(tokens)}, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(strings("tokenizer.ggml.merges")) + "\n")
    fast = transformers.GPT2TokenizerFast(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"))
    fast.save_pretrained(folder)
    return fast


def write_gpt2(llama_cpp_dir, out):
    config = transformers.GPT2Config(vocab_size=50257, n_positions=32, n_ctx=32, n_embd=32, n_layer=2, n_head=4,
                                     activation_function="gelu_new")
    torch.manual_seed(5)
    model = transformers.GPT2LMHeadModel(config)
    model.config._attn_implementation = "eager"
    with torch.no_grad():
        for key, p in model.named_parameters():
            # LayerNorm gains start at 1 and biases at 0: perturb them so that the tests see them.
            if ".ln_" in key or key.endswith(".bias"):
                p.add_(0.1 * torch.randn_like(p))
    save_with_gpt2_tokenizer(llama_cpp_dir, out, "gpt2", model)


def save_with_gpt2_tokenizer(llama_cpp_dir, out, name, model):
    """The folder OUT/NAME with GPT-2's tokenizer, its F32 GGUF file, and the float64 references (two of the id
    sequences: the logits are 50257 wide)."""
    folder = os.path.join(out, name)
    shutil.rmtree(folder, ignore_errors=True)
    model.to(torch.float32).save_pretrained(folder, safe_serialization=True)
    fast = write_gpt2_tokenizer(llama_cpp_dir, folder)
    run_converter(llama_cpp_dir, folder, os.path.join(out, name + ".gguf"))
    model.to(torch.float64).eval()
    write_reference(model, os.path.join(out, name + ".json"), TINY_IDS[:2])
    write_text_reference(model, fast, os.path.join(out, name + "_text.json"))


def write_gpt_neox(llama_cpp_dir, out):
    for name, parallel in (("gpt_neox", True), ("gpt_neox_sequential", False)):
        config = transformers.GPTNeoXConfig(
            vocab_size=50257, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            hidden_act="gelu", rotary_pct=0.5, rotary_emb_base=10000, max_position_embeddings=32,
            layer_norm_eps=1e-5, use_parallel_residual=parallel, tie_word_embeddings=False, bos_token_id=50256,
            eos_token_id=50256)
        torch.manual_seed(6)
        model = transformers.GPTNeoXForCausalLM(config)
        model.config._attn_implementation = "eager"
        with torch.no_grad():
            for key, p in model.named_parameters():
                # LayerNorm gains start at 1 and biases at 0: perturb them so that the tests see them.
                if "layernorm" in key or "layer_norm" in key or key.endswith(".bias"):
                    p.add_(0.1 * torch.randn_like(p))
        save_with_gpt2_tokenizer(llama_cpp_dir, out, name, model)
    script = os.path.join(llama_cpp_dir, "gguf-py", "gguf", "scripts", "gguf_new_metadata.py")
    target = os.path.join(out, "gpt_neox_no_rotary.gguf")
    if os.path.exists(target):
        os.remove(target)
    done = subprocess.run([sys.executable, script, "--force", "--remove-metadata", "gptneox.rope.dimension_count",
                           os.path.join(out, "gpt_neox.gguf"), target], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"gguf_new_metadata.py failed:\n{done.stderr}")


def write_olmo2(llama_cpp_dir, out):
    config = transformers.Olmo2Config(
        vocab_size=50257, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6, tie_word_embeddings=False,
        pad_token_id=50256, eos_token_id=50256)
    torch.manual_seed(7)
    model = transformers.Olmo2ForCausalLM(config)
    model.config._attn_implementation = "eager"
    with torch.no_grad():
        for key, p in model.named_parameters():
            # Norm gains start at 1: perturb them (the query/key ones too) so that the tests see them.
            if key.endswith("norm.weight"):
                p.add_(0.1 * torch.randn_like(p))
    save_with_gpt2_tokenizer(llama_cpp_dir, out, "olmo2", model)


def copy_phi3(out, name, **changes):
    """A copy of the Phi-3 folder with config.json changed."""
    folder = os.path.join(out, name)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(os.path.join(out, "phi3"), folder)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    config.update(changes)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return folder


def write_phi3_refused(llama_cpp_dir, out):
    """Phi-3 with longrope scaling (as Phi-3's 128k models have it), as a folder and as the GGUF file the
    converter makes of it (rope_factors_long/short, rope.scaling.attn_factor), and with RoPE over an odd
    number of each head's dimensions: each must be refused."""
    longrope = copy_phi3(out, "phi3_longrope", original_max_position_embeddings=32,
                         rope_scaling={"type": "longrope", "long_factor": [1.0, 2.0, 3.0, 4.0],
                                       "short_factor": [1.0] * 4})
    run_converter(llama_cpp_dir, longrope, os.path.join(out, "phi3_longrope.gguf"))
    copy_phi3(out, "phi3_odd_rotary", partial_rotary_factor=0.375)


def main(llama_cpp_dir, out):
    os.makedirs(out, exist_ok=True)
    qwen3 = transformers.Qwen3Config(
        vocab_size=320, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=64, rope_theta=10000.0, rms_norm_eps=1e-6,
        tie_word_embeddings=False)
    # Seven layers: the sixth is Gemma 3's only full one. query_pre_attn_scalar is head_dim (llama.cpp's rule
    # for all but the 27B model) and the local RoPE base 10000 (llama.cpp's constant), so that the GGUF agrees.
    gemma3 = transformers.Gemma3TextConfig(
        vocab_size=320, hidden_size=32, intermediate_size=48, num_hidden_layers=7, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=64, rope_theta=1000000.0,
        rope_local_base_freq=10000.0, rope_scaling={"rope_type": "linear", "factor": 8.0}, query_pre_attn_scalar=16,
        sliding_window=4, rms_norm_eps=1e-6)
    # Weights large enough for the caps to bind.
    gemma2 = transformers.Gemma2Config(initializer_range=0.3,
        vocab_size=320, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=64, query_pre_attn_scalar=16, sliding_window=4,
        attn_logit_softcapping=2.0, final_logit_softcapping=3.0, rms_norm_eps=1e-6)
    mistral_window = transformers.MistralConfig(
        vocab_size=320, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, sliding_window=4, rms_norm_eps=1e-6,
        tie_word_embeddings=False)
    # Phi-3 as Phi-3-mini-4k is made: fused projections, a window (here one that binds) on every layer.
    phi3 = transformers.Phi3Config(
        vocab_size=320, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, original_max_position_embeddings=64, sliding_window=4,
        rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    # Phi-4-mini's kind: RoPE over the first half of each head (4 of 8 dimensions).
    phi3_partial = copy.deepcopy(phi3)
    phi3_partial.partial_rotary_factor = 0.5
    models = (("qwen3", qwen3, transformers.Qwen3ForCausalLM, True),
              ("phi3", phi3, transformers.Phi3ForCausalLM, True),
              ("phi3_partial", phi3_partial, transformers.Phi3ForCausalLM, True),
              ("gemma3", gemma3, transformers.Gemma3ForCausalLM, True),
              ("gemma2", gemma2, transformers.Gemma2ForCausalLM, True),
              ("mistral_window", mistral_window, transformers.MistralForCausalLM, False))
    for name, config, model_class, convert in models:
        torch.manual_seed(4)
        model = model_class(config)
        model.config._attn_implementation = "eager"
        with torch.no_grad():
            for key, p in model.named_parameters():
                # Norm gains start at 1: perturb them (the per-head ones too) so that the tests see them.
                if key.endswith("norm.weight"):
                    p.add_(0.1 * torch.randn_like(p))
        folder = os.path.join(out, name)
        shutil.rmtree(folder, ignore_errors=True)
        model.to(torch.float32).save_pretrained(folder, safe_serialization=True)
        if name == "qwen3":
            write_sentencepiece_tokenizer(folder)  # for the converter; Qwen's own kind comes after it
        else:
            fast = write_sentencepiece_folder_tokenizer(folder, TOKENIZER_TRAINING_TEXT, gemma=name.startswith("gemma"))
        if convert:
            for outtype in ("f32",) + QUANTIZED_TYPES:
                run_converter(llama_cpp_dir, folder,
                        os.path.join(out, name + (".gguf" if outtype == "f32" else f"_{outtype}.gguf")), outtype)
        if name == "qwen3":
            # The folder as users have it: Qwen's byte-level BPE (numbers one digit a piece).
            os.remove(os.path.join(folder, "tokenizer.model"))
            fast = write_family_tokenizer(folder, config.vocab_size, QWEN2_REGEX, None)
        model.to(torch.float64).eval()
        embedding = model.model.embed_tokens
        if hasattr(embedding, "embed_scale"):
            # Gemma keeps sqrt(d) as a float32 buffer; float64 wants it exact.
            embedding.embed_scale = torch.tensor(config.hidden_size ** 0.5, dtype=torch.float64)
        write_reference(model, os.path.join(out, name + ".json"))
        write_text_reference(model, fast, os.path.join(out, name + "_text.json"))
        if convert:
            for outtype in QUANTIZED_TYPES:
                write_reference(with_gguf_weights(model, os.path.join(out, f"{name}_{outtype}.gguf")),
                                os.path.join(out, f"{name}_{outtype}.json"))
        if convert and name.startswith("gemma"):
            # The converter stores Gemma's gains as 1 + w in float32: the GGUF file's exact reference.
            with torch.no_grad():
                for key, p in model.named_parameters():
                    if key.endswith("norm.weight"):
                        p.copy_((1.0 + p).to(torch.float32).to(torch.float64) - 1.0)
            write_reference(model, os.path.join(out, name + "_gguf.json"))
    write_phi3_refused(llama_cpp_dir, out)
    write_gpt2(llama_cpp_dir, out)
    write_gpt_neox(llama_cpp_dir, out)
    write_olmo2(llama_cpp_dir, out)
    print(f"current-transformers reference in {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
