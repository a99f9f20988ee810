# The packages the iglens target links, found in one way by the build tree
# (CMakeLists.txt) and by the installed iglensConfig.cmake, which includes
# this file from beside it. In a package config a missing dependency makes
# find_package(iglens) fail and name it (find_dependency); in the build tree
# it stops the configuration.
#
# LibTorch comes from its own CMake config (find_package(Torch), with
# CMAKE_PREFIX_PATH or Torch_DIR for another LibTorch), or, when
# IGLENS_TORCH_CPU_DIR names a LibTorch folder whose config asks for a CUDA
# toolkit that is not installed, from its CPU libraries directly
# (iglensTorchCpu.cmake). A `torch` target made before, by the user's own
# find_package(Torch), is used as it is.
include(CMakeFindDependencyMacro)

macro(iglens_find_dependency)
  if(CMAKE_FIND_PACKAGE_NAME)
    find_dependency(${ARGN})
  else()
    find_package(${ARGN} REQUIRED)
  endif()
endmacro()

if(NOT TARGET torch)
  if(IGLENS_TORCH_CPU_DIR)
    include(${CMAKE_CURRENT_LIST_DIR}/iglensTorchCpu.cmake)
  else()
    iglens_find_dependency(Torch)
  endif()
endif()
iglens_find_dependency(Eigen3 3.3 NO_MODULE)
iglens_find_dependency(fmt)
iglens_find_dependency(nlohmann_json 3)

# utf8proc normalises text to NFC where a tokenizer asks for it (Pythia's);
# Debian's libutf8proc-dev ships no CMake config, so its header and library
# are found directly and named by the imported target iglens_utf8proc.
if(NOT TARGET iglens_utf8proc)
  find_path(IGLENS_UTF8PROC_INCLUDE_DIR utf8proc.h)
  find_library(IGLENS_UTF8PROC_LIBRARY utf8proc)
  if(IGLENS_UTF8PROC_INCLUDE_DIR AND IGLENS_UTF8PROC_LIBRARY)
    add_library(iglens_utf8proc UNKNOWN IMPORTED)
    set_target_properties(iglens_utf8proc PROPERTIES
      IMPORTED_LOCATION "${IGLENS_UTF8PROC_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${IGLENS_UTF8PROC_INCLUDE_DIR}")
  elseif(CMAKE_FIND_PACKAGE_NAME)
    set(${CMAKE_FIND_PACKAGE_NAME}_NOT_FOUND_MESSAGE
        "utf8proc (utf8proc.h, libutf8proc) was not found; on Debian: apt-get install libutf8proc-dev")
    set(${CMAKE_FIND_PACKAGE_NAME}_FOUND FALSE)
  else()
    message(FATAL_ERROR "utf8proc (utf8proc.h, libutf8proc) was not found; on Debian: apt-get install libutf8proc-dev")
  endif()
endif()
