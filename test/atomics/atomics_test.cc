// Atomics on shared memory, end to end: programs compiled by the built
// dsm-clang / dsm-clang++ (so through the atomics pass and against libdsm's
// atomics ABI) run under dsm-run on 1 host x 4 nodes and on 2 hosts x 2
// nodes. Every program checks its own totals exactly and prints "failures N";
// this driver wants status 0, "failures 0", no "FAIL" line and a team of 4.
// The statistics show the two ways: on one host no lock is taken (hardware
// atomics), on two hosts the line locks are.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "json_reader.h"

namespace {

constexpr int kDeadlineSeconds = 60;

struct Output {
  int status = -1;  // exit status; -1 if killed by a signal or the deadline
  bool timed_out = false;
  std::string out, err;
};

// Runs argv (no DSM_* or OMP_* variables inherited) and collects its stdout
// and stderr until both close, or kills it at the deadline.
Output RunJob(const std::vector<std::string>& argv) {
  Output r;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return r;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    for (const char* v : {"DSM_SOCKET", "DSM_NODE_ID", "DSM_NUM_NODES", "OMP_NUM_THREADS"}) {
      unsetenv(v);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kDeadlineSeconds);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  for (int open_fds = 2; open_fds > 0;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left)) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int ws = 0;
  waitpid(pid, &ws, 0);
  if (!r.timed_out && WIFEXITED(ws)) r.status = WEXITSTATUS(ws);
  return r;
}

std::vector<std::string> JobCommand(const std::string& program, int hosts, int iterations,
                                    const std::string& stats_json = "") {
  std::vector<std::string> argv = {DSM_RUN_PATH, "-n", "4"};
  if (hosts > 1) argv.insert(argv.end(), {"--hosts", std::to_string(hosts)});
  if (!stats_json.empty()) argv.insert(argv.end(), {"--stats-json", stats_json});
  argv.push_back(std::string(DSM_ATOMICS_PROGRAMS_DIR) + "/" + program);
  argv.push_back(std::to_string(iterations));
  return argv;
}

struct Case {
  const char* program;
  int hosts;
  int iterations;  // per node (rounds of the ring for the message test)
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.program << " on " << c.hosts << " host(s), " << c.iterations << " iterations";
}

class AtomicsProgram : public ::testing::TestWithParam<Case> {};

TEST_P(AtomicsProgram, TotalsAreExact) {
  const Case& c = GetParam();
  Output r = RunJob(JobCommand(c.program, c.hosts, c.iterations));
  ASSERT_FALSE(r.timed_out) << "no end within " << kDeadlineSeconds << " s\n" << r.out << r.err;
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("team 4 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("failures 0\n"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

// Several hosts take fewer iterations: every operation there is a lock
// acquire and release.
const Case kCases[] = {
    {"atomics_counters_O2", 1, 2000}, {"atomics_counters_O2", 2, 200},
    {"atomics_counters_O0", 1, 2000}, {"atomics_counters_O0", 2, 100},
    {"atomics_message", 1, 200},      {"atomics_message", 2, 50},
    {"atomics_cxx", 1, 2000},         {"atomics_cxx", 2, 200},
    {"atomics_globals", 1, 2000},     {"atomics_globals", 2, 200},
};

INSTANTIATE_TEST_SUITE_P(All, AtomicsProgram, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.program) + "_" +
                                  std::to_string(info.param.hosts) + "host";
                         });

// Locks taken by every node of a job, from dsm-run --stats-json.
uint64_t LocksTaken(const std::string& json_path) {
  std::ifstream in(json_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string error;
  auto root = dsm::testing::JsonParser(text).Parse(&error);
  EXPECT_TRUE(root.has_value()) << error << "\n" << text;
  if (!root) return 0;
  const dsm::testing::JsonValue* hosts = root->Find("hosts");
  EXPECT_TRUE(hosts != nullptr && hosts->is_array()) << text;
  if (hosts == nullptr) return 0;
  uint64_t locks = 0;
  for (const auto& host : hosts->items) {
    const dsm::testing::JsonValue* nodes = host.Find("nodes");
    if (nodes == nullptr) continue;
    for (const auto& node : nodes->items) {
      for (const char* key : {"lock_fast", "lock_slow"}) {
        const dsm::testing::JsonValue* v = node.Find(key);
        EXPECT_TRUE(v != nullptr && v->AsUint().has_value()) << key << " in " << text;
        if (v != nullptr) locks += v->AsUint().value_or(0);
      }
    }
  }
  return locks;
}

// The message test uses 4-byte atomics only: hardware on one host, the line
// locks on several.
TEST(AtomicsWays, OneHostTakesNoLockSeveralHostsDo) {
  char path[] = "/tmp/dsm_atomics_stats_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  Output one = RunJob(JobCommand("atomics_message", 1, 5, path));
  ASSERT_EQ(one.status, 0) << one.out << one.err;
  EXPECT_EQ(LocksTaken(path), 0u);
  Output two = RunJob(JobCommand("atomics_message", 2, 5, path));
  ASSERT_EQ(two.status, 0) << two.out << two.err;
  EXPECT_GT(LocksTaken(path), 0u);
  unlink(path);
}

}  // namespace
