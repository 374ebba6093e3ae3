// SPLASH-2 programs (examples/splash2) at small sizes, end to end: the libomp
// build with OMP_NUM_THREADS=4, and the dsm-clang build under dsm-run on
// 1 host x 4 nodes, on 2 hosts x 2 nodes, and in QEMU guests on 2 hosts x 1
// VM (Water and Barnes read their input from node 0's stdin there: a guest
// has no host files). Each program checks its own
// result and prints one machine-readable line
//   DSM-SUITE: program=<name> threads=<n> phase_s=<s> total_s=<s> check=ok|failed
// which this driver parses: exit status 0, check=ok, a team of 4, a phase
// time. With the hidden option -X corrupt a program changes one value of its
// result before the check, which must then fail: exit status 1, "FAILED" and
// check=failed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "run_program.h"

namespace {

using Output = dsm::testing::ProgramOutput;

constexpr std::chrono::seconds kDeadline{90};
constexpr std::chrono::seconds kVmDeadline{180};  // guests boot in seconds under TCG

// Runs argv with `env` added (no DSM_* or OMP_* variables inherited), or
// kills it at the deadline.
Output RunProgram(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& env) {
  return dsm::testing::RunProgram(argv, env, kDeadline);
}

// The key=value pairs of the DSM-SUITE line (empty if there is none).
std::map<std::string, std::string> SuiteLine(const std::string& out) {
  std::map<std::string, std::string> kv;
  const std::string tag = "DSM-SUITE:";
  size_t at = out.rfind(tag);
  if (at == std::string::npos) return kv;
  size_t end = out.find('\n', at);
  std::istringstream words(out.substr(at + tag.size(), end - at - tag.size()));
  for (std::string w; words >> w;) {
    size_t eq = w.find('=');
    if (eq != std::string::npos) kv[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return kv;
}

// A program and its small-size arguments (each run well under 10 s on 2 cores).
struct Program {
  const char* name;
  std::vector<std::string> args;
};

const Program kPrograms[] = {
    // 200 is not a multiple of 16: a narrower last block row and column.
    {"lu", {"-n", "200", "-b", "16", "-t"}},
    {"fft", {"-m", "14", "-t"}},
    // 3 passes: the sorted keys end in the second array.
    {"radix", {"-n", "200000", "-r", "256", "-m", "1000000", "-t"}},
    // 130: two partitioned multigrid levels with 4 threads, then thread 0 alone.
    {"ocean", {"-n", "130"}},
    {"water-nsquared", {DSM_SPLASH2_SOURCE_DIR "/water-nsquared/input.small"}},
    {"barnes", {DSM_SPLASH2_SOURCE_DIR "/barnes/input.small"}},
};

enum class Placement { kOpenMp4, kOneHost4, kTwoHosts2x2, kVmTwoHosts2x1 };

const char* PlacementName(Placement p) {
  switch (p) {
    case Placement::kOpenMp4: return "libomp_4threads";
    case Placement::kOneHost4: return "dsm_1host_4nodes";
    case Placement::kTwoHosts2x2: return "dsm_2hosts_2nodes";
    case Placement::kVmTwoHosts2x1: return "dsm_vm_2hosts_1vm";
  }
  return "?";
}

struct Case {
  Program program;
  Placement placement;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.program.name << " " << PlacementName(c.placement);
}

Output RunCase(const Case& c, const std::vector<std::string>& extra) {
  const std::string dir = DSM_SPLASH2_DIR;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  if (c.placement == Placement::kOpenMp4) {
    argv = {dir + "/" + c.program.name + "_omp"};
    env["OMP_NUM_THREADS"] = "4";
  } else if (c.placement == Placement::kVmTwoHosts2x1) {
    // A guest sees no host files: an input file becomes node 0's stdin.
    std::string cmd = std::string("exec '") + DSM_RUN_PATH + "' --vm --timeout 150 --hosts 2 -n 2 '" + dir + "/" +
                      c.program.name + "_dsm'";
    std::string input;
    for (const std::string& a : c.program.args) {
      if (a.ends_with(".small")) {
        input = a;
      } else {
        cmd += " '" + a + "'";
      }
    }
    for (const std::string& a : extra) cmd += " '" + a + "'";
    if (!input.empty()) cmd += " < '" + input + "'";
    return dsm::testing::RunProgram({"/bin/sh", "-c", cmd}, env, kVmDeadline);
  } else {
    argv = {DSM_RUN_PATH, "-n", "4"};
    if (c.placement == Placement::kTwoHosts2x2) argv.insert(argv.end(), {"--hosts", "2"});
    argv.push_back(dir + "/" + c.program.name + "_dsm");
  }
  argv.insert(argv.end(), c.program.args.begin(), c.program.args.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  return RunProgram(argv, env);
}

std::vector<Case> Cases(std::vector<Placement> placements) {
  std::vector<Case> cases;
  for (const Program& p : kPrograms) {
    for (Placement where : placements) cases.push_back({p, where});
  }
  return cases;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  std::string name = info.param.program.name;
  name = name + "_" + PlacementName(info.param.placement);
  for (char& ch : name) {
    if (ch == '-') ch = '_';  // test names are identifiers
  }
  return name;
}

class Splash2Program : public ::testing::TestWithParam<Case> {};

TEST_P(Splash2Program, ChecksItsOwnResult) {
  const Case& c = GetParam();
  Output r = RunCase(c, {});
  ASSERT_FALSE(r.timed_out) << "no end within " << kDeadline.count() << " s\n" << r.out << r.err;
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  std::map<std::string, std::string> line = SuiteLine(r.out);
  EXPECT_EQ(line["program"], c.program.name) << r.out;
  EXPECT_EQ(line["threads"], c.placement == Placement::kVmTwoHosts2x1 ? "2" : "4") << r.out;
  EXPECT_EQ(line["check"], "ok") << r.out << r.err;
  EXPECT_GT(std::strtod(line["phase_s"].c_str(), nullptr), 0.0) << r.out;
  EXPECT_GE(std::strtod(line["total_s"].c_str(), nullptr),
            std::strtod(line["phase_s"].c_str(), nullptr))
      << r.out;
  EXPECT_EQ(r.out.find("FAILED"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(All, Splash2Program,
                         ::testing::ValuesIn(Cases({Placement::kOpenMp4, Placement::kOneHost4,
                                                    Placement::kTwoHosts2x2, Placement::kVmTwoHosts2x1})),
                         CaseName);

class Splash2Corrupted : public ::testing::TestWithParam<Case> {};

TEST_P(Splash2Corrupted, CheckFails) {
  const Case& c = GetParam();
  Output r = RunCase(c, {"-X", "corrupt"});
  ASSERT_FALSE(r.timed_out) << "no end within " << kDeadline.count() << " s\n" << r.out << r.err;
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("FAILED"), std::string::npos) << r.out;
  EXPECT_EQ(SuiteLine(r.out)["check"], "failed") << r.out;
}

INSTANTIATE_TEST_SUITE_P(All, Splash2Corrupted,
                         ::testing::ValuesIn(Cases({Placement::kOpenMp4, Placement::kTwoHosts2x2})),
                         CaseName);

// Bad options are refused with status 2 (and the usage), before any work.
TEST(Splash2Options, BadOptionsAreRefused) {
  const std::string dir = DSM_SPLASH2_DIR;
  const std::vector<std::vector<std::string>> bad = {
      {dir + "/lu_omp", "-n", "0"},      {dir + "/lu_omp", "-b", "x"},
      {dir + "/fft_omp", "-m", "15"},    {dir + "/fft_omp", "extra"},
      {dir + "/radix_omp", "-r", "1000"}, {dir + "/radix_omp", "-X", "other"},
      {dir + "/ocean_omp", "-n", "65"},   {dir + "/ocean_omp", "-e", "x"},
      {dir + "/water-nsquared_omp", "-p", "0"}, {dir + "/barnes_omp", "-X", "other"},
  };
  for (const auto& argv : bad) {
    Output r = RunProgram(argv, {{"OMP_NUM_THREADS", "1"}});
    EXPECT_EQ(r.status, 2) << argv[0] << " " << argv[1] << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("usage:"), std::string::npos) << r.err;
  }
}

// Water-nsquared and Barnes read an input file: a missing file or a bad line
// is refused with status 2 and a message naming it.
TEST(Splash2Options, BadInputIsRefused) {
  const std::string dir = DSM_SPLASH2_DIR;
  const std::string bad_file = ::testing::TempDir() + "/splash2_bad.input";
  {
    std::ofstream f(bad_file);
    f << "nmol 64\nnbody 64\nnstep 1\ntstep 1e-16\nunknown 3\n";
  }
  for (const char* prog : {"water-nsquared_omp", "barnes_omp"}) {
    Output r = RunProgram({dir + "/" + prog, dir + "/no-such.input"}, {{"OMP_NUM_THREADS", "1"}});
    EXPECT_EQ(r.status, 2) << prog << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("no-such.input"), std::string::npos) << r.err;
    r = RunProgram({dir + "/" + prog, bad_file}, {{"OMP_NUM_THREADS", "1"}});
    EXPECT_EQ(r.status, 2) << prog << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("bad line"), std::string::npos) << r.err;
  }
  std::remove(bad_file.c_str());
}

}  // namespace
