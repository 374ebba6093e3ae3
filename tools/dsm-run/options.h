// dsm-run's command line: the options, their limits, the parser and the --help
// text, which is the contract of the whole tool (what runs, what the nodes
// see, how the job ends, the exit statuses).
//
// Nothing here starts anything or touches process state. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dsm/common/status.h"
#include "dsm/device/protocol.h"
#include "hostfile.h"
#include "placement.h"

namespace dsm::launcher {

inline constexpr const char* kVersionText = "dsm-run (dsmkit) 0.1.0";

inline constexpr uint32_t kMaxNodes = device::kMaxNodes;
inline constexpr uint64_t kMinMemory = device::kMinSpaceSize;
inline constexpr uint64_t kMaxMemory = device::kMaxSpaceSize;
inline constexpr uint64_t kDefaultMemory = device::kDefaultSpaceSize;
inline constexpr double kMaxTimeoutSeconds = 1e9;
inline constexpr uint32_t kMaxHosts = 64;
inline constexpr uint64_t kDefaultVmMemory = 256ULL << 20;
inline constexpr uint64_t kMinVmMemory = 128ULL << 20;
inline constexpr uint64_t kMaxVmMemory = 64ULL << 30;
inline constexpr uint32_t kMaxVmCpus = 64;

// Exit statuses of dsm-run besides node 0's own.
inline constexpr int kExitFailure = 1;       // the job or dsm-run itself failed
inline constexpr int kExitUsage = 2;         // bad command line; nothing started
inline constexpr int kExitTimeout = 124;     // --timeout expired
inline constexpr int kExitCannotExec = 127;  // the program could not be executed

// --home: where the daemons place the home of each shared page.
enum class HomePolicy { kFirstTouch, kRoundRobin, kMigrate };
const char* HomePolicyName(HomePolicy home);  // "first-touch", "round-robin", "migrate"

struct Options {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  uint32_t nodes = 0;
  uint64_t memory = kDefaultMemory;
  uint64_t stack = 0;  // --stack: node 0's main stack; 0 = the daemon's default
  std::optional<double> timeout_seconds;
  std::string timeout_text;  // --timeout as given, for the message
  // --peer-timeout: how long a daemon waits on a silent other host before it
  // ends the job (milliseconds; 0: the daemons' default, 2 s).
  uint32_t peer_timeout_ms = 0;
  bool tag_output = false;
  bool stats = false;
  std::string trace;   // --trace FILE: the merged timeline of every node
  std::string hostd;   // --hostd; empty: dsm-hostd next to dsm-run
  uint32_t hosts = 1;  // --hosts: simulated hosts, one daemon each; <= nodes
  Placement placement = Placement::kBlock;
  std::optional<HomePolicy> home;  // --home; unset: the daemons' default (migrate)
  bool huge_pages = true;          // --huge-pages on|off (dsm-hostd --huge-pages)
  bool netns = false;              // --netns: a network namespace per host
  std::string stats_json;          // --stats-json FILE: the daemons' statistics, merged
  // --vm: every node runs in a QEMU guest (vm.h).
  bool vm = false;
  std::string vm_nodes;  // --vm-nodes LIST: only these nodes in guests; empty: all (with --vm)
  uint64_t vm_memory = kDefaultVmMemory;  // --vm-memory: each guest's RAM
  uint32_t vm_cpus = 1;                   // --vm-cpus
  std::string accel = "tcg";              // --accel tcg|kvm
  bool vm_console = false;                // --vm-console: the guests' kernel messages on stderr
  std::string qemu;                       // --qemu; empty: qemu-system-x86_64 on PATH
  std::string vm_share;                   // --vm-share DIR|none; empty: the working directory
  // --hostfile FILE / --host LIST: the hosts are other machines, reached
  // over ssh (remote.h). ResolveHosts() fills remote_hosts and host_of_node
  // (and sets hosts) from them.
  std::string hostfile;
  std::vector<HostEntry> host_list;  // --host, parsed
  std::string ssh;                   // --ssh; empty: DSM_SSH, else "ssh"
  bool stage = false;                // --stage: copy PROGRAM to each host for the job
  std::vector<HostEntry> remote_hosts;  // the hosts that run nodes, host 0 first
  std::vector<uint32_t> host_of_node;   // node k's index in remote_hosts
  // --launcher: how the hosts are reached. kAuto: ssh with --hostfile or
  // --host, else Slurm inside an allocation (SLURM_JOB_ID set; slurm.h)
  // unless an option keeps the job here (--hosts, --netns, --vm, --trace,
  // --stats-json), else this machine. ResolveHosts() settles it.
  enum class Launcher { kAuto, kLocal, kSsh, kSlurm };
  Launcher launcher = Launcher::kAuto;
  bool slurm() const { return launcher == Launcher::kSlurm; }
  bool remote() const { return !hostfile.empty() || !host_list.empty() || slurm(); }
  std::string program;
  std::vector<std::string> args;  // the program's arguments, untouched
};

// Whether node k runs in a guest.
bool IsVmNode(const Options& o, uint32_t k);

// Parses the arguments after argv[0]. Options end at "--" or at the first
// argument that is not an option (the program); all later arguments belong
// to the program. An error Status (code EINVAL) carries the message to print
// after "dsm-run: error: ". --help and --version win over any other problem
// found before them or after them among the options.
Result<Options> ParseOptions(const std::vector<std::string>& args);

// With --hostfile or --host: reads the hostfile, places the nodes on the
// hosts by slots (--placement), sets remote_hosts, host_of_node and hosts,
// and ssh (--ssh, else dsm_ssh_env when set and not empty, else "ssh").
// Does nothing without them. An error (EINVAL) is a usage error to print.
Status ResolveHosts(Options* o, const char* dsm_ssh_env);

// The same, and inside a Slurm allocation (--launcher slurm, or found in
// env as --launcher's default says) the hosts and slots are the
// allocation's (ReadAllocation, slurm.h: runs scontrol) and the launcher is
// srun. env: std::getenv in dsm-run.
Status ResolveHosts(Options* o, const std::function<const char*(const char*)>& env);

// The --help text and the one-line hint printed after usage errors.
std::string UsageText();
inline constexpr const char* kTryHelp = "Try 'dsm-run --help'.";

}  // namespace dsm::launcher
