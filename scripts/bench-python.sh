#!/usr/bin/env bash
# Times the Python package's model.attribute against the same call in C++
# (iglens-bench's python table) on SmolLM2-135M-Instruct: 64 teacher-forced
# tokens, every layer. Builds iglens-bench and the package against Debian's
# torch (the reference environment, build/python-env, made if missing);
# extra arguments go to the benchmark, e.g. `--threads 2 --repeats 3`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target iglens_bench
model=$(bash scripts/fetch-smollm2.sh)
venv=$(bash scripts/python-env.sh)
bash scripts/build-python-binding.sh "$venv/bin/python" build/bench/python-binding
PYTHONPATH=$PWD/build/bench/python-binding/package exec build/apps/iglens-bench --only python \
  --real-model "$model" --binding-python "$venv/bin/python" "$@"
