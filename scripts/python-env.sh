#!/usr/bin/env bash
# Creates (once) and prints the path of the Python environment that holds the
# independent references our tests compare against: Hugging Face
# `transformers`, `tokenizers`, `gguf` (numpy dequantizers), TransformerLens
# and Captum (component attribution) and their needs, pinned, from PyPI. It
# sees Debian's python3-torch (1.13) through --system-site-packages, so no
# multi-GB torch wheel is downloaded; the pinned transformers release is the
# last that runs on torch 1.13 and reads GGUF files. None of this is a
# dependency of the C++ library or `iglens`.
#
#   venv=$(bash scripts/python-env.sh)   # then "$venv/bin/python" ...
#
# Location: $IGLENS_PYTHON_ENV, else build/python-env. Downloads (about 125 MB
# of wheels the first time, cached by pip afterwards): the packages listed
# below and what they need; about 25 MB for transformers and its kin, about
# 100 MB for TransformerLens and Captum, most of it pyarrow 40 MB, wandb 16 MB,
# pandas 13 MB, matplotlib 8 MB, pillow 7 MB.
#
# Why these versions: transformer-lens 2.11.0 is the last release that accepts
# torch 1.x (2.13 on require torch>=2.2) and accepts transformers 4.46.3;
# captum 0.8.0 is the last that accepts torch 1.x (0.9 requires torch>=2.3).
# `import transformer_lens` imports datasets (pyarrow) and wandb, and captum.attr
# imports matplotlib, so those are installed too. Their versions, and those of
# TransformerLens' own needs, are pinned to releases of late 2024 that run with
# Debian's numpy 1.24 (the newest pyarrow and pandas need numpy 2).
set -euo pipefail
cd "$(dirname "$0")/.."
env_dir=${IGLENS_PYTHON_ENV:-$PWD/build/python-env}
requirements=(
  transformers==4.46.3 tokenizers==0.20.3 huggingface-hub==0.36.2 safetensors==0.8.0
  gguf==0.10.0 sentencepiece==0.2.3 accelerate==1.1.1
  transformer-lens==2.11.0 captum==0.8.0
  datasets==3.1.0 pyarrow==18.1.0 pandas==2.2.3 wandb==0.18.7 matplotlib==3.9.2
  jaxtyping==0.2.36 typeguard==4.4.1 beartype==0.14.1 einops==0.8.0 fancy-einsum==0.0.3
  better-abc==0.0.3 rich==13.9.4
  jinja2==3.1.4 markupsafe==2.1.5
)
stamp="$env_dir/.iglens-requirements"
if [[ -f "$stamp" && "$(cat "$stamp")" == "${requirements[*]}" ]]; then
  echo "$env_dir"
  exit 0
fi
echo "python-env: creating $env_dir; downloading from PyPI: ${requirements[*]}" >&2
rm -rf "$env_dir"
/usr/bin/python3 -m venv --system-site-packages "$env_dir"
# numpy stays Debian's (python3-torch 1.13 is built against numpy 1.x), and so
# does torch: a package that wants another torch fails to resolve instead of
# downloading one.
system_version() { /usr/bin/python3 -c "import $1; print($1.__version__)"; }
"$env_dir/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}" \
  "numpy==$(system_version numpy)" "torch==$(system_version torch)" >&2
"$env_dir/bin/python" -c "import torch, transformers, tokenizers, gguf, numpy, transformer_lens, captum.attr" >&2
echo "${requirements[*]}" > "$stamp"
echo "$env_dir"
