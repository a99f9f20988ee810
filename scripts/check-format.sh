#!/usr/bin/env bash
# Checks that every C++ file follows .clang-format and names the ones that do
# not; `--fix` rewrites them in place. Part of the test suite (CTest
# clang_format).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find include apps examples tests python/binding/src \( -name '*.hpp' -o -name '*.cpp' \) | sort)
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
clang-format --dry-run --Werror "${files[@]}"
echo "OK: ${#files[@]} C++ files follow .clang-format"
