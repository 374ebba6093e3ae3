// Jobs on other machines (--hostfile, --host): how dsm-run reaches a host
// over ssh, and what runs there.
//
// Every process of such a job, daemon or node, is one ssh session started by
// dsm-run. On the far side the session runs `dsm-run --agent ...` (agent.h;
// the same dsm-run, at the same path on every host), which starts the daemon
// or the node as its child and stays with it: the local ssh process stands
// for the remote process in the job (its exit status is the remote
// process's, 255 if ssh itself failed or lost its connection), so everything
// dsm-run does for local processes (status lines, exits, blame, ending the
// job within its deadlines) works unchanged, and ending the ssh ends what it
// stands for: the agent sees its connection go and kills its child's process
// group and removes what it made.
//
//   daemon of host k   ssh HOST exec DSM-RUN --agent daemon --dir D [--keys]
//                        [--stage NAME SIZE] [--cwd DIR] --label L -- DSM-HOSTD ARGS...
//                      stdin: the key block (dsm/common/job_keys.h, several
//                      hosts), then the staged program's SIZE bytes, then
//                      nothing until dsm-run ends: end of file there means
//                      dsm-run or the connection is gone. stdout: the
//                      daemon's status lines (--ready-fd), read by dsm-run
//                      as for a local daemon.
//   node K             ssh HOST exec DSM-RUN --agent node --dir D [--cwd DIR]
//                        --env NAME=VALUE... --label L -- PROGRAM ARGS...
//                      stdin: node 0's is dsm-run's, the others' /dev/null;
//                      stdout and stderr: the node's.
//
// D is the host's private directory for the job, $TMPDIR (else /tmp) of
// that host plus "dsm-<job id>-h<k>": the daemon's agent makes it (mode 0700)
// and removes it; the daemon's socket and a staged program live there. In
// the arguments and the --env values the agent replaces kDirPlaceholder by
// that directory and kSshAddressPlaceholder by the address the ssh
// connection reached on that host. The secret key is never on a command
// line: it travels on the daemon's ssh stdin and reaches the daemon through
// a pipe (--keys-fd), as locally.
//
// Inside a Slurm allocation (--launcher slurm, slurm.h) the session command
// is srun instead of ssh: one job step per daemon and per node,
//
//   srun --nodes=1 --ntasks=1 --nodelist=NODE --overlap --quiet --unbuffered
//        --quit-on-interrupt DSM-RUN --agent ... (the same words as above)
//
// srun gives the task its stdin (the key block for a daemon) and brings its
// stdout, stderr and exit status back, so the srun process stands for the
// remote one exactly as ssh does. --overlap lets a node's steps share the
// allocation's CPUs (a daemon and its nodes run at once). Two differences:
// srun answers SIGTERM by killing its step at once (SIGKILL: the agent
// could not clean up), and a SIGKILLed srun leaves its step running; but it
// passes SIGUSR1 on to the task as it is. So an srun session is ended with
// SIGUSR1 (kSrunStopSignal; the agent takes it like SIGTERM) and is given
// that signal as its parent-death signal. A daemon listens on its node's
// NodeAddr, resolved on the node by the agent (--resolve, kHostAddressPlaceholder),
// never on a loopback or wildcard address.
//
// Nothing here starts anything. Thread-safe.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dsm/common/status.h"
#include "options.h"
#include "spawn.h"

namespace dsm::launcher {

inline constexpr const char* kAgentOption = "--agent";
inline constexpr const char* kDirPlaceholder = "@DSM_DIR@";
inline constexpr const char* kSshAddressPlaceholder = "@DSM_SSH_ADDR@";
// A remote daemon's --stats-json file, in the host's directory: its agent
// (--stats NAME) sends it back on the daemon's status channel once the daemon
// exited (dsm/common/job_status.h, "stats-json").
inline constexpr const char* kRemoteStatsName = "stats.json";
// With --trace, the nodes' DSM_TRACE prefix in the host's directory: each
// node writes kRemoteTraceName.node<K>.json there, and the daemon's agent
// (--traces NAME) sends them back once the daemon exited ("trace-json").
inline constexpr const char* kRemoteTraceName = "trace";
// The address the agent's --resolve NAME gives on that host.
inline constexpr const char* kHostAddressPlaceholder = "@DSM_HOST_ADDR@";
// In a daemon's command (--join @DSM_JOIN@): host 0's endpoint, which dsm-run
// sends on the session's stdin ("join ENDPOINT\n", after the key block and a
// staged program) once host 0 listens, so that every host's session is
// opened at once rather than after host 0's.
inline constexpr const char* kJoinPlaceholder = "@DSM_JOIN@";
// What ends an srun session gracefully (see above).
inline constexpr int kSrunStopSignal = SIGUSR1;
// ssh's own exit status when it failed (could not connect, log in, or the
// connection was lost).
inline constexpr int kSshFailed = 255;

// Splits a command into words at spaces and tabs; '...' and "..." group
// words (no escapes inside single quotes; \" and \\ inside double ones), a
// backslash outside quotes takes the next character as is. An error for an
// unterminated quote or no word at all.
Result<std::vector<std::string>> SplitCommand(std::string_view text);

// The word quoted for a Bourne shell: 'it'\''s'.
std::string ShellQuote(std::string_view word);

// The ssh (or srun) commands of one job.
class RemoteLauncher {
 public:
  // ssh_words: --ssh split, its first word resolved (with Slurm: srun's
  // path); self: this dsm-run's path (the same on every host). cwd:
  // dsm-run's working directory (the remote processes start there when it
  // exists on their host).
  RemoteLauncher(const Options& o, std::vector<std::string> ssh_words, std::string self, std::string cwd,
                 uint64_t job_id);

  // Finds --ssh's command (or srun) on PATH and this executable; an error
  // to print.
  static Result<RemoteLauncher> Create(const Options& o, uint64_t job_id);

  bool slurm() const { return o_.slurm(); }
  const std::string& ssh_path() const { return ssh_[0]; }
  // The signal that ends a session gracefully: SIGTERM, or SIGUSR1 for srun.
  int stop_signal() const { return slurm() ? kSrunStopSignal : SIGTERM; }
  const std::string& host_name(uint32_t host) const { return o_.remote_hosts[host].name; }
  // "dsm-<job id in hex>-h<k>".
  std::string DirName(uint32_t host) const;
  // The daemon's socket as the processes of its host see it (placeholder):
  // in the abstract namespace, named after the host's directory, so that
  // nothing is on disk for it and a daemon whose agent was killed outright
  // (a Slurm step SIGKILLed) leaves no file behind.
  static std::string SocketPath() { return "@" + std::string(kDirPlaceholder) + "/hostd.sock"; }
  // Where host k's daemon listens: tcp://ADDR:0.
  std::string ListenEndpoint(uint32_t host) const;
  // The program as the nodes run it: the staged copy or the same path
  // (made absolute).
  std::string ProgramPath(const std::string& local_path) const;
  // A staged copy's name in the host's directory: the file name of path.
  static std::string StagedName(const std::string& path);

  // ssh's argv for host k's daemon: daemon_argv (argv[0] the daemon) under
  // the agent. keys: a key block comes first on stdin; stage_size: the
  // program's bytes follow (with --stage).
  std::vector<std::string> DaemonArgv(uint32_t host, const std::vector<std::string>& daemon_argv, bool keys,
                                      uint64_t stage_size, const std::string& label) const;

  // ssh's argv for a node on host k: env (NAME=VALUE) added to what the
  // node gets there, program_argv its argv (argv[0] the path to run).
  std::vector<std::string> NodeArgv(uint32_t host, const std::vector<std::string>& env,
                                    const std::vector<std::string>& program_argv, const std::string& label) const;

 private:
  // The session command running `remote` (the agent's argv) on host k.
  std::vector<std::string> Session(uint32_t host, const std::vector<std::string>& remote) const;

  const Options& o_;
  std::vector<std::string> ssh_;  // ssh_[0] resolved
  std::string self_;
  std::string cwd_;
  uint64_t job_id_;
};

// How a remote process's ssh ended, in words, for dsm-run's messages.
std::string DescribeSshExit(const ExitInfo& e);
// The same for an srun session.
std::string DescribeSrunExit(const ExitInfo& e);

}  // namespace dsm::launcher
