// How dsm-run judges the exits of a job's processes and the daemon's word on
// them: whose status is the job's, who is named as the culprit (tests of the
// dsm-run binary with the stand-in daemon).
#include "job.h"
#include "launcher_test_util.h"

namespace dsm::launcher::testing {
namespace {

TEST_F(LauncherJob, ExitStatusOfNode0IsTheJobsStatus) {
  Outcome o = Run(Job(1, {}, kPublishPid + "exit 7"), {kFinished});
  EXPECT_EQ(o.status, 7);
  EXPECT_EQ(o.err, "");
  ExpectJobGone();

  // The other nodes exit 0 as they do when told that the job finished,
  // possibly before node 0 is seen to exit.
  o = Run(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && exit 42; exit 0)"), {kFinished});
  EXPECT_EQ(o.status, 42);
  EXPECT_EQ(o.err, "");
  ExpectJobGone();

  o = Run(Job(2, {}, kPublishPid + "exit 0"), {kFinished});
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.err, "");
  ExpectJobGone();
}

// dsm-hostd says "attached K" before node K can go on; a node that exits
// without it never joined the job: the program is not linked with libdsm,
// and running N unrelated copies of it is not what was asked.
TEST_F(LauncherJob, NodeExitingWithoutJoiningTheJobIsAnError) {
  const std::string kNoAttach = "FAKE_HOSTD_ATTACH=none";
  Outcome o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && exit 0; exec sleep 100)"), {kNoAttach});
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("node 0 (pid " + std::to_string(PidOf("pid.0")) +
                       ") exited with status 0 without joining the job: is "),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("linked with libdsm"), std::string::npos) << o.err;
  ExpectJobGone();
  o = Run(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 2 ] && exit 9; exec sleep 100)"), {kNoAttach});
  EXPECT_EQ(o.status, 9);
  EXPECT_NE(o.err.find("node 2 (pid " + std::to_string(PidOf("pid.2")) +
                       ") exited with status 9 without joining the job"),
            std::string::npos)
      << o.err;
  ExpectJobGone();
  // Status 3 is the runtime's own failure exit (it says why itself, e.g. it
  // could not reach the daemon): a dsmkit program, not a foreign one.
  o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && exit 3; exec sleep 100)"), {kNoAttach});
  EXPECT_EQ(o.status, 3);
  EXPECT_EQ(o.err, "dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") exited with status 3 before the job finished; ending the job\n");
  ExpectJobGone();
  // A node killed before it joined is reported as killed.
  o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && kill -9 $$; exec sleep 100)"), {kNoAttach});
  EXPECT_EQ(o.status, 137);
  EXPECT_NE(o.err.find("was killed by signal 9"), std::string::npos) << o.err;
  ExpectJobGone();
}

TEST_F(LauncherJob, NodesStillRunningAfterNode0AreKilledAfterThreeSeconds) {
  Outcome o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && exit 5; exec sleep 100)"), {kFinished});
  EXPECT_EQ(o.status, 5);
  EXPECT_GE(o.seconds, 2.9);
  EXPECT_LT(o.seconds, 6.0);
  pid_t worker = PidOf("pid.1");
  EXPECT_NE(o.err.find("dsm-run: warning: node 1 (pid " + std::to_string(worker) +
                       ") still running 3 s after node 0 exited; killing it"),
            std::string::npos)
      << o.err;
  ExpectJobGone();
}

TEST_F(LauncherJob, NodeKilledBySigkillEndsTheJob) {
  Launch(Job(3, {}, kPublishPid + "exec sleep 100"));
  ASSERT_TRUE(WaitForFiles(PidFiles(3)));
  pid_t victim = PidOf("pid.2");
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  double killed_at = Now();
  Outcome o = Wait();
  EXPECT_LT(o.end_time - killed_at, 3.0);
  EXPECT_EQ(o.status, 128 + SIGKILL);
  EXPECT_FALSE(o.signaled);
  EXPECT_EQ(o.err, "dsm-run: node 2 (pid " + std::to_string(victim) +
                       ") was killed by signal 9 (Killed); ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, NodeKillingItselfEndsTheJob) {
  Outcome o = Run(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && kill -9 $$; exec sleep 100)"));
  EXPECT_EQ(o.status, 137);
  EXPECT_LT(o.seconds, 3.0);
  EXPECT_EQ(o.err, "dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") was killed by signal 9 (Killed); ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, Node0KilledBySignalIsAFailure) {
  Outcome o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && kill -TERM $$; exec sleep 100)"));
  EXPECT_EQ(o.status, 128 + SIGTERM);
  EXPECT_EQ(o.err, "dsm-run: node 0 (pid " + std::to_string(PidOf("pid.0")) +
                       ") was killed by signal 15 (Terminated); ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, WorkerExitingWithAnErrorEndsTheJob) {
  Outcome o = Run(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && exit 3; exec sleep 100)"));
  EXPECT_EQ(o.status, 3);
  EXPECT_LT(o.seconds, 3.0);
  EXPECT_EQ(o.err, "dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") exited with status 3 before the job finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, WorkerExitingWithZeroBeforeTheJobFinishedIsAFailure) {
  // The stand-in never says "finished": the job did not finish.
  Outcome o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && exit 0; exec sleep 100)"));
  EXPECT_EQ(o.status, 1);
  EXPECT_LT(o.seconds, 3.0);
  EXPECT_EQ(o.err, "dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") exited with status 0 before the job finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, WorkersExitingWithZeroAfterTheJobFinishedIsNormal) {
  // The daemon's lines come in pieces, among an unknown and an overlong line
  // (both ignored). The workers exit only once "finished 0" is written, as
  // with the real daemon, and node 0 only after they did.
  ASSERT_EQ(::mkfifo(Path("workers.gate").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo(Path("gate.0").c_str(), 0600), 0);
  Launch(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && { read x < "$TEST_DIR/gate.0"; exit 42; }; )"
                                  R"(read x < "$TEST_DIR/workers.gate"; exit 0)"),
         HostdScript(R"(printf 'some news\n' >&$fd; head -c 1000 /dev/zero | tr '\0' x >&$fd; )"
                     R"(printf '\nfini' >&$fd; printf 'shed 0\n' >&$fd; )"
                     R"(exec 5<> "$TEST_DIR/workers.gate"; printf 'go\ngo\n' >&5)"));
  ASSERT_TRUE(WaitForFiles(PidFiles(3)));
  ASSERT_TRUE(WaitForExit(PidOf("pid.1")));
  ASSERT_TRUE(WaitForExit(PidOf("pid.2")));
  UniqueFd gate(::open(Path("gate.0").c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(gate.valid()) << std::strerror(errno);
  ASSERT_EQ(::write(gate.get(), "go\n", 3), 3);
  Outcome o = Wait();
  EXPECT_EQ(o.status, 42);
  EXPECT_EQ(o.err, "");
  ExpectJobGone();
}

TEST_F(LauncherJob, LostNodeIsNamedNotTheNodesStoppingBecauseOfIt) {
  // As with the real daemon when node 2 dies: "lost 2", then node 1 exits
  // with status 3, and dsm-run sees that before node 2's own death.
  ASSERT_EQ(::mkfifo(Path("hostd.gate").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo(Path("gate.1").c_str(), 0600), 0);
  Launch(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && { echo > "$TEST_DIR/hostd.gate"; )"
                                  R"(read x < "$TEST_DIR/gate.1"; exit 3; }; exec sleep 100)"),
         HostdScript(R"(read x < "$TEST_DIR/hostd.gate"; printf 'lost 2\n' >&$fd; echo > "$TEST_DIR/gate.1")"));
  ASSERT_TRUE(WaitForFiles(PidFiles(3)));
  ASSERT_TRUE(WaitForExit(PidOf("pid.1")));
  pid_t victim = PidOf("pid.2");
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  Outcome o = Wait();
  EXPECT_EQ(o.status, 128 + SIGKILL);
  EXPECT_EQ(o.err, "dsm-run: node 2 (pid " + std::to_string(victim) +
                       ") was killed by signal 9 (Killed); ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, LostNodeThatKeepsRunningIsNamed) {
  // Node 1 left the job (say it detached) but does not exit; node 2 stops
  // with status 3 because of it.
  ASSERT_EQ(::mkfifo(Path("hostd.gate").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo(Path("gate.2").c_str(), 0600), 0);
  Launch(Job(3, {},
             kPublishPid + R"(case $DSM_NODE_ID in 1) echo > "$TEST_DIR/hostd.gate" ;; )"
                           R"(2) read x < "$TEST_DIR/gate.2"; exit 3 ;; esac; exec sleep 100)"),
         HostdScript(R"(read x < "$TEST_DIR/hostd.gate"; printf 'lost 1\n' >&$fd; echo > "$TEST_DIR/gate.2")"));
  Outcome o = Wait();
  EXPECT_EQ(o.status, 1);
  EXPECT_GE(o.seconds, kLostGraceMs / 1000.0);
  EXPECT_EQ(o.err, "dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") left the job before it finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, Node0LeavingWithoutFinishingTheJobIsAFailure) {
  // Node 0 exits with status 0 but never told the daemon that the job
  // finished (think _exit): "lost 0". Whether dsm-run sees the line or the
  // exit first, the job failed.
  ASSERT_EQ(::mkfifo(Path("hostd.gate").c_str(), 0600), 0);
  Outcome o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && { echo > "$TEST_DIR/hostd.gate"; )"
                                           R"(exit 0; }; exec sleep 100)"),
                  HostdScript(R"(read x < "$TEST_DIR/hostd.gate"; printf 'lost 0\n' >&$fd)"));
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err, "dsm-run: node 0 (pid " + std::to_string(PidOf("pid.0")) +
                       ") exited with status 0 before the job finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, InheritedIgnoredSigchldChangesNothing) {
  // With SIGCHLD ignored the kernel would reap the children at once.
  ignore_sigchld_ = true;
  Outcome o = Run(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 2 ] && exit 4; exec sleep 100)"));
  EXPECT_EQ(o.status, 4);
  EXPECT_EQ(o.err, "dsm-run: node 2 (pid " + std::to_string(PidOf("pid.2")) +
                       ") exited with status 4 before the job finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, DaemonDyingDuringTheJobEndsIt) {
  Outcome o = Run(Job(2, {}, kPublishPid + "exec sleep 100"), {"FAKE_HOSTD_MODE=die"});
  EXPECT_EQ(o.status, 3);
  EXPECT_LT(o.seconds, 3.0);
  EXPECT_EQ(o.err, "dsm-run: dsm-hostd (pid " + std::to_string(PidOf("hostd.pid")) +
                       ") exited with status 3 before the job finished; ending the job\n");
  ExpectJobGone();
}

}  // namespace
}  // namespace dsm::launcher::testing
