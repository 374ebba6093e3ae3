// What the pretend clusters of test/ssh (ssh_cluster.h) and test/slurm
// (slurm_cluster.h) share: NetnsRun, one command (dsm-run, salloc, sbatch,
// sinfo) run in a network namespace with its output collected and its end
// awaited on a pidfd with a deadline; and the looks at /proc and the
// filesystem both make: the processes in a namespace, waiting for them to
// go, what is left in a directory.
//
// Built on dsm-run's own Spawn (spawn.h): link dsm_launcher. Everything runs
// on the test's only thread (Spawn forks); nothing is async-signal-safe.
// Nothing sleeps: a wait polls pipes and pidfds up to its deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "dsm/common/fd.h"
#include "spawn.h"

namespace dsm::launcher::testing {

// How a command ended.
struct RunResult {
  int status = -1;  // exit status; -1: killed by a signal or at the deadline
  bool timed_out = false;
  std::string out, err;
  double seconds = 0;  // from the start (or WaitSince's `since`) to its exit
};

// "status 0 after 1.2 s", then its stdout and stderr: for a failed assertion.
std::string Describe(const RunResult& r);

// The process state children get back between fork and exec (spawn.h), as
// the calling process has it now.
ChildRestore CurrentChildRestore();

// The test's own environment less every variable that starts with one of
// `drop` (a prefix such as "DSM_", or "TMPDIR=" for one variable), then `add`.
std::vector<std::string> TestEnvironment(const std::vector<std::string>& drop,
                                         const std::vector<std::string>& add = {});

// Milliseconds from now until `end`, 0 when it has passed.
int MsLeft(std::chrono::steady_clock::time_point end);

// A command in a network namespace: spawned at construction as the leader
// of a new process group, with `env` as its whole environment, stdin_path as
// its standard input and pipes as its standard output and error, which the
// waits below read. Owns the child: the destructor kills it (SIGKILL, the
// command alone) if it has not exited, and reaps it. A command that could
// not start has pid() -1 and says why in Wait()'s err.
class NetnsRun {
 public:
  // netns_fd: the namespace to enter (setns); -1: the test's own.
  NetnsRun(const std::vector<std::string>& argv, std::vector<std::string> env, int netns_fd,
           const ChildRestore& restore, const std::string& stdin_path = "/dev/null");
  ~NetnsRun();
  NetnsRun(const NetnsRun&) = delete;
  NetnsRun& operator=(const NetnsRun&) = delete;

  pid_t pid() const { return pid_; }
  // Reads stdout until it holds `count` occurrences of `text` (true), the
  // command ended with fewer, or the deadline passed (false).
  bool WaitForLines(const std::string& text, int count, std::chrono::milliseconds deadline);
  // Waits for the end, reading everything; at the deadline the command is
  // killed (SIGKILL) and timed_out set. seconds counts from the start.
  RunResult Wait(std::chrono::milliseconds deadline) { return WaitSince(start_, deadline); }
  // The same, with seconds counted from `since` (steady clock).
  RunResult WaitSince(std::chrono::steady_clock::time_point since, std::chrono::milliseconds deadline);

 private:
  // Reads what is there, waiting up to timeout_ms; false once both pipes
  // ended and the command exited.
  bool Pump(int timeout_ms);

  pid_t pid_ = -1;
  UniqueFd pidfd_, out_, err_;
  RunResult r_;
  std::chrono::steady_clock::time_point start_;
  bool exited_ = false;
  std::chrono::steady_clock::time_point exit_time_{};
};

// A whole file ("" if it cannot be read).
std::string ReadAll(const std::string& path);
// The inode of a path (a namespace's, under /run/netns or /proc), 0 if none.
ino_t InodeOf(const std::string& path);
// A process's command name (/proc/PID/comm, no newline) and its command line
// (arguments separated by spaces); "" once it is gone.
std::string Comm(pid_t pid);
std::string CommandLine(pid_t pid);

// Every process in the network namespace named `netns` (/run/netns/NAME).
std::vector<pid_t> ProcessesInNetns(const std::string& netns);
// Waits until `left()` is empty or the deadline passes, waking on the exit of
// what it returned (pidfds); "" or "PID: command line" for each one left.
std::string WaitUntilGone(const std::function<std::vector<pid_t>()>& left, std::chrono::milliseconds deadline);
// "DIR/NAME\n" for each entry in dir ("" when empty or absent).
std::string ListDir(const std::string& dir);
// Removes a directory and everything in it.
void RemoveTree(const std::string& path);

}  // namespace dsm::launcher::testing
