// Consistency tests: the self-checking programs of test/consistency/programs
// run as whole jobs through the real dsm-run and dsm-hostd, on every
// placement of nodes on (simulated) hosts. A program prints one line starting
// with "FAIL" per wrong value it sees and exits 1; on success it prints a
// line "<name>: OK ...". A test passes when the job exits 0, prints that line
// and no FAIL line.
//
// DSM_LONG_TESTS=1 in the environment makes the runs longer (many more random
// programs, more rounds).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "dsm/common/fd.h"

namespace {

using Clock = std::chrono::steady_clock;

bool LongTests() {
  const char* v = std::getenv("DSM_LONG_TESTS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

// dsm-run ends a job that takes longer than this (a hang fails, it does not
// block CI); the harness waits a minute more, then kills dsm-run's whole
// process group.
int JobTimeoutSeconds() { return LongTests() ? 1800 : 120; }
int HarnessTimeoutSeconds() { return JobTimeoutSeconds() + 60; }

struct RunResult {
  int exit_code = -1;  // -1 when ended by a signal
  int signal = 0;
  bool timed_out = false;
  double seconds = 0;
  std::string out, err;
};

std::string Describe(const RunResult& r) {
  std::ostringstream s;
  s << "exit=" << r.exit_code << " signal=" << r.signal << " timed_out=" << r.timed_out
    << " seconds=" << r.seconds << "\n--- stdout:\n"
    << r.out << "--- stderr:\n"
    << r.err;
  return s.str();
}

// Runs argv in its own process group with stdout and stderr on pipes, until
// it has exited and both pipes are closed (by it and by every process it
// started), or until the deadline: then the whole group is killed.
RunResult RunCommand(const std::vector<std::string>& argv, int timeout_seconds = HarnessTimeoutSeconds()) {
  RunResult r;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    r.err = std::string("pipe2: ") + std::strerror(errno);
    return r;
  }
  dsm::UniqueFd out_read(out[0]), out_write(out[1]), err_read(err[0]), err_write(err[1]);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    r.err = std::string("fork: ") + std::strerror(errno);
    return r;
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execv(args[0], args.data());
    _exit(127);
  }
  setpgid(pid, pid);  // in both processes: the group exists before any kill below
  out_write.reset();
  err_write.reset();
  dsm::UniqueFd exited(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));  // readable once it exits

  auto deadline = start + std::chrono::seconds(timeout_seconds);
  dsm::UniqueFd* fds[3] = {&out_read, &err_read, &exited};
  std::string* texts[2] = {&r.out, &r.err};
  while (out_read.valid() || err_read.valid() || exited.valid()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    pollfd pfds[3];
    for (int i = 0; i < 3; ++i) pfds[i] = {fds[i]->valid() ? fds[i]->get() : -1, POLLIN, 0};
    int n = poll(pfds, 3, static_cast<int>(left));
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && pfds[2].revents != 0) exited.reset();
    for (int i = 0; i < 2 && n > 0; ++i) {
      if (pfds[i].fd < 0 || (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[8192];
      ssize_t got = read(pfds[i].fd, buf, sizeof buf);
      if (got > 0) {
        texts[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fds[i]->reset();
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

std::string Program(const std::string& name) { return std::string(DSM_PROGRAMS_DIR) + "/dsm_cons_" + name; }

// Where the nodes of a job run.
struct Placement {
  std::string name;
  int hosts = 1;
  int nodes = 4;                     // in the whole job
  std::vector<std::string> options;  // more dsm-run options
  bool netns = false;                // each host in its own network namespace
  std::vector<std::string> env;      // NAME=value for dsm-run and its nodes
  uint64_t seed_base = 0;            // randomdrf: each placement gets its own seeds
};

// gtest names a failed case's parameter with this (not its bytes).
void PrintTo(const Placement& p, std::ostream* os) {
  *os << p.hosts << " host(s), " << p.nodes << " nodes";
  for (const std::string& o : p.options) *os << " " << o;
  if (p.netns) *os << " --netns";
  for (const std::string& e : p.env) *os << " " << e;
}

std::vector<std::string> DsmRun(const Placement& p, const std::string& program,
                                const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  if (!p.env.empty()) {
    argv.push_back("/usr/bin/env");
    argv.insert(argv.end(), p.env.begin(), p.env.end());
  }
  argv.insert(argv.end(), {DSM_RUN_PATH, "--hostd", DSM_HOSTD_PATH});
  if (p.hosts > 1) {
    argv.push_back("--hosts");
    argv.push_back(std::to_string(p.hosts));
  }
  argv.push_back("-n");
  argv.push_back(std::to_string(p.nodes));
  argv.insert(argv.end(), p.options.begin(), p.options.end());
  if (p.netns) argv.push_back("--netns");
  argv.push_back("--timeout");
  argv.push_back(std::to_string(JobTimeoutSeconds()));
  argv.push_back("--");
  argv.push_back(Program(program));
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string CommandLine(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// The job ran to the end, said `ok_line` and saw no wrong value. One
// failure message with every reason and the job's whole output.
void ExpectPassed(const std::vector<std::string>& argv, const std::string& ok_line) {
  RunResult r = RunCommand(argv);
  std::string why;
  if (r.timed_out) why += " timed out;";
  if (r.exit_code != 0) why += " exit status not 0;";
  if (r.out.find("FAIL") != std::string::npos) why += " printed FAIL;";
  if (r.out.find(ok_line) == std::string::npos) why += " no '" + ok_line + "' line;";
  EXPECT_EQ(why, "") << CommandLine(argv) << "\n" << Describe(r);
}

class Consistency : public ::testing::TestWithParam<Placement> {
 protected:
  void SetUp() override {
    if (GetParam().netns && geteuid() != 0)
      GTEST_SKIP() << "--netns puts each host in its own network namespace, which needs root";
  }
  void ExpectJobPasses(const std::string& program, const std::vector<std::string>& args,
                       const std::string& ok_line) {
    ExpectPassed(DsmRun(GetParam(), program, args), ok_line);
  }
  std::string Rounds(int ci, int long_run) const { return std::to_string(LongTests() ? long_run : ci); }
};

TEST_P(Consistency, LitmusMessagePassingThroughALock) {
  ExpectJobPasses("litmus", {"lock", Rounds(40, 400)}, "litmus lock: OK");
}

TEST_P(Consistency, LitmusSlicesPublishedByABarrier) {
  ExpectJobPasses("litmus", {"barrier", Rounds(60, 600)}, "litmus barrier: OK");
}

TEST_P(Consistency, LitmusDataPublishedByRegionBoundaries) {
  ExpectJobPasses("litmus", {"region", Rounds(25, 250)}, "litmus region: OK");
}

TEST_P(Consistency, LitmusLocalsOfMainOnTheSharedStack) {
  ExpectJobPasses("litmus", {"stack", Rounds(20, 200)}, "litmus stack: OK");
}

TEST_P(Consistency, LitmusRacyEightByteReadsAreNeverTorn) {
  ExpectJobPasses("litmus", {"torn", Rounds(150, 2000)}, "litmus torn: OK");
}

TEST_P(Consistency, FalseSharingOfBytesKeepsEveryOwnersLastValue) {
  ExpectJobPasses("falseshare", {"6", Rounds(96, 800), "bytes"}, "falseshare bytes: OK");
}

TEST_P(Consistency, FalseSharingOfWordsKeepsEveryOwnersLastValue) {
  ExpectJobPasses("falseshare", {"6", Rounds(96, 800), "words"}, "falseshare words: OK");
}

TEST_P(Consistency, LockedUpdatesOfNeighbouringCellsAllCount) {
  // 16 cells 16 bytes apart on one page, each under its own lock.
  ExpectJobPasses("sharedrmw", {"16", Rounds(300, 3000)}, "sharedrmw: OK");
}

TEST_P(Consistency, RandomDataRaceFreeProgramsMatchTheirReference) {
  // 50 seeds per placement in CI (300 over the six placements), 1000 in a
  // long run; every placement has seeds of its own. Few operations per
  // phase: across hosts each locked update is a lock transfer and a diff.
  std::string first = std::to_string(GetParam().seed_base + 1);
  ExpectJobPasses("randomdrf", {first, Rounds(50, 1000), "6", "2000", Rounds(60, 200)}, "randomdrf: OK");
}

TEST_P(Consistency, BigArrayFilledByNodeZeroIsSummedByAll) {
  ExpectJobPasses("bigarray", {LongTests() ? "256M" : "32M"}, "bigarray: OK");
}

Placement Make(std::string name, int hosts, int nodes, std::vector<std::string> options = {},
               bool netns = false, std::vector<std::string> env = {}) {
  Placement p;
  p.name = std::move(name);
  p.hosts = hosts;
  p.nodes = nodes;
  p.options = std::move(options);
  p.netns = netns;
  p.env = std::move(env);
  return p;
}

std::vector<Placement> AllPlacements() {
  std::vector<Placement> all = {
      Make("OneHostFourNodes", 1, 4),
      // One host's barriers run in the shared space: nodes spin, then sleep
      // in the daemon. Here every waiting node goes to sleep at once.
      Make("OneHostFourNodesBarriersAsleep", 1, 4, {}, false, {"DSM_BARRIER_SPIN_US=0"}),
      // Two nodes, two CPUs: waiting nodes spin without giving their CPU away.
      Make("OneHostTwoNodes", 1, 2),
      Make("TwoHostsOneNodeEach", 2, 2),
      Make("TwoHostsTwoNodesEach", 2, 4),
      Make("ThreeHostsTwoNodesEach", 3, 6),
      Make("TwoHostsTwoNodesEachNetns", 2, 4, {}, /*netns=*/true),
      Make("TwoHostsTwoNodesEachRoundRobinHomes", 2, 4, {"--home", "round-robin"}),
      // Homes migrate by default; here they stay where first touched.
      Make("TwoHostsTwoNodesEachFirstTouchHomes", 2, 4, {"--home", "first-touch"}),
  };
  for (size_t i = 0; i < all.size(); ++i) all[i].seed_base = 1000000 * i;
  return all;
}

INSTANTIATE_TEST_SUITE_P(Placements, Consistency, ::testing::ValuesIn(AllPlacements()),
                         [](const auto& info) { return info.param.name; });

// One large array over two hosts: every page of 1 GiB crosses between them,
// in a 16 GiB shared space per host (sparse: only what is touched costs).
TEST(BigArray, OneGibOnTwoHostsOfTwoNodes) {
  Placement p = Make("TwoHostsTwoNodesEach", 2, 4, {"--memory", "16G"});
  ExpectPassed(DsmRun(p, "bigarray", {"1G"}), "bigarray: OK size=1073741824 nodes=4");
}

// Reads scattered over 640 MiB on another host: more separate mappings than
// a process may have (vm.max_map_count is 65530 by default).
TEST(Scattered, MoreMappedPagesThanMappingsAllowedOnAnotherHost) {
  Placement p = Make("TwoHostsOneNodeEach", 2, 2, {"--memory", "2G"});
  ExpectPassed(DsmRun(p, "scattered", {"640M", "2"}), "scattered: OK");
}

// Each program's checks can fail: with --inject it plants one wrong value,
// and must name it in a FAIL line and exit 1.
struct Injected {
  std::string name;
  std::string program;
  std::vector<std::string> args;
  std::string fail_line;  // a regular expression for the part of the FAIL line naming the wrong value
};

class InjectedError : public ::testing::TestWithParam<Injected> {};

TEST_P(InjectedError, IsReportedWithNodeIndexExpectedAndGot) {
  Placement one_host = Make("OneHostFourNodes", 1, 4);
  std::vector<std::string> args = GetParam().args;
  args.push_back("--inject");
  std::vector<std::string> argv = DsmRun(one_host, GetParam().program, args);
  RunResult r = RunCommand(argv);
  SCOPED_TRACE(CommandLine(argv));
  EXPECT_FALSE(r.timed_out) << Describe(r);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  // "FAIL <program> <test>: node <k> ... <where> ... expected <v> got <v>"
  std::regex fail_line("FAIL " + GetParam().program + "[^:\n]*: node [0-9]+ [^\n]*" + GetParam().fail_line +
                       "[^\n]* expected [^\n]* got ");
  EXPECT_TRUE(std::regex_search(r.out, fail_line)) << Describe(r);
  EXPECT_EQ(r.out.find(": OK"), std::string::npos) << Describe(r);
}

INSTANTIATE_TEST_SUITE_P(
    Programs, InjectedError,
    ::testing::Values(
        Injected{"LitmusLock", "litmus", {"lock", "6"}, "round 2 index 777"},
        Injected{"LitmusBarrier", "litmus", {"barrier", "6"}, "round 3 index 2105"},
        Injected{"LitmusRegion", "litmus", {"region", "3"}, "round 1 index 1809"},
        Injected{"LitmusStack", "litmus", {"stack", "4"}, "round 2 index 1000"},
        Injected{"LitmusTorn", "litmus", {"torn", "20"}, "round 20 index 3"},
        Injected{
            "FalseShareBytes", "falseshare", {"2", "20", "bytes"}, "round 19 byte 3 \\(page 0, owner 3\\)"},
        Injected{
            "FalseShareWords", "falseshare", {"2", "20", "words"}, "round 19 word 3 \\(page 0, owner 3\\)"},
        Injected{"RandomDrf",
                 "randomdrf",
                 {"7", "2", "4", "500", "50"},
                 "seed 7 phase 4 cell 7 \\(heap index 7, address 0x"},
        Injected{"Scattered", "scattered", {"8M", "2"}, "page [0-9]+"},
        Injected{"SharedRmw", "sharedrmw", {"16", "40"}, "cell [0-9]+ \\(updates counted\\)"},
        Injected{"BigArray", "bigarray", {"1M"}, "index 65536 \\(byte offset 524288, page 128\\)"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
