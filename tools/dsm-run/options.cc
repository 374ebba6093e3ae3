#include "options.h"

#include <cerrno>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "dsm/common/parse.h"
#include "slurm.h"

namespace dsm::launcher {
namespace {

Status UsageErr(std::string message) { return Status(EINVAL, std::move(message)); }

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// --timeout: a plain decimal number of seconds ("2", "0.5", ".25", "3.").
std::optional<double> ParseSeconds(std::string_view text) {
  if (text.empty() || text == ".") return std::nullopt;
  bool dot = false;
  for (char c : text) {
    if (c == '.') {
      if (dot) return std::nullopt;
      dot = true;
    } else if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  std::string copy(text);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

bool IsVmNode(const Options& o, uint32_t k) {
  if (!o.vm) return false;
  if (o.vm_nodes.empty()) return true;
  auto ids = ParseIdList(o.vm_nodes, o.nodes);
  return ids && std::find(ids->begin(), ids->end(), k) != ids->end();
}

const char* HomePolicyName(HomePolicy home) {
  switch (home) {
    case HomePolicy::kRoundRobin: return "round-robin";
    case HomePolicy::kMigrate: return "migrate";
    case HomePolicy::kFirstTouch: break;
  }
  return "first-touch";
}

constexpr const char* kMissingNodes = "missing option -n/--nodes (the number of nodes)";

Result<Options> ParseOptions(const std::vector<std::string>& args) {
  Options o;
  bool have_nodes = false;
  bool have_hosts = false;
  bool help = false;
  bool version = false;
  std::optional<Status> error;  // the first problem; --help/--version still win
  std::string vm_only;           // the first option that needs --vm
  auto fail = [&](std::string message) {
    if (!error) error = UsageErr(std::move(message));
  };

  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // the program ("-" included)

    std::string name = arg;
    std::optional<std::string> inline_value;
    if (arg.starts_with("--")) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        name = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
      }
    } else if (arg.starts_with("-n") && arg.size() > 2) {
      name = "-n";
      inline_value = arg.substr(2);
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < args.size()) return args[++i];
      fail("option " + Quote(name) + " needs a value");
      return std::nullopt;
    };
    auto flag = [&]() {
      if (inline_value) fail("option " + Quote(name) + " takes no value");
    };

    if (name == "--help" || name == "-h") {
      flag();
      help = true;
    } else if (name == "--version") {
      flag();
      version = true;
    } else if (name == "-n" || name == "--nodes") {
      auto v = value();
      if (!v) continue;
      auto n = ParseUint(*v);
      if (!n) {
        fail("invalid value " + Quote(*v) + " for " + name + ": not a number");
      } else if (*n < 1 || *n > kMaxNodes) {
        fail("invalid value " + Quote(*v) + " for " + name + ": the number of nodes must be 1 to " +
             std::to_string(kMaxNodes));
      } else {
        o.nodes = static_cast<uint32_t>(*n);
        have_nodes = true;
      }
    } else if (name == "--memory") {
      auto v = value();
      if (!v) continue;
      auto n = ParseSize(*v);
      std::string what = "invalid value " + Quote(*v) + " for --memory: ";
      if (!n) {
        fail(what + "not a size (examples: 256M, 1G)");
      } else if (*n < kMinMemory) {
        fail(what + "below the minimum of 64M");
      } else if (*n > kMaxMemory) {
        fail(what + "above the maximum of 1T");
      } else if ((*n & (*n - 1)) != 0) {
        fail(what + "not a power of two");
      } else {
        o.memory = *n;
      }
    } else if (name == "--stack") {
      auto v = value();
      if (!v) continue;
      auto n = ParseSize(*v);
      if (!n || *n == 0) {
        fail("invalid value " + Quote(*v) + " for --stack: not a size (examples: 64M, 1G)");
      } else {
        o.stack = *n;
      }
    } else if (name == "--timeout") {
      auto v = value();
      if (!v) continue;
      auto s = ParseSeconds(*v);
      std::string what = "invalid value " + Quote(*v) + " for --timeout: ";
      if (!s) {
        fail(what + "not a number of seconds");
      } else if (*s <= 0) {
        fail(what + "must be positive");
      } else if (*s > kMaxTimeoutSeconds) {
        fail(what + "too large (at most 1000000000)");
      } else {
        o.timeout_seconds = *s;
        o.timeout_text = *v;
      }
    } else if (name == "--peer-timeout") {
      auto v = value();
      if (!v) continue;
      auto s = ParseSeconds(*v);
      std::string what = "invalid value " + Quote(*v) + " for --peer-timeout: ";
      if (!s) {
        fail(what + "not a number of seconds");
      } else if (*s < 0.5 || *s > 3600) {
        fail(what + "must be 0.5 to 3600 seconds");
      } else {
        o.peer_timeout_ms = static_cast<uint32_t>(*s * 1000 + 0.5);
      }
    } else if (name == "--tag-output") {
      flag();
      o.tag_output = true;
    } else if (name == "--stats") {
      flag();
      o.stats = true;
    } else if (name == "--trace") {
      auto v = value();
      if (!v) continue;
      if (v->empty()) {
        fail("invalid value '' for --trace: empty path");
      } else {
        o.trace = *v;
      }
    } else if (name == "--hosts") {
      auto v = value();
      if (!v) continue;
      auto n = ParseUint(*v);
      if (!n) {
        fail("invalid value " + Quote(*v) + " for --hosts: not a number");
      } else if (*n < 1 || *n > kMaxHosts) {
        fail("invalid value " + Quote(*v) + " for --hosts: the number of hosts must be 1 to " +
             std::to_string(kMaxHosts));
      } else {
        o.hosts = static_cast<uint32_t>(*n);
        have_hosts = true;
      }
    } else if (name == "--hostfile") {
      auto v = value();
      if (!v) continue;
      if (v->empty()) {
        fail("invalid value '' for --hostfile: empty path");
      } else {
        o.hostfile = *v;
      }
    } else if (name == "--host") {
      auto v = value();
      if (!v) continue;
      auto hosts = ParseHostList(*v);
      if (!hosts.ok()) {
        fail("invalid value " + Quote(*v) + " for --host: " + hosts.status().message());
      } else {
        o.host_list = std::move(hosts).value();
      }
    } else if (name == "--ssh") {
      auto v = value();
      if (!v) continue;
      if (v->find_first_not_of(" \t") == std::string::npos) {
        fail("invalid value " + Quote(*v) + " for --ssh: no command");
      } else {
        o.ssh = *v;
      }
    } else if (name == "--stage") {
      flag();
      o.stage = true;
    } else if (name == "--launcher") {
      auto v = value();
      if (!v) continue;
      if (*v == "ssh") {
        o.launcher = Options::Launcher::kSsh;
      } else if (*v == "slurm") {
        o.launcher = Options::Launcher::kSlurm;
      } else if (*v == "local") {
        o.launcher = Options::Launcher::kLocal;
      } else {
        fail("invalid value " + Quote(*v) + " for --launcher: must be ssh, slurm or local");
      }
    } else if (name == "--placement") {
      auto v = value();
      if (!v) continue;
      if (*v == "block") {
        o.placement = Placement::kBlock;
      } else if (*v == "cyclic") {
        o.placement = Placement::kCyclic;
      } else {
        fail("invalid value " + Quote(*v) + " for --placement: must be block or cyclic");
      }
    } else if (name == "--home") {
      auto v = value();
      if (!v) continue;
      if (*v == "first-touch") {
        o.home = HomePolicy::kFirstTouch;
      } else if (*v == "round-robin") {
        o.home = HomePolicy::kRoundRobin;
      } else if (*v == "migrate") {
        o.home = HomePolicy::kMigrate;
      } else {
        fail("invalid value " + Quote(*v) + " for --home: must be first-touch, round-robin or migrate");
      }
    } else if (name == "--huge-pages") {
      auto v = value();
      if (!v) continue;
      if (*v == "on" || *v == "off") {
        o.huge_pages = *v == "on";
      } else {
        fail("invalid value " + Quote(*v) + " for --huge-pages: must be on or off");
      }
    } else if (name == "--netns") {
      flag();
      o.netns = true;
    } else if (name == "--stats-json") {
      auto v = value();
      if (!v) continue;
      if (v->empty()) {
        fail("invalid value '' for --stats-json: empty path");
      } else {
        o.stats_json = *v;
      }
    } else if (name == "--hostd") {
      auto v = value();
      if (!v) continue;
      if (v->empty()) {
        fail("invalid value '' for --hostd: empty path");
      } else {
        o.hostd = *v;
      }
    } else if (name == "--vm") {
      flag();
      o.vm = true;
    } else if (name == "--vm-nodes") {
      auto v = value();
      if (!v) continue;
      o.vm = true;
      o.vm_nodes = *v;
      // Empty would read as "every node" below: refuse it, like any bad list.
      if (v->empty()) fail("invalid value '' for --vm-nodes: no node ids");
    } else if (name == "--vm-memory") {
      if (vm_only.empty()) vm_only = name;
      auto v = value();
      if (!v) continue;
      auto n = ParseSize(*v);
      std::string what = "invalid value " + Quote(*v) + " for --vm-memory: ";
      if (!n) {
        fail(what + "not a size (examples: 256M, 1G)");
      } else if (*n < kMinVmMemory || *n > kMaxVmMemory) {
        fail(what + "each guest needs 128M to 64G");
      } else if (*n % (1 << 20) != 0) {
        fail(what + "not a whole number of MiB");
      } else {
        o.vm_memory = *n;
      }
    } else if (name == "--vm-cpus") {
      if (vm_only.empty()) vm_only = name;
      auto v = value();
      if (!v) continue;
      auto n = ParseUint(*v);
      if (!n || *n < 1 || *n > kMaxVmCpus) {
        fail("invalid value " + Quote(*v) + " for --vm-cpus: must be 1 to " + std::to_string(kMaxVmCpus));
      } else {
        o.vm_cpus = static_cast<uint32_t>(*n);
      }
    } else if (name == "--accel") {
      if (vm_only.empty()) vm_only = name;
      auto v = value();
      if (!v) continue;
      if (*v == "tcg" || *v == "kvm") {
        o.accel = *v;
      } else {
        fail("invalid value " + Quote(*v) + " for --accel: must be tcg or kvm");
      }
    } else if (name == "--vm-console") {
      if (vm_only.empty()) vm_only = name;
      flag();
      o.vm_console = true;
    } else if (name == "--vm-share") {
      if (vm_only.empty()) vm_only = name;
      auto v = value();
      if (!v) continue;
      if (v->empty() || ((*v)[0] != '/' && *v != "none")) {
        fail("invalid value " + Quote(*v) + " for --vm-share: an absolute directory, or none");
      } else {
        o.vm_share = *v;
      }
    } else if (name == "--qemu") {
      if (vm_only.empty()) vm_only = name;
      auto v = value();
      if (!v) continue;
      if (v->empty()) {
        fail("invalid value '' for --qemu: empty path");
      } else {
        o.qemu = *v;
      }
    } else {
      fail("unknown option " + Quote(name));
    }
  }

  if (help) {
    o.action = Options::Action::kHelp;
    return o;
  }
  if (version) {
    o.action = Options::Action::kVersion;
    return o;
  }
  if (!error && o.stack != 0 && !device::LayoutFits(o.memory, o.stack)) {
    fail("invalid value for --stack: " + std::to_string(o.stack) +
         " bytes must be between 64K and 4G and leave 16M of heap in the " + std::to_string(o.memory >> 20) +
         "M shared space (--memory)");
  }
  if (!error && !o.vm && !vm_only.empty()) fail("option '" + vm_only + "' needs --vm");
  const bool named_hosts = !o.hostfile.empty() || !o.host_list.empty();
  if (!error && o.slurm() && named_hosts) {
    fail("--launcher slurm takes the hosts from the Slurm allocation: not with --hostfile or --host");
  }
  if (!error && o.launcher == Options::Launcher::kSsh && !named_hosts) fail("--launcher ssh needs --hostfile or --host");
  if (!error && o.launcher == Options::Launcher::kLocal && named_hosts) {
    fail("--launcher local runs the job on this machine: not with --hostfile or --host");
  }
  if (!error && o.remote()) {
    const std::string with = o.slurm() ? "--launcher slurm" : "--hostfile or --host";
    if (!o.hostfile.empty() && !o.host_list.empty()) fail("--hostfile and --host cannot be used together");
    if (have_hosts) fail("--hosts cannot be used with " + with + ": the hosts are the ones named");
    if (o.netns) fail("--netns cannot be used with " + with + " (not yet supported)");
    if (o.vm) fail("--vm cannot be used with " + with + " (not yet supported)");
  }
  if (!error && !named_hosts && !o.ssh.empty()) fail("option '--ssh' needs --hostfile or --host");
  if (!error && !o.remote() && o.stage) {
    fail(o.launcher == Options::Launcher::kAuto ? "option '--stage' needs --hostfile or --host"
                                                : "option '--stage' needs --hostfile, --host or --launcher slurm");
  }
  if (error) return *error;
  // Without -n a job inside a Slurm allocation takes its task count
  // (ResolveHosts); anywhere else -n is required.
  const bool nodes_from_allocation = !have_nodes && !named_hosts && !have_hosts &&
                                     (o.launcher == Options::Launcher::kAuto || o.slurm());
  if (!have_nodes && (!nodes_from_allocation || i >= args.size())) return UsageErr(kMissingNodes);
  if (have_nodes && !o.remote() && o.hosts > o.nodes) {
    return UsageErr("--hosts " + std::to_string(o.hosts) + " needs at least as many nodes (-n " +
                    std::to_string(o.nodes) + "): every host runs at least one node");
  }
  if (have_nodes && !o.vm_nodes.empty() && !ParseIdList(o.vm_nodes, o.nodes)) {
    return UsageErr("invalid value " + Quote(o.vm_nodes) + " for --vm-nodes: node ids below " +
                    std::to_string(o.nodes) + " and ranges, like 1,3 or 2-5");
  }
  if (i >= args.size()) return UsageErr("missing program to run");
  o.program = args[i];
  o.args.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  return o;
}

Status ResolveHosts(Options* o, const char* dsm_ssh_env) {
  return ResolveHosts(o, [dsm_ssh_env](const char* name) -> const char* {
    return std::string_view(name) == "DSM_SSH" ? dsm_ssh_env : nullptr;
  });
}

Status ResolveHosts(Options* o, const std::function<const char*(const char*)>& env) {
  using Launcher = Options::Launcher;
  if (o->launcher == Launcher::kAuto) {
    if (!o->hostfile.empty() || !o->host_list.empty()) {
      o->launcher = Launcher::kSsh;
    } else if (InSlurmJob(env) && o->hosts == 1 && !o->netns && !o->vm) {
      o->launcher = Launcher::kSlurm;
    } else {
      o->launcher = Launcher::kLocal;
    }
  }
  if (o->stage && !o->remote()) return UsageErr("option '--stage' needs --hostfile, --host or --launcher slurm");
  if (o->nodes == 0 && !o->slurm()) return UsageErr(kMissingNodes);
  if (!o->remote()) return Status::Ok();
  std::vector<HostEntry> hosts = o->host_list;
  if (o->slurm()) {
    auto allocation = ReadAllocation(env);
    if (!allocation.ok()) return UsageErr(allocation.status().message());
    hosts = std::move(allocation).value();
    if (o->nodes == 0) {
      // No -n: one node per task of the allocation, as mpirun does.
      uint64_t tasks = 0;
      for (const HostEntry& h : hosts) tasks += h.slots;
      if (tasks == 0 || tasks > kMaxNodes) {
        return UsageErr("the allocation has " + std::to_string(tasks) + " tasks; give -n (1 to " +
                        std::to_string(kMaxNodes) + ")");
      }
      o->nodes = static_cast<uint32_t>(tasks);
    }
  } else if (!o->hostfile.empty()) {
    auto read = ReadHostfile(o->hostfile);
    if (!read.ok()) return UsageErr(read.status().message());
    hosts = std::move(read).value();
  }
  auto plan = PlaceOnHosts(hosts, o->nodes, o->placement, kMaxHosts);
  if (!plan.ok()) return UsageErr(plan.status().message());
  o->remote_hosts = std::move(plan->hosts);
  o->host_of_node = std::move(plan->host_of_node);
  o->hosts = static_cast<uint32_t>(o->remote_hosts.size());
  if (o->slurm()) return Status::Ok();
  const char* dsm_ssh_env = env("DSM_SSH");
  if (o->ssh.empty()) o->ssh = dsm_ssh_env != nullptr && *dsm_ssh_env != '\0' ? dsm_ssh_env : "ssh";
  return Status::Ok();
}

std::string UsageText() {
  return R"(usage: dsm-run -n N [options] [--] PROGRAM [ARGS...]

Runs a dsmkit job on this machine: starts the host daemon dsm-hostd (one per
simulated host with --hosts), then N copies of PROGRAM (the nodes of the
job), and supervises them until the job ends. Options end at '--' or at
PROGRAM; every argument after PROGRAM is passed to it untouched, even one
that looks like an option.

options:
  -n, --nodes N      number of nodes, 1..1024 (required, except inside a
                     Slurm allocation: then one per task of it)
  --memory SIZE      size of the shared space: a power of two from 64M to 1T,
                     with a K, M, G or T suffix (default 1G)
  --stack SIZE       size of node 0's main stack, which lives in the shared
                     space (default 16M; 64K..4G, leaving 16M of heap)
  --timeout S        end the job S seconds after dsm-run started (fractions
                     allowed) and exit with status 124
  --peer-timeout S   with several hosts: how long a daemon waits on a host
                     it hears nothing from (no message, no heartbeat)
                     before it ends the job naming that host; 0.5 to 3600
                     (default 2). Raise it on machines so loaded that a
                     live daemon can stay unscheduled that long
  --tag-output       prefix every line the nodes print with "[node K] " (with
                     several hosts "[node K@hH] ", H the node's host; their
                     stdout goes to dsm-run's stdout, their stderr to its
                     stderr, one whole line at a time; lines longer than
                     64 KiB are split). Without it the nodes write to
                     dsm-run's stdout and stderr directly.
  --stats            have dsm-hostd print per-node statistics on stderr at exit
  --stats-json FILE  have every daemon write its statistics as a JSON object
                     to FILE.host<H>, and merge them into FILE as
                     {"hosts":[host 0's, host 1's, ...]} (null for a host that
                     wrote none); the per-host files are removed once merged
  --trace FILE       write a timeline of every node (parallel regions,
                     barriers, lock waits) to FILE in Chrome's trace event
                     format: open it in Perfetto (ui.perfetto.dev) or
                     chrome://tracing
  --hosts H          simulate H hosts on this machine, 1..64 (default 1): H
                     daemons, each with its own socket and shared space,
                     joined over TCP; every host runs at least one node
  --placement P      which host runs which node: block (default; nodes
                     0..N/H-1 on host 0 and so on, the remainder one more on
                     each of the first hosts) or cyclic (node K on host K
                     mod H)
  --home MODE        where each shared page has its home: migrate
                     (default: the host that touches it first, and then at
                     every barrier a page written by one host only moves
                     its home there), first-touch (where it was first
                     touched, for good) or round-robin (page number modulo
                     hosts); passed to every daemon
  --huge-pages on|off  on (default): each daemon keeps its shared space on a
                     private tmpfs that grants huge pages (2 MiB) to the
                     nodes of a one-host job, which ask for them: a node
                     maps 512 pages per fault instead of one (without the
                     privileges or user namespaces for that mount, a memfd,
                     huge only where transparent_hugepage/shmem_enabled
                     allows); off: 4 KiB pages, memory taken page by page
  --netns            run each host (its daemon and its nodes) in a network
                     namespace of its own, on a private network that dsm-run
                     creates and always removes: namespaces dsm-PID-h<H> and
                     dsm-PID-hub (a bridge), host H at 10.213.0.<H+1>/24.
                     Needs root and iproute2. Without it the daemons listen
                     on 127.0.0.1
  --hostd PATH       the daemon to run (default: dsm-hostd in the directory
                     of the dsm-run executable)
  --hostfile FILE    run the job on other machines, reached over ssh: one
                     host per line, 'HOST [slots=K] [listen=ADDR]' (Open
                     MPI's form; '#' starts a comment; a host listed twice
                     adds its slots). HOST is what ssh is given; slots
                     (default 1) is how many nodes it may run; listen is
                     where its daemon listens for the others (an address or
                     an interface of that host; default: the address the
                     ssh connection reached there, never a wildcard).
                     Nodes go to hosts by slots (--placement block fills
                     the first host's slots first, cyclic takes the hosts
                     in turn); more nodes than slots is an error; hosts
                     without a node are not used. Every host runs a daemon
                     and its nodes over ssh (BatchMode, connections made in
                     parallel), all ended when the job ends or a host, a
                     daemon, an ssh connection or a node is lost. dsm-run,
                     dsm-hostd and PROGRAM must be at the same paths on
                     every host (a shared file system), unless --stage.
                     --stats-json and --trace work (each host's agent
                     sends its daemon's statistics and its nodes'
                     timelines back; their times are put on this
                     machine's clock through the real-time clocks, as
                     close as NTP keeps them). Not with --hosts, --netns,
                     --vm
  --host LIST        the same with the hosts on the command line:
                     HOST[:SLOTS],... (like 'a,b:2')
  --ssh COMMAND      the command that reaches a host (default: $DSM_SSH, else
                     ssh), split at spaces (quotes group words); run as
                     COMMAND [OPTIONS] HOST REMOTE-COMMAND, where OPTIONS
                     (only when COMMAND is ssh: -T -x -o BatchMode=yes
                     -o ConnectTimeout=5 -o ServerAliveInterval=1
                     -o ServerAliveCountMax=3) come after COMMAND's own
                     words, so those win. The remote shell must be a
                     Bourne-like shell
  --stage            copy PROGRAM into each host's private directory for
                     the job and run it from there (removed afterwards)
  --launcher L       how the hosts are reached: ssh (--hostfile, --host),
                     slurm (the machines and tasks per node of the Slurm
                     allocation, each daemon and node started with srun;
                     the default inside one, SLURM_JOB_ID set, unless
                     --hosts, --netns or --vm is given) or local
                     (this machine only)
  --vm               run every node in a QEMU virtual machine of its own,
                     attached to its host's daemon through QEMU's stock
                     ivshmem-doorbell device; the guest boots an image that
                     dsm-image builds from PROGRAM (cached by content, see
                     docs/vm.md). Everything above holds for VM nodes; the
                     guest's exit status is the node's
  --vm-nodes LIST    run only these nodes in guests (implies --vm), the
                     others as processes in the same job: node ids and
                     ranges, like 1,3 or 2-5
  --vm-memory SIZE   each guest's RAM (default 256M; 128M..64G)
  --vm-cpus N        each guest's virtual CPUs (default 1)
  --accel A          tcg (default: software emulation, works everywhere) or
                     kvm (only where /dev/kvm really works)
  --vm-console       print the guests' kernel messages on stderr, as lines
                     "[node K console] ..."
  --vm-share DIR     the host directory every guest mounts at the same path
                     (virtio-9p, read and written as you): default the
                     working directory (not when it is /), 'none' for none
  --qemu PATH        the QEMU to run (default: qemu-system-x86_64 on PATH)
  -h, --help         print this help and exit
  --version          print the version and exit

Each node runs PROGRAM with dsm-run's environment plus (with --hostfile:
the environment ssh gives it on its host, in dsm-run's working directory
when that exists there, plus DSM_LOG when set, plus):
  DSM_SOCKET=PATH    its daemon's UNIX socket (in a private directory under
                     $TMPDIR, default /tmp, removed when the job ends)
  DSM_NODE_ID=K      the node's number, 0..N-1
  DSM_NUM_NODES=N    the number of nodes
  DSM_HOST_ID=H      the node's host, 0..H-1 (only with --hosts above 1, or
                     several hosts used from --hostfile)
Node 0 reads dsm-run's standard input; the other nodes read /dev/null.
A VM node gets the same environment (without DSM_SOCKET, PATH, HOME, TMPDIR
and the library paths, which mean nothing in a guest) and works in a
directory of dsm-run's name, which the guest mounts from this machine
(--vm-share); other files of this machine are not there. Its standard input (node 0) is read by dsm-run as it arrives.
dsm-run itself reads TMPDIR, and DSM_LOG (DSM_LOG=debug traces what it does).

Each daemon has 10 seconds to report that it is ready. With several hosts,
host 0's daemon starts first and says where the others join it; they start
then, and the nodes once every daemon is ready. When the job ends a daemon
tells dsm-run whether node 0 finished it, which node left it early, or which
host it lost contact with; the first such word decides. The job ends when
node 0 exits: once node 0 has finished the job, the other nodes learn it
from their daemon and exit with status 0; those still running 3 seconds
after node 0 exited are killed. If a process of the job (another node, a
daemon, or node 0 by a signal) ends before the job finished, even with
status 0, or a node leaves the job early, dsm-run names it and ends the
job: SIGTERM to every process, SIGKILL one second later. When a node leaves
early the others stop with status 3; dsm-run names the node that left, not
them (if it keeps running, it is named after half a second). Likewise for
a host that a daemon lost contact with: its daemon is named if it exits
within half a second, the lost contact otherwise. A node that stops with
status 3 on its own account (its daemon went away) is named only if no
cause shows up within one second. A node that exits without ever joining
the job (the daemons report each node that attaches) is named with the
likely cause: PROGRAM is not linked with libdsm. SIGINT, SIGTERM and SIGHUP
sent to dsm-run end the job the same way; a second one kills it at once.

Exit status:
  node 0's exit status   node 0 exited (the job finished)
  its status, or 128+S   another process of the job failed first: its exit
                         status, or 128+S if signal S killed it (1 if it
                         exited with status 0, left the job but kept
                         running, or its host was lost)
  1                      a daemon failed to start, or dsm-run itself failed
  2                      bad command line; nothing was started
  124                    the --timeout expired
  127                    PROGRAM could not be executed
  128+S                  dsm-run received signal S
)";
}

}  // namespace dsm::launcher
