// A child process of a VM test, waited on through a pidfd (killed and
// reaped if the test ends first). Separate from vm_test_util.h: <spawn.h>
// must be the system's, which tests that put tools/dsm-run on their include
// path (its own spawn.h) cannot include.
#pragma once

#include <fcntl.h>
#include <spawn.h>

#include "vm_test_util.h"

namespace dsm::vmtest {

// A child process the test started, with a pidfd to wait on; killed and
// reaped if the test ends before it exited.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    if (pidfd_ >= 0) ::close(pidfd_);
  }

  // posix_spawnp; false (errno set) on failure.
  bool Spawn(const std::vector<std::string>& args, posix_spawn_file_actions_t* actions, char** env = environ) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int rc = ::posix_spawnp(&pid_, argv[0], actions, nullptr, argv.data(), env);
    if (rc != 0) {
      pid_ = -1;
      errno = rc;
      return false;
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    return pidfd_ >= 0;
  }

  // Spawn with stdin /dev/null, stdout and stderr to the file `log`
  // (truncated), and status_fd (>= 0) as descriptor 3: how the VM tests
  // start dsm-hostd (its status pipe) and QEMU.
  bool SpawnLogged(const std::vector<std::string>& args, const std::string& log, int status_fd = -1,
                   char** env = environ) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (status_fd >= 0) posix_spawn_file_actions_adddup2(&actions, status_fd, 3);
    const bool ok = Spawn(args, &actions, env);
    const int saved = errno;
    posix_spawn_file_actions_destroy(&actions);
    errno = saved;
    return ok;
  }

  bool Kill(int sig) const { return pid_ > 0 && ::kill(pid_, sig) == 0; }
  [[nodiscard]] pid_t pid() const { return pid_; }

  // Whether the process has exited, waiting up to timeout_ms for it.
  bool ExitedWithin(int timeout_ms) const {
    pollfd p{pidfd_, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1;
  }

  // The wait status once the process exited; nullopt if it still runs at
  // the deadline.
  std::optional<int> WaitUntil(Clock::time_point deadline) {
    pollfd p{pidfd_, POLLIN, 0};
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      int r = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0)));
      if (r == 1) break;
      if (r == 0 || errno != EINTR) return std::nullopt;
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ::close(pidfd_);
    pidfd_ = -1;
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
};

}  // namespace dsm::vmtest
