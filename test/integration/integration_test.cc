// Whole jobs on one host: real dsm-run, real dsm-hostd, real node processes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "json_reader.h"

namespace {

using Clock = std::chrono::steady_clock;

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out, err;
  double seconds = 0;
  bool timed_out = false;
};

std::string Program(const std::string& name) { return std::string(DSM_PROGRAMS_DIR) + "/dsm_test_" + name; }

// A process with its stdout and stderr on pipes.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
        bool clear_dsm_env = true) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      if (clear_dsm_env) {
        unsetenv("DSM_SOCKET");
        unsetenv("DSM_NODE_ID");
        unsetenv("DSM_NUM_NODES");
      }
      for (auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out_ = out[0];
    err_ = err[0];
    start_ = Clock::now();
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
    if (err_ >= 0) close(err_);
  }
  pid_t pid() const { return pid_; }

  // Reads stdout until it holds `lines` newline characters (or EOF/deadline).
  bool WaitForLines(size_t lines, double timeout_s) {
    auto deadline = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    while (std::count(out.begin(), out.end(), '\n') < static_cast<long>(lines)) {
      if (!Pump(deadline)) return false;
    }
    return true;
  }

  // Reads everything until the process ends; kills it at the deadline.
  RunResult Finish(double timeout_s) {
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    RunResult r;
    while (out_ >= 0 || err_ >= 0) {
      if (!Pump(deadline)) {
        r.timed_out = true;
        kill(pid_, SIGKILL);
        break;
      }
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    r.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    r.out = out;
    r.err = err;
    return r;
  }

  std::string out, err;

 private:
  bool Pump(Clock::time_point deadline) {
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    int n = poll(fds, 2, static_cast<int>(left));
    if (n <= 0) return n < 0 && errno == EINTR;
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? out : err).append(buf, static_cast<size_t>(got));
      } else {
        close(fds[i].fd);
        (i == 0 ? out_ : err_) = -1;
      }
    }
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool reaped_ = false;
  Clock::time_point start_;
};

RunResult RunCommand(const std::vector<std::string>& argv, double timeout_s = 120,
              const std::map<std::string, std::string>& env = {}) {
  Child c(argv, env);
  return c.Finish(timeout_s);
}

RunResult RunJob(int nodes, const std::string& program, std::vector<std::string> args = {},
                 const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> argv = {DSM_RUN_PATH, "-n", std::to_string(nodes), "--timeout", "120", "--",
                                   Program(program)};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 150, env);
}

// A private TMPDIR, to check that a job leaves nothing behind.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dsm-itest-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  const std::string& path() const { return path_; }
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    DIR* d = opendir(path_.c_str());
    if (d == nullptr) return names;
    while (dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
    }
    closedir(d);
    return names;
  }

 private:
  std::string path_;
};

bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  // A zombie waiting for a reaper counts as gone: it holds no resources.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < line.size() && line[close_paren + 2] == 'Z';
}

std::string Describe(const RunResult& r) {
  std::ostringstream s;
  s << "exit=" << r.exit_code << " signal=" << r.signal << " seconds=" << r.seconds
    << " timed_out=" << r.timed_out << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
  return s.str();
}

class PerNodeCount : public ::testing::TestWithParam<int> {};

TEST_P(PerNodeCount, SharedCounterUnderALockIsExact) {
  int n = GetParam();
  RunResult r = RunJob(n, "counter", {"100000"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=" + std::to_string(100000L * n) + " "), std::string::npos) << r.out;
}

// DSM_SHARED globals: one copy, node 0's initial values (its constructor's
// result included), and a plain global stays per node.
TEST_P(PerNodeCount, SharedGlobalsAreOneCopyWithNodeZerosValues) {
  int n = GetParam();
  RunResult r = RunJob(n, "globals");
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  long expect = 1000L * n + n * (n - 1) / 2;
  EXPECT_NE(r.out.find("nodes=" + std::to_string(n) + " ctor_node=0 total=" + std::to_string(expect) +
                       " expected=" + std::to_string(expect) + " private_count=1"),
            std::string::npos)
      << r.out;
}

TEST(SharedGlobals, AreOneCopyOnTwoHosts) {
  RunResult r = RunCommand({DSM_RUN_PATH, "--hosts", "2", "-n", "4", "--timeout", "120", "--", Program("globals")},
                           150);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("nodes=4 ctor_node=0 total=4006 expected=4006 private_count=1"), std::string::npos)
      << r.out;
}

// read(2), write(2) and readv(2) on shared buffers across hosts, where the
// kernel meets pages the node has not mapped yet (EFAULT without libdsm's
// wrappers): node 0 reads its stdin into its shared stack and the shared
// heap; every node writes that heap copy out and readv's a pipe into its own.
// Then stat, pipe, poll, a large fread and getcwd on shared structures and
// paths the node never touched.
TEST(SystemCalls, ReadAndWriteSharedBuffersAcrossHosts) {
  TempDir dir;
  std::string input;
  for (int i = 0; i < 400; ++i) input += "line " + std::to_string(i) + " of the system call test\n";
  const std::string in = dir.path() + "/input";
  std::ofstream(in) << input;
  for (const std::string hosts : {"1", "2", "3"}) {
    std::string cmd = std::string("exec '") + DSM_RUN_PATH + "' --hosts " + hosts + " -n 3 --timeout 120 -- '" +
                      Program("syscalls") + "' < '" + in + "'";
    RunResult r = RunCommand({"/bin/sh", "-c", cmd}, 150);
    ASSERT_EQ(r.exit_code, 0) << hosts << " hosts\n" << Describe(r);
    EXPECT_NE(r.out.find("syscalls: bytes=" + std::to_string(input.size())), std::string::npos) << Describe(r);
    EXPECT_NE(r.out.find("copies=3 ok"), std::string::npos) << Describe(r);
    EXPECT_NE(r.out.find("syscalls: structs=3 ok"), std::string::npos) << Describe(r);
    // Each node wrote the whole input to stdout.
    size_t copies = 0;
    for (size_t at = 0; (at = r.out.find(input, at)) != std::string::npos; at += input.size()) ++copies;
    EXPECT_EQ(copies, 3u) << hosts << " hosts";
  }
}

// On one host every node asks for huge pages on the shared data area, and
// gets them: the daemon's space is a private tmpfs mounted huge=advise (as
// root, as tests run here; hostd's SpaceFile tests cover the rest). Across
// hosts no node asks, since coherence protects 4 KiB pages one by one; with
// --huge-pages off none does.
TEST(HugePages, AskedForAndGrantedOnOneHostOnly) {
  struct Case {
    std::string hosts;
    bool off;
    std::string want;
  };
  const bool granted = ::geteuid() == 0 && ::access("/sys/kernel/mm/transparent_hugepage/shmem_enabled", R_OK) == 0;
  for (const Case& c : {Case{"1", false, granted ? "hg=1 pmd=1" : "hg=1 pmd="}, Case{"1", true, "hg=0 pmd=0"},
                        Case{"2", false, "hg=0 pmd=0"}}) {
    std::vector<std::string> argv = {DSM_RUN_PATH, "--hosts", c.hosts, "-n", "2", "--timeout", "120"};
    if (c.off) argv.insert(argv.end(), {"--huge-pages", "off"});
    argv.insert(argv.end(), {"--", Program("hugepages")});
    RunResult r = RunCommand(argv, 150);
    const std::string what = c.hosts + " hosts" + (c.off ? ", --huge-pages off" : "");
    ASSERT_EQ(r.exit_code, 0) << what << "\n" << Describe(r);
    EXPECT_NE(r.out.find("hugepages: node 0 " + c.want), std::string::npos) << what << "\n" << Describe(r);
    EXPECT_NE(r.out.find("hugepages: node 1 " + c.want), std::string::npos) << what << "\n" << Describe(r);
  }
}

// A script that execs the program (a libtool wrapper, say): dsm-run cannot
// read the globals' size from it and reserves room for them anyway.
TEST(SharedGlobals, ProgramStartedThroughAScriptWorks) {
  TempDir dir;
  const std::string script = dir.path() + "/wrapper.sh";
  {
    std::ofstream out(script);
    out << "#!/bin/sh\nexec '" << Program("globals") << "' \"$@\"\n";
  }
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);
  RunResult r = RunCommand({DSM_RUN_PATH, "--hosts", "2", "-n", "4", "--timeout", "120", "--", script}, 150);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("nodes=4 ctor_node=0 total=4006 expected=4006 private_count=1"), std::string::npos)
      << r.out;
}

// Started on its own: a one-node job whose daemon reserves the room itself.
TEST(SharedGlobals, EmbeddedOneNodeJobWorks) {
  RunResult r = RunCommand({Program("globals")}, 60);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("nodes=1 ctor_node=0 total=1000 expected=1000 private_count=1"), std::string::npos)
      << r.out;
}

TEST_P(PerNodeCount, EveryNodeSeesWhatAllOthersWroteInTheLastPhase) {
  int n = GetParam();
  RunResult r = RunJob(n, "phases", {"200"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  long checks = 200L * n * n * 64;
  EXPECT_NE(r.out.find("checks=" + std::to_string(checks) + " errors=0"), std::string::npos) << r.out;
}

TEST_P(PerNodeCount, LinkedListBuiltByAllNodesIsWalkedByEach) {
  int n = GetParam();
  RunResult r = RunJob(n, "list", {"2000"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("nodes=" + std::to_string(n) + " items=2000 errors=0"), std::string::npos) << r.out;
}

// Sums the lock-fast and lock-slow columns of dsm-run --stats' table
// (node, requests, lock-fast, lock-slow, ...) over its node rows.
struct LockTotals {
  long fast = 0;
  long slow = 0;
  int rows = 0;  // node rows that parsed
};

LockTotals ParseLockStats(const std::string& err, int nodes) {
  LockTotals t;
  size_t header = err.find("lock-slow");
  if (header == std::string::npos) return t;
  std::istringstream table(err.substr(header));
  std::string line;
  std::getline(table, line);
  for (int i = 0; i < nodes && std::getline(table, line); ++i) {
    std::istringstream fields(line);
    long node, requests, fast, slow;
    if (!(fields >> node >> requests >> fast >> slow)) break;
    t.fast += fast;
    t.slow += slow;
    ++t.rows;
  }
  return t;
}

// The "spin-ready <node> <pid>" lines of the spin program, by node.
std::map<int, pid_t> SpinPids(const std::string& out) {
  std::map<int, pid_t> pids;
  std::istringstream lines(out);
  std::string tag;
  int node, pid;
  while (lines >> tag >> node >> pid) pids[node] = pid;
  return pids;
}

// Long critical sections: nodes queue in the daemon and get the lock handed
// over in FIFO order; no increment may be lost on the way.
TEST(Contention, QueuedLockHandOverLosesNoUpdate) {
  std::vector<std::string> argv = {DSM_RUN_PATH, "-n", "4", "--stats", "--timeout", "120", "--",
                                   Program("counter"), "20000", "300", "queue"};
  RunResult r = RunCommand(argv);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=80000 "), std::string::npos) << r.out;
  // Node 0 released the lock of the queue-up round only once it saw the lock
  // requests of nodes 1-3 waiting in the daemon (not after some delay).
  EXPECT_NE(r.out.find("queued=3\n"), std::string::npos) << r.out;
  LockTotals locks = ParseLockStats(r.err, 4);
  ASSERT_EQ(locks.rows, 4) << r.err;
  EXPECT_EQ(locks.fast + locks.slow, 80000 + 4) << r.err;  // + the queue-up round
  // Those three requests were answered by the daemon: slow locks.
  EXPECT_GE(locks.slow, 3) << "locks did not go through the daemon's queue\n" << r.err;
}

// 20000 distinct ids overflow the 16384-entry host lock table; the rest are
// managed by the daemon alone, with the same mutual exclusion.
TEST(Locks, MoreIdsThanTheHostLockTableHolds) {
  std::vector<std::string> argv = {DSM_RUN_PATH, "-n", "3", "--stats", "--timeout", "120", "--",
                                   Program("manylocks"), "20000"};
  RunResult r = RunCommand(argv);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("manylocks: ids=20000 nodes=3 bad=0"), std::string::npos) << r.out;
  // Daemon-only locks show up as slow locks: at least 3616 ids x 2 rounds x 3 nodes.
  LockTotals locks = ParseLockStats(r.err, 3);
  ASSERT_EQ(locks.rows, 3) << r.err;
  EXPECT_GE(locks.slow, (20000 - 16384) * 2 * 3) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Nodes, PerNodeCount, ::testing::Values(1, 2, 4, 8),
                         [](const auto& info) { return std::to_string(info.param) + "nodes"; });

TEST(Embedded, ProgramStartedWithoutDsmRunIsAOneNodeJob) {
  RunResult r = RunCommand({Program("counter"), "1000"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=1000 expected=1000 nodes=1"), std::string::npos) << r.out;
  RunResult l = RunCommand({Program("list"), "500"});
  ASSERT_EQ(l.exit_code, 0) << Describe(l);
}

TEST(Embedded, ExitStatusOfMainIsTheProgramsStatus) {
  RunResult r = RunCommand({Program("misuse"), "ok"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("misuse: ok survived"), std::string::npos);
}

TEST(Linking, StaticNonPieProgramRunsOnFourNodes) {
  if (!DSM_HAVE_STATIC_TEST) GTEST_SKIP() << "sanitizer builds cannot link programs statically";
  RunResult r = RunJob(4, "counter_static", {"20000"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=80000 "), std::string::npos) << r.out;
}

TEST(Linking, PkgConfigBuildWorks) {
  if (!DSM_HAVE_STATIC_TEST) GTEST_SKIP() << "the pkg-config build does not add sanitizer flags";
  TempDir dir;
  std::string exe = dir.path() + "/counter_pc";
  std::string cmd = "PKG_CONFIG_PATH=" + std::string(DSM_PKGCONFIG_DIR) + " sh -c '" + DSM_C_COMPILER +
                    " -o " + exe + " " + DSM_SOURCE_DIR +
                    "/test/integration/programs/counter.c $(pkg-config --cflags --libs dsm)' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<std::string> argv = {DSM_RUN_PATH, "-n", "3", "--timeout", "60", "--", exe, "3000"};
  RunResult r = RunCommand(argv);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.out.find("counter=9000 "), std::string::npos) << r.out;
}

TEST(Failure, KilledNodeEndsTheJobWithinThreeSecondsAndLeavesNothing) {
  TempDir tmp;
  std::vector<std::string> argv = {DSM_RUN_PATH, "-n", "4", "--timeout", "60", "--", Program("spin")};
  Child job(argv, {{"TMPDIR", tmp.path()}});
  ASSERT_TRUE(job.WaitForLines(4, 30)) << "nodes did not start: " << job.out << job.err;
  std::map<int, pid_t> pids = SpinPids(job.out);
  ASSERT_EQ(pids.size(), 4u) << job.out;
  auto killed_at = Clock::now();
  ASSERT_EQ(kill(pids[2], SIGKILL), 0);
  RunResult r = job.Finish(10);
  double took = std::chrono::duration<double>(Clock::now() - killed_at).count();
  EXPECT_FALSE(r.timed_out) << Describe(r);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_LT(took, 3.0) << Describe(r);
  EXPECT_NE(r.err.find("node 2"), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("signal 9"), std::string::npos) << Describe(r);
  for (auto& [n, p] : pids) EXPECT_TRUE(ProcessGone(p)) << "node " << n << " pid " << p;
  EXPECT_TRUE(tmp.Entries().empty()) << "the job left files in TMPDIR";
}

TEST(Daemon, SigtermStopsItCleanlyAndRemovesItsSocket) {
  TempDir tmp;
  const std::string sock = tmp.path() + "/hostd.sock";
  // --ready-fd 1: the ready line arrives on the child's stdout pipe.
  Child daemon({DSM_HOSTD_PATH, "--socket", sock, "--nodes", "2", "--ready-fd", "1"});
  ASSERT_TRUE(daemon.WaitForLines(1, 10)) << daemon.err;
  EXPECT_EQ(daemon.out, "ready\n");
  struct stat st;
  ASSERT_EQ(stat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  ASSERT_EQ(kill(daemon.pid(), SIGTERM), 0);
  RunResult r = daemon.Finish(5);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(tmp.Entries().empty()) << "socket left behind";
}

TEST(Node, ProgramNotLinkedWithLibdsmIsNamedNotRunNTimes) {
  RunResult r = RunCommand({DSM_RUN_PATH, "-n", "2", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_NE(r.err.find("without joining the job: is /bin/true linked with libdsm"), std::string::npos)
      << Describe(r);
}

TEST(Node, NoDaemonAtItsSocketIsAClearError) {
  Child node({Program("counter"), "10"}, {{"DSM_SOCKET", "/nonexistent/dsm.sock"}, {"DSM_NODE_ID", "0"}},
             /*clear_dsm_env=*/false);
  RunResult r = node.Finish(20);
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.err.find("cannot reach the host daemon at /nonexistent/dsm.sock"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.out, "");
}

TEST(Node, BadNodeIdInTheEnvironmentIsAClearError) {
  Child node({Program("counter"), "10"}, {{"DSM_SOCKET", "@nowhere"}, {"DSM_NODE_ID", "two"}},
             /*clear_dsm_env=*/false);
  RunResult r = node.Finish(20);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.err.find("DSM_NODE_ID='two' is not a node id"), std::string::npos) << Describe(r);
}

TEST(Node, BadBarrierSpinTimeIsAClearError) {
  // A lone program (its own embedded daemon) reads it when it attaches.
  Child node({Program("counter"), "10"}, {{"DSM_BARRIER_SPIN_US", "1ms"}});
  RunResult r = node.Finish(20);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.err.find("DSM_BARRIER_SPIN_US='1ms' is not a number of microseconds"), std::string::npos)
      << Describe(r);
}

struct BadArgs {
  std::vector<std::string> args;
  const char* message;
};

class DaemonArguments : public ::testing::TestWithParam<BadArgs> {};

TEST_P(DaemonArguments, AreRejectedWithAClearMessage) {
  std::vector<std::string> argv = {DSM_HOSTD_PATH};
  argv.insert(argv.end(), GetParam().args.begin(), GetParam().args.end());
  RunResult r = RunCommand(argv, 10);
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find(GetParam().message), std::string::npos) << Describe(r);
}

INSTANTIATE_TEST_SUITE_P(
    Hostd, DaemonArguments,
    ::testing::Values(BadArgs{{}, "--socket is required"},
                      BadArgs{{"--socket", "@x"}, "--nodes is required"},
                      BadArgs{{"--socket", "@x", "--nodes", "0"}, "--nodes needs a number from 1 to 1024"},
                      BadArgs{{"--socket", "@x", "--nodes", "3x"}, "--nodes needs a number"},
                      BadArgs{{"--socket", "@x", "--nodes", "2", "--memory", "100M"}, "power of two"},
                      BadArgs{{"--socket", "@x", "--nodes", "2", "--memory", "32M"}, "between 64 MiB and 1 TiB"},
                      BadArgs{{"--socket", "@x", "--nodes", "2", "--ready-fd", "77"}, "not an open file descriptor"},
                      BadArgs{{"--socket", "@x", "--nodes", "2", "--stack", "lots"}, "--stack needs a size"},
                      BadArgs{{"--socket", "@x", "--nodes", "2", "--memory", "64M", "--stack", "60M"},
                              "leave 16 MiB of heap in a 64 MiB shared space"},
                      BadArgs{{"--socket", "@x", "--nodes", "2", "--peer-timeout-ms", "99"},
                              "--peer-timeout-ms needs 100 to 3600000"},
                      BadArgs{{"--socket", "@x", "--nodes", "2", "--peer-timeout-ms", "2s"},
                              "--peer-timeout-ms needs 100 to 3600000"},
                      BadArgs{{"--socket", "@x", "--nodes", "2", "--frobnicate"}, "unknown argument '--frobnicate'"}));

// Pids of running dsm-hostd processes whose command line mentions `needle`.
std::vector<pid_t> FindDaemons(const std::string& needle) {
  std::vector<pid_t> found;
  DIR* d = opendir("/proc");
  while (dirent* e = d ? readdir(d) : nullptr) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream f("/proc/" + std::string(e->d_name) + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmd.find("dsm-hostd") != std::string::npos && cmd.find(needle) != std::string::npos &&
        !ProcessGone(pid)) {
      found.push_back(pid);
    }
  }
  if (d) closedir(d);
  return found;
}

TEST(Failure, KilledDaemonEndsTheJobWithinThreeSecondsAndIsNamed) {
  TempDir tmp;
  std::vector<std::string> argv = {DSM_RUN_PATH, "-n", "3", "--timeout", "60", "--", Program("spin")};
  Child job(argv, {{"TMPDIR", tmp.path()}});
  ASSERT_TRUE(job.WaitForLines(3, 30)) << "nodes did not start: " << job.out << job.err;
  std::vector<pid_t> daemons = FindDaemons(tmp.path());
  ASSERT_EQ(daemons.size(), 1u);
  auto killed_at = Clock::now();
  ASSERT_EQ(kill(daemons[0], SIGKILL), 0);
  RunResult r = job.Finish(10);
  double took = std::chrono::duration<double>(Clock::now() - killed_at).count();
  EXPECT_FALSE(r.timed_out) << Describe(r);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_LT(took, 3.0) << Describe(r);
  EXPECT_NE(r.err.find("dsm-hostd"), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("signal 9"), std::string::npos) << Describe(r);
  std::map<int, pid_t> pids = SpinPids(r.out);
  EXPECT_EQ(pids.size(), 3u) << r.out;
  for (auto& [node, pid] : pids) EXPECT_TRUE(ProcessGone(pid)) << "node " << node;
  EXPECT_TRUE(tmp.Entries().empty()) << "the job left files in TMPDIR";
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Trace, TimelineOfEveryNodeIsOneChromeTraceFile) {
  TempDir tmp;
  TempDir out;
  const std::string file = out.path() + "/job.json";
  std::vector<std::string> argv = {DSM_RUN_PATH, "-n", "3", "--trace", file, "--", Program("phases"), "10"};
  Child job(argv, {{"TMPDIR", tmp.path()}});
  RunResult r = job.Finish(60);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::ifstream f(file);
  std::string trace((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(trace.rfind("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[", 0), 0u) << trace.substr(0, 200);
  ASSERT_GE(trace.size(), 4u);
  EXPECT_EQ(trace.substr(trace.size() - 4), "\n]}\n");
  EXPECT_EQ(Count(trace, "{"), Count(trace, "}"));
  for (int k = 0; k < 3; ++k) {
    std::string node = "\"pid\":1,\"tid\":" + std::to_string(k) + ",";
    EXPECT_EQ(Count(trace, "\"thread_name\",\"ph\":\"M\"," + node), 1u) << k;
    EXPECT_EQ(Count(trace, "\"parallel region\",\"ph\":\"X\"," + node), 1u) << k;
    // Start-up, region start, 2 per phase, region end.
    EXPECT_EQ(Count(trace, "\"barrier\",\"ph\":\"X\"," + node), 3u + 2 * 10) << k;
  }
  EXPECT_TRUE(tmp.Entries().empty()) << "trace fragments left in TMPDIR";
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// What one node's track of a --trace file holds.
struct NodeTrack {
  uint64_t faults = 0;   // "read fault" and "write fault"
  uint64_t fetched = 0;  // of those, faults that fetched the page
  uint64_t releases = 0;
  uint64_t pages_released = 0;
  uint64_t daemon_lock_waits = 0;  // "lock wait" through the daemon
  uint64_t events = 0;
  double last_ts = -1;
  bool monotonic = true;
};

// A job of two hosts: every node's track also shows its releases and the
// page faults it took to the daemon, in time order, and agrees with the
// statistics the daemons counted.
TEST(Trace, TwoHostTimelineShowsFaultsAndReleasesOfBothHosts) {
  using dsm::testing::JsonValue;
  TempDir tmp;
  TempDir out;
  const std::string file = out.path() + "/job.json", stats = out.path() + "/stats.json";
  std::vector<std::string> argv = {DSM_RUN_PATH, "--hosts", "2", "-n", "4", "--memory", "64M", "--timeout", "120",
                                   "--trace", file, "--stats-json", stats, "--", Program("counter"), "200"};
  Child job(argv, {{"TMPDIR", tmp.path()}});
  RunResult r = job.Finish(150);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::string error;
  std::optional<JsonValue> trace = dsm::testing::ParseJson(ReadText(file), &error);
  ASSERT_TRUE(trace.has_value()) << "the trace is not JSON: " << error;
  const JsonValue* events = trace->Find("traceEvents");
  ASSERT_TRUE(events != nullptr && events->is_array());
  std::map<uint64_t, NodeTrack> tracks;
  for (const JsonValue& e : events->items) {
    ASSERT_TRUE(e.is_object());
    const JsonValue *name = e.Find("name"), *ph = e.Find("ph");
    ASSERT_TRUE(name != nullptr && name->is_string() && ph != nullptr && ph->is_string());
    if (ph->text == "M") continue;
    SCOPED_TRACE(name->text);
    ASSERT_EQ(ph->text, "X");
    const JsonValue *tid = e.Find("tid"), *ts = e.Find("ts"), *dur = e.Find("dur"), *args = e.Find("args");
    ASSERT_TRUE(tid != nullptr && tid->AsUint().has_value() && *tid->AsUint() < 4);
    ASSERT_TRUE(ts != nullptr && ts->is_number() && dur != nullptr && dur->is_number());
    EXPECT_GE(dur->number, 0);
    NodeTrack& t = tracks[*tid->AsUint()];
    ++t.events;
    if (ts->number < t.last_ts) t.monotonic = false;
    t.last_ts = ts->number;
    if (name->text == "read fault" || name->text == "write fault") {
      ASSERT_TRUE(args != nullptr && args->Find("page") != nullptr && args->Find("page")->AsUint().has_value());
      const JsonValue* fetched = args->Find("fetched");
      ASSERT_TRUE(fetched != nullptr && fetched->is_bool());
      ++t.faults;
      t.fetched += fetched->boolean;
    } else if (name->text == "release") {
      const JsonValue* pages = args != nullptr ? args->Find("pages") : nullptr;
      ASSERT_TRUE(pages != nullptr && pages->AsUint().has_value());
      EXPECT_GT(*pages->AsUint(), 0u);
      ++t.releases;
      t.pages_released += *pages->AsUint();
    } else if (name->text == "lock wait") {
      ASSERT_TRUE(args != nullptr && args->Find("lock") != nullptr && args->Find("lock")->AsUint() == 42u);
      const JsonValue* daemon = args->Find("daemon");
      ASSERT_TRUE(daemon != nullptr && daemon->is_bool());
      t.daemon_lock_waits += daemon->boolean;
    } else {
      EXPECT_TRUE(name->text == "barrier" || name->text == "parallel region");
    }
  }
  std::optional<JsonValue> counted = dsm::testing::ParseJson(ReadText(stats), &error);
  ASSERT_TRUE(counted.has_value()) << "the statistics are not JSON: " << error;
  const JsonValue* hosts = counted->Find("hosts");
  ASSERT_TRUE(hosts != nullptr && hosts->is_array() && hosts->items.size() == 2);
  uint64_t host1_fetched = 0;
  for (size_t h = 0; h < 2; ++h) {
    SCOPED_TRACE("host " + std::to_string(h));
    const JsonValue* nodes = hosts->items[h].Find("nodes");
    ASSERT_TRUE(nodes != nullptr && nodes->is_array() && nodes->items.size() == 2);
    uint64_t host_faults = 0, host_releases = 0;
    for (const JsonValue& n : nodes->items) {
      std::optional<uint64_t> id = n.Find("node")->AsUint();
      ASSERT_TRUE(id.has_value() && tracks.count(*id) == 1) << "node without a track";
      SCOPED_TRACE("node " + std::to_string(*id));
      const NodeTrack& t = tracks[*id];
      EXPECT_TRUE(t.monotonic) << "timestamps go back in time";
      EXPECT_EQ(t.faults, n.Find("daemon_faults")->AsUint());
      EXPECT_EQ(t.releases, n.Find("releases")->AsUint());
      EXPECT_EQ(t.pages_released, n.Find("pages_released")->AsUint());
      EXPECT_EQ(t.daemon_lock_waits, n.Find("lock_slow")->AsUint());
      host_faults += t.faults;
      host_releases += t.releases;
      if (h == 1) host1_fetched += t.fetched;
    }
    // Host 0 is the home of node 0's stack and of the control page from the
    // start, so its nodes' faults there are served without the daemon; host
    // 1 must ask for them.
    if (h == 1) EXPECT_GT(host_faults, 0u);
    EXPECT_GT(host_releases, 0u);
  }
  // The counter lives on node 0's stack, homed on host 0: host 1 fetches it.
  EXPECT_GT(host1_fetched, 0u);
  EXPECT_TRUE(tmp.Entries().empty()) << "trace fragments left in TMPDIR";
}

TEST(Trace, UnwritableTraceFileIsRefusedBeforeStarting) {
  RunResult r = RunCommand({DSM_RUN_PATH, "-n", "2", "--trace", "/nonexistent/dir/t.json", "--", Program("counter")});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_NE(r.err.find("cannot write the trace file /nonexistent/dir/t.json"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.out, "");
}

TEST(MasterStack, HoldsDeepRecursionAndReportsOverflowClearly) {
  // 100 frames of 64 KiB (6.4 MiB): fits the 16 MiB master stack.
  RunResult ok = RunJob(2, "deep", {"100"});
  EXPECT_EQ(ok.exit_code, 0) << Describe(ok);
  RunResult r = RunJob(2, "deep");
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_NE(r.err.find("stack overflow in main"), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("dsm-run --stack SIZE"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.out.find("deep:"), std::string::npos);
}

TEST(MasterStack, SizeIsChosenPerJob) {
  // 300 frames of 64 KiB (19 MiB) overflow the default 16 MiB stack...
  RunResult small = RunJob(2, "deep", {"300"});
  EXPECT_NE(small.exit_code, 0) << Describe(small);
  EXPECT_NE(small.err.find("stack overflow in main: node 0's main runs on a 16 MiB stack"), std::string::npos)
      << Describe(small);
  // ...and fit a 64 MiB one, with dsm-run or in an embedded job.
  RunResult big = RunCommand({DSM_RUN_PATH, "-n", "2", "--stack", "64M", "--", Program("deep"), "300"});
  EXPECT_EQ(big.exit_code, 0) << Describe(big);
  RunResult embedded = RunCommand({Program("deep"), "300"}, 60, {{"DSM_STACK_SIZE", "64M"}});
  EXPECT_EQ(embedded.exit_code, 0) << Describe(embedded);
  RunResult bad = RunCommand({Program("deep"), "3"}, 60, {{"DSM_STACK_SIZE", "1k"}});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("master stack size 1024 must be between 64 KiB and 4 GiB"), std::string::npos)
      << Describe(bad);
}

struct MisuseCase {
  const char* mode;
  const char* message;
};

class Misuse : public ::testing::TestWithParam<MisuseCase> {};

TEST_P(Misuse, IsReportedClearlyAndFailsTheJob) {
  RunResult r = RunJob(2, "misuse", {GetParam().mode});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.err.find(GetParam().message), std::string::npos) << Describe(r);
  EXPECT_EQ(r.out.find("survived"), std::string::npos) << Describe(r);
}

INSTANTIATE_TEST_SUITE_P(
    Api, Misuse,
    ::testing::Values(MisuseCase{"unlock-not-held", "dsm_unlock(5): this node does not hold the lock"},
                      MisuseCase{"parallel-from-worker", "only node 0 starts parallel regions"},
                      MisuseCase{"nested-parallel", "nested dsm_parallel"},
                      MisuseCase{"double-free", "freed twice"},
                      MisuseCase{"bad-free", "not a block returned by dsm_malloc"}),
    [](const auto& info) {
      std::string n = info.param.mode;
      for (char& c : n) if (c == '-') c = '_';
      return n;
    });

}  // namespace
