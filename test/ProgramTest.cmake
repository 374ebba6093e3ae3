# dsm_program_test(NAME SOURCE src TIMEOUT seconds [PREFIX prefix]
#                  [DEFINITIONS defs...] [DEPENDS targets...])
#
# The GoogleTest driver NAME of a test area that runs whole programs and jobs
# (test/atomics, test/openmp, test/splash2): built from SOURCE into
# build/test, with the helpers of test/common (run_program.h: a program run
# with extra environment and a deadline) and dsmkit's common headers, with
# DSM_RUN_PATH (the built dsm-run) and DEFINITIONS defined, after dsm-run,
# dsm-hostd and DEPENDS. Its tests are registered with CTest, their names
# prefixed with PREFIX, each with TIMEOUT seconds.
include_guard(GLOBAL)
include(GoogleTest)

function(dsm_program_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "SOURCE;TIMEOUT;PREFIX" "DEFINITIONS;DEPENDS")
  if(NOT arg_SOURCE OR NOT arg_TIMEOUT OR arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "dsm_program_test(${name}): needs SOURCE and TIMEOUT; "
      "unknown: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  add_executable(${name} ${arg_SOURCE})
  target_link_libraries(${name} PRIVATE dsm_common GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/test/common)
  target_compile_options(${name} PRIVATE ${DSM_WARNINGS})
  target_compile_definitions(${name} PRIVATE DSM_RUN_PATH="$<TARGET_FILE:dsm-run>"
    ${arg_DEFINITIONS})
  add_dependencies(${name} dsm-run dsm-hostd ${arg_DEPENDS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/test)
  if(arg_PREFIX)
    gtest_discover_tests(${name} TEST_PREFIX ${arg_PREFIX} PROPERTIES TIMEOUT ${arg_TIMEOUT})
  else()
    gtest_discover_tests(${name} PROPERTIES TIMEOUT ${arg_TIMEOUT})
  endif()
endfunction()
