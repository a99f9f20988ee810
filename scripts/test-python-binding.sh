#!/usr/bin/env bash
# Builds the Python package (scripts/build-python-binding.sh) against the
# torch of PYTHON, into OUT, and runs its pytest suite with that package;
# with --built, runs the suite with the package OUT already holds.
#   usage: scripts/test-python-binding.sh [--built] PYTHON OUT [PYTEST ARGS...]
# The tests read IGLENS_PROGRAM, IGLENS_DEMO_MODEL and, where set,
# IGLENS_SMOLLM2_GGUF, IGLENS_SMOLLM2_REFERENCE and IGLENS_SMOLLM2_TOKENIZER_JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
build=true
if [[ ${1:-} == --built ]]; then
  build=false
  shift
fi
python=$1
out=$(realpath -m "$2")
shift 2
# OpenBLAS's kernels for this CPU, as the program picks them where OpenBLAS
# falls back to generic ones (apps/openblas_core.hpp); set here, both use them.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
  flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
  if [[ $flags == *" avx512f "* && $flags == *" avx512bw "* && $flags == *" avx512dq "* && $flags == *" avx512vl "* ]]; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif [[ $flags == *" avx2 "* && $flags == *" fma "* ]]; then
    export OPENBLAS_CORETYPE=Haswell
  fi
fi
if $build; then
  bash scripts/build-python-binding.sh "$python" "$out"
fi
PYTHONPATH=$out/package:$out/tools PYTHONDONTWRITEBYTECODE=1 \
  "$python" -m pytest -p no:cacheprovider --import-mode=importlib -v python/binding/tests "$@"
