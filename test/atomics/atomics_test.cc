// Atomics on shared memory, end to end: programs compiled by the built
// dsm-clang / dsm-clang++ (so through the atomics pass and against libdsm's
// atomics ABI) run under dsm-run on 1 host x 4 nodes and on 2 hosts x 2
// nodes. Every program checks its own totals exactly and prints "failures N";
// this driver wants status 0, "failures 0", no "FAIL" line and a team of 4.
// The statistics show the two ways: on one host no lock is taken (hardware
// atomics), on two hosts the line locks are.
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
#include "run_program.h"

namespace {

using Output = dsm::testing::ProgramOutput;

constexpr std::chrono::seconds kDeadline{60};

// Runs argv (no DSM_* or OMP_* variables inherited), or kills it at the
// deadline.
Output RunJob(const std::vector<std::string>& argv) {
  return dsm::testing::RunProgram(argv, {}, kDeadline);
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
  ASSERT_FALSE(r.timed_out) << "no end within " << kDeadline.count() << " s\n" << r.out << r.err;
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
