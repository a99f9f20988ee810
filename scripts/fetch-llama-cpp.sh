#!/usr/bin/env bash
# Fetches llama.cpp's own GGUF converter once and prints its folder (the one
# holding convert_hf_to_gguf.py and gguf-py/). It comes from PyPI's source
# distribution of llama-cpp-python (sha256-checked, without dependencies),
# which vendors a whole llama.cpp; only the converter and its gguf-py are
# unpacked, and nothing is installed. The tests use it to turn tiny
# transformers models into GGUF files exactly as the files users have were
# made (tests/models/run_llama_cpp_converter.py runs it).
#
#   fetch-llama-cpp.sh [VERSION]
#
# 0.3.2 (the default, 65 MB) runs under Debian's torch 1.13; 0.3.16 (50 MB,
# the archive the build fetches for minja, reused from the cache) converts
# the newer families (Qwen3, Gemma 3) and needs torch 2.x.
#
# Cache folder: $IGLENS_MODEL_CACHE, else ~/.cache/iglens.
set -euo pipefail
version=${1:-0.3.2}
case "$version" in
  0.3.2) sdist_sha256=8fbf246a55a999f45015ed0d48f91b4ae04ae959827fac1cd6ac6ec65aed2e2f size="65 MB" ;;
  0.3.16) sdist_sha256=34ed0f9bd9431af045bb63d9324ae620ad0536653740e9bb163a2e1fcb973be6 size="50 MB" ;;
  *) echo "fetch-llama-cpp: version $version is not pinned here (0.3.2 or 0.3.16)" >&2; exit 1 ;;
esac
cache=${IGLENS_MODEL_CACHE:-$HOME/.cache/iglens}
target="$cache/llama-cpp-python-$version"
if [[ -f "$target/.complete" ]]; then
  echo "$target"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
sdist="$work/llama_cpp_python-$version.tar.gz"
if [[ -f "$cache/llama_cpp_python-$version.tar.gz" ]]; then
  cp "$cache/llama_cpp_python-$version.tar.gz" "$sdist"
else
  echo "fetch-llama-cpp: downloading the llama-cpp-python==$version source distribution from PyPI ($size, without dependencies)" >&2
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$version" -d "$work" >&2
fi
echo "$sdist_sha256  $sdist" | sha256sum --check --status ||
  { echo "fetch-llama-cpp: the downloaded source distribution's sha256 is not $sdist_sha256" >&2; exit 1; }
inner="llama_cpp_python-$version/vendor/llama.cpp"
tar -xzf "$sdist" -C "$work" "$inner/convert_hf_to_gguf.py" "$inner/gguf-py" "$inner/LICENSE"
touch "$work/$inner/.complete"
rm -rf "$target"
mv "$work/$inner" "$target"  # same file system: the folder appears whole
echo "$target"
