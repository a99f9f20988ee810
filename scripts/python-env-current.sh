#!/usr/bin/env bash
# Creates (once per machine) and prints the path of a second Python
# environment for the references of the newer model families (Qwen3, Gemma
# 2/3, ...): a current transformers release, which needs torch 2.x, with
# PyPI's torch 2.9.1. PyPI's torch wheel is a CUDA build: it brings the NVIDIA
# runtime packages it loads even on a CPU-only machine. mistral-common is
# imported by llama.cpp's converter of llama-cpp-python 0.3.16 (its pinned
# version); gguf and accelerate let transformers load a GGUF file (Gemma 3 270M's
# reference). Nothing here is a dependency of the C++ library or `iglens`.
#
#   venv=$(bash scripts/python-env-current.sh)   # then "$venv/bin/python" ...
#
# Downloads (the first time): about 3.5 GB of wheels, most of them torch
# 2.9.1 (900 MB) and its NVIDIA packages (cudnn 700 MB, cublas 600 MB, nccl,
# cusparse, cusolver, cufft, ...); installed about 7 GB.
# Location: $IGLENS_CURRENT_PYTHON_ENV, else ~/.cache/iglens/transformers-current.
set -euo pipefail
env_dir=${IGLENS_CURRENT_PYTHON_ENV:-$HOME/.cache/iglens/transformers-current}
requirements=(
  torch==2.9.1 transformers==4.57.1 tokenizers==0.22.2 huggingface-hub==0.36.2 safetensors==0.8.0
  sentencepiece==0.2.3 numpy==2.4.6 protobuf==7.36.2
  mistral-common==1.8.3 gguf==0.17.1 accelerate==1.11.0
)
stamp="$env_dir/.iglens-requirements"
if [[ -f "$stamp" && "$(cat "$stamp")" == "${requirements[*]}" ]]; then
  echo "$env_dir"
  exit 0
fi
# An environment made for an older list keeps what it has; pip adds the rest.
if [[ -f "$stamp" && -x "$env_dir/bin/pip" ]]; then
  echo "python-env-current: updating $env_dir from PyPI to ${requirements[*]}" >&2
else
  echo "python-env-current: creating $env_dir; downloading from PyPI (about 3.5 GB, once): ${requirements[*]} and torch's NVIDIA packages" >&2
  rm -rf "$env_dir"
  mkdir -p "$(dirname "$env_dir")"
  /usr/bin/python3 -m venv "$env_dir"
fi
"$env_dir/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}" >&2
"$env_dir/bin/python" -c "import torch, transformers, tokenizers, sentencepiece, numpy, gguf; import transformers.models.qwen3" >&2
echo "${requirements[*]}" > "$stamp"
echo "$env_dir"
