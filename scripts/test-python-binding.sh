#!/usr/bin/env bash
# Builds the Python package (scripts/build-python-binding.sh) against the
# torch of PYTHON, into OUT, and runs its pytest suite with that package.
#   usage: scripts/test-python-binding.sh PYTHON OUT [PYTEST ARGS...]
# The tests read IGLENS_PROGRAM, IGLENS_DEMO_MODEL and, where set,
# IGLENS_SMOLLM2_GGUF, IGLENS_SMOLLM2_REFERENCE and IGLENS_SMOLLM2_TOKENIZER_JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
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
bash scripts/build-python-binding.sh "$python" "$out"
PYTHONPATH=$out/package:$out/tools PYTHONDONTWRITEBYTECODE=1 \
  "$python" -m pytest -p no:cacheprovider --import-mode=importlib -v python/binding/tests "$@"
