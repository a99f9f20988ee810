#!/usr/bin/env bash
# Runs iglens-bench's large-model table: `iglens attribute --weights stored`
# on a Llama GGUF file of Llama 3 8B's shape (d 4096, 32 layers, GQA 32/8,
# FFN 14336, vocabulary 128256) with random Q4_K matrices, about 4.5 GB,
# written once into the model cache by scripts/write_llama_shaped_gguf.py
# with the tokenizer of SmolLM2 (fetched once, 98 MB). Its float32 copy
# would be about 32 GB, more than this machine's memory. llama.cpp's
# llama-bench, built once from the llama-cpp-python source distribution
# (build-llama-cpp-program.sh, 50 MB), times its own prompt processing of the
# same file. With `bf16-folder` first, the model is the same shape as a
# Hugging Face folder of random bfloat16 weights (15 GiB, written once by
# scripts/write_llama_shaped_folder.py), kept in 16 bits; llama.cpp does not
# read folders. Extra arguments go to the benchmark, e.g.
# `bash scripts/bench-large-model.sh --threads 2` or
# `bash scripts/bench-large-model.sh bf16-folder --threads 2`.
set -euo pipefail
kind=gguf
if [[ ${1:-} == gguf || ${1:-} == bf16-folder ]]; then
  kind=$1
  shift
fi
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target iglens_bench iglens_cli
smollm2=$(bash scripts/fetch-smollm2.sh)
venv=$(bash scripts/python-env.sh)
cache=${IGLENS_MODEL_CACHE:-$HOME/.cache/iglens}
if [[ $kind == bf16-folder ]]; then
  model=$cache/llama-8b-shape-random-bf16
  if [[ ! -d $model ]]; then
    echo "bench-large-model: writing $model (about 16 GB, once)" >&2
    "$venv/bin/python" scripts/write_llama_shaped_folder.py --shape 7b --tokenizer-from "$smollm2" -o "$model"
  fi
  exec build/apps/iglens-bench --only large --large-model "$model" --program build/apps/iglens "$@"
fi
model=$cache/llama-8b-shape-random-q4_k.gguf
if [[ ! -f $model ]]; then
  echo "bench-large-model: writing $model (about 4.5 GB, once)" >&2
  "$venv/bin/python" scripts/write_llama_shaped_gguf.py --shape 7b --tokenizer-from "$smollm2" -o "$model"
fi
llama_bench=$(bash scripts/build-llama-cpp-program.sh llama-bench)
exec build/apps/iglens-bench --only large --large-model "$model" --program build/apps/iglens \
  --llama-bench "$llama_bench" "$@"
