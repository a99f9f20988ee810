# install + export + config, so find_package(iglens) works after
# `cmake --install`.
include(CMakePackageConfigHelpers)

install(TARGETS iglens EXPORT iglensTargets)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/iglens
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# minja (MIT, its notice is in the header), fetched by iglensMinja.cmake.
install(FILES ${iglens_minja_include}/minja/minja.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/iglens/third_party/minja)

set(IGLENS_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/iglens)
install(EXPORT iglensTargets NAMESPACE iglens:: DESTINATION ${IGLENS_CMAKE_DIR})
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/iglensConfig.cmake.in
  ${PROJECT_BINARY_DIR}/iglensConfig.cmake
  INSTALL_DESTINATION ${IGLENS_CMAKE_DIR})
# Header-only: one package fits every architecture.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/iglensConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES
  ${PROJECT_BINARY_DIR}/iglensConfig.cmake
  ${PROJECT_BINARY_DIR}/iglensConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/iglensDependencies.cmake
  ${PROJECT_SOURCE_DIR}/cmake/iglensTorchCpu.cmake
  DESTINATION ${IGLENS_CMAKE_DIR})
