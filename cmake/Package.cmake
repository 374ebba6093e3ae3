# The Debian package of the installed tree (included from the top-level
# CMakeLists.txt, after cmake/Install.cmake):
#
#   cmake --build build --target package      # build/dsmkit_<version>_<arch>.deb
#   apt install ./build/dsmkit_*.deb          # on every machine of a cluster
#
# CPack's DEB generator packs what `cmake --install` installs, with the prefix
# /usr: /usr/bin (dsm-run, dsm-hostd, dsm-clang, dsm-clang++, dsm-image),
# /usr/lib (libdsm.so.0, its main shim and heap archives, dsm_globals.ld,
# cmake/dsmkit, pkgconfig/dsm.pc; the Clang plugin in dsmkit/),
# /usr/include/dsm, and the files below in /usr/share. dsm-clang finds the
# plugin and libdsm in ../lib from itself, and dsm-run finds dsm-hostd next to itself, so /usr needs no
# search path of its own (libdsm.so.0 is in the loader's default /usr/lib).
#
# Depends: the shared libraries the binaries link (dpkg-shlibdeps, from
# dpkg-dev, which needs `file`), and clang-14, which dsm-clang runs. Nothing
# installed needs libomp: dsm-clang links libdsm in its place and brings its
# own omp.h. Recommends: what VM nodes boot with (docs/vm.md).
# Needs dpkg-dev, file and (for its test) lintian: scripts/bootstrap.

set(DSM_PACKAGE_MAINTAINER "dsmkit developers <dsmkit@dsmkit.invalid>" CACHE STRING
  "The Maintainer field of the Debian package (and its changelog entry)")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dsmkit)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${DSM_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Only the executables and shared objects; the build tree keeps its debug info.
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "distributed shared memory for OpenMP and C programs")
set(CPACK_PACKAGE_DESCRIPTION [=[dsmkit runs shared-memory parallel programs on a cluster of machines that
share one address space: each machine runs a daemon (dsm-hostd), each node of
a job runs the program linked with the runtime libdsm, and pages stay
coherent across machines under home-based lazy release consistency.

This package holds the launcher dsm-run, the daemon dsm-hostd, the compiler
driver dsm-clang (an OpenMP program built with it runs as a dsmkit job
unchanged), the guest image builder dsm-image, libdsm with its headers, and
the CMake and pkg-config files for programs built with another compiler.]=])

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE DSM_DEB_ARCH
  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE dsm_dpkg_result)
if(dsm_dpkg_result EQUAL 0)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${DSM_DEB_ARCH})
endif()
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "clang-14")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "qemu-system-x86, busybox-static")
# The shlibs file for libdsm.so.0, and dpkg's ldconfig trigger (CPack also
# adds a postinst and postrm running ldconfig, since the library lies in /usr/lib).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# What Debian's policy asks of every package, installed by `cmake --install`
# too: the copyright file and the changelog (a native package's, gzip -9n:
# its entry carries the configure time, or SOURCE_DATE_EPOCH when set).
# lintian finds no error in the package (test/package); its warnings are
# listed in docs/install.md. A tag overridden some day goes in
# share/lintian/overrides/dsmkit, with its reason.
set(DSM_DEBIAN_DIR ${CMAKE_BINARY_DIR}/package/debian)
string(TIMESTAMP DSM_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/changelog.in ${DSM_DEBIAN_DIR}/changelog @ONLY)
execute_process(COMMAND gzip -9nc ${DSM_DEBIAN_DIR}/changelog
  OUTPUT_FILE ${DSM_DEBIAN_DIR}/changelog.gz RESULT_VARIABLE dsm_gzip_result)
if(NOT dsm_gzip_result EQUAL 0)
  message(FATAL_ERROR "gzip failed on ${DSM_DEBIAN_DIR}/changelog")
endif()
install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/copyright ${DSM_DEBIAN_DIR}/changelog.gz
  DESTINATION share/doc/dsmkit)

include(CPack)
