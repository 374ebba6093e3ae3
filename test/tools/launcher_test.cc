// Tests of dsm-run: option parsing (in process) and job supervision (the
// real dsm-run binary, with test/tools/fake_hostd.sh as the daemon unless a
// test says otherwise, and shell scripts as node programs).
//
// Nothing here sleeps to wait for a condition: processes are waited for with
// pidfds and files with inotify, each under a deadline.
#include "launcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dsm/common/fd.h"

extern char** environ;

namespace dsm::launcher {
namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

// ---------------------------------------------------------------------------
// Option parsing.

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
  EXPECT_EQ(ParseError({"p"}), "missing option -n/--nodes (the number of nodes)");
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
                        "--stats", "--trace FILE", "--stack SIZE", "--hostd PATH", "--help", "--version", "DSM_SOCKET", "DSM_NODE_ID",
                        "DSM_NUM_NODES", "/dev/null", "Exit status", "124", "127", "128+S", "[node K] "}) {
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

// ---------------------------------------------------------------------------
// Job supervision, through the dsm-run binary.

double Now() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

// No process with this pid at all (dsm-run reaped it, and nothing reused it).
bool Gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// Gone, or a zombie waiting for a parent that is not dsm-run (grandchildren
// of dsm-run are reparented when their parent dies).
bool DeadOrZombie(pid_t pid) {
  if (Gone(pid)) return true;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

// A grandchild is not dsm-run's to reap, and SIGKILL to its process group
// takes effect asynchronously: wait (on a pidfd, bounded) for it to exit.
bool ExitsWithin(pid_t pid, int timeout_ms) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  ::close(fd);
  return r == 1 || DeadOrZombie(pid);
}

// Every node script starts with this: it publishes the node's pid.
const std::string kPublishPid =
    R"(echo $$ > "$TEST_DIR/pid.$DSM_NODE_ID.tmp" && )"
    R"(mv "$TEST_DIR/pid.$DSM_NODE_ID.tmp" "$TEST_DIR/pid.$DSM_NODE_ID"; )";

// The stand-in daemon says "finished 0" right after "ready", as the real one
// does when node 0 finishes: the workers may then exit with status 0 before
// node 0. Without it, a worker exiting with status 0 is a failure.
const std::string kFinished = "FAKE_HOSTD_MODE=finished";

// The stand-in daemon writes "ready", then runs this shell code ($fd is its
// end of the pipe), e.g. to say "lost K" at a moment the nodes choose.
std::vector<std::string> HostdScript(const std::string& code) {
  return {"FAKE_HOSTD_MODE=script", "FAKE_HOSTD_SCRIPT=" + code};
}

// Waits until the process (not necessarily our child) has exited.
bool WaitForExit(pid_t pid, double max_seconds = 10) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) return errno == ESRCH;  // gone already
  pollfd p{fd.get(), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(max_seconds * 1000)) == 1;
}

// The lines of text that dsm-run itself wrote (the nodes may write too).
std::vector<std::string> DsmRunLines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) {
    if (line.starts_with("dsm-run: ")) out.push_back(line);
  }
  return out;
}

struct Outcome {
  int status = -1;  // exit status, or 128+signal
  bool signaled = false;
  std::string out;
  std::string err;
  double end_time = 0;  // Now() when dsm-run was seen to end
  double seconds = 0;   // since Launch()
};

class LauncherJob : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/dsm-launcher-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    root_ = templ;
    tmpdir_ = root_ + "/tmp";
    fs::create_directory(tmpdir_);
  }

  void TearDown() override {
    // Leave nothing running even when a test failed.
    if (running_ > 0) {
      ::kill(running_, SIGKILL);
      ::waitpid(running_, nullptr, 0);
    }
    for (pid_t pid : AllPids()) ::kill(pid, SIGKILL);
    fs::remove_all(root_);
  }

  std::string Path(const std::string& name) const { return root_ + "/" + name; }

  // Starts dsm-run (or another binary) with the given arguments; its stdout
  // and stderr go to files, its stdin comes from stdin_text.
  pid_t Launch(const Args& args, const std::vector<std::string>& env = {}, const std::string& stdin_text = "",
               const std::string& binary = DSM_RUN_PATH) {
    std::ofstream(Path("stdin")) << stdin_text;
    std::vector<std::string> envs;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view v(*e);
      if (v.starts_with("TMPDIR=") || v.starts_with("TEST_DIR=") || v.starts_with("FAKE_HOSTD_") ||
          v.starts_with("DSM_LOG=")) {
        continue;
      }
      envs.emplace_back(v);
    }
    envs.push_back("TMPDIR=" + tmpdir_);
    envs.push_back("TEST_DIR=" + root_);
    envs.push_back("FAKE_HOSTD_PIDFILE=" + Path("hostd.pid"));
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<std::string> argv_s = {binary};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv, envp;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (auto& s : envs) envp.push_back(s.data());
    envp.push_back(nullptr);

    int in = ::open(Path("stdin").c_str(), O_RDONLY | O_CLOEXEC);
    int out = ::open(Path("out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = ::open(Path("err").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_TRUE(in >= 0 && out >= 0 && err >= 0);
    launched_at_ = Now();
    pid_t pid = ::fork();
    if (pid == 0) {
      if (ignore_sigchld_) ::signal(SIGCHLD, SIG_IGN);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execve(binary.c_str(), argv.data(), envp.data());
      ::_exit(126);
    }
    ::close(in);
    ::close(out);
    ::close(err);
    EXPECT_GT(pid, 0);
    running_ = pid;
    return pid;
  }

  // Waits for the launched process to end, at most max_seconds.
  Outcome Wait(double max_seconds = 15) {
    Outcome o;
    pid_t pid = running_;
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    EXPECT_TRUE(pidfd.valid()) << std::strerror(errno);
    double deadline = Now() + max_seconds;
    for (;;) {
      double left = deadline - Now();
      if (left <= 0) {
        ADD_FAILURE() << "dsm-run did not end within " << max_seconds << " s";
        ::kill(pid, SIGKILL);
        break;
      }
      pollfd p{pidfd.get(), POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(left * 1000) + 1);
      if (n > 0) break;
    }
    o.end_time = Now();
    o.seconds = o.end_time - launched_at_;
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    running_ = -1;
    if (WIFEXITED(status)) {
      o.status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      o.signaled = true;
      o.status = 128 + WTERMSIG(status);
    }
    o.out = ReadFile(Path("out"));
    o.err = ReadFile(Path("err"));
    return o;
  }

  Outcome Run(const Args& args, const std::vector<std::string>& env = {}, const std::string& stdin_text = "",
              double max_seconds = 15) {
    Launch(args, env, stdin_text);
    return Wait(max_seconds);
  }

  // dsm-run arguments with the fake daemon.
  static Args Job(int nodes, Args options, const std::string& script) {
    Args a = {"-n", std::to_string(nodes), "--hostd", FAKE_HOSTD_PATH};
    a.insert(a.end(), options.begin(), options.end());
    a.insert(a.end(), {"sh", "-c", script});
    return a;
  }

  // Waits (inotify, no polling loop with sleeps) until every named file
  // exists in root_.
  bool WaitForFiles(const std::vector<std::string>& names, double max_seconds = 10) {
    return WaitUntil(
        [&] {
          return std::all_of(names.begin(), names.end(),
                             [&](const std::string& n) { return fs::exists(Path(n)); });
        },
        "files did not appear", max_seconds);
  }

  // Waits until done() holds, checking it whenever something in root_ is
  // created, renamed or written.
  template <typename F>
  bool WaitUntil(F done, const char* what, double max_seconds) {
    UniqueFd in(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!in || ::inotify_add_watch(in.get(), root_.c_str(),
                                   IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_MODIFY) < 0) {
      ADD_FAILURE() << "inotify: " << std::strerror(errno);
      return false;
    }
    double deadline = Now() + max_seconds;
    for (;;) {
      if (done()) return true;
      double left = deadline - Now();
      if (left <= 0) {
        ADD_FAILURE() << what << " within " << max_seconds << " s";
        return false;
      }
      pollfd p{in.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left * 1000) + 1);
      char buf[4096];
      while (::read(in.get(), buf, sizeof buf) > 0) {
      }
    }
  }

  static std::vector<std::string> PidFiles(int nodes) {
    std::vector<std::string> names = {"hostd.pid"};
    for (int k = 0; k < nodes; ++k) names.push_back("pid." + std::to_string(k));
    return names;
  }

  pid_t PidOf(const std::string& name) const {
    std::string text = ReadFile(Path(name));
    return text.empty() ? -1 : static_cast<pid_t>(std::atoi(text.c_str()));
  }

  // Every pid a job of this test published: the daemon, nodes, grandchildren.
  std::map<std::string, pid_t> PublishedPids() const {
    std::map<std::string, pid_t> pids;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_, ec)) {
      std::string name = entry.path().filename();
      bool is_pid = name == "hostd.pid" || name.starts_with("pid.") || name.starts_with("gpid.");
      if (is_pid && !name.ends_with(".tmp")) {
        pid_t pid = PidOf(name);
        if (pid > 0) pids[name] = pid;
      }
    }
    return pids;
  }

  // Before another job in the same test.
  void ForgetPids() {
    for (const auto& [name, pid] : PublishedPids()) fs::remove(Path(name));
  }

  std::vector<pid_t> AllPids() const {
    std::vector<pid_t> v;
    for (auto& [name, pid] : PublishedPids()) v.push_back(pid);
    return v;
  }

  // Nothing of the job is left: no process, no temporary directory.
  void ExpectJobGone() {
    for (auto& [name, pid] : PublishedPids()) {
      if (name.starts_with("gpid.")) {
        EXPECT_TRUE(ExitsWithin(pid, 2000)) << name << " (pid " << pid << ") survived the job";
      } else {
        EXPECT_TRUE(Gone(pid)) << name << " (pid " << pid << ") survived the job or was not reaped";
      }
    }
    ExpectTmpEmpty();
  }

  void ExpectTmpEmpty() {
    std::vector<std::string> left;
    for (const auto& entry : fs::recursive_directory_iterator(tmpdir_)) left.push_back(entry.path());
    EXPECT_TRUE(left.empty()) << "left in TMPDIR: " << ::testing::PrintToString(left);
  }

  std::string root_;
  std::string tmpdir_;
  pid_t running_ = -1;
  double launched_at_ = 0;
  bool ignore_sigchld_ = false;  // start dsm-run with SIGCHLD ignored
};

TEST_F(LauncherJob, ExitStatusOfNode0IsTheJobsStatus) {
  Outcome o = Run(Job(1, {}, kPublishPid + "exit 7"), {kFinished});
  EXPECT_EQ(o.status, 7);
  EXPECT_EQ(o.err, "");
  ExpectJobGone();

  // The other nodes exit 0 as they do when told that the job finished,
  // possibly before node 0 is seen to exit.
  o = Run(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && exit 42; exit 0)"), {kFinished});
  EXPECT_EQ(o.status, 42);
  EXPECT_EQ(o.err, "");
  ExpectJobGone();

  o = Run(Job(2, {}, kPublishPid + "exit 0"), {kFinished});
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.err, "");
  ExpectJobGone();
}

// dsm-hostd says "attached K" before node K can go on; a node that exits
// without it never joined the job: the program is not linked with libdsm,
// and running N unrelated copies of it is not what was asked.
TEST_F(LauncherJob, NodeExitingWithoutJoiningTheJobIsAnError) {
  const std::string kNoAttach = "FAKE_HOSTD_ATTACH=none";
  Outcome o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && exit 0; exec sleep 100)"), {kNoAttach});
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("node 0 (pid " + std::to_string(PidOf("pid.0")) +
                       ") exited with status 0 without joining the job: is "),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("linked with libdsm"), std::string::npos) << o.err;
  ExpectJobGone();
  o = Run(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 2 ] && exit 9; exec sleep 100)"), {kNoAttach});
  EXPECT_EQ(o.status, 9);
  EXPECT_NE(o.err.find("node 2 (pid " + std::to_string(PidOf("pid.2")) +
                       ") exited with status 9 without joining the job"),
            std::string::npos)
      << o.err;
  ExpectJobGone();
  // Status 3 is the runtime's own failure exit (it says why itself, e.g. it
  // could not reach the daemon): a dsmkit program, not a foreign one.
  o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && exit 3; exec sleep 100)"), {kNoAttach});
  EXPECT_EQ(o.status, 3);
  EXPECT_EQ(o.err, "dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") exited with status 3 before the job finished; ending the job\n");
  ExpectJobGone();
  // A node killed before it joined is reported as killed.
  o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && kill -9 $$; exec sleep 100)"), {kNoAttach});
  EXPECT_EQ(o.status, 137);
  EXPECT_NE(o.err.find("was killed by signal 9"), std::string::npos) << o.err;
  ExpectJobGone();
}

TEST_F(LauncherJob, NodesStillRunningAfterNode0AreKilledAfterThreeSeconds) {
  Outcome o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && exit 5; exec sleep 100)"), {kFinished});
  EXPECT_EQ(o.status, 5);
  EXPECT_GE(o.seconds, 2.9);
  EXPECT_LT(o.seconds, 6.0);
  pid_t worker = PidOf("pid.1");
  EXPECT_NE(o.err.find("dsm-run: warning: node 1 (pid " + std::to_string(worker) +
                       ") still running 3 s after node 0 exited; killing it"),
            std::string::npos)
      << o.err;
  ExpectJobGone();
}

TEST_F(LauncherJob, NodeKilledBySigkillEndsTheJob) {
  Launch(Job(3, {}, kPublishPid + "exec sleep 100"));
  ASSERT_TRUE(WaitForFiles(PidFiles(3)));
  pid_t victim = PidOf("pid.2");
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  double killed_at = Now();
  Outcome o = Wait();
  EXPECT_LT(o.end_time - killed_at, 3.0);
  EXPECT_EQ(o.status, 128 + SIGKILL);
  EXPECT_FALSE(o.signaled);
  EXPECT_EQ(o.err, "dsm-run: node 2 (pid " + std::to_string(victim) +
                       ") was killed by signal 9 (Killed); ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, NodeKillingItselfEndsTheJob) {
  Outcome o = Run(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && kill -9 $$; exec sleep 100)"));
  EXPECT_EQ(o.status, 137);
  EXPECT_LT(o.seconds, 3.0);
  EXPECT_EQ(o.err, "dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") was killed by signal 9 (Killed); ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, Node0KilledBySignalIsAFailure) {
  Outcome o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && kill -TERM $$; exec sleep 100)"));
  EXPECT_EQ(o.status, 128 + SIGTERM);
  EXPECT_EQ(o.err, "dsm-run: node 0 (pid " + std::to_string(PidOf("pid.0")) +
                       ") was killed by signal 15 (Terminated); ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, WorkerExitingWithAnErrorEndsTheJob) {
  Outcome o = Run(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && exit 3; exec sleep 100)"));
  EXPECT_EQ(o.status, 3);
  EXPECT_LT(o.seconds, 3.0);
  EXPECT_EQ(o.err, "dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") exited with status 3 before the job finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, WorkerExitingWithZeroBeforeTheJobFinishedIsAFailure) {
  // The stand-in never says "finished": the job did not finish.
  Outcome o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && exit 0; exec sleep 100)"));
  EXPECT_EQ(o.status, 1);
  EXPECT_LT(o.seconds, 3.0);
  EXPECT_EQ(o.err, "dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") exited with status 0 before the job finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, WorkersExitingWithZeroAfterTheJobFinishedIsNormal) {
  // The daemon's lines come in pieces, among an unknown and an overlong line
  // (both ignored). The workers exit only once "finished 0" is written, as
  // with the real daemon, and node 0 only after they did.
  ASSERT_EQ(::mkfifo(Path("workers.gate").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo(Path("gate.0").c_str(), 0600), 0);
  Launch(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && { read x < "$TEST_DIR/gate.0"; exit 42; }; )"
                                  R"(read x < "$TEST_DIR/workers.gate"; exit 0)"),
         HostdScript(R"(printf 'some news\n' >&$fd; head -c 1000 /dev/zero | tr '\0' x >&$fd; )"
                     R"(printf '\nfini' >&$fd; printf 'shed 0\n' >&$fd; )"
                     R"(exec 5<> "$TEST_DIR/workers.gate"; printf 'go\ngo\n' >&5)"));
  ASSERT_TRUE(WaitForFiles(PidFiles(3)));
  ASSERT_TRUE(WaitForExit(PidOf("pid.1")));
  ASSERT_TRUE(WaitForExit(PidOf("pid.2")));
  UniqueFd gate(::open(Path("gate.0").c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(gate.valid()) << std::strerror(errno);
  ASSERT_EQ(::write(gate.get(), "go\n", 3), 3);
  Outcome o = Wait();
  EXPECT_EQ(o.status, 42);
  EXPECT_EQ(o.err, "");
  ExpectJobGone();
}

TEST_F(LauncherJob, LostNodeIsNamedNotTheNodesStoppingBecauseOfIt) {
  // As with the real daemon when node 2 dies: "lost 2", then node 1 exits
  // with status 3, and dsm-run sees that before node 2's own death.
  ASSERT_EQ(::mkfifo(Path("hostd.gate").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo(Path("gate.1").c_str(), 0600), 0);
  Launch(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && { echo > "$TEST_DIR/hostd.gate"; )"
                                  R"(read x < "$TEST_DIR/gate.1"; exit 3; }; exec sleep 100)"),
         HostdScript(R"(read x < "$TEST_DIR/hostd.gate"; printf 'lost 2\n' >&$fd; echo > "$TEST_DIR/gate.1")"));
  ASSERT_TRUE(WaitForFiles(PidFiles(3)));
  ASSERT_TRUE(WaitForExit(PidOf("pid.1")));
  pid_t victim = PidOf("pid.2");
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  Outcome o = Wait();
  EXPECT_EQ(o.status, 128 + SIGKILL);
  EXPECT_EQ(o.err, "dsm-run: node 2 (pid " + std::to_string(victim) +
                       ") was killed by signal 9 (Killed); ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, LostNodeThatKeepsRunningIsNamed) {
  // Node 1 left the job (say it detached) but does not exit; node 2 stops
  // with status 3 because of it.
  ASSERT_EQ(::mkfifo(Path("hostd.gate").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo(Path("gate.2").c_str(), 0600), 0);
  Launch(Job(3, {},
             kPublishPid + R"(case $DSM_NODE_ID in 1) echo > "$TEST_DIR/hostd.gate" ;; )"
                           R"(2) read x < "$TEST_DIR/gate.2"; exit 3 ;; esac; exec sleep 100)"),
         HostdScript(R"(read x < "$TEST_DIR/hostd.gate"; printf 'lost 1\n' >&$fd; echo > "$TEST_DIR/gate.2")"));
  Outcome o = Wait();
  EXPECT_EQ(o.status, 1);
  EXPECT_GE(o.seconds, kLostGraceMs / 1000.0);
  EXPECT_EQ(o.err, "dsm-run: node 1 (pid " + std::to_string(PidOf("pid.1")) +
                       ") left the job before it finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, Node0LeavingWithoutFinishingTheJobIsAFailure) {
  // Node 0 exits with status 0 but never told the daemon that the job
  // finished (think _exit): "lost 0". Whether dsm-run sees the line or the
  // exit first, the job failed.
  ASSERT_EQ(::mkfifo(Path("hostd.gate").c_str(), 0600), 0);
  Outcome o = Run(Job(2, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && { echo > "$TEST_DIR/hostd.gate"; )"
                                           R"(exit 0; }; exec sleep 100)"),
                  HostdScript(R"(read x < "$TEST_DIR/hostd.gate"; printf 'lost 0\n' >&$fd)"));
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err, "dsm-run: node 0 (pid " + std::to_string(PidOf("pid.0")) +
                       ") exited with status 0 before the job finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, InheritedIgnoredSigchldChangesNothing) {
  // With SIGCHLD ignored the kernel would reap the children at once.
  ignore_sigchld_ = true;
  Outcome o = Run(Job(3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 2 ] && exit 4; exec sleep 100)"));
  EXPECT_EQ(o.status, 4);
  EXPECT_EQ(o.err, "dsm-run: node 2 (pid " + std::to_string(PidOf("pid.2")) +
                       ") exited with status 4 before the job finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, TagOutputSplitsOverlongLines) {
  // 100000 characters without a newline: one piece of 65536, then the rest.
  Outcome o = Run(Job(1, {"--tag-output"}, "head -c 100000 /dev/zero | tr '\\0' x"), {kFinished});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out,
            "[node 0] " + std::string(65536, 'x') + "\n[node 0] " + std::string(100000 - 65536, 'x') + "\n");
}

TEST_F(LauncherJob, TimeoutEndsEveryProcessIncludingGrandchildren) {
  // Each node also starts a grandchild in the background, which only the
  // process group reaches.
  Launch(Job(2, {"--timeout", "1.5"},
             kPublishPid + R"(sleep 100 & echo $! > "$TEST_DIR/gpid.$DSM_NODE_ID.tmp" && )"
                           R"(mv "$TEST_DIR/gpid.$DSM_NODE_ID.tmp" "$TEST_DIR/gpid.$DSM_NODE_ID"; wait)"));
  std::vector<std::string> files = PidFiles(2);
  files.insert(files.end(), {"gpid.0", "gpid.1"});
  ASSERT_TRUE(WaitForFiles(files));
  Outcome o = Wait();
  EXPECT_EQ(o.status, 124);
  EXPECT_EQ(o.err, "dsm-run: timeout after 1.5 s; ending the job\n");
  EXPECT_GE(o.seconds, 1.5);
  EXPECT_LT(o.seconds, 4.5);
  EXPECT_EQ(PublishedPids().size(), 5u);
  ExpectJobGone();
}

TEST_F(LauncherJob, SignalsToDsmRunEndTheJob) {
  for (int sig : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(::strsignal(sig));
    ForgetPids();
    pid_t dsm_run = Launch(Job(2, {}, kPublishPid + "exec sleep 100"));
    ASSERT_TRUE(WaitForFiles(PidFiles(2)));
    ASSERT_EQ(::kill(dsm_run, sig), 0);
    double sent_at = Now();
    Outcome o = Wait();
    EXPECT_LT(o.end_time - sent_at, 3.0);
    EXPECT_EQ(o.status, 128 + sig);
    EXPECT_FALSE(o.signaled) << "dsm-run must exit, not die";
    EXPECT_EQ(o.err, "dsm-run: received signal " + std::to_string(sig) + " (" + ::strsignal(sig) +
                         "); ending the job\n");
    ExpectJobGone();
  }
}

TEST_F(LauncherJob, TagOutputPrefixesAndKeepsEveryLine) {
  constexpr int kNodes = 4;
  constexpr int kLines = 1000;
  std::string script =
      R"(i=0; while [ $i -lt 1000 ]; do echo "out $DSM_NODE_ID $i"; echo "err $DSM_NODE_ID $i" >&2; )"
      R"(i=$((i+1)); done; printf "outtail $DSM_NODE_ID"; printf "errtail $DSM_NODE_ID" >&2)";
  Outcome o = Run(Job(kNodes, {"--tag-output"}, script), {kFinished});
  EXPECT_EQ(o.status, 0) << o.err.substr(0, 2000);
  for (const auto& [stream, text] : {std::pair<std::string, std::string>{"out", o.out}, {"err", o.err}}) {
    SCOPED_TRACE(stream);
    ASSERT_TRUE(text.empty() || text.back() == '\n');
    std::set<std::string> expected;
    for (int k = 0; k < kNodes; ++k) {
      std::string prefix = "[node " + std::to_string(k) + "] ";
      for (int i = 0; i < kLines; ++i)
        expected.insert(prefix + stream + " " + std::to_string(k) + " " + std::to_string(i));
      expected.insert(prefix + stream + "tail " + std::to_string(k));
    }
    std::vector<std::string> lines = Lines(text);
    EXPECT_EQ(lines.size(), expected.size());
    std::set<std::string> seen;
    for (const std::string& line : lines) {
      EXPECT_TRUE(expected.count(line)) << "unexpected line: " << line;
      EXPECT_TRUE(seen.insert(line).second) << "duplicate line: " << line;
    }
    EXPECT_EQ(seen.size(), expected.size());
    // Each node's lines stay in order.
    std::map<int, int> next;
    for (const std::string& line : lines) {
      int k = -1, i = -1;
      if (std::sscanf(line.c_str(), ("[node %d] " + stream + " %*d %d").c_str(), &k, &i) == 2) {
        EXPECT_EQ(i, next[k]) << line;
        next[k] = i + 1;
      }
    }
  }
  ExpectJobGone();
}

TEST_F(LauncherJob, WithoutTagOutputNodesShareTheStreams) {
  Outcome o = Run(Job(2, {}, R"(echo "plain $DSM_NODE_ID"; echo "oops $DSM_NODE_ID" >&2)"), {kFinished});
  EXPECT_EQ(o.status, 0);
  std::vector<std::string> out = Lines(o.out), err = Lines(o.err);
  std::sort(out.begin(), out.end());
  std::sort(err.begin(), err.end());
  EXPECT_EQ(out, (std::vector<std::string>{"plain 0", "plain 1"}));
  EXPECT_EQ(err, (std::vector<std::string>{"oops 0", "oops 1"}));
}

TEST_F(LauncherJob, StdinReachesNode0Only) {
  Outcome o = Run(Job(3, {}, R"(cat > "$TEST_DIR/in.$DSM_NODE_ID")"), {kFinished}, "hello\nworld\n");
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(ReadFile(Path("in.0")), "hello\nworld\n");
  EXPECT_EQ(ReadFile(Path("in.1")), "");
  EXPECT_EQ(ReadFile(Path("in.2")), "");
  ExpectJobGone();
}

TEST_F(LauncherJob, NodeEnvironmentAndDaemonCommandLine) {
  Outcome o = Run(Job(3, {"--memory", "256M", "--stats"},
                      R"(echo "$DSM_SOCKET $DSM_NODE_ID $DSM_NUM_NODES" > "$TEST_DIR/env.$DSM_NODE_ID")"),
                  {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args"), "DSM_NODE_ID=99", "DSM_SOCKET=/wrong"});
  EXPECT_EQ(o.status, 0) << o.err;
  std::vector<std::string> args = Lines(ReadFile(Path("hostd.args")));
  ASSERT_EQ(args.size(), 10u) << ::testing::PrintToString(args);
  std::string socket = args[1];
  EXPECT_EQ(args, (std::vector<std::string>{"--socket", socket, "--nodes", "3", "--memory", "268435456",
                                            "--ready-fd", "3", "--exit-when-done", "--stats"}));
  EXPECT_TRUE(socket.starts_with(tmpdir_ + "/dsm-")) << socket;
  EXPECT_TRUE(socket.ends_with("/hostd.sock")) << socket;
  EXPECT_EQ(fs::path(socket).parent_path().parent_path(), fs::path(tmpdir_));
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(ReadFile(Path("env." + std::to_string(k))), socket + " " + std::to_string(k) + " 3\n");
  }
  // The fake daemon created the socket path; dsm-run removed it and the dir.
  ExpectJobGone();
}

TEST_F(LauncherJob, DaemonExitingBeforeReadyIsAStartFailure) {
  Outcome o = Run(Job(2, {}, kPublishPid + "exit 0"), {"FAKE_HOSTD_MODE=fail"});
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("dsm-run: error: dsm-hostd failed to start (exited with status 2)\n"),
            std::string::npos)
      << o.err;
  EXPECT_FALSE(fs::exists(Path("pid.0"))) << "a node was started";
  ExpectJobGone();
}

TEST_F(LauncherJob, DaemonClosingReadyFdIsAStartFailure) {
  Outcome o = Run(Job(2, {}, kPublishPid + "exit 0"), {"FAKE_HOSTD_MODE=close"});
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err,
            "dsm-run: error: dsm-hostd failed to start (it closed its --ready-fd without writing 'ready')\n");
  EXPECT_FALSE(fs::exists(Path("pid.0"))) << "a node was started";
  EXPECT_TRUE(fs::exists(Path("hostd.pid")));
  ExpectJobGone();
}

TEST_F(LauncherJob, DaemonDyingDuringTheJobEndsIt) {
  Outcome o = Run(Job(2, {}, kPublishPid + "exec sleep 100"), {"FAKE_HOSTD_MODE=die"});
  EXPECT_EQ(o.status, 3);
  EXPECT_LT(o.seconds, 3.0);
  EXPECT_EQ(o.err, "dsm-run: dsm-hostd (pid " + std::to_string(PidOf("hostd.pid")) +
                       ") exited with status 3 before the job finished; ending the job\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, ExecFailureGives127) {
  std::string prog = Path("not-a-binary");
  std::ofstream(prog) << "echo no shebang\n";
  ::chmod(prog.c_str(), 0755);
  Args args = {"-n", "2", "--hostd", FAKE_HOSTD_PATH, prog};
  Outcome o = Run(args);
  EXPECT_EQ(o.status, 127);
  EXPECT_EQ(o.err, "dsm-run: error: cannot execute " + prog + ": Exec format error\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, UsageErrorsStartNothing) {
  std::string noexec = Path("noexec");
  std::ofstream(noexec) << "#!/bin/sh\n";
  const std::vector<std::pair<Args, std::string>> cases = {
      {{}, "missing option -n/--nodes (the number of nodes)"},
      {{"-n", "0", "sh"}, "invalid value '0' for -n: the number of nodes must be 1 to 1024"},
      {{"-n", "two", "sh"}, "invalid value 'two' for -n: not a number"},
      {{"-n", "2", "--bogus", "sh"}, "unknown option '--bogus'"},
      {{"-n", "2", "--hostd", FAKE_HOSTD_PATH}, "missing program to run"},
      {{"-n", "2", "--hostd", FAKE_HOSTD_PATH, "/nonexistent/prog"},
       "cannot run '/nonexistent/prog': No such file or directory"},
      {{"-n", "2", "--hostd", FAKE_HOSTD_PATH, "no-such-program-anywhere"},
       "program 'no-such-program-anywhere' not found in PATH"},
      {{"-n", "2", "--hostd", FAKE_HOSTD_PATH, noexec}, "cannot run '" + noexec + "': Permission denied"},
      {{"-n", "2", "--hostd", "/nonexistent/hostd", "sh"},
       "dsm-hostd: cannot run '/nonexistent/hostd': No such file or directory"},
  };
  for (const auto& [args, message] : cases) {
    SCOPED_TRACE(::testing::PrintToString(args));
    Outcome o = Run(args);
    EXPECT_EQ(o.status, 2);
    EXPECT_EQ(o.err, "dsm-run: error: " + message + "\nTry 'dsm-run --help'.\n");
    EXPECT_EQ(o.out, "");
    EXPECT_FALSE(fs::exists(Path("hostd.pid"))) << "the daemon was started";
    ExpectTmpEmpty();
  }
}

TEST_F(LauncherJob, HelpAndVersion) {
  Outcome o = Run({"--help"});
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out, UsageText());
  EXPECT_EQ(o.err, "");
  o = Run({"--version"});
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out, "dsm-run (dsmkit) 0.1.0\n");
}

TEST_F(LauncherJob, DefaultDaemonIsNextToDsmRun) {
  // A copy of dsm-run (not a symlink: /proc/self/exe resolves those) with the
  // fake daemon beside it as dsm-hostd.
  fs::create_directory(Path("bin"));
  fs::copy_file(DSM_RUN_PATH, Path("bin/dsm-run"));
  fs::create_symlink(FAKE_HOSTD_PATH, Path("bin/dsm-hostd"));
  Launch({"-n", "1", "sh", "-c", "exit 6"}, {}, "", Path("bin/dsm-run"));
  Outcome o = Wait();
  EXPECT_EQ(o.status, 6) << o.err;
  EXPECT_TRUE(fs::exists(Path("hostd.pid"))) << "the default daemon did not run";
  ExpectJobGone();

  fs::remove(Path("bin/dsm-hostd"));
  Launch({"-n", "1", "sh", "-c", "exit 6"}, {}, "", Path("bin/dsm-run"));
  o = Wait();
  EXPECT_EQ(o.status, 2);
  EXPECT_EQ(o.err, "dsm-run: error: dsm-hostd: cannot run '" + Path("bin/dsm-hostd") +
                       "': No such file or directory (use --hostd PATH)\nTry 'dsm-run --help'.\n");
}

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
// A real dsmkit node killed mid-job: dsm-run names it, and only it, although
// the other nodes exit with status 3 ("node 2 left the job") at once.
TEST_F(LauncherJob, RealDaemonNamesTheKilledNodeOnly) {
  if (!fs::exists(DSM_HOSTD_PATH)) GTEST_SKIP() << DSM_HOSTD_PATH << " is not built";
  Launch({"-n", "4", "--memory", "64M", "--hostd", DSM_HOSTD_PATH, DSM_TEST_SPIN_PATH});
  std::map<int, pid_t> pids;
  ASSERT_TRUE(WaitUntil(
      [&] {
        pids.clear();
        std::stringstream ss(ReadFile(Path("out")));
        std::string tag;
        int node, pid;
        while (ss >> tag >> node >> pid) {
          if (tag == "spin-ready") pids[node] = pid;
        }
        return pids.size() == 4;
      },
      "the nodes did not start", 10));
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
#endif

}  // namespace
}  // namespace dsm::launcher
