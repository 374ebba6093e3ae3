// The job runner: starts a job's daemons and nodes and supervises them until
// the job ends.
//
// A job is one dsm-hostd daemon per simulated host (--hosts, one by default)
// plus N node processes running the same program, each placed on a host
// (placement.h). Job::Run() starts the daemons (host 0's first; with several
// hosts it says where the others join it, "listening <endpoint>"), waits for
// "ready" from each, starts the nodes and supervises everything from one poll
// loop (pidfds for the children, a signalfd for SIGINT/SIGTERM/SIGHUP, a
// timerfd for --timeout, the daemons' status pipes, the nodes' output pipes
// with --tag-output) until the job ends; it never sleeps and never leaves a
// child, a file descriptor, its temporary directory or (--netns, netns.h) a
// network namespace behind. The contract is in UsageText().
//
// A daemon's status pipe (--ready-fd) stays open after "ready": when the job
// ends the daemon writes one more line (dsm/common/job_status.h) before it
// tells any node: "finished <status>" (node 0 finished the job), "lost
// <node>" (that node left before it finished) or "lost-host <host>" (that
// host's daemon died or went silent). The first such line from any daemon
// decides. The loop reads the pipes before it looks at any exit, so a
// worker's exit is always judged knowing whether the job had finished, and a
// failure names the node or host that was lost rather than one that stopped
// because of it (blame.h has the rules for exits no daemon explained).
//
// With --vm every node is a QEMU guest on its host's daemon socket
// (job_vm.cc, vm.h): the guest's console tells the program's exit status,
// and a guest that dies without one (a panic, QEMU killed) is named with what
// happened; node 0's standard input is relayed to its guest.
//
// With --hostfile or --host every daemon and node is an ssh session to its
// host (job_remote.cc, remote.h): the local ssh process is the child that
// stands for it, a daemon's status lines come on its ssh's stdout, and its
// key block (and a staged program) go on its ssh's stdin, which stays open
// for the job's life.
//
// The pieces live in job.cc (the loop, exits, deadlines, how the job ends),
// job_start.cc (setting up, starting the daemons and the nodes, tearing down),
// job_vm.cc (VM nodes) and job_lines.cc (what the daemons' status lines mean
// for the job).
//
// Nothing here throws. Run() changes process-wide state (the signal mask,
// SIGPIPE's and SIGCHLD's dispositions, RLIMIT_NOFILE) for its duration and
// must run on the only thread of the process.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blame.h"
#include "dsm/common/clock.h"
#include "dsm/common/fd.h"
#include "qemu.h"
#include "netns.h"
#include "options.h"
#include "output.h"
#include "remote.h"
#include "spawn.h"
#include "status_reader.h"
#include "trace_merge.h"
#include "vm.h"

namespace dsm::launcher {

// The supervision's clock: CLOCK_MONOTONIC in nanoseconds, and a millisecond
// in its units.
inline constexpr int64_t kMs = 1000000;
inline int64_t NowNs() { return static_cast<int64_t>(MonotonicNs()); }

// Time limits of the supervision, in milliseconds.
inline constexpr int64_t kReadyTimeoutMs = 10000;  // each daemon must say "ready" within this
inline constexpr int64_t kWindDownMs = 3000;       // after node 0 exited: others may take this long
inline constexpr int64_t kDaemonLingerMs = 500;    // after the last node: the daemons may take this long
// While remote agents are still sending statistics or timelines (bytes came
// within kRecordIdleMs, or a record is incomplete), the stop and the kill of
// the wind-down wait, kRecordIdleMs at a time, up to kRecordsMaxMs after node
// 0 exited.
inline constexpr int64_t kRecordIdleMs = 1000;
inline constexpr int64_t kRecordsMaxMs = 120000;
inline constexpr int64_t kLostGraceMs = 500;       // after "lost K"/"lost-host K": its exit may follow
inline constexpr int64_t kSecondaryGraceMs = 1000; // a node that stopped because of a cause not seen yet
inline constexpr int64_t kTermToKillMs = 1000;     // SIGTERM, then SIGKILL this much later
inline constexpr int64_t kEndBudgetMs = 1800;      // ending the job gives up waiting after this

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
    std::string label;  // "dsm-hostd", "node 2"; several hosts: "host 1's daemon", "node 2 on host 1"
    int node = -1;      // -1: a daemon
    uint32_t host = 0;
    pid_t pid = -1;
    UniqueFd pidfd;  // reset once the exit status is collected
    bool exited = false;
    ExitInfo exit;
    std::string how;  // a VM node: how its guest ended (else Describe(exit))
    int vm = -1;      // a VM node: its index in vms_
  };

  // A node's guest (--vm).
  struct Vm {
    size_t child = 0;
    UniqueFd console;  // our end of the console port's socket
    std::unique_ptr<GuestConsole> reader;
    std::string job_file;     // what fw_cfg hands the init (private)
    std::string qemu_stderr;  // QEMU's own messages
  };

  // A daemon and what it said on its status pipe.
  struct Daemon {
    size_t child = 0;  // its index in children_
    std::string socket;
    StatusReader status;
    bool started = false;
    bool listening = false;  // host 0 of several: said where the others join
    bool ready = false;
    bool status_ended = false;   // its pipe ended before "ready"
    int64_t ready_deadline = 0;  // 0: not waiting for "ready"
    UniqueFd agent_in;           // a remote host: its ssh's stdin (kept open for the job's life)
    std::string agent_pending;   // what is still to be written there (wiped once written)
    std::optional<std::string> stats_json;  // a remote host: its statistics, from its agent
  };

  // A remote agent's statistics or timeline record (job_lines.cc).
  void TakeRecord(size_t daemon, StatusEvent&& event);

  // job_start.cc
  Status OpenOutputFiles();
  Status Setup();
  std::vector<std::string> DaemonArgs(uint32_t host) const;
  void StartDaemon(uint32_t host);
  void StartNodes();
  void Teardown();
  void WriteStats();
  std::string TracePrefix() const;

  // job_vm.cc
  Status PrepareVms();
  void StartVmNode(uint32_t k, const std::vector<std::string>& env, UniqueFd* out_r, UniqueFd* err_r,
                   const std::function<void(const std::string&)>& cannot_start);
  void ReadConsole(size_t vm);
  void EndOfGuest(Child& c);
  void RelayStdin();
  void RemoveVmFiles();
  std::string HowEnded(const Child& c) const { return c.how.empty() ? Describe(c.exit) : c.how; }

  // job_remote.cc
  Status SetupRemote();
  Status RemoteDaemon(uint32_t host, std::vector<std::string>* args, UniqueFd* keys_r, UniqueFd* ssh_stdin);
  std::vector<std::string> RemoteNodeArgs(uint32_t node, uint32_t host) const;
  std::string RemoteNodeLabel(uint32_t node, uint32_t host) const;
  std::string RemoteDaemonLabel(uint32_t host) const;
  void WriteAgentInput(size_t daemon);

  // job_lines.cc
  void OnStatusEvent(size_t daemon, StatusEvent&& event);
  void OnStatusLine(size_t daemon, const std::string& text);
  void OnStartLine(size_t daemon, const std::string& text);
  void OnCulprit(size_t child);

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
  std::string DaemonLabel(uint32_t host) const;
  void StartFailed(uint32_t host, const std::string& why);
  void Fail(size_t child);
  void FailLeft(size_t child);
  void NotADsmProgram(size_t child);
  void BeginWindDown(int status);
  void BeginEnding();
  void MaybeLetDaemonGo();
  void SignalAll(int sig);
  bool AllExited() const;
  // Remote agents still sending records (see kRecordIdleMs), and still
  // within kRecordsMaxMs.
  bool RecordsArriving(int64_t now) const;
  bool NodesExited() const;

  const Options& o_;
  const std::string program_path_;
  const std::string hostd_path_;
  uint64_t globals_size_ = 0;  // the program's shared globals (ReadProgramImage)

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
  std::unique_ptr<std::FILE, FileCloser> stats_out_;  // --stats-json, likewise
  std::map<uint32_t, SentTrace> sent_traces_;          // --trace, remote nodes: what their agents sent
  bool stdin_is_tty_ = false;
  std::string dir_;  // the job's private temporary directory
  pid_t job_pgid_ = -1;
  uint64_t job_id_ = 0;        // shared by the daemons of a multi-host job
  std::string keys_block_;     // and their CURVE key pair (dsm/common/job_keys.h) until the last started
  std::string join_endpoint_;  // host 0's "listening" endpoint
  std::vector<uint32_t> host_of_node_;
  std::unique_ptr<HostNetwork> network_;  // --netns
  std::optional<RemoteLauncher> remote_;  // --hostfile, --host
  std::string stage_data_;                // --stage: the program's bytes

  std::vector<Child> children_;  // the daemons as they start, then node k at node_child_[k]
  std::vector<Daemon> daemons_;  // per host
  std::vector<size_t> node_child_;
  TaggedOutput output_;

  // --vm
  image::GuestImage image_;
  std::string qemu_;
  std::vector<Vm> vms_;
  UniqueFd stdin_port_;  // node 0's port (a dup), written with its stdin
  image::StdinEncoder stdin_encoder_;
  std::string stdin_pending_;  // encoded, not yet taken by the port
  bool stdin_done_ = true;     // nothing (more) to read from our stdin

  // What the daemons said.
  bool finished_ = false;            // "finished": workers may exit with status 0
  std::vector<bool> attached_;       // "attached K": node K joined the job
  std::optional<size_t> culprit_;    // the child a "lost" or "lost-host" line named
  std::optional<size_t> secondary_;  // the first node that ended because the job failed elsewhere

  // Deadlines on CLOCK_MONOTONIC in ns; 0 = not set.
  int64_t lost_deadline_ = 0;       // the culprit has not exited yet
  int64_t secondary_deadline_ = 0;  // no cause seen yet for secondary_'s exit
  int64_t daemon_term_at_ = 0;
  int64_t winddown_kill_at_ = 0;
  int64_t winddown_began_ = 0;  // when node 0 exited (kRecordsMaxMs counts from it)
  int64_t kill_at_ = 0;
  int64_t give_up_at_ = 0;
  int64_t drain_until_ = 0;
  bool final_kill_done_ = false;
  bool escalated_ = false;
};

}  // namespace dsm::launcher
