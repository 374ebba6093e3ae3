// dsm-run --hostfile across a pretend cluster (ssh_cluster.h): network
// namespaces with real sshd servers, dsm-run in a namespace of its own
// reaching them over ssh. The examples and consistency programs across 2 and
// 3 hosts, a staged program, and the failures: a killed ssh connection (the
// client, the server's session), a killed remote daemon and node, a host
// that does not answer, a key the servers refuse. After every job nothing of
// it is left on any host: no process, no temporary file.
//
// Root only (namespaces); skipped otherwise. Each test makes its own cluster.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include <cstdio>

#include "merged_stats.h"
#include "merged_trace.h"
#include "ssh_cluster.h"
#include "stdin_check.h"

namespace dsm::launcher::testing {
namespace {

using std::chrono::milliseconds;

class SshJob : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the pretend cluster needs root (network namespaces, sshd)";
    cluster_ = std::make_unique<SshCluster>(3);
    ASSERT_EQ(cluster_->error(), "");
  }

  void TearDown() override {
    if (cluster_ && cluster_->error().empty()) {
      // Nothing of the job on any host, the launch machine included.
      EXPECT_EQ(cluster_->WaitUntilEmpty(milliseconds(5000)), "");
      EXPECT_EQ(cluster_->LeftInTmpDirs(), "");
    }
    cluster_.reset();
  }

  // dsm-run --ssh ... OPTIONS PROGRAM ARGS in the launch machine.
  std::vector<std::string> DsmRun(const std::vector<std::string>& options, const std::string& program,
                                  const std::vector<std::string>& args = {}, bool wrong_key = false) {
    std::vector<std::string> argv = {DSM_RUN_PATH, "--ssh", cluster_->SshCommand(wrong_key), "--timeout", "60"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(program);
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  RunResult RunJob(const std::vector<std::string>& argv) {
    SshCluster::Run run(*cluster_, argv);
    return run.Wait(milliseconds(90000));
  }

  std::string Hostfile(const std::string& text) { return cluster_->WriteFile("hostfile", text); }

  // The pid of the one process in host k's namespace whose command name is comm.
  pid_t RemoteProcess(uint32_t host, const std::string& comm) {
    for (pid_t pid : cluster_->Processes(host)) {
      if (Comm(pid) == comm) return pid;
    }
    return -1;
  }

  std::unique_ptr<SshCluster> cluster_;
};

TEST_F(SshJob, PiAcrossTwoHostsBySlots) {
  std::string hosts = Hostfile("# two machines\n" + SshCluster::Address(0) + " slots=2\n\n" + SshCluster::Address(1) +
                               " slots=2  # the second\n");
  RunResult r = RunJob(DsmRun({"--hostfile", hosts, "-n", "4", "--tag-output"}, PI_PATH));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("[node 0@h0] pi: OK"), std::string::npos) << Describe(r);
  EXPECT_NE(r.out.find("on 4 nodes"), std::string::npos) << Describe(r);
}

// Node 0 (on host 0) reads dsm-run's standard input through its ssh session:
// every byte value, a long line, no final newline.
TEST_F(SshJob, NodeZeroReadsTheStandardInputOfDsmRun) {
  const dsm::testing::StdinCheck check = dsm::testing::MakeStdinCheck();
  std::string path = cluster_->WriteFile("stdin", check.input);
  std::string list = SshCluster::Address(0) + "," + SshCluster::Address(1);
  SshCluster::Run run(*cluster_, DsmRun({"--host", list, "-n", "2"}, DSM_PROGRAMS_DIR "/vm_node", {"stdin"}), path);
  RunResult r = run.Wait(milliseconds(90000));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find(check.expect), std::string::npos) << Describe(r);
}

TEST_F(SshJob, PiAndTheCounterAcrossThreeHosts) {
  std::string list = SshCluster::Address(0) + "," + SshCluster::Address(1) + ":2," + SshCluster::Address(2) + ":2";
  RunResult r = RunJob(DsmRun({"--host", list, "-n", "3", "--placement", "cyclic"}, PI_PATH));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("pi: OK"), std::string::npos) << Describe(r);

  r = RunJob(DsmRun({"--host", list, "-n", "5"}, DSM_TEST_COUNTER_PATH, {"2000"}));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=10000 expected=10000 nodes=5"), std::string::npos) << Describe(r);
}

// --stats-json across machines: each host's agent sends its daemon's
// statistics back on the daemon's status channel once the daemon exited, and
// dsm-run merges them into one file on the launch machine (TearDown checks
// that nothing stays in the hosts' directories).
TEST_F(SshJob, StatisticsOfEveryHostComeBackInOneFile) {
  const std::string list = SshCluster::Address(0) + "," + SshCluster::Address(1) + ":2";
  const std::string json = cluster_->WriteFile("stats.json", "");
  RunResult r = RunJob(DsmRun({"--host", list, "-n", "3", "--stats-json", json}, DSM_TEST_COUNTER_PATH, {"500"}));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=1500 expected=1500 nodes=3"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.err.find("statistics"), std::string::npos) << "no warning about them\n" << Describe(r);
  // Block placement: host 0's one slot, then host 1's two.
  EXPECT_EQ(dsm::testing::CheckMergedStats(json, {1, 2}, 1500), "");
}

// --trace across machines: each host's agent sends its nodes' timelines
// back with its clocks, merged here into one file on this machine's clock.
TEST_F(SshJob, TimelinesOfEveryHostComeBackInOneTrace) {
  const std::string list = SshCluster::Address(0) + "," + SshCluster::Address(1) + ":2";
  const std::string trace = cluster_->WriteFile("trace.json", "");
  const double from = dsm::testing::MonotonicMicros();
  RunResult r = RunJob(DsmRun({"--host", list, "-n", "3", "--trace", trace}, DSM_TEST_COUNTER_PATH, {"200"}));
  const double to = dsm::testing::MonotonicMicros();
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=600 expected=600 nodes=3"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.err.find("no timeline"), std::string::npos) << Describe(r);
  EXPECT_EQ(dsm::testing::CheckMergedTrace(trace, 3, from, to), "");
}

TEST_F(SshJob, ConsistencyProgramsAcrossThreeHosts) {
  std::string hosts = Hostfile(SshCluster::Address(0) + " slots=2\n" + SshCluster::Address(1) + " slots=2\n" +
                               SshCluster::Address(2) + " slots=2\n");
  RunResult r = RunJob(DsmRun({"--hostfile", hosts, "-n", "6"}, DSM_PROGRAMS_DIR "/dsm_cons_falseshare",
                              {"6", "96", "bytes"}));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("falseshare bytes: OK"), std::string::npos) << Describe(r);
  r = RunJob(DsmRun({"--hostfile", hosts, "-n", "3", "--placement", "cyclic"}, DSM_PROGRAMS_DIR "/dsm_cons_litmus",
                    {"lock", "40"}));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("litmus lock: OK"), std::string::npos) << Describe(r);
}

TEST_F(SshJob, AStagedProgramRunsFromTheHostsDirectoryAndGoesWithIt) {
  // A copy of pi under another name: what the nodes run is named after it.
  std::string copy = cluster_->WriteFile("pi-copy", "");
  {
    std::ifstream in(PI_PATH, std::ios::binary);
    std::ofstream(copy, std::ios::binary) << in.rdbuf();
  }
  ASSERT_EQ(::chmod(copy.c_str(), 0755), 0);
  SshCluster::Run run(*cluster_, DsmRun({"--host", SshCluster::Address(0) + "," + SshCluster::Address(1), "-n", "2",
                                         "--stage"},
                                        DSM_TEST_SPIN_PATH));
  ASSERT_TRUE(run.WaitForLines("spin-ready", 2, milliseconds(30000)));
  // Each node runs the staged spin, in its host's private directory.
  for (uint32_t h = 0; h < 2; ++h) {
    pid_t node = RemoteProcess(h, "dsm_test_spin");
    ASSERT_GT(node, 0);
    std::string exe = std::filesystem::read_symlink("/proc/" + std::to_string(node) + "/exe");
    EXPECT_TRUE(exe.starts_with(cluster_->TmpDir(h) + "/dsm-")) << exe;
    EXPECT_TRUE(exe.ends_with("/dsm_test_spin")) << exe;
  }
  ASSERT_EQ(::kill(run.pid(), SIGTERM), 0);
  RunResult r = run.Wait(milliseconds(10000));
  EXPECT_EQ(r.status, 128 + SIGTERM) << Describe(r);

  r = RunJob(DsmRun({"--host", SshCluster::Address(1), "-n", "1", "--stage"}, copy));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("pi: OK"), std::string::npos) << Describe(r);
}

// A spin job of 4 nodes on hosts 0 and 1, all running.
class SshFailure : public SshJob {
 protected:
  void Start() {
    std::string hosts = Hostfile(SshCluster::Address(0) + " slots=2\n" + SshCluster::Address(1) + " slots=2\n");
    run_ = std::make_unique<SshCluster::Run>(*cluster_, DsmRun({"--hostfile", hosts, "-n", "4"}, DSM_TEST_SPIN_PATH));
    ASSERT_TRUE(run_->WaitForLines("spin-ready", 4, milliseconds(30000))) << run_->Wait(milliseconds(1000)).err;
  }

  // The job fails within 3 s of `since`, naming one of `what`.
  void ExpectFailureNaming(std::chrono::steady_clock::time_point since, const std::vector<std::string>& what) {
    RunResult r = run_->WaitSince(since, milliseconds(10000));
    EXPECT_NE(r.status, 0) << Describe(r);
    EXPECT_LT(r.seconds, 3.0) << Describe(r);
    bool named = false;
    for (const std::string& w : what) named = named || r.err.find(w) != std::string::npos;
    EXPECT_TRUE(named) << ::testing::PrintToString(what) << "\n" << Describe(r);
    run_.reset();
  }

  void TearDown() override {
    run_.reset();
    SshJob::TearDown();
  }

  std::unique_ptr<SshCluster::Run> run_;
};

TEST_F(SshFailure, AKilledSshClientEndsTheJobNamingItsHost) {
  Start();
  // The ssh process of host 1's daemon, in the launch machine.
  pid_t ssh = -1;
  for (pid_t pid : cluster_->Processes(cluster_->hosts())) {
    std::string cmd = CommandLine(pid);
    if (Comm(pid) == "ssh" && cmd.find(" " + SshCluster::Address(1) + " ") != std::string::npos &&
        cmd.find("'--agent' 'daemon'") != std::string::npos) {
      ssh = pid;
    }
  }
  ASSERT_GT(ssh, 0);
  auto t = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(ssh, SIGKILL), 0);
  ExpectFailureNaming(t, {"host 1's daemon on " + SshCluster::Address(1)});
}

// A machine that drops off the network (its link down: no process dies, no
// connection closes): the daemons' heartbeats and ssh's keep-alives notice.
TEST_F(SshFailure, AHostCutOffTheNetworkEndsTheJobNamingIt) {
  Start();
  auto t = std::chrono::steady_clock::now();
  ASSERT_TRUE(cluster_->CutOff(1).ok());
  ExpectFailureNaming(t, {"host 1", SshCluster::Address(1)});
}

TEST_F(SshFailure, AKilledSshServerSessionEndsTheJob) {
  Start();
  // Every session process of host 1's sshd (not the listener): the
  // connections of its daemon and its nodes drop at once.
  std::vector<pid_t> sessions;
  for (pid_t pid : cluster_->Processes(1)) {
    if (Comm(pid) == "sshd") sessions.push_back(pid);
  }
  ASSERT_FALSE(sessions.empty());
  auto t = std::chrono::steady_clock::now();
  for (pid_t pid : sessions) ::kill(pid, SIGKILL);
  ExpectFailureNaming(t, {"host 1's daemon on " + SshCluster::Address(1), " on host 1 (" + SshCluster::Address(1) + ")"});
}

TEST_F(SshFailure, AKilledRemoteDaemonEndsTheJobNamingIt) {
  Start();
  pid_t daemon = RemoteProcess(1, "dsm-hostd");
  ASSERT_GT(daemon, 0);
  auto t = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ExpectFailureNaming(t, {"host 1's daemon on " + SshCluster::Address(1)});
}

TEST_F(SshFailure, AKilledRemoteNodeEndsTheJobNamingIt) {
  Start();
  // Nodes 2 and 3 run on host 1 (block placement by slots).
  pid_t node = -1;
  for (pid_t pid : cluster_->Processes(1)) {
    if (Comm(pid) == "dsm_test_spin" && node < 0) node = pid;
  }
  ASSERT_GT(node, 0);
  auto t = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(node, SIGKILL), 0);
  ExpectFailureNaming(t, {" on host 1 (" + SshCluster::Address(1) + ")"});
}

TEST_F(SshJob, AHostThatDoesNotAnswerIsNamed) {
  std::string hosts = Hostfile(SshCluster::Address(0) + "\n" + SshCluster::kUnreachable + "\n");
  RunResult r = RunJob(DsmRun({"--hostfile", hosts, "-n", "2"}, PI_PATH));
  EXPECT_EQ(r.status, 1) << Describe(r);
  EXPECT_NE(r.err.find("host 1's daemon on " + std::string(SshCluster::kUnreachable) + " failed to start"),
            std::string::npos)
      << Describe(r);
  EXPECT_LT(r.seconds, 12.0) << Describe(r);
}

TEST_F(SshJob, AKeyTheServersRefuseIsAClearError) {
  RunResult r = RunJob(DsmRun({"--host", SshCluster::Address(0) + "," + SshCluster::Address(1), "-n", "2"}, PI_PATH,
                              {}, /*wrong_key=*/true));
  EXPECT_EQ(r.status, 1) << Describe(r);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << Describe(r);
  // Every host's session opens at once: whichever refusal comes first names its host.
  const bool host0 = r.err.find("host 0's daemon on " + SshCluster::Address(0) + " failed to start") != std::string::npos;
  const bool host1 = r.err.find("host 1's daemon on " + SshCluster::Address(1) + " failed to start") != std::string::npos;
  EXPECT_TRUE(host0 || host1) << Describe(r);
}

TEST_F(SshJob, TheKeysNeverAppearOnACommandLine) {
  SshCluster::Run run(*cluster_, DsmRun({"--host", SshCluster::Address(0) + "," + SshCluster::Address(1), "-n", "2"},
                                        DSM_TEST_SPIN_PATH));
  ASSERT_TRUE(run.WaitForLines("spin-ready", 2, milliseconds(30000)));
  for (uint32_t h = 0; h <= cluster_->hosts(); ++h) {
    for (pid_t pid : cluster_->Processes(h)) {
      std::string cmd = CommandLine(pid);
      EXPECT_EQ(cmd.find("curve-secret"), std::string::npos) << cmd;
      EXPECT_EQ(cmd.find("curve-public"), std::string::npos) << cmd;
    }
  }
  // The daemons listen on their host's address, never on a wildcard.
  for (uint32_t h = 0; h < 2; ++h) {
    pid_t daemon = RemoteProcess(h, "dsm-hostd");
    ASSERT_GT(daemon, 0);
    std::string cmd = CommandLine(daemon);
    EXPECT_NE(cmd.find("--listen tcp://" + SshCluster::Address(h) + ":0"), std::string::npos) << cmd;
  }
  ASSERT_EQ(::kill(run.pid(), SIGINT), 0);
  RunResult r = run.Wait(milliseconds(10000));
  EXPECT_EQ(r.status, 128 + SIGINT) << Describe(r);
}

}  // namespace
}  // namespace dsm::launcher::testing
