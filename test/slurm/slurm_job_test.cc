// dsm-run inside a real Slurm allocation (slurm_cluster.h: munged,
// slurmctld and a slurmd per network namespace): an sbatch script whose only
// line is dsm-run, salloc running dsm-run with pi and the counter across
// three machines, a killed remote daemon, node and srun, dsm-run itself
// killed, and the keys and listen addresses. After every job nothing of it
// is left on any machine: no process, no temporary file.
//
// Root only (namespaces, Slurm's daemons); skipped otherwise. Each test
// makes its own cluster.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <regex>

#include "merged_stats.h"
#include "merged_trace.h"
#include "slurm_cluster.h"
#include "stdin_check.h"

namespace dsm::launcher::testing {
namespace {

using std::chrono::milliseconds;

class SlurmJob : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the pretend cluster needs root (network namespaces, Slurm's daemons)";
    cluster_ = std::make_unique<SlurmCluster>(3);
    ASSERT_EQ(cluster_->error(), "");
  }

  void TearDown() override {
    run_.reset();
    if (cluster_ && cluster_->error().empty()) {
      // Nothing of the job on any machine, the login machine included.
      EXPECT_EQ(cluster_->WaitUntilEmpty(milliseconds(5000)), "");
      EXPECT_EQ(cluster_->LeftInTmpDir(), "");
    }
    cluster_.reset();
  }

  // salloc SALLOC... dsm-run --timeout 60 OPTIONS PROGRAM ARGS.
  std::vector<std::string> Salloc(const std::vector<std::string>& salloc, const std::vector<std::string>& options,
                                  const std::string& program, const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv = {"/usr/bin/salloc", "--quiet"};
    argv.insert(argv.end(), salloc.begin(), salloc.end());
    argv.insert(argv.end(), {DSM_RUN_PATH, "--timeout", "60"});
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(program);
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  RunResult RunJob(const std::vector<std::string>& argv) {
    SlurmCluster::Run run(*cluster_, argv);
    return run.Wait(milliseconds(60000));
  }

  // The pid of the first job process in machine k's namespace named comm.
  pid_t Process(uint32_t k, const std::string& comm) {
    for (pid_t pid : cluster_->JobProcesses(k)) {
      if (Comm(pid) == comm) return pid;
    }
    return -1;
  }

  // A spin job of 4 nodes on node0 and node1 (2 slots each), all running.
  void StartSpin() {
    run_ = std::make_unique<SlurmCluster::Run>(*cluster_, Salloc({"-N2", "-n4"}, {"-n", "4"}, DSM_TEST_SPIN_PATH));
    ASSERT_TRUE(run_->WaitForLines("spin-ready", 4, milliseconds(30000))) << Describe(run_->Wait(milliseconds(1000)));
  }

  // The job fails within 3 s of `since`, naming `what`.
  void ExpectFailureNaming(std::chrono::steady_clock::time_point since, const std::string& what) {
    RunResult r = run_->WaitSince(since, milliseconds(10000));
    EXPECT_NE(r.status, 0) << Describe(r);
    EXPECT_LT(r.seconds, 3.0) << Describe(r);
    EXPECT_NE(r.err.find(what), std::string::npos) << what << "\n" << Describe(r);
  }

  std::unique_ptr<SlurmCluster> cluster_;
  std::unique_ptr<SlurmCluster::Run> run_;
};

TEST_F(SlurmJob, AnSbatchScriptWithDsmRunAsItsOnlyLine) {
  std::string script = cluster_->WriteFile(
      "pi.sbatch", "#!/bin/sh\n#SBATCH --nodes=2 --ntasks=4\n" + std::string(DSM_RUN_PATH) + " -n 4 " + PI_PATH + "\n");
  std::string out = cluster_->Path("pi.out");
  RunResult r = RunJob({"/usr/bin/sbatch", "--quiet", "--wait", "--output=" + out, "--chdir=" + cluster_->TmpDir(),
                          script});
  std::string text = ReadAll(out);
  ::unlink(out.c_str());
  EXPECT_EQ(r.status, 0) << Describe(r) << "--- job output\n" << text;
  EXPECT_NE(text.find("pi: OK"), std::string::npos) << text;
  EXPECT_NE(text.find("on 4 nodes"), std::string::npos) << text;
}

TEST_F(SlurmJob, PiAndTheCounterAcrossThreeMachines) {
  RunResult r = RunJob(Salloc({"-N3", "-n3"}, {"-n", "3", "--tag-output"}, PI_PATH));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("[node 0@h0] pi: OK"), std::string::npos) << Describe(r);
  EXPECT_NE(r.out.find("on 3 nodes"), std::string::npos) << Describe(r);

  // 5 tasks on 3 machines: 2, 2 and 1 slots (SLURM_TASKS_PER_NODE 2(x2),1).
  r = RunJob(Salloc({"-N3", "-n5"}, {"-n", "5"}, DSM_TEST_COUNTER_PATH, {"2000"}));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=10000 expected=10000 nodes=5"), std::string::npos) << Describe(r);
}

// --stats-json inside an allocation: each srun step's agent sends its
// daemon's statistics back, merged into one file here.
TEST_F(SlurmJob, StatisticsOfEveryMachineComeBackInOneFile) {
  const std::string json = cluster_->WriteFile("stats.json", "");
  RunResult r = RunJob(Salloc({"-N2", "-n3"}, {"-n", "3", "--stats-json", json}, DSM_TEST_COUNTER_PATH, {"500"}));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=1500 expected=1500 nodes=3"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.err.find("statistics"), std::string::npos) << "no warning about them\n" << Describe(r);
  // 3 tasks on 2 machines: 2 and 1 slots (SLURM_TASKS_PER_NODE 2,1).
  EXPECT_EQ(dsm::testing::CheckMergedStats(json, {2, 1}, 1500), "");
}

// --trace inside an allocation: each srun step's agent sends its nodes'
// timelines back, merged into one file on this machine's clock.
TEST_F(SlurmJob, TimelinesOfEveryMachineComeBackInOneTrace) {
  const std::string trace = cluster_->WriteFile("trace.json", "");
  const double from = dsm::testing::MonotonicMicros();
  RunResult r = RunJob(Salloc({"-N2", "-n3"}, {"-n", "3", "--trace", trace}, DSM_TEST_COUNTER_PATH, {"200"}));
  const double to = dsm::testing::MonotonicMicros();
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=600 expected=600 nodes=3"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.err.find("no timeline"), std::string::npos) << Describe(r);
  EXPECT_EQ(dsm::testing::CheckMergedTrace(trace, 3, from, to), "");
}

// Node 0 reads dsm-run's standard input through its srun step: every byte
// value, a long line, no final newline.
TEST_F(SlurmJob, NodeZeroReadsTheStandardInputOfDsmRun) {
  const dsm::testing::StdinCheck check = dsm::testing::MakeStdinCheck();
  std::string path = cluster_->WriteFile("stdin", check.input);
  SlurmCluster::Run run(*cluster_, Salloc({"-N2", "-n2"}, {"-n", "2"}, DSM_PROGRAMS_DIR "/vm_node", {"stdin"}), path);
  RunResult r = run.Wait(milliseconds(60000));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find(check.expect), std::string::npos) << Describe(r);
}

// Without -n, one node per task of the allocation, as mpirun does.
TEST_F(SlurmJob, WithoutMinusNEveryTaskOfTheAllocationIsANode) {
  RunResult r = RunJob(Salloc({"-N2", "-n3"}, {}, PI_PATH));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("on 3 nodes"), std::string::npos) << Describe(r);
}

TEST_F(SlurmJob, MoreNodesThanTheAllocationsTasksIsRefused) {
  RunResult r = RunJob(Salloc({"-N2", "-n2"}, {"-n", "3"}, PI_PATH));
  EXPECT_EQ(r.status, 2) << Describe(r);
  EXPECT_NE(r.err.find("dsm-run: error:"), std::string::npos) << Describe(r);
}

TEST_F(SlurmJob, AKilledRemoteDaemonEndsTheJobNamingItsHost) {
  StartSpin();
  pid_t daemon = Process(1, "dsm-hostd");
  ASSERT_GT(daemon, 0);
  auto t = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ExpectFailureNaming(t, "host 1's daemon on node1");
}

TEST_F(SlurmJob, AKilledRemoteNodeEndsTheJobNamingIt) {
  StartSpin();
  pid_t node = Process(1, "dsm_test_spin");
  ASSERT_GT(node, 0);
  auto t = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(node, SIGKILL), 0);
  ExpectFailureNaming(t, " on host 1 (node1)");
}

TEST_F(SlurmJob, AKilledSrunEndsTheJobNamingItsHost) {
  StartSpin();
  // The srun of host 1's daemon, on the login machine.
  pid_t srun = -1;
  for (pid_t pid : cluster_->JobProcesses(cluster_->machines())) {
    std::string cmd = CommandLine(pid);
    if (Comm(pid) == "srun" && cmd.find("--nodelist=node1 ") != std::string::npos &&
        cmd.find(" --agent daemon ") != std::string::npos && srun < 0) {
      srun = pid;
    }
  }
  ASSERT_GT(srun, 0);
  auto t = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(srun, SIGKILL), 0);
  ExpectFailureNaming(t, "host 1's daemon on node1");
}

TEST_F(SlurmJob, AKilledDsmRunLeavesNothingBehind) {
  StartSpin();
  // dsm-run is salloc's child; its sruns get SIGUSR1 when it dies and pass
  // it on to the agents, which end their daemons and nodes and clean up.
  pid_t dsm_run = -1;
  for (pid_t pid : cluster_->JobProcesses(cluster_->machines())) {
    if (Comm(pid) == "dsm-run") dsm_run = pid;
  }
  ASSERT_GT(dsm_run, 0);
  ASSERT_EQ(::kill(dsm_run, SIGKILL), 0);
  run_->Wait(milliseconds(10000));
  // What a SIGKILLed dsm-run cannot remove is its own local directory
  // (mkdtemp's dsm-XXXXXX on the login machine, as without Slurm); the
  // hosts' directories (dsm-<job id>-h<k>) must all be gone.
  std::string left = cluster_->LeftInTmpDir();
  // A host's directory is dsm-<16 hex digits>-h<k>; dsm-run's own is
  // dsm-XXXXXX, whose random letters may well read "-h".
  EXPECT_FALSE(std::regex_search(left, std::regex("dsm-[0-9a-f]{16}-h[0-9]+"))) << left;
  for (size_t at = 0, end; (end = left.find('\n', at)) != std::string::npos; at = end + 1) {
    std::string dir = left.substr(at, end - at);
    ::unlink((dir + "/hostd0.sock").c_str());
    ::unlink((dir + "/hostd1.sock").c_str());
    ::rmdir(dir.c_str());
  }
}

TEST_F(SlurmJob, DaemonsListenOnTheirNodeAddrAndTheKeysStayOffCommandLines) {
  StartSpin();
  for (uint32_t k = 0; k <= cluster_->machines(); ++k) {
    for (pid_t pid : cluster_->JobProcesses(k)) {
      std::string cmd = CommandLine(pid);
      EXPECT_EQ(cmd.find("curve-secret"), std::string::npos) << cmd;
      EXPECT_EQ(cmd.find("curve-public"), std::string::npos) << cmd;
    }
  }
  for (uint32_t k = 0; k < 2; ++k) {
    pid_t daemon = Process(k, "dsm-hostd");
    ASSERT_GT(daemon, 0);
    EXPECT_NE(CommandLine(daemon).find("--listen tcp://" + SlurmCluster::Address(k) + ":0"), std::string::npos)
        << CommandLine(daemon);
  }
  EXPECT_EQ(Process(2, "dsm-hostd"), -1);  // node2 is not in the allocation
  ASSERT_EQ(::kill(run_->pid(), SIGTERM), 0);  // salloc passes it on to dsm-run
  RunResult r = run_->Wait(milliseconds(10000));
  EXPECT_NE(r.status, 0) << Describe(r);
}

}  // namespace
}  // namespace dsm::launcher::testing
