// Helpers shared by the launcher tests that run the dsm-run binary: the
// LauncherJob fixture starts dsm-run (with test/tools/fake_hostd.sh as the
// daemon unless a test says otherwise, and shell scripts as node programs),
// waits for it under a deadline, and checks that nothing of the job is left.
//
// Nothing here sleeps to wait for a condition: processes are waited for with
// pidfds and files with inotify, each under a deadline.
#pragma once

#include <fcntl.h>
#include <grp.h>
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

namespace dsm::launcher::testing {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

inline double Now() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

// No process with this pid at all (dsm-run reaped it, and nothing reused it).
inline bool Gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// Gone, or a zombie waiting for a parent that is not dsm-run (grandchildren
// of dsm-run are reparented when their parent dies).
inline bool DeadOrZombie(pid_t pid) {
  if (Gone(pid)) return true;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

// A grandchild is not dsm-run's to reap, and SIGKILL to its process group
// takes effect asynchronously: wait (on a pidfd, bounded) for it to exit.
inline bool ExitsWithin(pid_t pid, int timeout_ms) {
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
inline const std::string kPublishPid =
    R"(echo $$ > "$TEST_DIR/pid.$DSM_NODE_ID.tmp" && )"
    R"(mv "$TEST_DIR/pid.$DSM_NODE_ID.tmp" "$TEST_DIR/pid.$DSM_NODE_ID"; )";

// The stand-in daemon says "finished 0" right after "ready", as the real one
// does when node 0 finishes: the workers may then exit with status 0 before
// node 0. Without it, a worker exiting with status 0 is a failure.
inline const std::string kFinished = "FAKE_HOSTD_MODE=finished";

// The stand-in daemon writes "ready", then runs this shell code ($fd is its
// end of the pipe), e.g. to say "lost K" at a moment the nodes choose.
inline std::vector<std::string> HostdScript(const std::string& code) {
  return {"FAKE_HOSTD_MODE=script", "FAKE_HOSTD_SCRIPT=" + code};
}

// Waits until the process (not necessarily our child) has exited.
inline bool WaitForExit(pid_t pid, double max_seconds = 10) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) return errno == ESRCH;  // gone already
  pollfd p{fd.get(), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(max_seconds * 1000)) == 1;
}

// The lines of text that dsm-run itself wrote (the nodes may write too).
inline std::vector<std::string> DsmRunLines(const std::string& text) {
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
      if (run_as_uid_ >= 0 && (::setgroups(0, nullptr) != 0 || ::setgid(static_cast<gid_t>(run_as_uid_)) != 0 ||
                               ::setuid(static_cast<uid_t>(run_as_uid_)) != 0)) {
        ::_exit(125);
      }
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

  // dsm-run arguments for a job of `hosts` hosts with the fake daemon.
  static Args MultiJob(int nodes, int hosts, Args options, const std::string& script) {
    Args a = {"-n", std::to_string(nodes), "--hosts", std::to_string(hosts), "--hostd", FAKE_HOSTD_PATH};
    a.insert(a.end(), options.begin(), options.end());
    a.insert(a.end(), {"sh", "-c", script});
    return a;
  }

  // What the fake daemon of host K of several published (FAKE_HOSTD_ARGS
  // set to Path("hostd.args"); its pid always).
  std::vector<std::string> DaemonArgs(int host) const {
    return Lines(ReadFile(Path("hostd.args.h" + std::to_string(host))));
  }
  pid_t DaemonPid(int host) const { return PidOf("hostd.pid.h" + std::to_string(host)); }

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

  // The pid files of a job's daemons (one: "hostd.pid"; several:
  // "hostd.pid.h<K>") and nodes ("pid.<K>").
  static std::vector<std::string> PidFiles(int nodes, int hosts = 1) {
    std::vector<std::string> names;
    if (hosts == 1) names.push_back("hostd.pid");
    for (int h = 0; h < hosts && hosts > 1; ++h) names.push_back("hostd.pid.h" + std::to_string(h));
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
      bool is_pid = name == "hostd.pid" || name.starts_with("hostd.pid.h") || name.starts_with("pid.") ||
                    name.starts_with("gpid.");
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
  int run_as_uid_ = -1;          // >= 0: start dsm-run with this uid and gid (needs root)
};

}  // namespace dsm::launcher::testing
