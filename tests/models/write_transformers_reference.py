"""Writes the reference data of the native decoder tests, computed by Hugging Face transformers.

    write_transformers_reference.py tiny OUT_DIR
        Tiny random GPT2LMHeadModel and LlamaForCausalLM folders (save_pretrained, safetensors), their
        float64 logits and hidden states for three id sequences, and broken folders / GGUF files for
        the error tests.
    write_transformers_reference.py converted LLAMA_CPP_DIR OUT_DIR
        Tiny random Llama 3 (rope_scaling llama3), Mistral and Qwen2 (q/k/v biases) folders turned into
        F32 GGUF files by llama.cpp's own convert_hf_to_gguf.py (scripts/fetch-llama-cpp.sh), as every
        GGUF on the hub is made, and each model's float64 logits and hidden states for the tiny id
        sequences.
    write_transformers_reference.py smollm2 GGUF OUT_DIR
        SmolLM2 loaded from its GGUF file by transformers: float64 logits and hidden states of three
        prompts (raw little-endian float64 files), and the same model saved as a float32 HF folder.
        Loading takes about 40 s, so the result is kept and reused while the GGUF file is unchanged.

Hidden states: transformers' last hidden state is AFTER the final norm; IG-Lens' residual stream ends
BEFORE it, so the pre-norm residual is captured with a forward pre-hook on the final norm.
"""
import copy
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import transformers  # noqa: E402
import gguf  # noqa: E402
import tokenizers  # noqa: E402
from tiny_sentencepiece import write_sentencepiece_tokenizer  # noqa: E402
from tiny_text import LLAMA3_REGEX, QWEN2_REGEX, write_family_tokenizer, write_text_reference  # noqa: E402

torch.set_num_threads(1)


def llama_in_float64():
    """Makes transformers' Llama compute a float64 model in float64 throughout.

    LlamaRMSNorm casts its input to float32 (meant as an upcast from half precision, a downcast from
    float64), LlamaRotaryEmbedding computes cos/sin in float32 and the eager attention takes its softmax
    with dtype=float32: each costs about 1e-8 to 1e-7, above the 1e-8 the tests check. The replacements
    compute the same formulas in the input's dtype.
    """
    llama = transformers.models.llama.modeling_llama
    softmax = torch.nn.functional.softmax

    def softmax_keeping_float64(input, *args, dtype=None, **kwargs):
        if input.dtype == torch.float64:
            dtype = None
        return softmax(input, *args, dtype=dtype, **kwargs)

    def rms_norm(self, hidden_states):
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))

    rope_utils = transformers.modeling_rope_utils

    def default_frequencies_in_float64(config, device=None, seq_len=None, **kwargs):
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        dim = int(head_dim * getattr(config, "partial_rotary_factor", 1.0))
        return 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)), 1.0

    # transformers' own llama3 scaling (_compute_llama3_parameters) reads the default frequencies through
    # this name: it then scales float64 frequencies, in float64.
    rope_utils._compute_default_rope_parameters = default_frequencies_in_float64

    def rotary(self, x, position_ids):
        assert self.rope_type in ("default", "llama3"), "only the default and llama3 RoPE are patched"
        if self.rope_type == "default":
            inv_freq, scale = default_frequencies_in_float64(self.config)
        else:
            inv_freq, scale = rope_utils._compute_llama3_parameters(self.config, None)
        assert inv_freq.dtype == torch.float64 and scale == 1.0
        angles = position_ids[:, :, None].to(torch.float64) * inv_freq
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos().to(x.dtype), angles.sin().to(x.dtype)

    def mistral_rotary(self, x, position_ids):
        inv_freq = 1.0 / (self.base ** (torch.arange(0, self.dim, 2, dtype=torch.float64) / self.dim))
        angles = position_ids[:, :, None].to(torch.float64) * inv_freq
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos().to(x.dtype), angles.sin().to(x.dtype)

    mistral = transformers.models.mistral.modeling_mistral
    qwen2 = transformers.models.qwen2.modeling_qwen2
    qwen2.Qwen2RMSNorm.forward = rms_norm
    qwen2.Qwen2RotaryEmbedding.forward = rotary
    llama.nn.functional.softmax = softmax_keeping_float64  # torch's own function, seen by every module
    llama.LlamaRMSNorm.forward = rms_norm
    llama.LlamaRotaryEmbedding.forward = rotary
    mistral.MistralRMSNorm.forward = rms_norm
    mistral.MistralRotaryEmbedding.forward = mistral_rotary


llama_in_float64()

# Three id sequences of different lengths for the tiny models (vocab 101 for Llama, 257 for GPT-2).
TINY_IDS = [[3, 17, 42, 99, 5, 61, 0, 100, 23], [7, 7, 8], [55, 1, 90, 33, 12, 64, 2]]


def residual_stream(model, ids):
    """float64 logits [S, V] and residual stream [L+1, S, d] (last one before the final norm)."""
    final_norm = model.transformer.ln_f if hasattr(model, "transformer") else model.model.norm
    captured = {}
    handle = final_norm.register_forward_pre_hook(lambda module, args: captured.update(pre_norm=args[0]))
    try:
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_hidden_states=True)
    finally:
        handle.remove()
    hidden = list(out.hidden_states[:-1]) + [captured["pre_norm"]]
    return out.logits[0], torch.stack([h[0] for h in hidden])


def tolist(t):
    return t.detach().to(torch.float64).numpy().tolist()


def write_json_reference(model, ids_list, path):
    sequences = []
    for ids in ids_list:
        logits, stream = residual_stream(model, ids)
        sequences.append({"ids": ids, "logits": tolist(logits), "residual_stream": tolist(stream)})
    with open(path, "w") as f:
        json.dump({"sequences": sequences}, f)  # json writes floats as repr: exact round trip


def tiny_gpt2():
    config = transformers.GPT2Config(vocab_size=257, n_positions=32, n_embd=32, n_layer=3, n_head=4,
                                     activation_function="gelu_new")
    torch.manual_seed(1)
    return transformers.GPT2LMHeadModel(config)


def tiny_llama(tied):
    config = transformers.LlamaConfig(vocab_size=101, hidden_size=32, intermediate_size=48,
                                      num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=64, rope_theta=100000.0, rms_norm_eps=1e-5,
                                      tie_word_embeddings=tied)
    torch.manual_seed(2 if tied else 3)
    model = transformers.LlamaForCausalLM(config)
    # Random init leaves the norm gains at 1: perturb them so the test sees them.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.1 * torch.randn_like(p))
    return model


def write_byte_level_tokenizer(folder):
    """vocab.json and merges.txt of a 257-token byte-level vocabulary, for the GPT-2 exporter."""
    table = transformers.models.gpt2.tokenization_gpt2.bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    vocab["<|endoftext|>"] = 256
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")


def save_model(model, folder, **kwargs):
    model.to(torch.float32).save_pretrained(folder, safe_serialization=True, **kwargs)
    model.to(torch.float64)


def edit_config(folder, **changes):
    path = os.path.join(folder, "config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(changes)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)


def copy_folder(source, target, **config_changes):
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    if config_changes:
        edit_config(target, **config_changes)


def llama_cpp_permute(w, n_head):
    """llama.cpp's converter order for Q/K rows: HF's half-split rotary pairs become interleaved pairs."""
    rows, cols = w.shape
    return w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def write_llama_gguf(model, path, drop=None, reshape=None, arch="llama", keys=(), tensors=()):
    """The tiny Llama as an F32 GGUF file, laid out like llama.cpp's converter writes it; `keys` are
    extra (writer method, key, value) metadata and `tensors` extra (name, array) tensors."""
    c = model.config
    writer = gguf.GGUFWriter(path, arch)
    for method, key, value in keys:
        getattr(writer, method)(key, value)
    writer.add_block_count(c.num_hidden_layers)
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_rope_freq_base(c.rope_theta)
    writer.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                 "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down"}
    for i in range(c.num_hidden_layers):
        for hf, gg in per_layer.items():
            names[f"model.layers.{i}.{hf}.weight"] = f"blk.{i}.{gg}.weight"
    for hf_name, tensor in model.state_dict().items():
        name = names[hf_name]
        if name == "output.weight" and c.tie_word_embeddings:
            continue
        if name == drop:
            continue
        w = tensor.to(torch.float32).numpy().copy()
        if ".attn_q." in name:
            w = llama_cpp_permute(w, c.num_attention_heads)
        if ".attn_k." in name:
            w = llama_cpp_permute(w, c.num_key_value_heads)
        if name == reshape:
            w = w[:-1]
        writer.add_tensor(name, np.ascontiguousarray(w))
    for name, array in tensors:
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_gpt2_gguf(model, path, head=None, cut=None, drop=None):
    """The tiny GPT-2 as an F32 GGUF file, laid out like llama.cpp's converter writes it (Conv1D weights
    transposed to [out, in]); `head` an output.weight of its own, `cut` a tensor to write one row short,
    `drop` one to leave out."""
    c = model.config
    writer = gguf.GGUFWriter(path, "gpt2")
    writer.add_block_count(c.n_layer)
    writer.add_context_length(c.n_positions)
    writer.add_embedding_length(c.n_embd)
    writer.add_feed_forward_length(4 * c.n_embd)
    writer.add_head_count(c.n_head)
    writer.add_layer_norm_eps(c.layer_norm_epsilon)
    names = {"transformer.wte": "token_embd", "transformer.wpe": "position_embd", "transformer.ln_f": "output_norm"}
    per_layer = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
                 "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    for i in range(c.n_layer):
        for hf, gg in per_layer.items():
            names[f"transformer.h.{i}.{hf}"] = f"blk.{i}.{gg}"
    tensors = []
    for hf_name, tensor in model.state_dict().items():
        stem, kind = hf_name.rsplit(".", 1)
        if stem not in names:
            continue  # the causal-mask buffers and the tied lm_head
        name = f"{names[stem]}.{kind}"
        w = tensor.to(torch.float32).numpy()
        if kind == "weight" and ".c_" in stem:
            w = w.T
        if name == cut:
            w = w[:-1]
        if name != drop:
            tensors.append((name, w))
    if head is not None:
        tensors.append(("output.weight", head.detach().to(torch.float32).numpy()))
    for name, w in tensors:
        writer.add_tensor(name, np.ascontiguousarray(w))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_tiny(out):
    os.makedirs(out, exist_ok=True)
    gpt2 = tiny_gpt2().to(torch.float64).eval()
    llama_untied = tiny_llama(tied=False).to(torch.float64).eval()
    llama_tied = tiny_llama(tied=True).to(torch.float64).eval()
    models = {"gpt2": (gpt2, {}), "llama_untied": (llama_untied, {"max_shard_size": "20KB"}),
              "llama_tied": (llama_tied, {})}
    for name, (model, save_kwargs) in models.items():
        folder = os.path.join(out, name)
        shutil.rmtree(folder, ignore_errors=True)
        save_model(model, folder, **save_kwargs)
        write_json_reference(model, TINY_IDS, os.path.join(out, name + ".json"))
    write_byte_level_tokenizer(os.path.join(out, "gpt2"))
    # The untied Llama (sharded) in bfloat16 and GPT-2 in float16, as released checkpoints store their weights:
    # the folders whose matrices --weights stored keeps in 16 bits.
    for name, model, dtype, save_kwargs in (("llama_untied_bf16", llama_untied, torch.bfloat16,
                                             {"max_shard_size": "20KB"}),
                                            ("gpt2_f16", gpt2, torch.float16, {})):
        folder = os.path.join(out, name)
        shutil.rmtree(folder, ignore_errors=True)
        copy.deepcopy(model).to(dtype).save_pretrained(folder, safe_serialization=True, **save_kwargs)

    # The untied Llama as a GGUF file with llama.cpp's Q/K row order.
    write_llama_gguf(llama_untied, os.path.join(out, "llama_untied.gguf"))
    # GPT-2 files with a head of their own: a copy of the embedding (older converters write one), and one
    # that differs from it (as a file quantised with its head in another type), whose reference is
    # transformers' GPT-2 with that head untied.
    write_gpt2_gguf(gpt2, os.path.join(out, "gpt2_head_copy.gguf"), head=gpt2.transformer.wte.weight)
    torch.manual_seed(6)
    untied = copy.deepcopy(gpt2)
    # The head in float32, as the file holds it.
    head = gpt2.transformer.wte.weight + 0.05 * torch.randn_like(gpt2.lm_head.weight)
    untied.lm_head.weight = torch.nn.Parameter(head.detach().to(torch.float32).to(torch.float64))
    write_gpt2_gguf(untied, os.path.join(out, "gpt2_untied.gguf"), head=untied.lm_head.weight)
    write_json_reference(untied, TINY_IDS, os.path.join(out, "gpt2_untied.json"))

    # Broken inputs for the error tests.
    bad = os.path.join(out, "bad")
    shutil.rmtree(bad, ignore_errors=True)
    os.makedirs(bad)
    copy_folder(os.path.join(out, "gpt2"), os.path.join(bad, "other_architecture"),
                architectures=["BertForMaskedLM"], model_type="bert")
    copy_folder(os.path.join(out, "llama_tied"), os.path.join(bad, "wrong_hidden_size"), hidden_size=40,
                head_dim=8)
    copy_folder(os.path.join(out, "llama_tied"), os.path.join(bad, "rope_scaling"),
                rope_scaling={"rope_type": "yarn", "factor": 2.0})
    copy_folder(os.path.join(out, "gpt2"), os.path.join(bad, "relu_gpt2"), activation_function="relu")
    copy_folder(os.path.join(out, "llama_tied"), os.path.join(bad, "relu_llama"), hidden_act="relu")
    missing = os.path.join(bad, "missing_tensor")
    os.makedirs(missing)
    state = {k: v.to(torch.float32).contiguous() for k, v in llama_tied.state_dict().items()
             if k != "model.layers.1.mlp.up_proj.weight" and k != "lm_head.weight"}
    from safetensors.torch import save_file
    save_file(state, os.path.join(missing, "model.safetensors"), metadata={"format": "pt"})
    llama_tied.config.to_json_file(os.path.join(missing, "config.json"))

    other = gguf.GGUFWriter(os.path.join(bad, "phi2.gguf"), "phi2")
    other.add_block_count(1)
    other.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    other.write_header_to_file()
    other.write_kv_data_to_file()
    other.write_tensors_to_file()
    other.close()
    write_llama_gguf(llama_untied, os.path.join(bad, "missing_tensor.gguf"), drop="blk.2.ffn_gate.weight")
    write_gpt2_gguf(gpt2, os.path.join(bad, "gpt2_short_qkv.gguf"), cut="blk.1.attn_qkv.weight")
    write_gpt2_gguf(gpt2, os.path.join(bad, "gpt2_no_positions.gguf"), drop="position_embd.weight")
    write_llama_gguf(llama_untied, os.path.join(bad, "wrong_shape.gguf"), reshape="blk.0.attn_k.weight")
    # A tensor or a key the decoder would ignore, one file per family of them.
    q_rows = llama_untied.config.hidden_size
    write_llama_gguf(llama_untied, os.path.join(bad, "attn_q_bias.gguf"),
                     tensors=[("blk.0.attn_q.bias", np.full(q_rows, 3.0, dtype=np.float32))])
    write_llama_gguf(llama_untied, os.path.join(bad, "q_norm.gguf"),
                     tensors=[("blk.1.attn_q_norm.weight", np.ones(8, dtype=np.float32))])
    unused_keys = {
        "rope_scaling_linear": [("add_string", "llama.rope.scaling.type", "linear"),
                                ("add_float32", "llama.rope.scaling.factor", 2.0)],
        "rope_scaling_factor": [("add_float32", "llama.rope.scaling.factor", 4.0)],
        "rope_scaling_yarn": [("add_uint32", "llama.rope.scaling.original_context_length", 16),
                              ("add_float32", "llama.rope.scaling.yarn_log_multiplier", 0.1)],
        "sliding_window": [("add_uint32", "llama.attention.sliding_window", 4)],
        "softcapping": [("add_float32", "llama.final_logit_softcapping", 30.0)],
        "experts": [("add_uint32", "llama.expert_count", 8), ("add_uint32", "llama.expert_used_count", 2)],
        "layer_norm": [("add_float32", "llama.attention.layer_norm_epsilon", 1e-5)],
        "non_causal": [("add_bool", "llama.attention.causal", False)],
        "unknown_key": [("add_float32", "llama.logit_scale", 0.5)],
        "vocab_size": [("add_uint32", "llama.vocab_size", 100)],
    }
    for name, keys in unused_keys.items():
        write_llama_gguf(llama_untied, os.path.join(bad, name + ".gguf"), keys=keys)
    # SentencePiece tokenizers the program must refuse before reading weights: one without byte
    # pieces, one with more pieces than the embedding has rows.
    def sentencepiece_keys(pieces):
        return [("add_string", "tokenizer.ggml.model", "llama"), ("add_bool", "tokenizer.ggml.add_bos_token", False),
                ("add_array", "tokenizer.ggml.tokens", pieces),
                ("add_array", "tokenizer.ggml.scores", [-float(i) for i in range(len(pieces))]),
                ("add_array", "tokenizer.ggml.token_type", [2] + [1] * (len(pieces) - 1))]
    write_llama_gguf(llama_untied, os.path.join(bad, "tokenizer_no_bytes.gguf"),
                     keys=sentencepiece_keys(["<unk>", "a", "b", "\u2581a"]))
    byte_pieces = [f"<0x{b:02X}>" for b in range(256)]
    keys = sentencepiece_keys(["<unk>"] + byte_pieces)
    keys[-1] = ("add_array", "tokenizer.ggml.token_type", [2] + [6] * 256)
    write_llama_gguf(llama_untied, os.path.join(bad, "tokenizer_larger.gguf"), keys=keys)
    # Keys at the values that turn their feature off: the file loads.
    off = os.path.join(out, "features_off.gguf")
    write_llama_gguf(llama_untied, off, keys=[("add_string", "llama.rope.scaling.type", "none"),
                                              ("add_float32", "llama.rope.scaling.factor", 1.0),
                                              ("add_uint32", "llama.attention.sliding_window", 64),
                                              ("add_uint32", "llama.expert_count", 0),
                                              ("add_bool", "llama.attention.causal", True),
                                              ("add_uint32", "llama.vocab_size", 101)])

    # Hugging Face folders with a key or a tensor the decoder would ignore.
    copy_folder(os.path.join(out, "llama_tied"), os.path.join(bad, "unknown_config_key"), qk_layernorm=True)
    copy_folder(os.path.join(out, "llama_tied"), os.path.join(bad, "rope_interleaved"), rope_interleaved=True)
    copy_folder(os.path.join(out, "gpt2"), os.path.join(bad, "untied_gpt2"), tie_word_embeddings=False)
    extra = os.path.join(bad, "extra_tensor")
    os.makedirs(extra)
    state = {k: v.to(torch.float32).contiguous().clone() for k, v in llama_tied.state_dict().items()}
    state["model.layers.0.self_attn.q_proj.bias"] = torch.full((q_rows,), 3.0)
    save_file(state, os.path.join(extra, "model.safetensors"), metadata={"format": "pt"})
    llama_tied.config.to_json_file(os.path.join(extra, "config.json"))
    # Tensors known to carry no computation of their own: the folder loads.
    buffers = os.path.join(out, "llama_tied_with_buffers")
    shutil.rmtree(buffers, ignore_errors=True)
    os.makedirs(buffers)
    state = {k: v.to(torch.float32).contiguous().clone() for k, v in llama_tied.state_dict().items()}
    for i in range(llama_tied.config.num_hidden_layers):
        state[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = torch.ones(4)
    save_file(state, os.path.join(buffers, "model.safetensors"), metadata={"format": "pt"})
    llama_tied.config.to_json_file(os.path.join(buffers, "config.json"))


def write_converted(llama_cpp_dir, out):
    """Folders converted by llama.cpp's own converter, as users' GGUF files are made."""
    # A process of its own: the converter imports its own gguf-py, not the gguf package imported here.
    runner = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_llama_cpp_converter.py")
    os.makedirs(out, exist_ok=True)
    # Vocabularies of 320 for the two with a byte-level tokenizer of their kind (256 bytes and merges).
    llama3 = transformers.LlamaConfig(
        vocab_size=320, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192})
    # Llama 3's own 8192: llama.cpp's converter (0.3.2) reads the original context from the config's top
    # level, not from rope_scaling, and falls back to 8192. With head_dim 8 and base 500000 the four
    # wavelengths (6.3, 167, 4443, 118000) fall in all three of the scaling's regimes.
    mistral = transformers.MistralConfig(
        vocab_size=101, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, rope_theta=10000.0, rms_norm_eps=1e-5,
        sliding_window=None)
    qwen2 = transformers.Qwen2Config(
        vocab_size=320, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, rope_theta=10000.0, rms_norm_eps=1e-6,
        tie_word_embeddings=False, use_sliding_window=False)
    for name, config, model_class in (("llama3", llama3, transformers.LlamaForCausalLM),
                                      ("mistral", mistral, transformers.MistralForCausalLM),
                                      ("qwen2", qwen2, transformers.Qwen2ForCausalLM)):
        torch.manual_seed(4)
        model = model_class(config)
        with torch.no_grad():
            for key, p in model.named_parameters():
                # Norm gains start at 1 and biases at 0: perturb both so that the tests see them.
                if key.endswith("norm.weight") or key.endswith(".bias"):
                    p.add_(0.1 * torch.randn_like(p))
        folder = os.path.join(out, name)
        shutil.rmtree(folder, ignore_errors=True)
        save_model(model, folder)
        write_sentencepiece_tokenizer(folder)
        done = subprocess.run([sys.executable, runner, llama_cpp_dir, folder, os.path.join(out, name + ".gguf")],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"llama.cpp's converter failed on {folder}:\n{done.stderr}")
        write_json_reference(model.to(torch.float64).eval(), TINY_IDS, os.path.join(out, name + ".json"))
        # The folders as users have them, with their family's kind of tokenizer (after the conversion,
        # which reads the SentencePiece model).
        if name in TEXT_TOKENIZERS:
            os.remove(os.path.join(folder, "tokenizer.model"))
            fast = write_family_tokenizer(folder, model.config.vocab_size, *TEXT_TOKENIZERS[name])
            write_text_reference(model, fast, os.path.join(out, name + "_text.json"))


# The tokenizer kind of each converted folder with text: Split regex and BOS.
TEXT_TOKENIZERS = {"llama3": (LLAMA3_REGEX, "<|begin_of_text|>"), "qwen2": (QWEN2_REGEX, None)}


# Three prompts for SmolLM2, ids from the GGUF file's own tokenizer (transformers' AutoTokenizer with
# gguf_file) without the BOS it prepends: the file says tokenizer.ggml.add_bos_token = false.
SMOLLM2_PROMPTS = ["The capital of France is", "def fibonacci(n):\n    return",
                   "Water boils at a temperature of one hundred degrees"]
SMOLLM2_IDS = [[504, 3575, 282, 4649, 314], [1604, 3987, 46477, 24, 94, 727, 472, 1003],
               [12615, 36411, 418, 253, 2779, 282, 582, 3822, 5027]]


SMOLLM2_QUESTION = "What is the capital of France?"
SMOLLM2_SYSTEM = "Answer in one word."


def write_smollm2(gguf_path, out):
    stamp_path = os.path.join(out, "stamp.json")
    stamp = {"gguf": os.path.abspath(gguf_path), "size": os.path.getsize(gguf_path),
             "mtime": os.path.getmtime(gguf_path), "ids": SMOLLM2_IDS,
             "script": os.path.getmtime(__file__)}
    if os.path.exists(stamp_path):
        with open(stamp_path) as f:
            if json.load(f) == stamp:
                print(f"smollm2 reference in {out} is up to date")
                return
    os.makedirs(out, exist_ok=True)
    folder, name = os.path.split(os.path.abspath(gguf_path))
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    for prompt, ids in zip(SMOLLM2_PROMPTS, SMOLLM2_IDS):
        encoded = tokenizer(prompt)["input_ids"]
        if encoded and encoded[0] == tokenizer.bos_token_id:
            encoded = encoded[1:]
        assert encoded == ids, f"ids of {prompt!r} changed: {encoded}"
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float64)
    # transformers 4.46 misses that this file ties its head to token_embd (it has no output.weight) and
    # leaves lm_head random: tie it here.
    model.lm_head.weight = model.model.embed_tokens.weight
    model.config.tie_word_embeddings = True
    model.eval()
    meta = {"sequences": []}
    for index, ids in enumerate(SMOLLM2_IDS):
        logits, stream = residual_stream(model, ids)
        logits.numpy().astype("<f8").tofile(os.path.join(out, f"logits_{index}.f64"))
        stream.numpy().astype("<f8").tofile(os.path.join(out, f"residual_{index}.f64"))
        meta["sequences"].append({"ids": ids, "logits_shape": list(logits.shape),
                                  "residual_shape": list(stream.shape)})
    # SmolLM2-Instruct as its users run it: the question rendered by the file's own chat template with
    # transformers' apply_chat_template (Jinja2), and transformers' greedy answer in float64 up to its end token.
    messages = [{"role": "user", "content": SMOLLM2_QUESTION}]
    chat_text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    chat_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    with_system = [{"role": "system", "content": SMOLLM2_SYSTEM}] + messages
    system_text = tokenizer.apply_chat_template(with_system, add_generation_prompt=True, tokenize=False)
    system_ids = tokenizer.apply_chat_template(with_system, add_generation_prompt=True, tokenize=True)
    answer = []
    with torch.no_grad():
        step = model(torch.tensor([chat_ids]), past_key_values=transformers.DynamicCache(), use_cache=True)
        while len(answer) < 40:
            next_id = int(step.logits[0, -1].argmax())
            if next_id == model.config.eos_token_id:  # the file's EOS (2); the GGUF tokenizer here says 1
                break
            answer.append(next_id)
            step = model(torch.tensor([[next_id]]), past_key_values=step.past_key_values, use_cache=True)
    meta["chat"] = {"question": SMOLLM2_QUESTION, "text": chat_text, "ids": chat_ids, "greedy_answer": answer,
                    "end_id": next_id, "system": SMOLLM2_SYSTEM, "system_text": system_text,
                    "system_ids": system_ids}
    # The tokenizer's own files, for a Hugging Face folder with the chat template in tokenizer_config.json.
    tokenizer_folder = os.path.join(out, "hf_tokenizer")
    shutil.rmtree(tokenizer_folder, ignore_errors=True)
    tokenizer.save_pretrained(tokenizer_folder)
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(meta, f)
    hf_folder = os.path.join(out, "hf")
    shutil.rmtree(hf_folder, ignore_errors=True)
    save_model(model, hf_folder)
    with open(stamp_path, "w") as f:
        json.dump(stamp, f)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "tiny":
        write_tiny(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "converted":
        write_converted(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "smollm2":
        write_smollm2(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
