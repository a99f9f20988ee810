#!/usr/bin/env bash
# Builds and runs iglens-bench's real-model table on SmolLM2-135M-Instruct
# (Q4_1 GGUF): loading against reading the file, one forward against
# transformers' on the same weights, the map against the logit lens, and the
# program's peak memory against the float32 weights, and greedy generation
# with and without the key/value cache against transformers' own cached
# loop (`--only real` or `--only generation` runs one). The float32 Hugging Face
# folder transformers reads is written once into build/bench/smollm2/ from
# the GGUF file. Extra arguments go to the benchmark, e.g.
# `bash scripts/bench-real-model.sh --threads 2 --repeats 3`.
#
# `bash scripts/bench-real-model.sh gemma3 [ARGS]` runs the real-model table
# on Gemma 3 270M (Q4_K_M GGUF) instead: transformers 4.57 from the current
# reference environment (scripts/python-env-current.sh) reads the same GGUF
# file, and the peak-memory target is 2.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target iglens_bench iglens_cli
if [[ ${1:-} == gemma3 ]]; then
  shift
  model=$(bash scripts/fetch-gemma3.sh)
  venv=$(bash scripts/python-env-current.sh)
  exec build/apps/iglens-bench --only real --real-model "$model" --transformers-python "$venv/bin/python" \
    --hf-folder "$model" --program build/apps/iglens --peak-target 2 "$@"
fi
model=$(bash scripts/fetch-smollm2.sh)
venv=$(bash scripts/python-env.sh)
hf_folder=build/bench/smollm2/hf
if [[ ! -f $hf_folder/model.safetensors ]]; then
  mkdir -p build/bench/smollm2
  "$venv/bin/python" tests/models/write_transformers_reference.py smollm2 "$model" build/bench/smollm2 >&2
fi
only=(--only real --only generation)
[[ " $* " == *" --only "* ]] && only=()
exec build/apps/iglens-bench "${only[@]}" --real-model "$model" --transformers-python "$venv/bin/python" \
  --hf-folder "$hf_folder" --program build/apps/iglens "$@"
