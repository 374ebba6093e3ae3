# dsm_cluster_test(NAME SOURCES srcs... PREFIX prefix TIMEOUT seconds
#                  BUILD_FIRST text [NEEDS targets...])
#
# The GoogleTest driver NAME of a test area that runs dsm-run across a
# pretend cluster of network namespaces (test/ssh, test/slurm): built from
# SOURCES and test/common/netns_run.cc (NetnsRun, the command in the launch
# namespace) into build/test, linked with dsm_launcher, with the helpers of
# test/common on the include path and the paths of the programs its jobs run
# defined: DSM_RUN_PATH, PI_PATH, DSM_TEST_COUNTER_PATH, DSM_TEST_SPIN_PATH
# and DSM_PROGRAMS_DIR (build/test/programs). Built after dsm-run and every
# program it needs: dsm-hostd, pi, dsm_test_counter, dsm_test_spin, vm_node
# and NEEDS. When one of those is not a target (its area is not built), the
# driver is not built either and a message says to build BUILD_FIRST first.
# Its tests are registered with CTest, prefixed with PREFIX, each with
# TIMEOUT seconds.
include_guard(GLOBAL)
include(GoogleTest)

function(dsm_cluster_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "PREFIX;TIMEOUT;BUILD_FIRST" "SOURCES;NEEDS")
  if(NOT arg_SOURCES OR NOT arg_PREFIX OR NOT arg_TIMEOUT OR arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "dsm_cluster_test(${name}): needs SOURCES, PREFIX and TIMEOUT; "
      "unknown: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  set(programs dsm-hostd pi dsm_test_counter dsm_test_spin vm_node ${arg_NEEDS})
  foreach(t ${programs})
    if(NOT TARGET ${t})
      message(STATUS "${name}: not built (needs target ${t}: build ${arg_BUILD_FIRST} first)")
      return()
    endif()
  endforeach()
  add_executable(${name} ${arg_SOURCES} ${PROJECT_SOURCE_DIR}/test/common/netns_run.cc)
  target_compile_options(${name} PRIVATE ${DSM_WARNINGS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/test/common)
  target_link_libraries(${name} PRIVATE dsm_launcher GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    DSM_RUN_PATH="$<TARGET_FILE:dsm-run>"
    PI_PATH="$<TARGET_FILE:pi>"
    DSM_TEST_COUNTER_PATH="$<TARGET_FILE:dsm_test_counter>"
    DSM_TEST_SPIN_PATH="$<TARGET_FILE:dsm_test_spin>"
    DSM_PROGRAMS_DIR="${CMAKE_BINARY_DIR}/test/programs")
  add_dependencies(${name} dsm-run ${programs})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/test)
  gtest_discover_tests(${name} TEST_PREFIX ${arg_PREFIX} DISCOVERY_TIMEOUT 30
    PROPERTIES TIMEOUT ${arg_TIMEOUT})
endfunction()
