// Tests of RunProgram (run_program.h), with /bin/sh as the program.
#include "run_program.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace dsm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RunProgram, CollectsBothStreamsAndTheExitStatus) {
  ProgramOutput r =
      RunProgram({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, {}, seconds(20));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST(RunProgram, KeepsOutputLargerThanAPipe) {
  ProgramOutput r = RunProgram(
      {"/bin/sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo 0123456789; i=$((i+1)); done"},
      {}, seconds(20));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.size(), 20000u * 11u);
}

TEST(RunProgram, AddsTheEnvironmentAndDropsJobVariables) {
  ::setenv("OMP_NUM_THREADS", "7", 1);
  ::setenv("DSM_NODE_ID", "3", 1);
  ::setenv("RUN_PROGRAM_TEST_KEPT", "kept", 1);
  ProgramOutput r = RunProgram(
      {"/bin/sh", "-c",
       "echo \"[$OMP_NUM_THREADS][${DSM_NODE_ID-unset}][$RUN_PROGRAM_TEST_KEPT][$EXTRA]\""},
      {{"OMP_NUM_THREADS", "4"}, {"EXTRA", "x y"}}, seconds(20));
  ::unsetenv("OMP_NUM_THREADS");
  ::unsetenv("DSM_NODE_ID");
  ::unsetenv("RUN_PROGRAM_TEST_KEPT");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "[4][unset][kept][x y]\n");
}

TEST(RunProgram, KillsAProgramAtTheDeadline) {
  auto start = std::chrono::steady_clock::now();
  ProgramOutput r = RunProgram({"/bin/sh", "-c", "echo started; exec sleep 60"}, {},
                               milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.status, -1);
  EXPECT_EQ(r.out, "started\n");
  EXPECT_LT(took, seconds(30));
}

TEST(RunProgram, AProgramThatCannotStartExits127) {
  ProgramOutput r = RunProgram({"/nonexistent/program"}, {}, seconds(20));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 127);
}

}  // namespace
}  // namespace dsm::testing
