#!/usr/bin/env bash
# Builds one program of llama.cpp once (CPU only) and prints its path:
# `build-llama-cpp-program.sh llama-tokenize` (the tests' reference tokenizer
# of GGUF files) or `build-llama-cpp-program.sh llama-bench` (the large-model
# benchmark's prompt-processing reference). The sources come from PyPI's
# llama-cpp-python 0.3.16 source distribution (fetch-llama-cpp-sdist.sh:
# 50 MB, sha256-checked, the archive the build already fetches for minja),
# which vendors a whole llama.cpp; nothing of it is installed or copied into
# the repository.
#
# llama.cpp's portable x86 build (AVX2, FMA, F16C; native tuning off) with
# AMX off: on some Intel machines llama.cpp built with AMX dies of SIGILL.
#
# Cache folder: $IGLENS_MODEL_CACHE, else ~/.cache/iglens.
set -euo pipefail
program=${1:?usage: build-llama-cpp-program.sh llama-tokenize|llama-bench}
case $program in
  llama-tokenize | llama-bench) ;;
  *)
    echo "build-llama-cpp-program: unknown program '$program' (llama-tokenize or llama-bench)" >&2
    exit 2
    ;;
esac
cache=${IGLENS_MODEL_CACHE:-$HOME/.cache/iglens}
target="$cache/$program-0.3.16"
if [[ -x "$target/$program" ]]; then
  echo "$target/$program"
  exit 0
fi
sdist=$(bash "$(dirname "$0")/fetch-llama-cpp-sdist.sh" 0.3.16)
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$sdist" -C "$work" llama_cpp_python-0.3.16/vendor/llama.cpp
source_dir="$work/llama_cpp_python-0.3.16/vendor/llama.cpp"
echo "build-llama-cpp-program: building $program from llama.cpp (a few minutes)" >&2
cmake -S "$source_dir" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF >&2
cmake --build "$work/build" --target "$program" -j "$(nproc)" >&2
mkdir -p "$work/out"
cp "$work/build/bin/$program" "$work/out/"
rm -rf "$target"
mv "$work/out" "$target"  # same file system: the folder appears whole
echo "$target/$program"
