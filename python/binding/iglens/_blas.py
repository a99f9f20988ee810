"""Which OpenBLAS kernels this Python runs on. Debian's torch uses the
system's OpenBLAS, which picks its kernels once, as it loads, from the CPU's
family and model; on CPUs it does not know (many virtual machines) it falls
back to generic ones, which made maps 2.5 times slower on the README's
benchmark. The `iglens` program restarts itself with OPENBLAS_CORETYPE set
(apps/openblas_core.hpp); a Python package cannot, so it says how."""

import ctypes
import os

# The cores OpenBLAS 0.3.21 falls back to (SSE/AVX-era kernels).
GENERIC_CORES = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge"}


def better_core(current, cpu_flags, user_choice):
    """The OPENBLAS_CORETYPE that gives this CPU its own kernels where OpenBLAS
    chose `current`, a generic one, and the user chose none; else None."""
    if user_choice or current not in GENERIC_CORES:
        return None
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= cpu_flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= cpu_flags:
        return "Haswell"
    return None


def loaded_openblas_core():
    """The kernels of the OpenBLAS this process has loaded, or None (another BLAS, or not Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "libopenblas" in line}
    except OSError:
        return None
    for path in sorted(p for p in paths if p.startswith("/") and os.path.isfile(p)):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        corename = getattr(library, "openblas_get_corename", None)
        if corename is not None:
            corename.restype = ctypes.c_char_p
            return corename().decode()
    return None


def cpu_flags():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def advice():
    """One sentence for a warning where OpenBLAS runs generic kernels on a CPU that has better ones; else None."""
    current = loaded_openblas_core()
    better = better_core(current, cpu_flags(), os.environ.get("OPENBLAS_CORETYPE"))
    if better is None:
        return None
    return (f"OpenBLAS runs its generic {current} kernels on this CPU, which it does not recognise: start Python "
            f"with OPENBLAS_CORETYPE={better} OPENBLAS_NUM_THREADS=1 for maps several times faster")
