#!/usr/bin/env bash
# Installs what IG-Lens needs (Debian 12, as root), builds the `iglens` program
# and maps the bundled demo GPT-2's answer to a Shakespeare prompt: the table
# goes to the terminal, the heatmap to build/demo-heatmap.svg. Extra
# arguments go to `iglens attribute` (e.g. --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --target iglens_cli
build/examples/iglens attribute "ROMEO: But soft, what light through yonder window" \
  --generate 12 --svg build/demo-heatmap.svg "$@"
echo "heatmap: build/demo-heatmap.svg"
