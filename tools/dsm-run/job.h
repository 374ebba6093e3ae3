// The job runner: starts a job's daemon and nodes and supervises them until
// the job ends.
//
// A job is one dsm-hostd daemon plus N node processes running the same
// program. Job::Run() starts the daemon, waits for its "ready" line, starts the
// nodes and supervises everything from one poll loop (pidfds for the
// children, a signalfd for SIGINT/SIGTERM/SIGHUP, a timerfd for --timeout,
// the daemon's status pipe, the nodes' output pipes with --tag-output) until
// the job ends; it never sleeps and never leaves a child, a file descriptor
// or its temporary directory behind. The contract is in UsageText().
//
// The daemon's status pipe (--ready-fd) stays open after "ready": when the job
// ends the daemon writes one more line (dsm/common/job_status.h) before it
// tells any node: "finished <status>" (node 0 finished the job) or "lost
// <node>" (that node left before it finished). The loop reads that pipe
// before it looks at any exit, so a worker's exit is always judged knowing
// whether the job had finished, and a failure names the node that left
// rather than one that stopped because of it (blame.h has the rules).
//
// The pieces live in job.cc (the loop, exits, deadlines, how the job ends)
// and job_start.cc (setting up, starting the daemon and the nodes, the
// status lines, tearing down).
//
// Nothing here throws. Run() changes process-wide state (the signal mask,
// SIGPIPE's and SIGCHLD's dispositions, RLIMIT_NOFILE) for its duration and
// must run on the only thread of the process.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blame.h"
#include "dsm/common/fd.h"
#include "options.h"
#include "output.h"
#include "spawn.h"
#include "status_reader.h"

namespace dsm::launcher {

// Time limits of the supervision, in milliseconds.
inline constexpr int64_t kReadyTimeoutMs = 10000;   // dsm-hostd must say "ready" within this
inline constexpr int64_t kWindDownMs = 3000;        // after node 0 exited: others may take this long
inline constexpr int64_t kDaemonLingerMs = 500;     // after the last node: dsm-hostd may take this long
inline constexpr int64_t kLostGraceMs = 1000;       // after "lost K" from dsm-hostd: node K's exit may follow
inline constexpr int64_t kTermToKillMs = 1000;      // SIGTERM, then SIGKILL this much later
inline constexpr int64_t kEndBudgetMs = 1800;       // ending the job gives up waiting after this

// Runs the job and returns dsm-run's exit status. program_path and
// hostd_path are the resolved executables (see FindProgram); options.program
// is what the nodes see as argv[0] and what messages name.
int RunJob(const Options& options, const std::string& program_path, const std::string& hostd_path);

class Job {
 public:
  Job(const Options& options, std::string program_path, std::string hostd_path);
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  int Run();

 private:
  enum class Phase { kStarting, kRunning, kWindDown, kEnding };

  // A process of the job.
  struct Child {
    std::string label;  // "dsm-hostd", "node 2"
    int node = -1;      // -1: a daemon
    pid_t pid = -1;
    UniqueFd pidfd;     // reset once the exit status is collected
    bool exited = false;
    ExitInfo exit;
  };

  // A daemon and what it said on its status pipe.
  struct Daemon {
    size_t child = 0;  // its index in children_
    std::string socket;
    StatusReader status;
    bool ready = false;
    bool status_ended = false;   // its pipe ended before "ready"
    int64_t ready_deadline = 0;  // 0: not waiting for "ready"
  };

  // job_start.cc
  Status Setup();
  void StartDaemon();
  void StartNodes();
  void OnStatusEvent(size_t daemon, const StatusEvent& event);
  void OnStatusLine(size_t daemon, const std::string& text);
  void OnLost(uint32_t node);
  void Teardown();
  std::string TracePrefix() const;

  // job.cc
  void Loop();
  void HandleSignals();
  void HandleTimer();
  void DrainStatus();
  void HandleExits(const std::vector<size_t>& ready);
  void JudgeExits(std::vector<size_t> exited);
  void OnDeadlines(int64_t now);
  bool Done(int64_t now);
  int64_t NextDeadline() const;
  void StartFailed(const std::string& why);
  void Fail(size_t child);
  void FailLeft(size_t child);
  void NotADsmProgram(size_t child);
  void BeginWindDown(int status);
  void BeginEnding();
  void MaybeLetDaemonGo();
  void SignalAll(int sig);
  bool AllExited() const;
  bool NodesExited() const;

  const Options& o_;
  const std::string program_path_;
  const std::string hostd_path_;

  Phase phase_ = Phase::kStarting;
  int exit_code_ = 0;

  // Process-wide state to restore, and what the children get back.
  ChildRestore restore_;
  bool mask_saved_ = false;
  bool pipe_saved_ = false;
  bool chld_saved_ = false;
  bool rlimit_saved_ = false;

  UniqueFd sigfd_;
  UniqueFd timer_;
  UniqueFd devnull_;
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, FileCloser> trace_out_;  // --trace, opened before anything starts
  bool stdin_is_tty_ = false;
  std::string dir_;  // the job's private temporary directory
  pid_t job_pgid_ = -1;

  std::vector<Child> children_;  // the daemon first, then node k at node_child_[k]
  std::vector<Daemon> daemons_;
  std::vector<size_t> node_child_;
  TaggedOutput output_;

  // What the daemon said.
  bool finished_ = false;         // "finished": workers may exit with status 0
  std::vector<bool> attached_;    // "attached K": node K joined the job
  std::optional<size_t> culprit_;    // the child a "lost" line named
  std::optional<size_t> secondary_;  // the first node that ended because the job failed elsewhere

  // Deadlines on CLOCK_MONOTONIC in ns; 0 = not set.
  int64_t lost_deadline_ = 0;       // the culprit has not exited yet
  int64_t secondary_deadline_ = 0;  // no cause seen yet for secondary_'s exit
  int64_t daemon_term_at_ = 0;
  int64_t winddown_kill_at_ = 0;
  int64_t kill_at_ = 0;
  int64_t give_up_at_ = 0;
  int64_t drain_until_ = 0;
  bool final_kill_done_ = false;
  bool escalated_ = false;
};

}  // namespace dsm::launcher
