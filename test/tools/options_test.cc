// Tests of dsm-run's command line, in process: option parsing, the usage
// text, and finding the program and the daemon.
#include "options.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "find_program.h"

namespace dsm::launcher {
namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

Options MustParse(const Args& args) {
  auto r = ParseOptions(args);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : Options{};
}

std::string ParseError(const Args& args) {
  auto r = ParseOptions(args);
  if (r.ok()) return "<parsed fine>";
  EXPECT_EQ(r.status().code(), EINVAL);
  return r.status().message();
}

TEST(LauncherOptions, Defaults) {
  Options o = MustParse({"-n", "4", "./prog"});
  EXPECT_EQ(o.action, Options::Action::kRun);
  EXPECT_EQ(o.nodes, 4u);
  EXPECT_EQ(o.memory, uint64_t{1} << 30);
  EXPECT_FALSE(o.timeout_seconds.has_value());
  EXPECT_FALSE(o.tag_output);
  EXPECT_FALSE(o.stats);
  EXPECT_EQ(o.hostd, "");
  EXPECT_EQ(o.program, "./prog");
  EXPECT_TRUE(o.args.empty());
}

TEST(LauncherOptions, NodeCountSpellings) {
  EXPECT_EQ(MustParse({"-n4", "p"}).nodes, 4u);
  EXPECT_EQ(MustParse({"--nodes", "5", "p"}).nodes, 5u);
  EXPECT_EQ(MustParse({"--nodes=6", "p"}).nodes, 6u);
  EXPECT_EQ(MustParse({"-n", "1", "p"}).nodes, 1u);
  EXPECT_EQ(MustParse({"-n", "1024", "p"}).nodes, 1024u);
  EXPECT_EQ(MustParse({"-n", "2", "-n", "3", "p"}).nodes, 3u) << "the last one wins";
}

TEST(LauncherOptions, NodeCountErrors) {
  // Without -n: only a Slurm allocation can say how many (ResolveHosts).
  EXPECT_EQ(ParseError({"--hosts", "2", "p"}), "missing option -n/--nodes (the number of nodes)");
  EXPECT_EQ(ParseError({"--launcher", "local", "p"}), "missing option -n/--nodes (the number of nodes)");
  Options none = MustParse({"p"});
  EXPECT_EQ(none.nodes, 0u);
  Status s = ResolveHosts(&none, [](const char*) -> const char* { return nullptr; });
  EXPECT_EQ(s.message(), "missing option -n/--nodes (the number of nodes)");
  EXPECT_EQ(ParseError({"-n", "0", "p"}), "invalid value '0' for -n: the number of nodes must be 1 to 1024");
  EXPECT_EQ(ParseError({"--nodes", "1025", "p"}),
            "invalid value '1025' for --nodes: the number of nodes must be 1 to 1024");
  EXPECT_EQ(ParseError({"-n", "abc", "p"}), "invalid value 'abc' for -n: not a number");
  EXPECT_EQ(ParseError({"-n", "-1", "p"}), "invalid value '-1' for -n: not a number");
  EXPECT_EQ(ParseError({"-n", "4x", "p"}), "invalid value '4x' for -n: not a number");
  EXPECT_EQ(ParseError({"-n", "99999999999999999999999", "p"}),
            "invalid value '99999999999999999999999' for -n: not a number");
  EXPECT_EQ(ParseError({"--nodes=", "p"}), "invalid value '' for --nodes: not a number");
  EXPECT_EQ(ParseError({"-n"}), "option '-n' needs a value");
}

TEST(LauncherOptions, MemorySizes) {
  EXPECT_EQ(MustParse({"-n", "1", "--memory", "64M", "p"}).memory, uint64_t{64} << 20);
  EXPECT_EQ(MustParse({"-n", "1", "--memory", "512m", "p"}).memory, uint64_t{512} << 20);
  EXPECT_EQ(MustParse({"-n", "1", "--memory=2G", "p"}).memory, uint64_t{2} << 30);
  EXPECT_EQ(MustParse({"-n", "1", "--memory", "1T", "p"}).memory, uint64_t{1} << 40);
  EXPECT_EQ(MustParse({"-n", "1", "--memory", "65536K", "p"}).memory, uint64_t{64} << 20);
  EXPECT_EQ(MustParse({"-n", "1", "--memory", "1GiB", "p"}).memory, uint64_t{1} << 30);
  EXPECT_EQ(MustParse({"-n", "1", "--memory", "1073741824", "p"}).memory, uint64_t{1} << 30);
}

TEST(LauncherOptions, MemoryErrors) {
  auto err = [](const std::string& v) { return ParseError({"-n", "1", "--memory", v, "p"}); };
  EXPECT_EQ(err("32M"), "invalid value '32M' for --memory: below the minimum of 64M");
  EXPECT_EQ(err("67108863"), "invalid value '67108863' for --memory: below the minimum of 64M");
  EXPECT_EQ(err("2T"), "invalid value '2T' for --memory: above the maximum of 1T");
  EXPECT_EQ(err("100M"), "invalid value '100M' for --memory: not a power of two");
  EXPECT_EQ(err("3G"), "invalid value '3G' for --memory: not a power of two");
  EXPECT_EQ(err("abc"), "invalid value 'abc' for --memory: not a size (examples: 256M, 1G)");
  EXPECT_EQ(err("1X"), "invalid value '1X' for --memory: not a size (examples: 256M, 1G)");
  EXPECT_EQ(err(""), "invalid value '' for --memory: not a size (examples: 256M, 1G)");
  EXPECT_EQ(err("-1G"), "invalid value '-1G' for --memory: not a size (examples: 256M, 1G)");
  EXPECT_EQ(ParseError({"-n", "1", "--memory"}), "option '--memory' needs a value");
}

TEST(LauncherOptions, Timeouts) {
  Options o = MustParse({"-n", "1", "--timeout", "2", "p"});
  ASSERT_TRUE(o.timeout_seconds.has_value());
  EXPECT_DOUBLE_EQ(*o.timeout_seconds, 2.0);
  EXPECT_EQ(o.timeout_text, "2");
  EXPECT_DOUBLE_EQ(*MustParse({"-n", "1", "--timeout=0.5", "p"}).timeout_seconds, 0.5);
  EXPECT_DOUBLE_EQ(*MustParse({"-n", "1", "--timeout", ".25", "p"}).timeout_seconds, 0.25);
  EXPECT_DOUBLE_EQ(*MustParse({"-n", "1", "--timeout", "3.", "p"}).timeout_seconds, 3.0);
}

TEST(LauncherOptions, TimeoutErrors) {
  auto err = [](const std::string& v) { return ParseError({"-n", "1", "--timeout", v, "p"}); };
  EXPECT_EQ(err("0"), "invalid value '0' for --timeout: must be positive");
  EXPECT_EQ(err("0.000"), "invalid value '0.000' for --timeout: must be positive");
  for (const char* bad : {"-1", "abc", "1e3", "inf", "nan", "1.2.3", "", ".", "1s", " 1"}) {
    EXPECT_EQ(err(bad), "invalid value '" + std::string(bad) + "' for --timeout: not a number of seconds");
  }
  EXPECT_EQ(err("2000000000"), "invalid value '2000000000' for --timeout: too large (at most 1000000000)");
  EXPECT_EQ(ParseError({"-n", "1", "--timeout"}), "option '--timeout' needs a value");
}

TEST(LauncherOptions, Flags) {
  Options o = MustParse({"--tag-output", "--stats", "--hostd", "/opt/hostd", "-n", "2", "p"});
  EXPECT_TRUE(o.tag_output);
  EXPECT_TRUE(o.stats);
  EXPECT_EQ(o.hostd, "/opt/hostd");
  EXPECT_EQ(MustParse({"-n", "2", "--hostd=x", "p"}).hostd, "x");
  EXPECT_EQ(ParseError({"-n", "2", "--stats=1", "p"}), "option '--stats' takes no value");
  EXPECT_EQ(ParseError({"-n", "2", "--tag-output=yes", "p"}), "option '--tag-output' takes no value");
  EXPECT_EQ(ParseError({"-n", "2", "--hostd=", "p"}), "invalid value '' for --hostd: empty path");
  EXPECT_EQ(ParseError({"-n", "2", "--hostd"}), "option '--hostd' needs a value");
  EXPECT_EQ(MustParse({"-n", "2", "--trace", "t.json", "p"}).trace, "t.json");
  EXPECT_EQ(MustParse({"-n", "2", "--trace=u.json", "p"}).trace, "u.json");
  EXPECT_EQ(MustParse({"-n", "2", "p"}).trace, "");
  EXPECT_EQ(ParseError({"-n", "2", "--trace=", "p"}), "invalid value '' for --trace: empty path");
  EXPECT_EQ(ParseError({"-n", "2", "--trace"}), "option '--trace' needs a value");
  EXPECT_EQ(MustParse({"-n", "2", "p"}).stack, 0u);
  EXPECT_EQ(MustParse({"-n", "2", "--stack", "64M", "p"}).stack, 64u << 20);
  EXPECT_EQ(ParseError({"-n", "2", "--stack=big", "p"}), "invalid value 'big' for --stack: not a size (examples: 64M, 1G)");
  EXPECT_EQ(ParseError({"-n", "2", "--memory", "64M", "--stack", "60M", "p"}),
            "invalid value for --stack: 62914560 bytes must be between 64K and 4G and leave 16M of heap in the "
            "64M shared space (--memory)");
}

TEST(LauncherOptions, MultiHostDefaults) {
  Options o = MustParse({"-n", "4", "p"});
  EXPECT_EQ(o.hosts, 1u);
  EXPECT_EQ(o.placement, Placement::kBlock);
  EXPECT_FALSE(o.home.has_value());
  EXPECT_FALSE(o.netns);
  EXPECT_EQ(o.stats_json, "");
  EXPECT_TRUE(o.huge_pages);
}

TEST(LauncherOptions, MultiHostOptions) {
  Options o = MustParse({"-n", "8", "--hosts", "4", "--placement", "cyclic", "--home", "round-robin", "--netns",
                         "--stats-json", "s.json", "p"});
  EXPECT_EQ(o.hosts, 4u);
  EXPECT_EQ(o.placement, Placement::kCyclic);
  ASSERT_TRUE(o.home.has_value());
  EXPECT_EQ(*o.home, HomePolicy::kRoundRobin);
  EXPECT_TRUE(o.netns);
  EXPECT_EQ(o.stats_json, "s.json");
  o = MustParse({"-n", "64", "--hosts=64", "--placement=block", "--home=first-touch", "--stats-json=t", "p"});
  EXPECT_EQ(o.hosts, 64u);
  EXPECT_EQ(o.placement, Placement::kBlock);
  EXPECT_EQ(*o.home, HomePolicy::kFirstTouch);
  EXPECT_EQ(o.stats_json, "t");
  EXPECT_EQ(MustParse({"-n", "3", "--hosts", "3", "p"}).hosts, 3u) << "one node per host is enough";
  EXPECT_EQ(MustParse({"-n", "2", "--hosts", "2", "p"}).peer_timeout_ms, 0u) << "the daemons' default";
  EXPECT_EQ(MustParse({"-n", "2", "--hosts", "2", "--peer-timeout", "30", "p"}).peer_timeout_ms, 30000u);
  EXPECT_EQ(MustParse({"-n", "2", "--hosts", "2", "--peer-timeout=0.5", "p"}).peer_timeout_ms, 500u);
  EXPECT_EQ(MustParse({"-n", "2", "--hosts", "2", "--peer-timeout", "2.25", "p"}).peer_timeout_ms, 2250u);
  EXPECT_FALSE(MustParse({"-n", "2", "--huge-pages", "off", "p"}).huge_pages);
  EXPECT_TRUE(MustParse({"-n", "2", "--huge-pages=on", "p"}).huge_pages);
  EXPECT_STREQ(HomePolicyName(HomePolicy::kFirstTouch), "first-touch");
  EXPECT_STREQ(HomePolicyName(HomePolicy::kRoundRobin), "round-robin");
}

TEST(LauncherOptions, MultiHostErrors) {
  EXPECT_EQ(ParseError({"-n", "4", "--hosts", "0", "p"}),
            "invalid value '0' for --hosts: the number of hosts must be 1 to 64");
  EXPECT_EQ(ParseError({"-n", "100", "--hosts", "65", "p"}),
            "invalid value '65' for --hosts: the number of hosts must be 1 to 64");
  EXPECT_EQ(ParseError({"-n", "4", "--hosts", "two", "p"}), "invalid value 'two' for --hosts: not a number");
  EXPECT_EQ(ParseError({"-n", "4", "--hosts=-1", "p"}), "invalid value '-1' for --hosts: not a number");
  EXPECT_EQ(ParseError({"-n", "4", "--hosts"}), "option '--hosts' needs a value");
  EXPECT_EQ(ParseError({"-n", "2", "--hosts", "3", "p"}),
            "--hosts 3 needs at least as many nodes (-n 2): every host runs at least one node");
  EXPECT_EQ(ParseError({"-n", "4", "--placement", "random", "p"}),
            "invalid value 'random' for --placement: must be block or cyclic");
  EXPECT_EQ(ParseError({"-n", "4", "--placement=", "p"}), "invalid value '' for --placement: must be block or cyclic");
  EXPECT_EQ(ParseError({"-n", "4", "--home", "first_touch", "p"}),
            "invalid value 'first_touch' for --home: must be first-touch, round-robin or migrate");
  EXPECT_EQ(ParseError({"-n", "4", "--netns=yes", "p"}), "option '--netns' takes no value");
  EXPECT_EQ(ParseError({"-n", "4", "--huge-pages", "yes", "p"}),
            "invalid value 'yes' for --huge-pages: must be on or off");
  EXPECT_EQ(ParseError({"-n", "4", "--huge-pages"}), "option '--huge-pages' needs a value");
  EXPECT_EQ(ParseError({"-n", "4", "--stats-json=", "p"}), "invalid value '' for --stats-json: empty path");
  EXPECT_EQ(ParseError({"-n", "4", "--stats-json"}), "option '--stats-json' needs a value");
  EXPECT_EQ(ParseError({"-n", "4", "--peer-timeout", "soon", "p"}),
            "invalid value 'soon' for --peer-timeout: not a number of seconds");
  EXPECT_EQ(ParseError({"-n", "4", "--peer-timeout", "0.4", "p"}),
            "invalid value '0.4' for --peer-timeout: must be 0.5 to 3600 seconds");
  EXPECT_EQ(ParseError({"-n", "4", "--peer-timeout", "3601", "p"}),
            "invalid value '3601' for --peer-timeout: must be 0.5 to 3600 seconds");
}

TEST(LauncherOptions, UnknownOptions) {
  EXPECT_EQ(ParseError({"-n", "2", "--frobnicate", "p"}), "unknown option '--frobnicate'");
  EXPECT_EQ(ParseError({"-x", "-n", "2", "p"}), "unknown option '-x'");
  EXPECT_EQ(ParseError({"-n", "2", "--memory-size=1G", "p"}), "unknown option '--memory-size'");
  EXPECT_EQ(ParseError({"-n", "2", "--Nodes", "3", "p"}), "unknown option '--Nodes'");
  // The first problem is reported.
  EXPECT_EQ(ParseError({"--bad", "-n", "0", "p"}), "unknown option '--bad'");
}

TEST(LauncherOptions, MissingProgram) {
  EXPECT_EQ(ParseError({"-n", "2"}), "missing program to run");
  EXPECT_EQ(ParseError({"-n", "2", "--"}), "missing program to run");
  EXPECT_EQ(ParseError({"-n", "2", "--tag-output"}), "missing program to run");
}

TEST(LauncherOptions, DoubleDashEndsOptions) {
  Options o = MustParse({"-n", "2", "--", "--weird-name", "-n", "3"});
  EXPECT_EQ(o.nodes, 2u);
  EXPECT_EQ(o.program, "--weird-name");
  EXPECT_EQ(o.args, (Args{"-n", "3"}));
  EXPECT_EQ(MustParse({"-n", "2", "--", "--"}).program, "--");
  EXPECT_EQ(MustParse({"-n", "2", "-", "x"}).program, "-") << "'-' is not an option";
}

TEST(LauncherOptions, ProgramArgumentsPassThroughUntouched) {
  Args prog_args = {"-n", "5", "--help", "--version", "--", "--tag-output", "", "a b", "--memory=3"};
  Args args = {"-n", "2", "./prog"};
  args.insert(args.end(), prog_args.begin(), prog_args.end());
  Options o = MustParse(args);
  EXPECT_EQ(o.action, Options::Action::kRun);
  EXPECT_EQ(o.nodes, 2u);
  EXPECT_FALSE(o.tag_output);
  EXPECT_EQ(o.memory, kDefaultMemory);
  EXPECT_EQ(o.program, "./prog");
  EXPECT_EQ(o.args, prog_args);
}

TEST(LauncherOptions, HelpAndVersion) {
  EXPECT_EQ(MustParse({"--help"}).action, Options::Action::kHelp);
  EXPECT_EQ(MustParse({"-h"}).action, Options::Action::kHelp);
  EXPECT_EQ(MustParse({"-n", "0", "--bogus", "--help"}).action, Options::Action::kHelp)
      << "--help wins over errors";
  EXPECT_EQ(MustParse({"--version"}).action, Options::Action::kVersion);
  EXPECT_EQ(MustParse({"--version", "-n", "x"}).action, Options::Action::kVersion);
  EXPECT_EQ(ParseError({"--help=1"}), "<parsed fine>") << "still help";
  EXPECT_EQ(MustParse({"-n", "1", "p", "--help"}).action, Options::Action::kRun) << "the program's --help";
}

TEST(LauncherOptions, UsageTextDocumentsEverything) {
  std::string text = UsageText();
  for (const char* s : {"usage: dsm-run", "-n, --nodes N", "--memory SIZE", "--timeout S", "--tag-output",
                        "--stats", "--trace FILE", "--peer-timeout S", "--stack SIZE", "--hostd PATH", "--help", "--version", "DSM_SOCKET", "DSM_NODE_ID",
                        "DSM_NUM_NODES", "/dev/null", "Exit status", "124", "127", "128+S", "[node K] ",
                        "--hosts H", "--placement P", "block", "cyclic", "--home MODE", "first-touch",
                        "round-robin", "migrate", "--huge-pages on|off", "--netns", "--stats-json FILE", "DSM_HOST_ID", "[node K@hH] ",
                        "10.213.0."}) {
    EXPECT_NE(text.find(s), std::string::npos) << "usage text lacks " << s;
  }
}

class LauncherFindProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/dsm-launcher-find-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
    fs::create_directory(dir_ + "/bin");
    fs::create_directory(dir_ + "/other");
    Make(dir_ + "/bin/tool", 0755);
    Make(dir_ + "/other/plain", 0644);
    Make(dir_ + "/bin/plain", 0755);
    fs::create_directory(dir_ + "/bin/subdir");
  }
  void TearDown() override { fs::remove_all(dir_); }
  static void Make(const std::string& path, mode_t mode) {
    std::ofstream(path) << "#!/bin/sh\n";
    ::chmod(path.c_str(), mode);
  }
  std::string dir_;
};

TEST_F(LauncherFindProgram, PathsAndSearch) {
  auto r = FindProgram(dir_ + "/bin/tool", nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, dir_ + "/bin/tool");

  std::string path = "/nonexistent:" + dir_ + "/other:" + dir_ + "/bin";
  r = FindProgram("plain", path.c_str());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, dir_ + "/bin/plain") << "a file that is not executable is skipped";

  r = FindProgram("sh", "/nonexistent:/bin");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "/bin/sh");
}

TEST_F(LauncherFindProgram, Errors) {
  auto msg = [](const Result<std::string>& r) {
    return r.ok() ? "<found " + r.value() + ">" : r.status().message();
  };
  EXPECT_EQ(msg(FindProgram("nope-no-such-program", "/nonexistent:/bin")),
            "program 'nope-no-such-program' not found in PATH");
  EXPECT_EQ(msg(FindProgram(dir_ + "/missing", nullptr)),
            "cannot run '" + dir_ + "/missing': No such file or directory");
  EXPECT_EQ(msg(FindProgram(dir_ + "/other/plain", nullptr)),
            "cannot run '" + dir_ + "/other/plain': Permission denied");
  EXPECT_EQ(msg(FindProgram(dir_ + "/bin/subdir", nullptr)),
            "cannot run '" + dir_ + "/bin/subdir': Is a directory");
  std::string only_other = dir_ + "/other";
  EXPECT_EQ(msg(FindProgram("plain", only_other.c_str())), "cannot run 'plain': Permission denied");
  EXPECT_EQ(msg(FindProgram("", nullptr)), "empty program name");
}

// --vm and its options.
TEST(LauncherOptions, VmNodesImpliesVm) {
  Options o = MustParse({"-n", "4", "--vm-nodes", "1,3", "p"});
  EXPECT_TRUE(o.vm);
  EXPECT_EQ(o.vm_nodes, "1,3");
  EXPECT_FALSE(IsVmNode(o, 0));
  EXPECT_TRUE(IsVmNode(o, 1));
  EXPECT_FALSE(IsVmNode(o, 2));
  EXPECT_TRUE(IsVmNode(o, 3));
  EXPECT_FALSE(IsVmNode(o, 4)) << "no such node";
  o = MustParse({"-n", "6", "--vm-nodes=0,2-4", "p"});
  for (uint32_t k = 0; k < 6; ++k) EXPECT_EQ(IsVmNode(o, k), k == 0 || (k >= 2 && k <= 4)) << k;
  o = MustParse({"--vm-nodes", "0-1", "-n", "2", "p"});
  EXPECT_TRUE(IsVmNode(o, 0) && IsVmNode(o, 1)) << "the list is checked against -n given after it";
  o = MustParse({"-n", "3", "--vm", "p"});
  for (uint32_t k = 0; k < 3; ++k) EXPECT_TRUE(IsVmNode(o, k)) << "--vm alone: every node";
  o = MustParse({"-n", "3", "p"});
  for (uint32_t k = 0; k < 3; ++k) EXPECT_FALSE(IsVmNode(o, k));
}

TEST(LauncherOptions, VmNodesErrors) {
  auto bad = [](const std::string& list, uint32_t n) {
    return "invalid value '" + list + "' for --vm-nodes: node ids below " + std::to_string(n) +
           " and ranges, like 1,3 or 2-5";
  };
  for (const char* list : {"4", "2-4", "0,4", "1,", ",1", "3-1", "1,1", "0-2,2", "a", "-1", "1-", "1;2", " 1"}) {
    EXPECT_EQ(ParseError({"-n", "4", "--vm-nodes", list, "p"}), bad(list, 4)) << list;
  }
  EXPECT_EQ(ParseError({"-n", "1", "--vm-nodes", "1", "p"}), bad("1", 1));
  EXPECT_EQ(ParseError({"-n", "2", "--vm-nodes=", "p"}), "invalid value '' for --vm-nodes: no node ids")
      << "an empty list is not every node";
  EXPECT_EQ(ParseError({"-n", "2", "--vm-nodes", "", "p"}), "invalid value '' for --vm-nodes: no node ids");
  EXPECT_EQ(ParseError({"-n", "2", "--vm-nodes"}), "option '--vm-nodes' needs a value");
}

TEST(LauncherOptions, VmMemory) {
  EXPECT_EQ(MustParse({"-n", "1", "--vm", "p"}).vm_memory, uint64_t{256} << 20) << "the default";
  EXPECT_EQ(MustParse({"-n", "1", "--vm", "--vm-memory", "128M", "p"}).vm_memory, uint64_t{128} << 20);
  EXPECT_EQ(MustParse({"-n", "1", "--vm", "--vm-memory=1G", "p"}).vm_memory, uint64_t{1} << 30);
  EXPECT_EQ(MustParse({"-n", "1", "--vm", "--vm-memory", "64G", "p"}).vm_memory, uint64_t{64} << 30);
  EXPECT_EQ(MustParse({"-n", "1", "--vm", "--vm-memory", "393216K", "p"}).vm_memory, uint64_t{384} << 20);
  EXPECT_EQ(MustParse({"-n", "1", "--vm", "--vm-memory", "300M", "p"}).vm_memory, uint64_t{300} << 20)
      << "any whole number of MiB, not only powers of two";
  const std::string bounds = "each guest needs 128M to 64G";
  for (const char* v : {"127M", "65G", "131071K", "0", "1T", "68719477760"}) {
    EXPECT_EQ(ParseError({"-n", "1", "--vm", "--vm-memory", v, "p"}),
              std::string("invalid value '") + v + "' for --vm-memory: " + bounds)
        << v;
  }
  for (const char* v : {"200000K", "134217729", "1048577K"}) {
    EXPECT_EQ(ParseError({"-n", "1", "--vm", "--vm-memory", v, "p"}),
              std::string("invalid value '") + v + "' for --vm-memory: not a whole number of MiB")
        << v;
  }
  for (const char* v : {"", "abc", "1.5G", "-256M", "256X", "256 M"}) {
    EXPECT_EQ(ParseError({"-n", "1", "--vm", "--vm-memory", v, "p"}),
              std::string("invalid value '") + v + "' for --vm-memory: not a size (examples: 256M, 1G)")
        << v;
  }
}

TEST(LauncherOptions, VmCpusAndAccel) {
  Options o = MustParse({"-n", "1", "--vm", "p"});
  EXPECT_EQ(o.vm_cpus, 1u);
  EXPECT_EQ(o.accel, "tcg");
  EXPECT_FALSE(o.vm_console);
  EXPECT_EQ(o.qemu, "");
  EXPECT_EQ(MustParse({"-n", "1", "--vm", "--vm-cpus", "64", "p"}).vm_cpus, 64u);
  EXPECT_EQ(MustParse({"-n", "1", "--vm", "--vm-cpus=2", "p"}).vm_cpus, 2u);
  for (const char* v : {"0", "65", "-1", "x", "", "1.5", "99999999999999999999"}) {
    EXPECT_EQ(ParseError({"-n", "1", "--vm", "--vm-cpus", v, "p"}),
              std::string("invalid value '") + v + "' for --vm-cpus: must be 1 to 64")
        << v;
  }
  EXPECT_EQ(MustParse({"-n", "1", "--vm", "--accel", "kvm", "p"}).accel, "kvm");
  EXPECT_EQ(MustParse({"-n", "1", "--vm", "--accel=tcg", "p"}).accel, "tcg");
  for (const char* v : {"KVM", "hvf", "", "tcg,thread=multi", "xen"}) {
    EXPECT_EQ(ParseError({"-n", "1", "--vm", "--accel", v, "p"}),
              std::string("invalid value '") + v + "' for --accel: must be tcg or kvm")
        << v;
  }
  o = MustParse({"-n", "1", "--vm", "--vm-console", "--qemu", "/opt/q", "p"});
  EXPECT_TRUE(o.vm_console);
  EXPECT_EQ(o.qemu, "/opt/q");
  EXPECT_EQ(ParseError({"-n", "1", "--vm", "--vm-console=yes", "p"}), "option '--vm-console' takes no value");
  EXPECT_EQ(ParseError({"-n", "1", "--vm", "--qemu=", "p"}), "invalid value '' for --qemu: empty path");
  EXPECT_EQ(ParseError({"-n", "1", "--vm=1", "p"}), "option '--vm' takes no value");
}

TEST(LauncherOptions, VmOnlyOptionsNeedVm) {
  const std::vector<Args> vm_only = {{"--vm-memory", "256M"}, {"--vm-memory=256M"}, {"--vm-cpus", "2"},
                                     {"--vm-cpus=2"},         {"--accel", "kvm"},    {"--accel=tcg"},
                                     {"--vm-console"},        {"--qemu", "/q"},      {"--qemu=/q"}};
  for (const Args& opt : vm_only) {
    const std::string name = opt[0].substr(0, opt[0].find('='));
    Args args = {"-n", "2"};
    args.insert(args.end(), opt.begin(), opt.end());
    args.push_back("p");
    EXPECT_EQ(ParseError(args), "option '" + name + "' needs --vm") << opt[0];
    // With --vm anywhere among the options, or --vm-nodes, they are fine.
    Args with_vm = args;
    with_vm.insert(with_vm.end() - 1, "--vm");
    EXPECT_TRUE(ParseOptions(with_vm).ok()) << opt[0];
    Args with_nodes = args;
    with_nodes.insert(with_nodes.begin(), {"--vm-nodes", "1"});
    EXPECT_TRUE(ParseOptions(with_nodes).ok()) << opt[0];
  }
  // After the program they are its arguments.
  Options o = MustParse({"-n", "1", "p", "--qemu", "--vm-cpus=9"});
  EXPECT_FALSE(o.vm);
  EXPECT_EQ(o.args, (Args{"--qemu", "--vm-cpus=9"}));
  o = MustParse({"-n", "1", "--", "--accel", "x"});
  EXPECT_EQ(o.program, "--accel");
  // --help still wins.
  EXPECT_EQ(MustParse({"--vm-cpus", "2", "--help"}).action, Options::Action::kHelp);
  // A value spelled like a VM option is a value.
  o = MustParse({"-n", "1", "--trace", "--qemu", "p"});
  EXPECT_EQ(o.trace, "--qemu");
  EXPECT_FALSE(o.vm);
}

}  // namespace
}  // namespace dsm::launcher
