#!/usr/bin/env bash
# Installs what IG-Lens needs (Debian 12, as root), builds everything and runs
# the whole test suite through CTest, then the sanitizer and fuzzing jobs
# (scripts/sanitize.sh, in build-sanitize/) and the LibTorch-linked tests
# against LibTorch 2.x (scripts/test-libtorch2.sh, in build-libtorch2/).
# Each stage prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
stage() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "test.sh: $name took $((SECONDS - start)) s"
}
stage "installing dependencies" bash scripts/install-deps.sh
stage "building" bash -c 'cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build -j"$(nproc)"'
stage "the test suite" ctest --test-dir build --output-on-failure -j"$(nproc)"
stage "sanitizers and fuzzing" bash scripts/sanitize.sh
stage "LibTorch 2.x" bash scripts/test-libtorch2.sh
echo "test.sh: all stages passed in $SECONDS s"
