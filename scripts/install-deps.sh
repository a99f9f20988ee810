#!/usr/bin/env bash
# Installs everything IG-Lens needs from Debian 12 packages (run as root).
# Skips apt entirely when every package is already present.
set -euo pipefail
packages=(
  cmake ninja-build g++ git
  libtorch-dev libopenblas0-pthread libopenblas0-openmp python3-torch python3-jsonschema python3-dev pybind11-dev
  libeigen3-dev libfmt-dev catch2 nlohmann-json3-dev libcli11-dev libutf8proc-dev
  nodejs
  chromium
  clang libclang-rt-14-dev clang-format
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The machine image ships npm outside Debian; take Debian's only if none is there.
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
