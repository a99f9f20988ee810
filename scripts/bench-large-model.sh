#!/usr/bin/env bash
# Runs iglens-bench's large-model table: `iglens attribute --weights stored`
# on a Llama GGUF file of Llama 3 8B's shape (d 4096, 32 layers, GQA 32/8,
# FFN 14336, vocabulary 128256) with random Q4_K matrices, about 4.5 GB,
# written once into the model cache by scripts/write_llama_shaped_gguf.py
# with the tokenizer of SmolLM2 (fetched once, 98 MB). Its float32 copy
# would be about 32 GB, more than this machine's memory. llama.cpp's
# llama-bench, built once from the llama-cpp-python source distribution
# (build-llama-cpp-program.sh, 50 MB), times its own prompt processing of the
# same file. Extra arguments go to the benchmark, e.g.
# `bash scripts/bench-large-model.sh --threads 2`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target iglens_bench iglens_cli
smollm2=$(bash scripts/fetch-smollm2.sh)
venv=$(bash scripts/python-env.sh)
cache=${IGLENS_MODEL_CACHE:-$HOME/.cache/iglens}
model=$cache/llama-8b-shape-random-q4_k.gguf
if [[ ! -f $model ]]; then
  echo "bench-large-model: writing $model (about 4.5 GB, once)" >&2
  "$venv/bin/python" scripts/write_llama_shaped_gguf.py --shape 7b --tokenizer-from "$smollm2" -o "$model"
fi
llama_bench=$(bash scripts/build-llama-cpp-program.sh llama-bench)
exec build/apps/iglens-bench --only large --large-model "$model" --program build/apps/iglens \
  --llama-bench "$llama_bench" "$@"
