#include "netns_run.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace dsm::launcher::testing {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string Describe(const RunResult& r) {
  return "status " + std::to_string(r.status) + (r.timed_out ? " (timed out)" : "") + " after " +
         std::to_string(r.seconds) + " s\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

ChildRestore CurrentChildRestore() {
  ChildRestore restore;
  ::sigprocmask(SIG_SETMASK, nullptr, &restore.mask);
  ::sigaction(SIGPIPE, nullptr, &restore.sigpipe);
  ::sigaction(SIGCHLD, nullptr, &restore.sigchld);
  ::getrlimit(RLIMIT_NOFILE, &restore.nofile);
  return restore;
}

std::vector<std::string> TestEnvironment(const std::vector<std::string>& drop, const std::vector<std::string>& add) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string v = *e;
    bool dropped = false;
    for (const std::string& prefix : drop) dropped = dropped || v.starts_with(prefix);
    if (!dropped) env.push_back(v);
  }
  env.insert(env.end(), add.begin(), add.end());
  return env;
}

int MsLeft(steady_clock::time_point end) {
  auto ms = std::chrono::duration_cast<milliseconds>(end - steady_clock::now()).count();
  return ms < 0 ? 0 : static_cast<int>(ms);
}

NetnsRun::NetnsRun(const std::vector<std::string>& argv, std::vector<std::string> env, int netns_fd,
                   const ChildRestore& restore, const std::string& stdin_path) {
  start_ = steady_clock::now();
  if (argv.empty()) {
    r_.err = "NetnsRun: no command";
    return;
  }
  std::vector<char*> envp = StringPointers(env);
  std::vector<std::string> args = argv;
  int o[2], e[2];
  if (::pipe2(o, O_CLOEXEC) != 0) {
    r_.err = std::string("pipe2: ") + std::strerror(errno);
    return;
  }
  out_.reset(o[0]);
  UniqueFd out_w(o[1]);
  if (::pipe2(e, O_CLOEXEC) != 0) {
    r_.err = std::string("pipe2: ") + std::strerror(errno);
    out_.reset();
    return;
  }
  err_.reset(e[0]);
  UniqueFd err_w(e[1]);
  UniqueFd in(::open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC));
  SpawnSpec spec;
  spec.path = args[0].c_str();
  spec.argv = StringPointers(args);
  spec.envp = envp.data();
  spec.stdin_fd = in.get();
  spec.stdout_fd = out_w.get();
  spec.stderr_fd = err_w.get();
  spec.pgid = 0;
  spec.netns_fd = netns_fd;
  spec.restore = &restore;
  auto r = Spawn(spec);
  if (!r.ok()) {
    r_.err = r.status().message();
    out_.reset();
    err_.reset();
    return;
  }
  pid_ = r->pid;
  pidfd_ = std::move(r->pidfd);
}

NetnsRun::~NetnsRun() {
  if (pid_ > 0 && !exited_) ::kill(pid_, SIGKILL);
  if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
}

bool NetnsRun::Pump(int timeout_ms) {
  pollfd p[3];
  nfds_t n = 0;
  if (out_) p[n++] = pollfd{out_.get(), POLLIN, 0};
  if (err_) p[n++] = pollfd{err_.get(), POLLIN, 0};
  if (!exited_ && pidfd_) p[n++] = pollfd{pidfd_.get(), POLLIN, 0};
  if (n == 0) return false;
  if (::poll(p, n, timeout_ms) <= 0) return true;
  for (nfds_t i = 0; i < n; ++i) {
    if (p[i].revents == 0) continue;
    if (p[i].fd == pidfd_.get()) {
      exited_ = true;
      exit_time_ = steady_clock::now();
      continue;
    }
    char buf[4096];
    ssize_t got = ::read(p[i].fd, buf, sizeof buf);
    bool is_out = out_ && p[i].fd == out_.get();
    if (got > 0) {
      (is_out ? r_.out : r_.err).append(buf, static_cast<size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      (is_out ? out_ : err_).reset();
    }
  }
  return true;
}

bool NetnsRun::WaitForLines(const std::string& text, int count, milliseconds deadline) {
  auto end = steady_clock::now() + deadline;
  for (;;) {
    int seen = 0;
    for (size_t at = r_.out.find(text); at != std::string::npos; at = r_.out.find(text, at + 1)) ++seen;
    if (seen >= count) return true;
    int ms = MsLeft(end);
    if (ms <= 0 || (!out_ && exited_)) return false;
    if (!Pump(ms)) return false;
  }
}

RunResult NetnsRun::WaitSince(steady_clock::time_point since, milliseconds deadline) {
  auto end = steady_clock::now() + deadline;
  while (out_ || err_ || !exited_) {
    int ms = MsLeft(end);
    if (ms <= 0) {
      r_.timed_out = true;
      if (pid_ > 0) ::kill(pid_, SIGKILL);
      break;
    }
    if (!Pump(ms)) break;
  }
  int status = 0;
  if (pid_ > 0 && ::waitpid(pid_, &status, 0) == pid_) {
    exited_ = true;
    pid_ = -1;
    r_.status = WIFEXITED(status) && !r_.timed_out ? WEXITSTATUS(status) : -1;
  }
  if (exit_time_ == steady_clock::time_point{}) exit_time_ = steady_clock::now();
  r_.seconds = std::chrono::duration<double>(exit_time_ - since).count();
  return r_;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ino_t InodeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

std::string Comm(pid_t pid) {
  std::string s = ReadAll("/proc/" + std::to_string(pid) + "/comm");
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::string CommandLine(pid_t pid) {
  std::string s = ReadAll("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : s) {
    if (c == '\0') c = ' ';
  }
  return s;
}

std::vector<pid_t> ProcessesInNetns(const std::string& netns) {
  std::vector<pid_t> pids;
  ino_t ns = InodeOf("/run/netns/" + netns);
  if (ns == 0) return pids;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return pids;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    if (InodeOf("/proc/" + std::to_string(pid) + "/ns/net") == ns) pids.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return pids;
}

std::string WaitUntilGone(const std::function<std::vector<pid_t>()>& left_now, milliseconds deadline) {
  auto end = steady_clock::now() + deadline;
  for (;;) {
    std::vector<pid_t> left = left_now();
    if (left.empty()) return "";
    std::vector<UniqueFd> fds;
    std::vector<pollfd> p;
    for (pid_t pid : left) {
      fds.emplace_back(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
      if (fds.back().valid()) p.push_back(pollfd{fds.back().get(), POLLIN, 0});
    }
    int ms = MsLeft(end);
    if (ms <= 0 || (!p.empty() && ::poll(p.data(), p.size(), ms) == 0)) {
      std::string what;
      for (pid_t pid : left) what += std::to_string(pid) + ": " + CommandLine(pid).substr(0, 200) + "\n";
      return what;
    }
  }
}

std::string ListDir(const std::string& dir) {
  std::string what;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") what += dir + "/" + name + "\n";
    }
    ::closedir(d);
  }
  return what;
}

void RemoveTree(const std::string& path) {
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string p = path + "/" + name;
      if (::unlink(p.c_str()) != 0 && errno == EISDIR) RemoveTree(p);
    }
    ::closedir(d);
  }
  ::rmdir(path.c_str());
}

}  // namespace dsm::launcher::testing
