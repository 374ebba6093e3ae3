// OpenMP programs (test/openmp/programs) built by clang -fopenmp against
// libomp and by dsm-clang against libdsm: the dsmkit job (1 host x 4 nodes,
// 2 hosts x 2 nodes) must print exactly what the libomp build prints with
// OMP_NUM_THREADS=4, and exit 0. Also: more OpenMP threads than nodes (by
// OMP_NUM_THREADS, omp_set_num_threads or num_threads) ends the job with a
// message naming both numbers; fewer run the regions on nodes 0..n-1;
// OMP_SCHEDULE reaches schedule(runtime) loops; dsm-run refuses a program
// linked with libomp.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "run_program.h"

namespace {

using Output = dsm::testing::ProgramOutput;

constexpr std::chrono::seconds kDeadline{120};

// Runs argv with extra environment (no DSM_* or OMP_* variables inherited),
// or kills it at the deadline.
Output RunProgram(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& env) {
  return dsm::testing::RunProgram(argv, env, kDeadline);
}

std::string Path(const std::string& kind, const std::string& program) {
  return std::string(DSM_OMP_PROGRAMS_DIR) + "/omp_" + kind + "_" + program;
}

const std::string& Reference(const std::string& program) {
  static std::map<std::string, std::string> cache;
  auto it = cache.find(program);
  if (it != cache.end()) return it->second;
  Output r = RunProgram({Path("ref", program)}, {{"OMP_NUM_THREADS", "4"}});
  EXPECT_EQ(r.status, 0) << "reference build of " << program << " failed:\n" << r.out << r.err;
  return cache[program] = r.out;
}

struct Config {
  const char* program;
  int hosts;
};

void PrintTo(const Config& c, std::ostream* os) { *os << c.program << " on " << c.hosts << " host(s)"; }

class OpenMpProgram : public ::testing::TestWithParam<Config> {};

TEST_P(OpenMpProgram, SameOutputAsLibomp) {
  const Config& c = GetParam();
  const std::string& want = Reference(c.program);
  ASSERT_FALSE(want.empty());
  ASSERT_NE(want.find("failures 0"), std::string::npos) << want;
  std::vector<std::string> argv = {DSM_RUN_PATH, "-n", "4"};
  if (c.hosts > 1) {
    argv.push_back("--hosts");
    argv.push_back(std::to_string(c.hosts));
  }
  argv.push_back(Path("dsm", c.program));
  Output r = RunProgram(argv, {});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, want) << "stderr:\n" << r.err;
}

const Config kConfigs[] = {
    {"parallel", 1},      {"parallel", 2},      {"loops", 1},         {"loops", 2},
    {"sections", 1},      {"sections", 2},      {"sync", 1},          {"sync", 2},
    {"reduction", 1},     {"reduction", 2},     {"atomic", 1},        {"atomic", 2},
    {"api", 1},           {"api", 2},           {"tasks", 1},         {"tasks", 2},
    {"threadprivate", 1}, {"threadprivate", 2}, {"cxx_classes", 1},   {"cxx_classes", 2},
    {"memory", 1},        {"memory", 2},        {"cxx_tasks", 1},     {"cxx_tasks", 2},
    {"globals", 1},       {"globals", 2},       {"doacross", 1},      {"doacross", 2},
};

INSTANTIATE_TEST_SUITE_P(All, OpenMpProgram, ::testing::ValuesIn(kConfigs),
                         [](const ::testing::TestParamInfo<Config>& info) {
                           return std::string(info.param.program) + "_" +
                                  std::to_string(info.param.hosts) + "host";
                         });

TEST(OpenMpLimits, MoreThreadsThanNodesEndsTheJob) {
  Output r = RunProgram({DSM_RUN_PATH, "-n", "2", Path("dsm", "parallel")}, {{"OMP_NUM_THREADS", "3"}});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("OMP_NUM_THREADS=3 but the job has 2 nodes"), std::string::npos) << r.err;
}

TEST(OpenMpLimits, NumThreadsClauseAboveTheNodesEndsTheJob) {
  // parallel.c asks for num_threads(2); a one-node job cannot give it.
  Output r = RunProgram({DSM_RUN_PATH, "-n", "1", Path("dsm", "parallel")}, {});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("num_threads(2) but the job has 1 nodes"), std::string::npos) << r.err;
}

TEST(OpenMpLimits, SetNumThreadsAboveTheNodesEndsTheJob) {
  Output r = RunProgram({DSM_RUN_PATH, "-n", "4", Path("dsm", "threads"), "set", "5"}, {});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("omp_set_num_threads(5) but the job has 4 nodes"), std::string::npos)
      << r.err;
  r = RunProgram({DSM_RUN_PATH, "-n", "4", "--hosts", "2", Path("dsm", "threads"), "clause", "6"},
                 {});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("num_threads(6) but the job has 4 nodes"), std::string::npos) << r.err;
  r = RunProgram({DSM_RUN_PATH, "-n", "2", Path("dsm", "threads")}, {{"OMP_NUM_THREADS", "x"}});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("OMP_NUM_THREADS='x' is not a positive number"), std::string::npos) << r.err;
}

// Every way of asking for fewer threads than nodes runs the team on nodes
// 0..n-1 (members is one hex digit per thread number that ran).
TEST(OpenMpLimits, SmallerTeamsRunOnTheFirstNodes) {
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string want;
  };
  const Case cases[] = {
      {{}, {{"OMP_NUM_THREADS", "1"}}, "team 1 members 1 max 1\n"},
      {{}, {{"OMP_NUM_THREADS", "3"}}, "team 3 members 111 max 3\n"},
      {{"set", "2"}, {}, "team 2 members 11 max 2\n"},
      {{"clause", "3"}, {}, "team 3 members 111 max 4\n"},
      {{"clause", "1"}, {}, "team 1 members 1 max 4\n"},
      {{}, {}, "team 4 members 1111 max 4\n"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> ref = {Path("ref", "threads")};
    ref.insert(ref.end(), c.args.begin(), c.args.end());
    std::map<std::string, std::string> ref_env = c.env;
    ref_env.emplace("OMP_NUM_THREADS", "4");
    Output want = RunProgram(ref, ref_env);
    EXPECT_EQ(want.out, c.want + "failures 0\n");
    for (const char* hosts : {"1", "2"}) {
      std::vector<std::string> argv = {DSM_RUN_PATH, "-n",  "4",
                                       "--hosts",    hosts, Path("dsm", "threads")};
      argv.insert(argv.end(), c.args.begin(), c.args.end());
      Output r = RunProgram(argv, c.env);
      EXPECT_EQ(r.status, 0) << hosts << " host(s): " << r.err;
      EXPECT_EQ(r.out, want.out) << hosts << " host(s): " << r.err;
    }
  }
}

// A program built by plain clang -fopenmp (the reference build, linked with
// libomp) is refused by dsm-run before anything starts.
TEST(OpenMpLimits, DsmRunRefusesAProgramLinkedWithLibomp) {
  Output r = RunProgram({DSM_RUN_PATH, "-n", "2", Path("ref", "parallel")}, {});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("is linked with libomp.so"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("build the program with dsm-clang"), std::string::npos) << r.err;
}

TEST(OpenMpLimits, FewerThreadsThanNodesRunsOnASubset) {
  Output ref = RunProgram({Path("ref", "sync")}, {{"OMP_NUM_THREADS", "3"}});
  EXPECT_EQ(ref.status, 0) << ref.err;
  for (const char* hosts : {"1", "2"}) {
    Output r = RunProgram({DSM_RUN_PATH, "-n", "4", "--hosts", hosts, Path("dsm", "sync")},
                          {{"OMP_NUM_THREADS", "3"}});
    EXPECT_EQ(r.status, 0) << hosts << " host(s): " << r.err;
    EXPECT_EQ(r.out, ref.out) << hosts << " host(s): " << r.err;
  }
}

TEST(OpenMpLimits, RuntimeScheduleFromTheEnvironment) {
  for (const char* sched : {"dynamic,3", "guided", "static,4", "auto"}) {
    Output r = RunProgram({DSM_RUN_PATH, "-n", "4", "--hosts", "2", Path("dsm", "loops")},
                   {{"OMP_SCHEDULE", sched}});
    EXPECT_EQ(r.status, 0) << sched << ": " << r.err;
    EXPECT_EQ(r.out, Reference("loops")) << sched;
  }
}

}  // namespace
