#include "spawn.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "options.h"

namespace dsm::launcher {
namespace {

// Between fork and exec: system calls only (the parent may have been in the
// middle of anything).
[[noreturn]] void ExecChild(const SpawnSpec& s, pid_t parent, int err_fd) {
  if (err_fd <= kStatusFdInChild) err_fd = ::fcntl(err_fd, F_DUPFD_CLOEXEC, kStatusFdInChild + 1);
  if (s.pgid >= 0) ::setpgid(0, s.pgid);
  // Die with dsm-run; if it is already gone, the signal will never come.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(kExitFailure);
  int err = 0;
  if (s.stdin_fd >= 0 && ::dup2(s.stdin_fd, STDIN_FILENO) < 0) err = errno;
  if (s.stdout_fd >= 0 && ::dup2(s.stdout_fd, STDOUT_FILENO) < 0) err = errno;
  if (s.stderr_fd >= 0 && ::dup2(s.stderr_fd, STDERR_FILENO) < 0) err = errno;
  if (s.status_fd >= 0) {
    if (s.status_fd == kStatusFdInChild) {
      if (::fcntl(kStatusFdInChild, F_SETFD, 0) != 0) err = errno;
    } else if (::dup2(s.status_fd, kStatusFdInChild) < 0) {
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
