// The blame policy (tools/dsm-run/blame.h), in process: what each kind of
// exit means, and the order in which exits seen together are handled.
#include "blame.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "dsm/common/exit_status.h"
#include "options.h"

namespace dsm::launcher {
namespace {

ExitInfo Status(int value) { return ExitInfo{false, value, false}; }
ExitInfo Signal(int sig) { return ExitInfo{true, sig, false}; }

ExitFacts Node(uint32_t id, ExitInfo exit, bool attached = true, bool finished = false) {
  ExitFacts f;
  f.is_node = true;
  f.is_node0 = id == 0;
  f.attached = attached;
  f.job_finished = finished;
  f.exit = exit;
  return f;
}

ExitFacts Daemon(ExitInfo exit, bool finished = false) {
  ExitFacts f;
  f.job_finished = finished;
  f.exit = exit;
  return f;
}

TEST(Blame, ASignalIsAlwaysTheFailure) {
  for (bool finished : {false, true}) {
    EXPECT_EQ(Judge(Node(0, Signal(SIGKILL), true, finished)), Verdict::kKilled);
    EXPECT_EQ(Judge(Node(3, Signal(SIGSEGV), false, finished)), Verdict::kKilled);
    EXPECT_EQ(Judge(Daemon(Signal(SIGTERM), finished)), Verdict::kKilled);
  }
}

TEST(Blame, Node0sExitEndsTheJobWhateverItsStatus) {
  EXPECT_EQ(Judge(Node(0, Status(0))), Verdict::kNode0Exited);
  EXPECT_EQ(Judge(Node(0, Status(42))), Verdict::kNode0Exited);
  EXPECT_EQ(Judge(Node(0, Status(0), true, true)), Verdict::kNode0Exited);
}

TEST(Blame, WorkersAndDaemonsExitingZeroAreNormalOnlyAfterTheJobFinished) {
  EXPECT_EQ(Judge(Node(2, Status(0))), Verdict::kLeftEarly);
  EXPECT_EQ(Judge(Node(2, Status(0), true, true)), Verdict::kNormal);
  EXPECT_EQ(Judge(Daemon(Status(0))), Verdict::kLeftEarly);
  EXPECT_EQ(Judge(Daemon(Status(0), true)), Verdict::kNormal);
}

TEST(Blame, NonZeroExitsAreFailures) {
  EXPECT_EQ(Judge(Node(1, Status(9))), Verdict::kFailed);
  EXPECT_EQ(Judge(Node(1, Status(9), true, true)), Verdict::kFailed);
  EXPECT_EQ(Judge(Daemon(Status(1))), Verdict::kFailed);
  EXPECT_EQ(Judge(Daemon(Status(kExitJobFailed))), Verdict::kFailed) << "only nodes stop as a consequence";
}

TEST(Blame, TheRuntimesFailureStatusIsAConsequenceBeforeTheJobFinished) {
  EXPECT_EQ(Judge(Node(1, Status(kExitJobFailed))), Verdict::kConsequence);
  EXPECT_EQ(Judge(Node(0, Status(kExitJobFailed))), Verdict::kConsequence);
  EXPECT_EQ(Judge(Node(1, Status(kExitJobFailed), false)), Verdict::kConsequence)
      << "a dsmkit program that could not join says why itself";
  EXPECT_EQ(Judge(Node(1, Status(kExitJobFailed), true, true)), Verdict::kFailed);
}

TEST(Blame, ANodeThatNeverJoinedIsNotADsmkitProgram) {
  EXPECT_EQ(Judge(Node(0, Status(0), false)), Verdict::kNeverJoined);
  EXPECT_EQ(Judge(Node(2, Status(9), false)), Verdict::kNeverJoined);
  EXPECT_EQ(Judge(Node(2, Status(0), false, true)), Verdict::kNeverJoined);
}

TEST(Blame, OrderOfExitsSeenTogether) {
  // The likeliest root cause first, consequences last.
  EXPECT_LT(Verdict::kKilled, Verdict::kFailed);
  EXPECT_LT(Verdict::kFailed, Verdict::kNode0Exited);
  EXPECT_LT(Verdict::kNode0Exited, Verdict::kLeftEarly);
  EXPECT_LT(Verdict::kLeftEarly, Verdict::kNormal);
  EXPECT_LT(Verdict::kNormal, Verdict::kConsequence);
  EXPECT_LT(Verdict::kConsequence, Verdict::kNeverJoined);
}

TEST(Blame, FailureExitCodes) {
  EXPECT_EQ(FailureExitCode(Signal(SIGKILL)), 137);
  EXPECT_EQ(FailureExitCode(Status(7)), 7);
  EXPECT_EQ(FailureExitCode(Status(0)), kExitFailure);
}

}  // namespace
}  // namespace dsm::launcher
