#!/usr/bin/env bash
# Builds the Python package (python/binding) the way its README says, with
# pip against the torch of PYTHON, into OUT/package (put it on PYTHONPATH).
#   usage: scripts/build-python-binding.sh PYTHON OUT
# pytest, and wheel (which pip's --no-build-isolation build of a setup.py
# needs), come from PyPI once into OUT/tools, hash-pinned (about 0.5 MB),
# so the cached Python environments are left as their scripts made them.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$1
out=$(realpath -m "$2")
tools=$out/tools
requirements="pytest==8.3.5 --hash=sha256:c69214aa47deac29fad6c2a4f590b9c4a9fdb16a403176fe154b79c0b4d4d820
pluggy==1.5.0 --hash=sha256:44e1ad92c8ca002de6377e165f3e0f1be63266ab4d554740532335b9d75ea669
iniconfig==2.1.0 --hash=sha256:9deba5723312380e77435581c6bf4935c94cbfab9b1ed33ef8d238ea168eb760
packaging==25.0 --hash=sha256:29572ef2b1f17581046b3a2227d5c611fb25ec70ca1ba8554b24b0e69331a484
wheel==0.45.1 --hash=sha256:708e7481cc80179af0e556bbf0cc00b8444c7321e2700b8d8580231d13017248"
if [[ ! -f "$tools/.requirements" || "$(cat "$tools/.requirements")" != "$requirements" ]]; then
  echo "build-python-binding: downloading pytest 8.3.5 and wheel 0.45.1 (with pluggy, iniconfig, packaging) from PyPI into $tools" >&2
  rm -rf "$tools"
  mkdir -p "$out"
  echo "$requirements" >"$out/requirements.txt"
  "$python" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary :all: --require-hashes \
    --target "$tools" -r "$out/requirements.txt"
  echo "$requirements" >"$tools/.requirements"
fi
echo "build-python-binding: building python/binding against $("$python" -c 'import torch; print("torch", torch.__version__)')" >&2
rm -rf "$out/package"
PYTHONPATH=$tools IGLENS_PYTHON_BUILD_DIR=$out/build \
  "$python" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps \
  --target "$out/package" ./python/binding
