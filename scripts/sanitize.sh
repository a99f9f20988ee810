#!/usr/bin/env bash
# Builds the tests with AddressSanitizer + UndefinedBehaviorSanitizer (clang)
# in build-sanitize/ and runs them: the tokenizer, the iglens.json parser,
# the softmax sweeps and the engine, then each libFuzzer target for
# FUZZ_SECONDS (default 40) on its seed corpus. The Python references come
# from the default build's environment (build/python-env, made if missing)
# rather than a second copy. Part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DIGLENS_SANITIZE=ON -DIGLENS_BUILD_FUZZERS=ON -DIGLENS_BUILD_PROGRAMS=OFF -DIGLENS_BUILD_EXAMPLES=OFF -DIGLENS_INSTALL=OFF \
  -DIGLENS_FUZZ_SECONDS="${FUZZ_SECONDS:-40}" -DIGLENS_PYTHON_ENV="$PWD/build/python-env"
cmake --build build-sanitize -j"$(nproc)"
# Any report fails its test; no suppressions are needed (LibTorch made none).
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# One thread per test: CTest runs as many tests as there are cores, and
# OpenMP threads waiting on a busy core made LibTorch 2.x tests up to 10x slower.
OMP_NUM_THREADS=1 ctest --test-dir build-sanitize --output-on-failure -j"$(nproc)"
# How much each fuzz target ran: libFuzzer's last line, by test name.
awk '/^[0-9]+\/[0-9]+ Testing: /{name=$3} /^Done [0-9]+ runs/{print "fuzz:", name, $0}' \
  build-sanitize/Testing/Temporary/LastTest.log
