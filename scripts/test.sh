#!/usr/bin/env bash
# Installs what IG-Lens needs (Debian 12, as root), builds everything and runs
# the whole test suite through CTest, then the sanitizer and fuzzing jobs
# (scripts/sanitize.sh, in build-sanitize/) and the LibTorch-linked tests
# against LibTorch 2.x (scripts/test-libtorch2.sh, in build-libtorch2/).
#
# Every stage runs even when an earlier one failed (a failing test must not
# hide the others), except that nothing runs without the dependencies and
# the test suite needs the build. The end is one line per stage, passed or
# failed with its time, and the exit status is non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
summary=()
failed=0
skipped=0
stage() {
  local name=$1 start=$SECONDS status
  shift
  echo "test.sh: $name ..."
  "$@"
  status=$?
  local took=$((SECONDS - start))
  if ((status == 0)); then
    summary+=("passed  $name ($took s)")
  else
    summary+=("FAILED  $name ($took s, exit $status)")
    failed=$((failed + 1))
  fi
  return "$status"
}
skip() {
  summary+=("skipped $1 ($2)")
  skipped=$((skipped + 1))
}
report() {
  echo
  echo "test.sh: stages, $SECONDS s in all"
  printf '  %s\n' "${summary[@]}"
  echo "test.sh: $((${#summary[@]} - failed - skipped)) passed, $failed failed, $skipped skipped"
  ((failed == 0))
}

if ! stage "installing dependencies" bash scripts/install-deps.sh; then
  report
  exit 1
fi
if stage "building" bash -c 'cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build -j"$(nproc)"'; then
  # One thread per test: CTest runs as many tests as there are cores, and
  # OpenMP threads waiting on a busy core made LibTorch 2.x tests up to 10x slower.
  stage "the test suite" env OMP_NUM_THREADS=1 ctest --test-dir build --output-on-failure -j"$(nproc)"
else
  skip "the test suite" "the build failed"
fi
stage "sanitizers and fuzzing" bash scripts/sanitize.sh
stage "LibTorch 2.x" bash scripts/test-libtorch2.sh
report
