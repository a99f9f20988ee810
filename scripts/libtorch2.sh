#!/usr/bin/env bash
# Installs LibTorch 2.x once per machine and prints its folder (the `torch`
# package folder: include/, lib/, share/cmake/). It comes from PyPI's torch
# wheel, installed without dependencies into a cached virtual environment,
# with the two NVIDIA runtime packages its CPU library loads (no GPU is
# needed). All three wheels are checked by sha256 (pip --require-hashes).
#
# The wheel is a CUDA build: its TorchConfig.cmake stops without a CUDA
# toolkit, so build against it with -DIGLENS_TORCH_CPU_DIR=<printed folder>,
# which links its CPU libraries directly (cmake/iglensTorchCpu.cmake).
# `import torch` does not work in this environment (the other CUDA libraries
# are not installed), so the folder is site-packages/torch rather than
# torch.utils.cmake_prefix_path.
#
# Downloads: about 920 MB of wheels the first time (torch 2.9.1 900 MB,
# nvidia-cuda-cupti-cu12 10 MB, nvidia-cuda-runtime-cu12 1 MB); installed
# about 2.6 GB. Location: $IGLENS_LIBTORCH2_ENV, else ~/.cache/iglens/libtorch-2.9.1.
set -euo pipefail
env_dir=${IGLENS_LIBTORCH2_ENV:-$HOME/.cache/iglens/libtorch-2.9.1}
torch_dir="$env_dir/lib/python3.11/site-packages/torch"
requirements="torch==2.9.1 \
  --hash=sha256:d033ff0ac3f5400df862a51bdde9bad83561f3739ea0046e68f5401ebfa67c1b
nvidia-cuda-runtime-cu12==12.8.90 \
  --hash=sha256:adade8dcbd0edf427b7204d480d6066d33902cab2a4707dcfc48a2d0fd44ab90
nvidia-cuda-cupti-cu12==12.8.90 \
  --hash=sha256:ea0cb07ebda26bb9b29ba82cda34849e73c166c18162d3913575b0c9db9a6182"
stamp="$env_dir/.iglens-requirements"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$requirements" ]]; then
  echo "$torch_dir"
  exit 0
fi
echo "libtorch2: installing LibTorch 2.9.1 into $env_dir; downloading from PyPI (once): torch 2.9.1 (900 MB), nvidia-cuda-runtime-cu12, nvidia-cuda-cupti-cu12" >&2
mkdir -p "$(dirname "$env_dir")"
work=$(mktemp -d "$env_dir.partial.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The virtual environment is made where it will stay (its scripts name their
# folder); the finished one replaces any older one in one rename.
rm -rf "$env_dir"
/usr/bin/python3 -m venv "$env_dir"
echo "$requirements" >"$work/requirements.txt"
"$env_dir/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
  -r "$work/requirements.txt" >&2
[[ -f "$torch_dir/lib/libtorch_cpu.so" && -f "$torch_dir/include/torch/csrc/api/include/torch/torch.h" ]] ||
  { echo "libtorch2: $torch_dir has no LibTorch after the install" >&2; exit 1; }
echo "$requirements" >"$stamp"
echo "$torch_dir"
