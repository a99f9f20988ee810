# The dependencies of the iglens target. Shared by the build tree and by the
# installed iglensConfig.cmake so both resolve them the same way.
include(GNUInstallDirs)
find_package(Torch REQUIRED)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)

# Imported targets are visible only in the directory that found them; a
# project that add_subdirectory()s IG-Lens links to them (and to the targets
# they link in turn) through the iglens target, so make them all global.
if(NOT CMAKE_CURRENT_SOURCE_DIR STREQUAL CMAKE_SOURCE_DIR)
  get_property(found_targets DIRECTORY PROPERTY IMPORTED_TARGETS)
  foreach(dependency IN LISTS found_targets)
    get_target_property(is_global ${dependency} IMPORTED_GLOBAL)
    if(NOT is_global)
      set_target_properties(${dependency} PROPERTIES IMPORTED_GLOBAL TRUE)
    endif()
  endforeach()
endif()
