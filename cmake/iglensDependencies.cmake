# The dependencies of the iglens target. Shared by the build tree and by the
# installed iglensConfig.cmake so both resolve them the same way.
include(GNUInstallDirs)
find_package(Torch REQUIRED)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
