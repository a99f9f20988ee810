#!/usr/bin/env bash
# Builds llama.cpp's own tokenizer program, llama-tokenize, once (CPU only)
# and prints its path. The sources come from PyPI's llama-cpp-python 0.3.16
# source distribution (50 MB, sha256-checked, the archive the build already
# fetches for minja, reused from the cache), which vendors a whole llama.cpp;
# nothing of it is installed or copied into the repository. The tests use it
# as the reference tokenizer of GGUF files.
#
# AMX and native tuning are off: on some Intel machines llama.cpp built with
# them dies of SIGILL.
#
# Cache folder: $IGLENS_MODEL_CACHE, else ~/.cache/iglens.
set -euo pipefail
version=0.3.16
sdist_sha256=34ed0f9bd9431af045bb63d9324ae620ad0536653740e9bb163a2e1fcb973be6
cache=${IGLENS_MODEL_CACHE:-$HOME/.cache/iglens}
target="$cache/llama-tokenize-$version"
if [[ -x "$target/llama-tokenize" ]]; then
  echo "$target/llama-tokenize"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
sdist="$cache/llama_cpp_python-$version.tar.gz"
if [[ ! -f "$sdist" ]]; then
  echo "build-llama-tokenize: downloading the llama-cpp-python==$version source distribution from PyPI (50 MB, without dependencies)" >&2
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$version" -d "$work" >&2
  mv "$work/llama_cpp_python-$version.tar.gz" "$sdist"
fi
echo "$sdist_sha256  $sdist" | sha256sum --check --status ||
  { echo "build-llama-tokenize: the source distribution's sha256 is not $sdist_sha256" >&2; exit 1; }
tar -xzf "$sdist" -C "$work" "llama_cpp_python-$version/vendor/llama.cpp"
source_dir="$work/llama_cpp_python-$version/vendor/llama.cpp"
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
