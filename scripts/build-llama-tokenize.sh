#!/usr/bin/env bash
# Builds llama.cpp's own tokenizer program, llama-tokenize, once (CPU only)
# and prints its path. The sources come from PyPI's llama-cpp-python 0.3.16
# source distribution (fetch-llama-cpp-sdist.sh: 50 MB, sha256-checked, the
# archive the build already fetches for minja), which vendors a whole llama.cpp;
# nothing of it is installed or copied into the repository. The tests use it
# as the reference tokenizer of GGUF files.
#
# AMX and native tuning are off: on some Intel machines llama.cpp built with
# them dies of SIGILL.
#
# Cache folder: $IGLENS_MODEL_CACHE, else ~/.cache/iglens.
set -euo pipefail
cache=${IGLENS_MODEL_CACHE:-$HOME/.cache/iglens}
target="$cache/llama-tokenize-0.3.16"
if [[ -x "$target/llama-tokenize" ]]; then
  echo "$target/llama-tokenize"
  exit 0
fi
sdist=$(bash "$(dirname "$0")/fetch-llama-cpp-sdist.sh" 0.3.16)
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$sdist" -C "$work" llama_cpp_python-0.3.16/vendor/llama.cpp
source_dir="$work/llama_cpp_python-0.3.16/vendor/llama.cpp"
echo "build-llama-tokenize: building llama-tokenize from llama.cpp (a few minutes)" >&2
cmake -S "$source_dir" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF >&2
cmake --build "$work/build" --target llama-tokenize -j "$(nproc)" >&2
mkdir -p "$work/out"
cp "$work/build/bin/llama-tokenize" "$work/out/"
rm -rf "$target"
mv "$work/out" "$target"  # same file system: the folder appears whole
echo "$target/llama-tokenize"
