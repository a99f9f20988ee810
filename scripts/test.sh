#!/usr/bin/env bash
# Installs what IG-Lens needs (Debian 12, as root), builds everything and runs
# the whole test suite through CTest, then the sanitizer and fuzzing jobs
# (scripts/sanitize.sh, in their own build folder).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
bash scripts/sanitize.sh
