// Starting and watching dsm-run's children: fork + exec with a pidfd, a
// process group, redirections, the daemon's status pipe as fd 3 and its key
// pipe as fd 4, a network namespace, and death with dsm-run
// (PR_SET_PDEATHSIG); helper tools run to completion; how a child ended, in
// words.
//
// A child is never reaped behind the caller's back (the caller keeps SIGCHLD
// at SIG_DFL), so its pid stays valid until the caller waits for it; PeekExit
// looks at an exit without reaping. Functions that fork must run on the only
// thread of the process. Nothing here throws.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "dsm/common/fd.h"
#include "dsm/common/status.h"

namespace dsm::launcher {

// The daemon's status pipe (--ready-fd) is this descriptor in the child.
inline constexpr int kStatusFdInChild = 3;
// The pipe with the job's key pair (a daemon of several hosts, --keys-fd).
inline constexpr int kKeysFdInChild = 4;

// Process-wide state that dsm-run changes for itself and that its children
// get back between fork and exec, as dsm-run's own caller had it.
struct ChildRestore {
  sigset_t mask{};
  struct sigaction sigpipe {};
  struct sigaction sigchld {};
  rlimit nofile{};
};

struct SpawnSpec {
  const char* path = nullptr;
  std::vector<char*> argv;  // null-terminated
  char** envp = nullptr;
  int stdin_fd = -1;  // -1: inherit
  int stdout_fd = -1;
  int stderr_fd = -1;
  int status_fd = -1;                     // given to the child as kStatusFdInChild
  int keys_fd = -1;                       // given to the child as kKeysFdInChild
  pid_t pgid = -1;                        // -1: stay in dsm-run's group, 0: lead a new group, >0: join it
  int death_signal = SIGKILL;             // sent to the child when dsm-run dies (PR_SET_PDEATHSIG)
  int netns_fd = -1;                      // >= 0: enter this network namespace (setns) before exec
  // Load the program without address-space randomisation, so that a
  // position-independent program is at the same addresses on every node
  // (its shared globals, and the functions parallel regions name).
  bool same_addresses = false;
  // Descriptors (above kStatusFdInChild, close-on-exec here) the child keeps
  // under the same numbers: a guest's serial ports.
  std::vector<int> keep_fds;
  int nice = 0;  // > 0: the child runs at this lower priority
  const ChildRestore* restore = nullptr;  // required
};

struct Spawned {
  pid_t pid = -1;
  UniqueFd pidfd;
  int exec_errno = 0;  // != 0: execve failed and the child is exiting with 127
};

// Starts a child. The child dies with dsm-run (SIGKILL); if execve fails it
// reports errno here and exits with status 127. An error Status only when no
// child is left running (fork, pipe or pidfd_open failed).
Result<Spawned> Spawn(const SpawnSpec& spec);

// Runs a helper tool to completion: argv[0] is its path, input goes to its
// standard input, its standard output is discarded. It leads its own process
// group (a Ctrl-C meant for the job does not hit it) and dies with dsm-run.
// Ok if it exited with status 0 within timeout_ms; otherwise an error whose
// message says how it ended and what it wrote on its standard error. It is
// killed when the time is up.
Status RunTool(const std::vector<std::string>& argv, const std::string& input, int64_t timeout_ms,
               const ChildRestore& restore);

// Pointers to the strings, null-terminated, for argv and envp. They stay
// valid while the strings are not changed.
std::vector<char*> StringPointers(std::vector<std::string>& strings);

struct ExitInfo {
  bool signaled = false;
  int value = 0;  // exit status or signal number
  bool core = false;
};

// How the child with this pid ended, if it has; it stays unreaped (a zombie)
// for the caller to wait for. An error if waitid itself fails.
Result<std::optional<ExitInfo>> PeekExit(pid_t pid);

// "signal 9 (Killed)".
std::string SignalText(int sig);

// "exited with status 3", "was killed by signal 9 (Killed)".
std::string Describe(const ExitInfo& e);

}  // namespace dsm::launcher
