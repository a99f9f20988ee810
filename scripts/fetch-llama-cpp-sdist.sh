#!/usr/bin/env bash
# Fetches PyPI's llama-cpp-python source distribution once (sha256-checked,
# without dependencies, never installed) and prints the path of the cached
# archive. It vendors a whole llama.cpp: fetch-llama-cpp.sh unpacks its GGUF
# converter, build-llama-cpp-program.sh builds its tokenizer and benchmark programs, and the
# build takes minja from the same 0.3.16 archive (cmake/iglensMinja.cmake).
#
#   fetch-llama-cpp-sdist.sh VERSION    # 0.3.2 (65 MB) or 0.3.16 (50 MB)
#
# Cache folder: $IGLENS_MODEL_CACHE, else ~/.cache/iglens.
set -euo pipefail
version=${1:?usage: fetch-llama-cpp-sdist.sh VERSION}
case "$version" in
  0.3.2) sdist_sha256=8fbf246a55a999f45015ed0d48f91b4ae04ae959827fac1cd6ac6ec65aed2e2f size="65 MB" ;;
  0.3.16) sdist_sha256=34ed0f9bd9431af045bb63d9324ae620ad0536653740e9bb163a2e1fcb973be6 size="50 MB" ;;
  *) echo "fetch-llama-cpp-sdist: version $version is not pinned here (0.3.2 or 0.3.16)" >&2; exit 1 ;;
esac
cache=${IGLENS_MODEL_CACHE:-$HOME/.cache/iglens}
sdist="$cache/llama_cpp_python-$version.tar.gz"
if [[ -f "$sdist" ]] && echo "$sdist_sha256  $sdist" | sha256sum --check --status; then
  echo "$sdist"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "fetch-llama-cpp-sdist: downloading the llama-cpp-python==$version source distribution from PyPI ($size, without dependencies)" >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
  "llama-cpp-python==$version" -d "$work" >&2
echo "$sdist_sha256  $work/llama_cpp_python-$version.tar.gz" | sha256sum --check --status ||
  { echo "fetch-llama-cpp-sdist: the downloaded source distribution's sha256 is not $sdist_sha256" >&2; exit 1; }
mv "$work/llama_cpp_python-$version.tar.gz" "$sdist"  # same file system: the cached archive appears whole
echo "$sdist"
