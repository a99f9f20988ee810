#!/usr/bin/env bash
# The installed package as a user gets it: IG-Lens configured from its
# sources and installed into a prefix, its build tree removed and the prefix
# moved elsewhere; its CMake files must name no path of this machine. A copy
# of the consumer project then builds against the moved prefix with
# find_package(iglens) and runs.
#
#   test_installed_package.sh SOURCE_DIR WORK_DIR [CMAKE OPTIONS...]
#
# The options (a LibTorch to use) go to both configurations.
set -euo pipefail
source_dir=$1 work=$2
shift 2
rm -rf "$work"
mkdir -p "$work"
echo "installing IG-Lens from $source_dir"
cmake -S "$source_dir" -B "$work/build" -G Ninja -DIGLENS_BUILD_TESTS=OFF -DIGLENS_BUILD_PROGRAMS=OFF -DIGLENS_BUILD_EXAMPLES=OFF \
  -DIGLENS_INSTALL=ON "$@" >"$work/configure.log"
cmake --install "$work/build" --prefix "$work/prefix" >"$work/install.log"
rm -rf "$work/build"
mv "$work/prefix" "$work/moved-prefix"
package_dir=$(dirname "$(find "$work/moved-prefix" -name iglensConfig.cmake)")
if grep -nE "$source_dir|$work|/usr/|\.so" "$package_dir"/iglensTargets*.cmake "$package_dir"/iglensConfig*.cmake; then
  echo "NOT OK: the installed CMake files above name paths of the machine that built them"
  exit 1
fi
echo "OK: no machine path in $package_dir"
cp -r "$source_dir/tests/package/consumer" "$work/consumer"
cmake -S "$work/consumer" -B "$work/consumer-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/moved-prefix" "$@" >"$work/consumer-configure.log"
cmake --build "$work/consumer-build"
"$work/consumer-build/consumer"
echo "OK: the consumer built and ran against the moved package"
