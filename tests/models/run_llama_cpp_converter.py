"""Runs llama.cpp's own convert_hf_to_gguf.py, unchanged, from the folder scripts/fetch-llama-cpp.sh made.

    run_llama_cpp_converter.py LLAMA_CPP_DIR HF_FOLDER OUT.gguf [OUTTYPE]

OUTTYPE is the converter's --outtype: f32 (the default), f16 or q8_0.

The converter (llama-cpp-python 0.3.2's llama.cpp) names torch.float8_e4m3fn and torch.float8_e5m2 in a
table of safetensors dtypes, which torch 1.13 lacks. The tiny test models are float32, so no tensor ever
has those dtypes; the two names are given placeholders only so that the table can be built.
"""
import runpy
import sys

import torch


def convert(llama_cpp_dir, folder, out, outtype="f32"):
    for name in ("float8_e4m3fn", "float8_e5m2"):
        if not hasattr(torch, name):
            setattr(torch, name, torch.uint8)
    script = f"{llama_cpp_dir}/convert_hf_to_gguf.py"
    argv = sys.argv
    sys.argv = [script, folder, "--outtype", outtype, "--outfile", out]
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        sys.argv = argv


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    convert(*sys.argv[1:])
