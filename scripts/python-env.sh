#!/usr/bin/env bash
# Creates (once) and prints the path of the Python environment that holds the
# independent references our tests compare against: Hugging Face
# `transformers`, `tokenizers`, `gguf` (numpy dequantizers) and their needs,
# pinned, from PyPI. It sees Debian's python3-torch (1.13) through
# --system-site-packages, so no multi-GB torch wheel is downloaded; the
# pinned transformers release is the last that runs on torch 1.13 and reads
# GGUF files. None of this is a dependency of the C++ library or `iglens`.
#
#   venv=$(bash scripts/python-env.sh)   # then "$venv/bin/python" ...
#
# Location: $IGLENS_PYTHON_ENV, else build/python-env. Downloads (about 25 MB
# the first time, cached by pip afterwards): the packages listed below.
set -euo pipefail
cd "$(dirname "$0")/.."
env_dir=${IGLENS_PYTHON_ENV:-$PWD/build/python-env}
requirements=(
  transformers==4.46.3 tokenizers==0.20.3 huggingface-hub==0.36.2 safetensors==0.8.0
  gguf==0.10.0 sentencepiece==0.2.3 accelerate==1.1.1
)
stamp="$env_dir/.iglens-requirements"
if [[ -f "$stamp" && "$(cat "$stamp")" == "${requirements[*]}" ]]; then
  echo "$env_dir"
  exit 0
fi
echo "python-env: creating $env_dir; downloading from PyPI: ${requirements[*]}" >&2
rm -rf "$env_dir"
/usr/bin/python3 -m venv --system-site-packages "$env_dir"
# numpy stays Debian's (python3-torch 1.13 is built against numpy 1.x).
"$env_dir/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}" "numpy==$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')" >&2
"$env_dir/bin/python" -c "import torch, transformers, tokenizers, gguf, numpy" >&2
echo "${requirements[*]}" > "$stamp"
echo "$env_dir"
