#include "process_group.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dsm_bench {

namespace {

// One message driver -> parent; smaller than PIPE_BUF, so written atomically.
struct Reply {
  int64_t value;   // >= 0: ok (elapsed ns for a batch); < 0: error in text
  int64_t cpu_ns;  // CPU time of the batch
  char text[240];
};

int64_t Now(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void SendReply(int fd, int64_t value, int64_t cpu_ns, const std::string& text) {
  Reply r{};
  r.value = value;
  r.cpu_ns = cpu_ns;
  std::snprintf(r.text, sizeof r.text, "%s", text.c_str());
  (void)WriteAll(fd, &r, sizeof r);
}

// poll() on one fd with a timeout, retrying on EINTR. 1 ready, 0 timeout, -1 error.
int WaitReadable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? -1 : (n > 0 ? 1 : 0);
  }
}

std::string DescribeExit(int status) {
  char buf[96];
  if (WIFEXITED(status)) {
    std::snprintf(buf, sizeof buf, "exited with status %d", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    std::snprintf(buf, sizeof buf, "was killed by signal %d (%s)", WTERMSIG(status),
                  strsignal(WTERMSIG(status)));
  } else {
    std::snprintf(buf, sizeof buf, "ended with wait status 0x%x", status);
  }
  return buf;
}

}  // namespace

bool WriteAll(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Reads exactly len bytes; false on end of file or error.
bool ReadAll(int fd, void* data, size_t len) {
  char* p = static_cast<char*>(data);
  while (len > 0) {
    ssize_t n = ::read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

std::string PinToCpu(int cpu) {
  if (cpu == kAnyCpu) return "";
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    return "sched_setaffinity(CPU " + std::to_string(cpu) + "): " + std::strerror(errno);
  }
  return "";
}

int UsableCpus() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return CPU_COUNT(&set);
}

ProcessGroup::~ProcessGroup() { Abort(); }

pid_t ProcessGroup::ForkChild(const std::string& what, int cpu) {
  std::fflush(nullptr);  // nothing buffered may be written twice
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return pid;
  if (pid == 0) {
    // Die with the benchmark process (interrupted, crashed) instead of
    // finishing a long batch as an orphan; the check covers a parent that
    // died before the prctl.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(121);
    if (std::string e = PinToCpu(cpu); !e.empty()) {
      std::fprintf(stderr, "dsm_micro: %s: %s\n", what.c_str(), e.c_str());
      ::_exit(120);
    }
    return 0;
  }
  Child c;
  c.what = what;
  c.pid = pid;
  // glibc 2.36's <sys/pidfd.h> lacks C linkage for C++: the raw system call.
  // -1 on kernels before 5.3: Reap then blocks without a bound.
  c.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  children_.push_back(std::move(c));
  return pid;
}

std::string ProcessGroup::Spawn(const std::string& what, int cpu, std::function<int()> fn) {
  pid_t pid = ForkChild(what, cpu);
  if (pid < 0) return "fork " + what + ": " + std::strerror(errno);
  if (pid == 0) {
    int rc = fn();
    std::fflush(nullptr);
    ::_exit(rc);
  }
  return "";
}

std::string ProcessGroup::SpawnAndWaitReady(const std::string& what, int cpu,
                                            std::function<int(const ReadyFn& ready)> fn) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  pid_t pid = ForkChild(what, cpu);
  if (pid < 0) {
    ::close(p[0]);
    ::close(p[1]);
    return "fork " + what + ": " + std::strerror(errno);
  }
  if (pid == 0) {
    ::close(p[0]);
    int fd = p[1];
    ReadyFn ready = [&fd](const std::string& error) {
      if (fd < 0) return;
      SendReply(fd, error.empty() ? 0 : -1, 0, error);
      ::close(fd);
      fd = -1;
    };
    int rc = fn(ready);
    std::fflush(nullptr);
    ::_exit(rc);
  }
  ::close(p[1]);
  std::string error;
  int r = WaitReadable(p[0], timeout_ms_);
  Reply reply{};
  if (r == 0) {
    error = what + " (pid " + std::to_string(pid) + ") was not ready within " +
            std::to_string(timeout_ms_ / 1000) + " s";
  } else if (r < 0 || !ReadAll(p[0], &reply, sizeof reply)) {
    error = what + " (pid " + std::to_string(pid) + ") ended before it was ready";
  } else if (reply.value < 0) {
    error = what + ": " + reply.text;
  }
  ::close(p[0]);
  return error;
}

std::string ProcessGroup::StartDriver(const std::string& what, int cpu, DriverOps ops) {
  if (driver_ != SIZE_MAX) return "a group has one driver";
  int cmd[2], res[2];
  if (::pipe2(cmd, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  if (::pipe2(res, O_CLOEXEC) != 0) {
    ::close(cmd[0]);
    ::close(cmd[1]);
    return std::string("pipe: ") + std::strerror(errno);
  }
  pid_t pid = ForkChild(what, cpu);
  if (pid < 0) {
    for (int fd : {cmd[0], cmd[1], res[0], res[1]}) ::close(fd);
    return "fork " + what + ": " + std::strerror(errno);
  }
  if (pid == 0) {
    ::close(cmd[1]);
    ::close(res[0]);
    const int in = cmd[0], out = res[1];
    std::string e = ops.setup ? ops.setup() : "";
    if (!e.empty()) {
      SendReply(out, -1, 0, "setup: " + e);
      ::_exit(1);
    }
    SendReply(out, 0, 0, "");
    for (;;) {
      uint64_t n = 0;
      if (!ReadAll(in, &n, sizeof n)) ::_exit(1);  // the parent went away
      if (n == 0) break;
      int64_t wall0 = Now(CLOCK_MONOTONIC), cpu0 = Now(CLOCK_PROCESS_CPUTIME_ID);
      e = ops.run(n);
      int64_t wall1 = Now(CLOCK_MONOTONIC), cpu1 = Now(CLOCK_PROCESS_CPUTIME_ID);
      if (!e.empty()) {
        SendReply(out, -1, 0, e);
        ::_exit(1);
      }
      SendReply(out, wall1 - wall0, cpu1 - cpu0, "");
    }
    e = ops.teardown ? ops.teardown() : "";
    SendReply(out, e.empty() ? 0 : -1, 0, e.empty() ? "" : "teardown: " + e);
    std::fflush(nullptr);
    ::_exit(e.empty() ? 0 : 1);
  }
  ::close(cmd[0]);
  ::close(res[1]);
  cmd_fd_ = cmd[1];
  res_fd_ = res[0];
  driver_ = children_.size() - 1;
  int64_t value, cpu_ns;
  return ReadReply(&value, &cpu_ns);
}

std::string ProcessGroup::ReadReply(int64_t* value, int64_t* cpu_ns) {
  const Child& d = children_[driver_];
  std::string who = d.what + " (pid " + std::to_string(d.pid) + ")";
  int r = WaitReadable(res_fd_, timeout_ms_);
  if (r == 0) return who + " did not answer within " + std::to_string(timeout_ms_ / 1000) + " s (hang)";
  Reply reply{};
  if (r < 0 || !ReadAll(res_fd_, &reply, sizeof reply)) {
    std::string why = Reap(driver_);
    return who + " died" + (why.empty() ? "" : ": " + why);
  }
  if (reply.value < 0) return who + ": " + reply.text;
  *value = reply.value;
  *cpu_ns = reply.cpu_ns;
  return "";
}

std::string ProcessGroup::RunBatch(uint64_t n, BatchTime* time) {
  if (driver_ == SIZE_MAX) return "no driver";
  if (n == 0) {
    *time = BatchTime{};
    return "";
  }
  if (!WriteAll(cmd_fd_, &n, sizeof n)) {
    return children_[driver_].what + " went away: " + std::strerror(errno);
  }
  int64_t wall_ns = 0, cpu_ns = 0;
  if (std::string e = ReadReply(&wall_ns, &cpu_ns); !e.empty()) return e;
  time->wall_s = static_cast<double>(wall_ns) * 1e-9;
  time->cpu_s = static_cast<double>(cpu_ns) * 1e-9;
  return "";
}

std::string ProcessGroup::Reap(size_t i) {
  Child& c = children_[i];
  if (c.reaped) return "";
  std::string who = c.what + " (pid " + std::to_string(c.pid) + ")";
  if (c.pidfd >= 0) {
    int r = WaitReadable(c.pidfd, timeout_ms_);
    if (r == 0) return who + " did not exit within " + std::to_string(timeout_ms_ / 1000) + " s (hang)";
  }
  int status = 0;
  pid_t got;
  do {
    got = ::waitpid(c.pid, &status, 0);
  } while (got < 0 && errno == EINTR);
  c.reaped = true;
  if (c.pidfd >= 0) ::close(c.pidfd);
  c.pidfd = -1;
  if (got < 0) return who + ": waitpid: " + std::strerror(errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return who + " " + DescribeExit(status);
}

std::string ProcessGroup::Finish() {
  std::string error;
  if (driver_ != SIZE_MAX && !children_[driver_].reaped) {
    uint64_t stop = 0;
    if (!WriteAll(cmd_fd_, &stop, sizeof stop)) {
      error = children_[driver_].what + " went away before the teardown";
    } else {
      int64_t value, cpu_ns;
      error = ReadReply(&value, &cpu_ns);
    }
    if (error.empty()) error = Reap(driver_);
  }
  for (size_t i = children_.size(); error.empty() && i-- > 0;) error = Reap(i);
  if (!error.empty()) Abort();
  return error;
}

void ProcessGroup::Abort() {
  // Newest first: the driver and helpers go before the daemon they use.
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    Child& c = *it;
    if (c.reaped) continue;
    ::kill(c.pid, SIGKILL);
    while (::waitpid(c.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    c.reaped = true;
    if (c.pidfd >= 0) ::close(c.pidfd);
    c.pidfd = -1;
  }
  if (cmd_fd_ >= 0) ::close(cmd_fd_);
  if (res_fd_ >= 0) ::close(res_fd_);
  cmd_fd_ = res_fd_ = -1;
}

}  // namespace dsm_bench
