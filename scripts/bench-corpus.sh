#!/usr/bin/env bash
# Builds the iglens program and times `iglens corpus` side by side
# (apps/bench/bench_corpus.py): one process per prompt, one prompt per pass,
# batched passes and two torchrun ranks, on 200 tinyshakespeare lines with the
# demo model. Extra arguments go to the benchmark, e.g. --prompts 50,
# --model FILE, --no-ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target iglens_cli
exec /usr/bin/python3 apps/bench/bench_corpus.py --program build/apps/iglens --model models/demo-shakespeare.pt \
  --text ../shared/data/tinyshakespeare.txt "$@"
