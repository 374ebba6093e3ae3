// dsm-run with the real dsm-hostd and real dsmkit programs, when they are
// part of the build.
#include "launcher_test_util.h"

namespace dsm::launcher::testing {
namespace {

#ifdef DSM_HOSTD_PATH
// With the real daemon (when it is built): the start-up handshake, the
// environment and the clean-up. The nodes do not attach, so the daemon never
// says that the job finished: after node 0 exits dsm-run stops the daemon
// itself, and a worker exiting with status 0 is a failure.
TEST_F(LauncherJob, RealDaemon) {
  if (!fs::exists(DSM_HOSTD_PATH)) GTEST_SKIP() << DSM_HOSTD_PATH << " is not built";
  Args base = {"-n", "3", "--memory", "64M", "--hostd", DSM_HOSTD_PATH, "sh", "-c"};
  Args args = {"-n", "1", "--memory", "64M", "--hostd", DSM_HOSTD_PATH, "sh", "-c",
               kPublishPid + R"(test -S "$DSM_SOCKET" || exit 9; [ "$DSM_NUM_NODES" = 1 ] || exit 8; exit 4)"};
  Outcome o = Run(args);
  EXPECT_EQ(o.status, 4) << o.err;
  ExpectJobGone();

  ForgetPids();
  args = base;
  args.push_back(kPublishPid + R"(test -S "$DSM_SOCKET" || exit 9; [ "$DSM_NODE_ID" = 1 ] && exit 0; exec sleep 100)");
  o = Run(args);
  // A shell script never attaches: the real daemon never says it joined.
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") exited with status 0 without joining the job: is sh linked with libdsm"),
            std::string::npos)
      << o.err;
  ExpectJobGone();

  ForgetPids();
  args = base;
  args.push_back(kPublishPid + "exec sleep 100");
  Launch(args);
  std::vector<std::string> files = PidFiles(3);
  files.erase(files.begin());  // the real daemon publishes no pid
  ASSERT_TRUE(WaitForFiles(files));
  pid_t victim = PidOf("pid.1");
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  double killed_at = Now();
  o = Wait();
  EXPECT_LT(o.end_time - killed_at, 3.0);
  EXPECT_EQ(o.status, 137);
  EXPECT_NE(o.err.find("dsm-run: node 1 (pid " + std::to_string(victim) +
                       ") was killed by signal 9 (Killed); ending the job\n"),
            std::string::npos)
      << o.err;
  ExpectJobGone();
}

#ifdef DSM_TEST_COUNTER_PATH
// A real dsmkit job: the workers exit with status 0 as soon as node 0 has
// finished, typically before dsm-run sees node 0 go. That must never look
// like a failure.
TEST_F(LauncherJob, RealDaemonRealProgramSucceedsEveryTime) {
  if (!fs::exists(DSM_HOSTD_PATH)) GTEST_SKIP() << DSM_HOSTD_PATH << " is not built";
  for (int run = 0; run < 20; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    Outcome o = Run({"-n", "4", "--memory", "64M", "--hostd", DSM_HOSTD_PATH, DSM_TEST_COUNTER_PATH, "1000"});
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_TRUE(DsmRunLines(o.err).empty()) << o.err;  // sanitizer builds may warn
    EXPECT_EQ(o.out, "counter=4000 expected=4000 nodes=4\n");
    ExpectTmpEmpty();
  }
}
#endif

#ifdef DSM_TEST_SPIN_PATH
// The nodes of the spin program that said "spin-ready <node> <pid>" so far.
std::map<int, pid_t> SpinReadyPids(const std::string& out_file) {
  std::map<int, pid_t> pids;
  std::stringstream ss(ReadFile(out_file));
  std::string tag;
  int node, pid;
  while (ss >> tag >> node >> pid) {
    if (tag == "spin-ready") pids[node] = pid;
  }
  return pids;
}

// A real dsmkit node killed mid-job: dsm-run names it, and only it, although
// the other nodes exit with status 3 ("node 2 left the job") at once.
TEST_F(LauncherJob, RealDaemonNamesTheKilledNodeOnly) {
  if (!fs::exists(DSM_HOSTD_PATH)) GTEST_SKIP() << DSM_HOSTD_PATH << " is not built";
  Launch({"-n", "4", "--memory", "64M", "--hostd", DSM_HOSTD_PATH, DSM_TEST_SPIN_PATH});
  std::map<int, pid_t> pids;
  ASSERT_TRUE(WaitUntil([&] { return (pids = SpinReadyPids(Path("out"))).size() == 4; }, "the nodes did not start", 10));
  ASSERT_EQ(::kill(pids[2], SIGKILL), 0);
  double killed_at = Now();
  Outcome o = Wait();
  EXPECT_LT(o.end_time - killed_at, 3.0);
  EXPECT_EQ(o.status, 128 + SIGKILL);
  EXPECT_EQ(DsmRunLines(o.err), (std::vector<std::string>{"dsm-run: node 2 (pid " + std::to_string(pids[2]) +
                                                          ") was killed by signal 9 (Killed); ending the job"}))
      << o.err;
  for (auto& [node, pid] : pids) EXPECT_TRUE(Gone(pid)) << "node " << node;
  ExpectTmpEmpty();
}
#endif

// The pid of host `host`'s daemon among dsm-run's children.
pid_t RealDaemonPid(pid_t dsm_run, int host) {
  std::stringstream children(ReadFile("/proc/" + std::to_string(dsm_run) + "/task/" + std::to_string(dsm_run) +
                                      "/children"));
  std::string wanted = std::string("--host-id") + '\0' + std::to_string(host) + '\0';
  for (pid_t pid; children >> pid;) {
    if (ReadFile("/proc/" + std::to_string(pid) + "/cmdline").find(wanted) != std::string::npos) return pid;
  }
  return -1;
}

#ifdef DSM_TEST_COUNTER_PATH
TEST_F(LauncherJob, RealDaemonsOfSeveralHostsRunAJob) {
  ASSERT_TRUE(fs::exists(DSM_HOSTD_PATH)) << DSM_HOSTD_PATH << " is not built";
  std::vector<Args> variants = {{"--hosts", "2"}, {"--hosts", "3", "--placement", "cyclic"}};
  if (::geteuid() == 0) variants.push_back({"--hosts", "2", "--netns"});
  for (const Args& variant : variants) {
    SCOPED_TRACE(::testing::PrintToString(variant));
    Args args = {"-n", "4", "--memory", "64M", "--hostd", DSM_HOSTD_PATH};
    args.insert(args.end(), variant.begin(), variant.end());
    args.insert(args.end(), {DSM_TEST_COUNTER_PATH, "200"});
    Outcome o = Run(args);
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_TRUE(DsmRunLines(o.err).empty()) << o.err;
    EXPECT_EQ(o.out, "counter=800 expected=800 nodes=4\n");
    ExpectTmpEmpty();
  }
}
#endif

#ifdef DSM_TEST_SPIN_PATH
TEST_F(LauncherJob, RealDaemonOfAKilledHostIsNamed) {
  ASSERT_TRUE(fs::exists(DSM_HOSTD_PATH)) << DSM_HOSTD_PATH << " is not built";
  pid_t dsm_run = Launch({"-n", "4", "--hosts", "2", "--memory", "64M", "--hostd", DSM_HOSTD_PATH, DSM_TEST_SPIN_PATH});
  ASSERT_TRUE(WaitUntil([&] { return Lines(ReadFile(Path("out"))).size() == 4; }, "the nodes did not start", 10));
  pid_t daemon = RealDaemonPid(dsm_run, 1);
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  double killed_at = Now();
  Outcome o = Wait();
  EXPECT_LT(o.end_time - killed_at, 3.0);
  EXPECT_EQ(o.status, 128 + SIGKILL);
  EXPECT_EQ(DsmRunLines(o.err), (std::vector<std::string>{"dsm-run: host 1's daemon (pid " + std::to_string(daemon) +
                                                          ") was killed by signal 9 (Killed); ending the job"}))
      << o.err;
  ExpectTmpEmpty();
}

// --peer-timeout: host 1's daemon stopped (SIGSTOP) for 3 s, longer than
// the default 2 s of silence that loses a host, in a job that allows 30: the
// job is still running when the daemon goes on, and ends only when dsm-run is
// told to (SIGTERM), naming no lost host.
TEST_F(LauncherJob, RealDaemonsWaitOutASilenceShorterThanThePeerTimeout) {
  ASSERT_TRUE(fs::exists(DSM_HOSTD_PATH)) << DSM_HOSTD_PATH << " is not built";
  pid_t dsm_run = Launch({"-n", "2", "--hosts", "2", "--peer-timeout", "30", "--memory", "64M", "--hostd",
                          DSM_HOSTD_PATH, DSM_TEST_SPIN_PATH});
  ASSERT_TRUE(WaitUntil([&] { return Lines(ReadFile(Path("out"))).size() == 2; }, "the nodes did not start", 10));
  pid_t daemon = RealDaemonPid(dsm_run, 1);
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(::kill(daemon, SIGSTOP), 0);
  // The silence itself is the test's input: 3 s of it, not a wait for
  // something to happen.
  ::usleep(3'000'000);
  ASSERT_EQ(::kill(daemon, SIGCONT), 0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(dsm_run), &info, WEXITED | WNOHANG | WNOWAIT), 0);
  EXPECT_EQ(info.si_pid, 0) << "dsm-run ended during the silence:\n" << ReadFile(Path("err"));
  ASSERT_EQ(::kill(dsm_run, SIGTERM), 0);
  Outcome o = Wait();
  EXPECT_EQ(o.status, 128 + SIGTERM) << o.err;
  EXPECT_EQ(o.err.find("lost"), std::string::npos) << o.err;
  EXPECT_EQ(o.err.find("silent"), std::string::npos) << o.err;
  ExpectTmpEmpty();
}

// A real node on host 1 killed mid-job: dsm-run names it with its host, the
// daemons of both hosts and every other node are gone, nothing is left.
TEST_F(LauncherJob, RealDaemonsOfSeveralHostsNameANodeKilledOnHostOne) {
  ASSERT_TRUE(fs::exists(DSM_HOSTD_PATH)) << DSM_HOSTD_PATH << " is not built";
  pid_t dsm_run = Launch({"-n", "4", "--hosts", "2", "--memory", "64M", "--hostd", DSM_HOSTD_PATH, DSM_TEST_SPIN_PATH});
  std::map<int, pid_t> pids;
  ASSERT_TRUE(WaitUntil([&] { return (pids = SpinReadyPids(Path("out"))).size() == 4; }, "the nodes did not start", 10));
  pid_t daemons[2] = {RealDaemonPid(dsm_run, 0), RealDaemonPid(dsm_run, 1)};
  ASSERT_GT(daemons[0], 0);
  ASSERT_GT(daemons[1], 0);
  ASSERT_EQ(::kill(pids[3], SIGKILL), 0);  // block placement: node 3 is on host 1
  double killed_at = Now();
  Outcome o = Wait();
  EXPECT_LT(o.end_time - killed_at, 3.0);
  EXPECT_EQ(o.status, 128 + SIGKILL);
  EXPECT_EQ(DsmRunLines(o.err), (std::vector<std::string>{"dsm-run: node 3 on host 1 (pid " + std::to_string(pids[3]) +
                                                          ") was killed by signal 9 (Killed); ending the job"}))
      << o.err;
  for (auto& [node, pid] : pids) EXPECT_TRUE(Gone(pid)) << "node " << node;
  for (pid_t d : daemons) EXPECT_TRUE(Gone(d)) << "daemon " << d;
  ExpectTmpEmpty();
}
#endif
#endif

}  // namespace
}  // namespace dsm::launcher::testing
