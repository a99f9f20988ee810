"""Writes the safetensors files and Hugging Face folders that the C++ tests of
iglens::SafetensorsFile and iglens::HfFolder read, with the expected values
from independent writers: numpy, the `safetensors` package, torch and
`transformers`.

    python write_hf_fixtures.py OUT_DIR

OUT_DIR/
  dtypes.safetensors    every dtype, written by safetensors.numpy
  bf16.safetensors      BF16, written by safetensors.torch (numpy has no bfloat16)
  small.safetensors     F32 'a' [2, 2] and F16 'b' [3], for the bad-input tests
  dtypes.json           each tensor: file, name, dtype, shape, and the files of
  expected/             its raw bytes (.raw) and its values as float32 (.f32)
                        and float64 (.f64), little-endian
  sharded/              two hand-made shards with model.safetensors.index.json
  sharded.json          the shards' tensors and shapes and the config values
  gpt2/, llama/         tiny random GPT-2 (model.safetensors) and Llama (shards of
                        30 KB) from save_pretrained(safe_serialization=True)
  gpt2.json, llama.json each folder's tensors: shape and values from the model's
                        own state_dict, the tensor list from safe_open, and the
                        config values that config.json holds
"""

import json
import os
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch
import transformers

out = sys.argv[1]
expected_dir = os.path.join(out, "expected")
os.makedirs(expected_dir, exist_ok=True)
rng = np.random.default_rng(20240611)

DTYPE_NAMES = {
    np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("float16"): "F16",
    np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("int16"): "I16",
    np.dtype("int8"): "I8", np.dtype("uint8"): "U8", np.dtype("bool"): "BOOL",
}
manifest = []


def record(file_name, name, dtype_name, shape, raw, as_f32=None, as_f64=None):
    """Adds one tensor to dtypes.json with its expected bytes and values."""
    stem = f"{file_name}.{name}"
    entry = {"file": file_name, "name": name, "dtype": dtype_name, "shape": list(shape),
             "raw": f"expected/{stem}.raw"}
    with open(os.path.join(out, entry["raw"]), "wb") as f:
        f.write(raw)
    if as_f32 is not None:
        entry["f32"] = f"expected/{stem}.f32"
        entry["f64"] = f"expected/{stem}.f64"
        as_f32.astype("<f4").tofile(os.path.join(out, entry["f32"]))
        as_f64.astype("<f8").tofile(os.path.join(out, entry["f64"]))
    manifest.append(entry)


# --- every dtype, by safetensors.numpy -------------------------------------
all_half_bits = np.arange(65536, dtype=np.uint16).reshape(256, 256)
arrays = {
    "f64_random": rng.standard_normal((6, 5)),
    "f64_specials": np.array([0.0, -0.0, np.inf, -np.inf, 1e-310, 3.4028235677973366e38, 1e300, -1e-45]),
    "f32_random": rng.standard_normal((4, 7)).astype(np.float32),
    "f32_scalar": np.array(2.5, dtype=np.float32),
    "f32_empty": np.zeros((0, 3), dtype=np.float32),
    "f32_specials": np.array([np.inf, -np.inf, np.nan, -0.0, 1e-45, 1.17e-38], dtype=np.float32),
    "f16_random": rng.standard_normal((3, 5)).astype(np.float16),
    "f16_all_bits": all_half_bits.view(np.float16),  # subnormals, infinities, every NaN
    "i64": rng.integers(-2**62, 2**62, size=(2, 3), dtype=np.int64),
    "i32": rng.integers(-2**31, 2**31 - 1, size=(7,), dtype=np.int32),
    "i16": rng.integers(-2**15, 2**15 - 1, size=(2, 2, 2), dtype=np.int16),
    "i8": rng.integers(-128, 127, size=(9,), dtype=np.int8),
    "u8": rng.integers(0, 255, size=(3, 3), dtype=np.uint8),
    "bool": rng.integers(0, 2, size=(5,)).astype(bool),
}
save_numpy(arrays, os.path.join(out, "dtypes.safetensors"),
           metadata={"format": "np", "writer": "write_hf_fixtures.py"})
with np.errstate(over="ignore", invalid="ignore"):  # F64 beyond float32 becomes inf; NaN stays NaN
    for name, array in arrays.items():
        floating = array.dtype.kind == "f"
        as_f32 = array.astype(np.float32) if floating else None
        # F64 widens to itself; narrower types through their exact float32 value.
        as_f64 = (array if array.dtype == np.float64 else as_f32.astype(np.float64)) if floating else None
        record("dtypes.safetensors", name, DTYPE_NAMES[array.dtype], array.shape,
               array.astype(array.dtype.newbyteorder("<")).tobytes(), as_f32, as_f64)

# --- BF16, by safetensors.torch; expected values from torch's own conversion -
bf16 = {
    "bf16_random": torch.randn(5, 3, generator=torch.Generator().manual_seed(7)).to(torch.bfloat16),
    "bf16_all_bits": torch.from_numpy(all_half_bits.view(np.int16).copy()).view(torch.bfloat16),
}
save_torch(bf16, os.path.join(out, "bf16.safetensors"))
for name, tensor in bf16.items():
    raw = tensor.view(torch.int16).numpy().astype("<i2").tobytes()
    record("bf16.safetensors", name, "BF16", tensor.shape, raw,
           tensor.float().numpy(), tensor.double().numpy())

# --- a small valid file that the C++ tests break byte by byte ----------------
save_numpy({"a": np.arange(4, dtype=np.float32).reshape(2, 2), "b": np.ones(3, dtype=np.float16)},
           os.path.join(out, "small.safetensors"))

with open(os.path.join(out, "dtypes.json"), "w") as f:
    json.dump({"tensors": manifest}, f, indent=1)

# --- a hand-made sharded folder ---------------------------------------------
sharded = os.path.join(out, "sharded")
os.makedirs(sharded, exist_ok=True)
config = {
    "architectures": ["TinyShardedModel", "Extra"], "model_type": "tiny", "hidden_size": 8,
    "rms_norm_eps": 1e-06, "rope_theta": 10000, "tie_word_embeddings": False, "rope_scaling": None,
    "too_big": 2**63, "negative": -3,
}
with open(os.path.join(sharded, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
shards = {
    "model-00001-of-00002.safetensors": {
        "embed.weight": rng.standard_normal((16, 8)).astype(np.float32),
        "layers.0.weight": rng.standard_normal((8, 8)).astype(np.float16),
    },
    "model-00002-of-00002.safetensors": {
        "layers.1.weight": rng.standard_normal((8, 8)).astype(np.float32),
        "norm.weight": rng.standard_normal((8,)).astype(np.float64),
    },
}
weight_map, tensors = {}, {}
for shard, shard_arrays in shards.items():
    save_numpy(shard_arrays, os.path.join(sharded, shard), metadata={"format": "np"})
    for name, array in shard_arrays.items():
        weight_map[name] = shard
        tensors[name] = {"shard": shard, "dtype": DTYPE_NAMES[array.dtype], "shape": list(array.shape),
                         "values": array.astype(np.float64).ravel().tolist()}
total_size = sum(a.nbytes for s in shards.values() for a in s.values())
with open(os.path.join(sharded, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": total_size}, "weight_map": weight_map}, f, indent=2)
with open(os.path.join(out, "sharded.json"), "w") as f:
    json.dump({"config": config, "tensors": tensors}, f)


# --- real folders from transformers -----------------------------------------
def save_model(model, folder, **kwargs):
    """save_pretrained, then the expected listing: names and shapes as the
    safetensors package reads them, values from the model's state_dict."""
    path = os.path.join(out, folder)
    model.save_pretrained(path, safe_serialization=True, **kwargs)
    state = model.state_dict()
    files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
    listing = {}
    for file_name in files:
        with safe_open(os.path.join(path, file_name), framework="np") as f:
            for name in f.keys():
                shape = list(f.get_slice(name).get_shape())
                assert shape == list(state[name].shape), name
                listing[name] = {"file": file_name, "shape": shape,
                                 "values": state[name].double().ravel().tolist()}
    # The config values of the keys config.json holds, as the Python config object has them.
    with open(os.path.join(path, "config.json")) as f:
        written_keys = json.load(f).keys()
    config = {key: model.config.to_dict()[key] for key in written_keys}
    with open(os.path.join(out, folder + ".json"), "w") as f:
        json.dump({"files": files, "config": config, "tensors": listing}, f)


torch.manual_seed(0)
gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(
    n_layer=2, n_embd=16, n_head=2, vocab_size=64, n_positions=32))
save_model(gpt2, "gpt2")

torch.manual_seed(1)
llama = transformers.LlamaForCausalLM(transformers.LlamaConfig(
    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, vocab_size=128, max_position_embeddings=64, tie_word_embeddings=False))
save_model(llama, "llama", max_shard_size="30KB")
assert os.path.exists(os.path.join(out, "llama", "model.safetensors.index.json"))
