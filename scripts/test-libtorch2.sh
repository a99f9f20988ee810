#!/usr/bin/env bash
# Builds the library's LibTorch-linked tests, the README's example and the
# `iglens` program against LibTorch 2.x (PyPI's torch wheel, installed once
# per machine by scripts/libtorch2.sh) in build-libtorch2/, and runs every
# test labelled *libtorch*: the engine, the native decoders against
# transformers, component attribution, the program, the golden demo and the
# installed package. Part of scripts/test.sh, after the main suite, whose
# Python reference environment (build/python-env) and transformers
# references (build/tests/models/reference) it reads.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
torch_dir=$(bash scripts/libtorch2.sh)
cmake -S . -B build-libtorch2 -G Ninja -DCMAKE_BUILD_TYPE=Release -DIGLENS_TORCH_CPU_DIR="$torch_dir" \
  -DIGLENS_PYTHON_ENV="$PWD/build/python-env" -DIGLENS_REFERENCE_BUILD="$PWD/build"
cmake --build build-libtorch2 -j"$(nproc)" --target iglens_tests iglens_model_tests iglens_component_tests \
  readme_usage iglens_cli
# One thread per test: CTest runs as many tests as there are cores, and
# OpenMP threads waiting on a busy core made LibTorch 2.x tests up to 10x slower.
OMP_NUM_THREADS=1 ctest --test-dir build-libtorch2 --output-on-failure -j"$(nproc)" -L libtorch
