#!/usr/bin/env bash
# Fetches llama.cpp's own GGUF converter once and prints its folder (the one
# holding convert_hf_to_gguf.py and gguf-py/). It comes from PyPI's source
# distribution of llama-cpp-python (fetch-llama-cpp-sdist.sh: sha256-checked,
# without dependencies, cached), which vendors a whole llama.cpp; only the
# converter and its gguf-py are unpacked (0.3.16: also its test vocabulary of
# GPT-2, models/ggml-vocab-gpt-2.gguf, whose tokens and merges are GPT-2's
# own), and nothing is installed. The
# tests use it to turn tiny transformers models into GGUF files exactly as
# the files users have were made (tests/models/run_llama_cpp_converter.py
# runs it).
#
#   fetch-llama-cpp.sh [VERSION]
#
# 0.3.2 (the default, 65 MB) runs under Debian's torch 1.13; 0.3.16 (50 MB,
# the archive the build fetches for minja) converts
# the newer families (Qwen3, Gemma 3) and needs torch 2.x.
#
# Cache folder: $IGLENS_MODEL_CACHE, else ~/.cache/iglens.
set -euo pipefail
version=${1:-0.3.2}
cache=${IGLENS_MODEL_CACHE:-$HOME/.cache/iglens}
target="$cache/llama-cpp-python-$version"
inner="llama_cpp_python-$version/vendor/llama.cpp"
members=("$inner/convert_hf_to_gguf.py" "$inner/gguf-py" "$inner/LICENSE")
if [[ $version == 0.3.16 ]]; then
  members+=("$inner/models/ggml-vocab-gpt-2.gguf")
fi
complete=1
for member in "${members[@]}"; do
  [[ -e "$target/${member#"$inner/"}" ]] || complete=0
done
if [[ -f "$target/.complete" ]] && ((complete)); then
  echo "$target"
  exit 0
fi
sdist=$(bash "$(dirname "$0")/fetch-llama-cpp-sdist.sh" "$version")
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$sdist" -C "$work" "${members[@]}"
touch "$work/$inner/.complete"
rm -rf "$target"
mv "$work/$inner" "$target"  # same file system: the folder appears whole
echo "$target"
