#include "spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "options.h"

extern char** environ;

namespace dsm::launcher {
namespace {

// Between fork and exec: system calls only (the parent may have been in the
// middle of anything).
[[noreturn]] void ExecChild(const SpawnSpec& s, pid_t parent, int err_fd) {
  if (err_fd <= kKeysFdInChild) err_fd = ::fcntl(err_fd, F_DUPFD_CLOEXEC, kKeysFdInChild + 1);
  if (s.pgid >= 0) ::setpgid(0, s.pgid);
  // Die with dsm-run; if it is already gone, the signal will never come.
  if (::prctl(PR_SET_PDEATHSIG, s.death_signal) != 0 || ::getppid() != parent) ::_exit(kExitFailure);
  int err = 0;
  if (s.stdin_fd >= 0 && ::dup2(s.stdin_fd, STDIN_FILENO) < 0) err = errno;
  if (s.stdout_fd >= 0 && ::dup2(s.stdout_fd, STDOUT_FILENO) < 0) err = errno;
  if (s.stderr_fd >= 0 && ::dup2(s.stderr_fd, STDERR_FILENO) < 0) err = errno;
  // A key pipe where the status pipe goes moves out of its way first.
  int keys_fd = s.keys_fd;
  if (keys_fd == kStatusFdInChild && (keys_fd = ::fcntl(keys_fd, F_DUPFD_CLOEXEC, kKeysFdInChild + 1)) < 0) {
    err = errno;
  }
  if (s.status_fd >= 0) {
    if (s.status_fd == kStatusFdInChild) {
      if (::fcntl(kStatusFdInChild, F_SETFD, 0) != 0) err = errno;
    } else if (::dup2(s.status_fd, kStatusFdInChild) < 0) {
      err = errno;
    }
  }
  if (keys_fd >= 0) {
    if (keys_fd == kKeysFdInChild) {
      if (::fcntl(kKeysFdInChild, F_SETFD, 0) != 0) err = errno;
    } else if (::dup2(keys_fd, kKeysFdInChild) < 0) {
      err = errno;
    }
  }
  for (int fd : s.keep_fds) {
    if (err == 0 && ::fcntl(fd, F_SETFD, 0) != 0) err = errno;
  }
  if (err == 0 && s.nice != 0 && ::setpriority(PRIO_PROCESS, 0, s.nice) != 0) err = errno;
  if (err == 0 && s.netns_fd >= 0 && ::setns(s.netns_fd, CLONE_NEWNET) != 0) err = errno;
  if (err == 0 && s.same_addresses) {
    int persona = ::personality(0xffffffff);
    if (persona == -1 || ::personality(static_cast<unsigned long>(persona) | ADDR_NO_RANDOMIZE) == -1) {
      err = errno;
    }
  }
  if (err == 0) {
    ::sigprocmask(SIG_SETMASK, &s.restore->mask, nullptr);
    ::sigaction(SIGPIPE, &s.restore->sigpipe, nullptr);
    ::sigaction(SIGCHLD, &s.restore->sigchld, nullptr);
    ::setrlimit(RLIMIT_NOFILE, &s.restore->nofile);
    ::execve(s.path, s.argv.data(), s.envp);
    err = errno;
  }
  ssize_t ignored = ::write(err_fd, &err, sizeof err);
  (void)ignored;
  ::_exit(kExitCannotExec);
}

}  // namespace

Result<Spawned> Spawn(const SpawnSpec& spec) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno("pipe2");
  UniqueFd err_r(p[0]);
  UniqueFd err_w(p[1]);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno("fork");
  if (pid == 0) ExecChild(spec, parent, err_w.get());
  err_w.reset();
  // Also here, so that the group exists whoever runs first.
  if (spec.pgid >= 0) ::setpgid(pid, spec.pgid == 0 ? pid : spec.pgid);
  // The child cannot be reaped behind our back, so its pid is stable.
  Spawned out;
  out.pid = pid;
  out.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  int pidfd_errno = errno;
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_r.get(), &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) out.exec_errno = exec_errno != 0 ? exec_errno : EIO;
  if (!out.pidfd) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return Status::FromErrno("pidfd_open", pidfd_errno);
  }
  return out;
}

Status RunTool(const std::vector<std::string>& argv, const std::string& input, int64_t timeout_ms,
               const ChildRestore& restore) {
  int in[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return Status::FromErrno("pipe2");
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return Status::FromErrno("pipe2");
  UniqueFd err_r(err[0]), err_w(err[1]);
  UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (!devnull) return Status::FromErrno("open /dev/null");

  std::vector<std::string> args = argv;
  SpawnSpec spec;
  spec.path = args[0].c_str();
  spec.argv = StringPointers(args);
  spec.envp = environ;
  spec.stdin_fd = in_r.get();
  spec.stdout_fd = devnull.get();
  spec.stderr_fd = err_w.get();
  spec.pgid = 0;
  spec.restore = &restore;
  auto r = Spawn(spec);
  in_r.reset();
  err_w.reset();
  if (!r.ok()) return r.status();
  std::string what = argv[0];
  if (r->exec_errno != 0) {
    ::waitpid(r->pid, nullptr, 0);
    return Status(r->exec_errno, "cannot execute " + what + ": " + std::strerror(r->exec_errno));
  }
  ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);

  // Feed its input and collect its complaints until it exits or time is up.
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t deadline_ms = static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000 + timeout_ms;
  size_t written = 0;
  if (input.empty()) in_w.reset();
  std::string errors;
  bool exited = false;
  while (!exited || err_r) {
    pollfd fds[3];
    nfds_t n = 0;
    if (!exited) fds[n++] = pollfd{r->pidfd.get(), POLLIN, 0};
    if (err_r) fds[n++] = pollfd{err_r.get(), POLLIN, 0};
    if (in_w) fds[n++] = pollfd{in_w.get(), POLLOUT, 0};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t left = deadline_ms - (static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000);
    if (left <= 0) {
      ::kill(r->pid, SIGKILL);
      ::waitpid(r->pid, nullptr, 0);
      return Status(ETIMEDOUT, what + " did not finish within " + std::to_string(timeout_ms / 1000) + " s");
    }
    if (::poll(fds, n, static_cast<int>(left)) < 0 && errno != EINTR) return Status::FromErrno("poll");
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == r->pidfd.get()) {
        exited = true;
      } else if (err_r && fds[i].fd == err_r.get()) {
        char buf[4096];
        ssize_t got = ::read(err_r.get(), buf, sizeof buf);
        if (got > 0) {
          if (errors.size() < 4096) errors.append(buf, static_cast<size_t>(got));
        } else if (got == 0 || errno != EINTR) {
          err_r.reset();
        }
      } else if (in_w && fds[i].fd == in_w.get()) {
        ssize_t put = ::write(in_w.get(), input.data() + written, input.size() - written);
        if (put > 0) written += static_cast<size_t>(put);
        if ((put < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) in_w.reset();
      }
    }
  }
  int status = 0;
  ::waitpid(r->pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  ExitInfo e{WIFSIGNALED(status), WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), false};
  while (!errors.empty() && (errors.back() == '\n' || errors.back() == ' ')) errors.pop_back();
  std::replace(errors.begin(), errors.end(), '\n', ' ');
  return Status(EIO, what + " " + Describe(e) + (errors.empty() ? "" : ": " + errors));
}

std::vector<char*> StringPointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  p.reserve(strings.size() + 1);
  for (std::string& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

Result<std::optional<ExitInfo>> PeekExit(pid_t pid) {
  siginfo_t si{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return Status::FromErrno("waitid");
  }
  if (si.si_pid == 0) return std::optional<ExitInfo>();
  ExitInfo e;
  e.signaled = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
  e.core = si.si_code == CLD_DUMPED;
  e.value = si.si_status;
  return std::optional<ExitInfo>(e);
}

std::string SignalText(int sig) {
  const char* name = ::strsignal(sig);
  return "signal " + std::to_string(sig) + " (" + (name != nullptr ? name : "?") + ")";
}

std::string Describe(const ExitInfo& e) {
  if (e.signaled) return "was killed by " + SignalText(e.value) + (e.core ? " (core dumped)" : "");
  return "exited with status " + std::to_string(e.value);
}

}  // namespace dsm::launcher
