"""Builds the `iglens` Python package from this checkout's header-only
library, against the torch of the environment that runs the build:

    pip install --no-build-isolation ./python/binding

--no-build-isolation lets the build see that torch (an isolated build would
download another one). Besides torch it needs a C++17 compiler, Python's
headers, pybind11's headers (torch 2.x carries them; Debian: pybind11-dev),
Eigen, fmt, nlohmann-json and utf8proc (Debian: libeigen3-dev libfmt-dev
nlohmann-json3-dev libutf8proc-dev), and minja, the chat-template engine, which is taken
as the CMake build takes it (cmake/iglensMinja.cmake: PyPI's
llama-cpp-python 0.3.16 source archive, 50 MB once, sha256-checked, into
$IGLENS_MODEL_CACHE or ~/.cache/iglens; or IGLENS_MINJA_DIR).
"""

import hashlib
import os
import re
import shutil
import tarfile
import urllib.request

from setuptools import setup

try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError:
    raise SystemExit("iglens: the build needs the torch of the environment it is for, which it cannot import here: "
                     "install torch there and run pip install --no-build-isolation ./python/binding")

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def minja_folder(build_folder):
    """A folder holding minja/minja.hpp, by the rule and pins of cmake/iglensMinja.cmake."""
    if os.environ.get("IGLENS_MINJA_DIR"):
        folder = os.environ["IGLENS_MINJA_DIR"]
        if not os.path.isfile(os.path.join(folder, "minja", "minja.hpp")):
            raise SystemExit(f"IGLENS_MINJA_DIR '{folder}' holds no minja/minja.hpp")
        return folder
    with open(os.path.join(root, "cmake", "iglensMinja.cmake"), encoding="utf-8") as file:
        cmake = file.read()
    pins = dict(re.findall(r'set\((iglens_minja_(?:sdist|url|sha256))\s+"?([^")\s]+)"?\)', cmake))
    sdist, sha256 = pins["iglens_minja_sdist"], pins["iglens_minja_sha256"]
    url = pins["iglens_minja_url"].replace("${iglens_minja_sdist}", sdist)
    cache = os.environ.get("IGLENS_MODEL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "iglens")
    archive = os.path.join(cache, sdist)

    def digest(path):
        hasher = hashlib.sha256()
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                hasher.update(block)
        return hasher.hexdigest()

    if not os.path.isfile(archive) or digest(archive) != sha256:
        print(f"iglens: downloading {sdist} from PyPI (50 MB, once) for minja, the chat template engine")
        os.makedirs(cache, exist_ok=True)
        partial = archive + ".part"
        with urllib.request.urlopen(url) as response, open(partial, "wb") as file:
            shutil.copyfileobj(response, file)
        if digest(partial) != sha256:
            os.unlink(partial)
            raise SystemExit(f"iglens: {url} does not have the sha256 {sha256}")
        os.replace(partial, archive)
    folder = os.path.join(build_folder, "minja-include")
    header = os.path.join(folder, "minja", "minja.hpp")
    if not os.path.isfile(header):
        member = sdist[: -len(".tar.gz")] + "/vendor/llama.cpp/vendor/minja/minja.hpp"
        os.makedirs(os.path.dirname(header), exist_ok=True)
        with tarfile.open(archive) as tar, tar.extractfile(member) as source, open(header + ".part", "wb") as out:
            shutil.copyfileobj(source, out)
        os.replace(header + ".part", header)
    return folder


def eigen_folder():
    folder = os.environ.get("EIGEN3_INCLUDE_DIR", "/usr/include/eigen3")
    if not os.path.isfile(os.path.join(folder, "Eigen", "Core")):
        raise SystemExit(f"Eigen not found in '{folder}': install libeigen3-dev or set EIGEN3_INCLUDE_DIR")
    return folder


# One build folder per torch: objects built against one torch are never reused for another.
build_folder = os.environ.get("IGLENS_PYTHON_BUILD_DIR") or os.path.join(here, "build", "torch-" + torch.__version__)
os.makedirs(build_folder, exist_ok=True)
setup(
    name="iglens",
    version="0.1.0",
    description="IG-Lens: between which layers is the probability of a predicted token produced",
    packages=["iglens"],
    ext_modules=[
        CppExtension(
            "iglens._core",
            [os.path.relpath(os.path.join(here, "src", "module.cpp"), here)],
            include_dirs=[os.path.join(root, "include"), minja_folder(build_folder), eigen_folder()],
            define_macros=[("FMT_HEADER_ONLY", "1")],
            libraries=["utf8proc"],  # NFC for tokenizers that ask for it (Debian: libutf8proc-dev)
            # As the CMake Release build: the same arithmetic, and no debug information (Python's own flags
            # add -g, which lengthens this one long compile and the module for what a user does not need).
            extra_compile_args=["-O3", "-DNDEBUG", "-g0", "-std=c++17"],
        )
    ],
    cmdclass={"build_ext": BuildExtension},
    options={"build": {"build_base": build_folder}, "egg_info": {"egg_base": build_folder}},
    python_requires=">=3.9",
)
