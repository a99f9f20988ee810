#pragma once
// OpenBLAS picks its kernels once, as it loads, from the CPU's family and
// model (or from OPENBLAS_CORETYPE). Where it does not know them, Debian's
// 0.3.21 falls back to old generic kernels: on a virtual machine that calls
// itself "Intel(R) Xeon(R) Processor" and has AVX-512 it chooses Prescott
// (SSE3), and float32 products run 2 to 4 times slower (Gemma 3's 262144 x
// 640 head on 64 positions: 750 ms against 180 ms with SkylakeX's). The
// programs call restart_with_openblas_core first thing: on such a fallback,
// on a CPU with AVX2, they set OPENBLAS_CORETYPE and start themselves again,
// so that the choice is made as the library loads. A user's own
// OPENBLAS_CORETYPE is left as it is; another BLAS is left alone.

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace iglens::apps {

// The name of the kernels OpenBLAS chose, or nullopt when the BLAS in use is not OpenBLAS.
inline std::optional<std::string> openblas_core() {
  using Corename = char* (*)();
  const auto corename = reinterpret_cast<Corename>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (corename == nullptr) return std::nullopt;
  return std::string(corename());
}

// Kernels for this CPU where OpenBLAS fell back to generic ones and no
// OPENBLAS_CORETYPE was given; nullopt otherwise.
inline std::optional<std::string> better_openblas_core() {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return std::nullopt;
  const auto core = openblas_core();
  if (!core) return std::nullopt;
  bool generic = false;
  for (const char* fallback : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge"}) {
    generic = generic || *core == fallback;
  }
  if (!generic) return std::nullopt;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return std::nullopt;
}

// Starts the program again with OPENBLAS_CORETYPE set where that gives
// OpenBLAS this CPU's kernels; returns where it does not (or cannot: the
// program then goes on with the kernels it has). Call it before any work.
inline void restart_with_openblas_core(char** argv) {
  const auto core = better_openblas_core();
  if (!core) return;
  if (setenv("OPENBLAS_CORETYPE", core->c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
}

}  // namespace iglens::apps
