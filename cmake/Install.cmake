# The parts of `cmake --install build --prefix P` that let programs built
# without dsm-clang use an installed dsmkit (included from the top-level
# CMakeLists.txt, after the targets exist):
#   P/lib/cmake/dsmkit/   dsmkitConfig.cmake (+ version): find_package(dsmkit)
#                         gives dsmkit::dsm (cmake/dsmkitConfig.cmake.in)
#   P/lib/pkgconfig/dsm.pc  `pkg-config --cflags --libs dsm`
# Both are relocatable: the CMake package finds P from its own location, the
# pkg-config file through ${pcfiledir}. The files themselves (bin/, lib/,
# include/) are installed by compiler-plugin/CMakeLists.txt.
include(CMakePackageConfigHelpers)

set(DSM_PACKAGE_DIR ${CMAKE_BINARY_DIR}/package)
get_target_property(DSM_LIB_VERSION dsm VERSION)
get_target_property(DSM_LIB_SOVERSION dsm SOVERSION)
configure_file(${CMAKE_CURRENT_LIST_DIR}/dsmkitConfig.cmake.in
  ${DSM_PACKAGE_DIR}/dsmkitConfig.cmake @ONLY)
write_basic_package_version_file(${DSM_PACKAGE_DIR}/dsmkitConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${DSM_PACKAGE_DIR}/dsmkitConfig.cmake ${DSM_PACKAGE_DIR}/dsmkitConfigVersion.cmake
  DESTINATION lib/cmake/dsmkit)

# The same template as the build tree's lib/pkgconfig/dsm.pc (runtime/), with
# the installed directories relative to the file.
block()
  set(DSM_PC_LIBDIR "\${pcfiledir}/..")
  set(DSM_PC_INCLUDEDIR "\${pcfiledir}/../../include")
  configure_file(${PROJECT_SOURCE_DIR}/runtime/dsm.pc.in ${DSM_PACKAGE_DIR}/dsm.pc @ONLY)
endblock()
install(FILES ${DSM_PACKAGE_DIR}/dsm.pc DESTINATION lib/pkgconfig)
