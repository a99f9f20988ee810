# LibTorch's CPU libraries, linked directly. PyPI's torch wheel for Linux is a
# CUDA build, and its TorchConfig.cmake stops where no CUDA toolkit is
# installed; its CPU half needs none. IGLENS_TORCH_CPU_DIR is the wheel's
# `torch` folder (include/, lib/), and this defines the imported target
# `torch` that find_package(Torch) would, from libtorch_cpu and libc10.
#
# libtorch_cpu also loads the CUDA runtime and CUPTI libraries, without a GPU:
# pip installs them (nvidia-cuda-runtime-cu12, nvidia-cuda-cupti-cu12) as
# ../nvidia/*/lib beside the torch folder, where the library's rpath finds
# them; scripts/libtorch2.sh installs all three into one environment.
if(TARGET torch)
  return()
endif()
if(NOT EXISTS "${IGLENS_TORCH_CPU_DIR}/include/torch/torch.h"
   AND NOT EXISTS "${IGLENS_TORCH_CPU_DIR}/include/torch/csrc/api/include/torch/torch.h")
  message(FATAL_ERROR "IGLENS_TORCH_CPU_DIR=${IGLENS_TORCH_CPU_DIR} is not a LibTorch folder (no include/torch there)")
endif()
find_library(IGLENS_TORCH_CPU_LIBRARY torch_cpu PATHS "${IGLENS_TORCH_CPU_DIR}/lib" NO_DEFAULT_PATH REQUIRED)
find_library(IGLENS_C10_LIBRARY c10 PATHS "${IGLENS_TORCH_CPU_DIR}/lib" NO_DEFAULT_PATH REQUIRED)
add_library(torch INTERFACE IMPORTED)
set_target_properties(torch PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${IGLENS_TORCH_CPU_DIR}/include;${IGLENS_TORCH_CPU_DIR}/include/torch/csrc/api/include"
  INTERFACE_LINK_LIBRARIES "${IGLENS_TORCH_CPU_LIBRARY};${IGLENS_C10_LIBRARY}")
message(STATUS "LibTorch CPU libraries from ${IGLENS_TORCH_CPU_DIR}")
