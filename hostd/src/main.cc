// dsm-hostd: the host daemon. See hostd/include/dsm/hostd/daemon.h.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "dsm/common/fd.h"
#include "dsm/common/job_keys.h"
#include "dsm/common/log.h"
#include "dsm/common/parse.h"
#include "dsm/hostd/daemon.h"
#include "dsm/hostd/peer_protocol.h"
#include "dsm/hostd/zmq_transport.h"
#include "dsm/common/job_status.h"

namespace {

constexpr const char* kUsage = R"(usage: dsm-hostd --socket PATH --nodes N [options]

The dsmkit host daemon: serves the nodes of one host through the ivshmem
protocol on a UNIX socket (QEMU's ivshmem-doorbell device attaches to it as
it is), runs the lock and barrier managers and hands out shared memory.
dsm-run starts it; run it by hand to attach QEMU guests or debug.

options:
  --socket PATH      UNIX socket to listen on ('@name': abstract namespace)
  --nodes N          nodes in the job (1..1024)
  --memory SIZE      shared space size, a power of two (K/M/G/T suffixes;
                     default 1G, 64M..1T)
  --stack SIZE       node 0's main stack in the shared space (default 16M,
                     64K..4G, leaving at least 16 MiB of heap)
  --globals SIZE     room for the program's shared globals (dsm-run reads
                     it from the program; default 0: no shared globals)
  --ready-fd FD      write "ready\n" to FD once listening, "attached <node>\n"
                     as each node joins (before it is answered), and when the
                     job ends "finished <status>\n" (node 0 finished with
                     that exit status) or "lost <node>\n" (that node left
                     early), before any other node is told; closed at exit
  --exit-when-done   exit once the job ended and every node left
  --stats            print per-node statistics on stderr at exit
  --stats-json FILE  write this host's statistics as one JSON object at exit
  --huge-pages on|off  on (default): the shared space is a file on a private
                     tmpfs mounted huge=advise (in a user namespace when the
                     daemon lacks CAP_SYS_ADMIN; a memfd where neither works),
                     and the nodes of a one-host job ask for huge pages on
                     it; off: a memfd, and nodes do not ask
  --help, --version

a job of several hosts (one daemon per host; dsm-run --hosts starts them):
  --hosts K          hosts in the job (1..64, default 1)
  --host-id H        this daemon's host (0..K-1)
  --local-nodes LIST the node ids placed on this host, e.g. 0-3 or 0,2,4
  --listen ENDPOINT  where other daemons reach this one: tcp://ADDR:PORT
                     (PORT 0: any free port; host 0 writes "listening
                     <endpoint>" to --ready-fd once bound)
  --join ENDPOINT    host 0's endpoint (every host but 0)
  --job-id N         the job's id, the same for every daemon (decimal);
                     daemons of other jobs are refused
  --home MODE        where pages live: migrate (default: first touch, then a
                     barrier moves a page written by one host only to that
                     host), first-touch or round-robin
  --keys-fd FD       read the job's CURVE key pair from FD (to its end; then
                     FD is closed): two lines, "curve-public <key>" and
                     "curve-secret <key>", each key 40 characters of Z85
                     (a pipe, or a file only its owner may read).
                     Every daemon of the job gets the same pair (dsm-run
                     makes one per job); a daemon accepts connections only
                     from clients with the job's key and refuses the rest
  --peer-timeout-ms N  declare a host lost after N ms without a message or
                     heartbeat from it (100..3600000; default 2000); the
                     heartbeat goes every N/8 ms, at most every 250 ms
  --insecure         run without keys: any process that reaches --listen
                     can take part in the job (one of --keys-fd and
                     --insecure is required with --hosts)

Exit status: 0 when the job finished (or the daemon was stopped by SIGTERM
or SIGINT), 1 when a node left before the job finished, 2 on bad arguments
or when the daemon cannot start.
)";

int UsageError(const std::string& what) {
  std::fprintf(stderr, "dsm-hostd: error: %s\nTry 'dsm-hostd --help'.\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  dsm::SetLogPrefix("dsm-hostd");
  dsm::hostd::DaemonConfig config;
  uint64_t nodes = 0;
  long ready_fd = -1;
  uint64_t hosts = 1;
  std::optional<uint64_t> host_id;
  std::string local_nodes, listen, join;
  std::optional<uint64_t> job_id;
  long keys_fd = -1;
  bool insecure = false;
  int peer_timeout_ms = 0;  // 0: the default (peer::kPeerTimeoutMs)
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](const char*) -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--version") {
      std::puts("dsm-hostd (dsmkit) 0.1.0");
      return 0;
    } else if (arg == "--socket") {
      const char* v = value("--socket");
      if (v == nullptr || *v == '\0') return UsageError("--socket needs a path");
      config.socket_path = v;
    } else if (arg == "--nodes") {
      const char* v = value("--nodes");
      auto n = v ? dsm::ParseUint(v) : std::nullopt;
      if (!n || *n < 1 || *n > dsm::device::kMaxNodes) {
        return UsageError("--nodes needs a number from 1 to 1024");
      }
      nodes = *n;
    } else if (arg == "--memory") {
      const char* v = value("--memory");
      auto n = v ? dsm::ParseSize(v) : std::nullopt;
      if (!n) return UsageError("--memory needs a size such as 256M or 1G");
      if (dsm::Status s = dsm::hostd::ValidateSpaceSize(*n); !s.ok()) return UsageError(s.message());
      config.space.size = *n;
    } else if (arg == "--stack") {
      const char* v = value("--stack");
      auto n = v ? dsm::ParseSize(v) : std::nullopt;
      if (!n) return UsageError("--stack needs a size such as 64M");
      config.space.stack_size = *n;
    } else if (arg == "--globals") {
      const char* v = value("--globals");
      auto n = v ? dsm::ParseSize(v) : std::nullopt;
      if (!n) return UsageError("--globals needs a size such as 4096 or 2M");
      config.space.globals_size = *n;
    } else if (arg == "--ready-fd") {
      const char* v = value("--ready-fd");
      auto n = v ? dsm::ParseUint(v) : std::nullopt;
      if (!n || *n > 1 << 20) return UsageError("--ready-fd needs a file descriptor number");
      ready_fd = static_cast<long>(*n);
    } else if (arg == "--exit-when-done") {
      config.exit_when_done = true;
    } else if (arg == "--stats") {
      config.print_stats = true;
    } else if (arg == "--stats-json") {
      const char* v = value("--stats-json");
      if (v == nullptr || *v == '\0') return UsageError("--stats-json needs a file name");
      config.stats_json = v;
    } else if (arg == "--hosts") {
      const char* v = value("--hosts");
      auto n = v ? dsm::ParseUint(v) : std::nullopt;
      if (!n || *n < 1 || *n > dsm::hostd::peer::kMaxHosts) return UsageError("--hosts needs a number from 1 to 64");
      hosts = *n;
    } else if (arg == "--host-id") {
      const char* v = value("--host-id");
      host_id = v ? dsm::ParseUint(v) : std::nullopt;
      if (!host_id) return UsageError("--host-id needs a number");
    } else if (arg == "--local-nodes") {
      const char* v = value("--local-nodes");
      if (v == nullptr || *v == '\0') return UsageError("--local-nodes needs a list such as 0-3 or 0,2");
      local_nodes = v;
    } else if (arg == "--listen") {
      const char* v = value("--listen");
      if (v == nullptr || std::strncmp(v, "tcp://", 6) != 0) {
        return UsageError("--listen needs an endpoint such as tcp://10.0.0.1:0");
      }
      listen = v;
    } else if (arg == "--join") {
      const char* v = value("--join");
      if (v == nullptr || std::strncmp(v, "tcp://", 6) != 0) {
        return UsageError("--join needs host 0's endpoint, such as tcp://10.0.0.1:5555");
      }
      join = v;
    } else if (arg == "--job-id") {
      const char* v = value("--job-id");
      job_id = v ? dsm::ParseUint(v) : std::nullopt;
      if (!job_id || *job_id == 0) return UsageError("--job-id needs a non-zero decimal number");
    } else if (arg == "--keys-fd") {
      const char* v = value("--keys-fd");
      auto n = v ? dsm::ParseUint(v) : std::nullopt;
      if (!n || *n > 1 << 20) return UsageError("--keys-fd needs a file descriptor number");
      keys_fd = static_cast<long>(*n);
    } else if (arg == "--peer-timeout-ms") {
      const char* v = value("--peer-timeout-ms");
      auto n = v ? dsm::ParseUint(v) : std::nullopt;
      if (!n || *n < 100 || *n > 3600000) return UsageError("--peer-timeout-ms needs 100 to 3600000");
      peer_timeout_ms = static_cast<int>(*n);
    } else if (arg == "--insecure") {
      insecure = true;
    } else if (arg == "--huge-pages") {
      const char* v = value("--huge-pages");
      std::string_view mode = v ? v : "";
      if (mode != "on" && mode != "off") return UsageError("--huge-pages needs on or off");
      config.space.huge_pages = mode == "on";
    } else if (arg == "--home") {
      const char* v = value("--home");
      std::string_view mode = v ? v : "";
      if (mode == "first-touch") {
        config.space.home_mode = dsm::device::kHomeFirstTouch;
      } else if (mode == "round-robin") {
        config.space.home_mode = dsm::device::kHomeRoundRobin;
      } else if (mode == "migrate") {
        config.space.home_mode = dsm::device::kHomeMigrate;
      } else {
        return UsageError("--home needs first-touch, round-robin or migrate");
      }
    } else {
      return UsageError("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (config.socket_path.empty()) return UsageError("--socket is required");
  if (nodes == 0) return UsageError("--nodes is required");
  if (dsm::Status s = dsm::hostd::ValidateStackSize(config.space.stack_size, config.space.size,
                                                      config.space.globals_size);
      !s.ok()) {
    return UsageError(s.message());
  }
  config.space.num_nodes = static_cast<uint32_t>(nodes);
  config.space.job_id = job_id.value_or(std::random_device{}());
  if (hosts > 1) {
    if (!host_id || *host_id >= hosts) return UsageError("--host-id needs a number from 0 to " + std::to_string(hosts - 1));
    if (listen.empty()) return UsageError("--listen is required with --hosts");
    if (!job_id) return UsageError("--job-id is required with --hosts");
    if (*host_id != 0 && join.empty()) return UsageError("--join is required on every host but 0");
    if (*host_id == 0 && !join.empty()) return UsageError("--join is for hosts other than 0");
    if (local_nodes.empty()) return UsageError("--local-nodes is required with --hosts");
    auto ids = dsm::ParseIdList(local_nodes, static_cast<uint32_t>(nodes));
    if (!ids) {
      return UsageError("--local-nodes '" + local_nodes + "' is not a list of node ids below " +
                        std::to_string(nodes));
    }
    config.space.host_id = static_cast<uint32_t>(*host_id);
    config.space.num_hosts = static_cast<uint32_t>(hosts);
    config.local_nodes = *ids;
    if (keys_fd < 0 && !insecure) {
      return UsageError("--keys-fd is required with --hosts (the job's key pair; --insecure runs without)");
    }
    if (keys_fd >= 0 && insecure) return UsageError("--keys-fd and --insecure exclude each other");
    if (keys_fd >= 0 && keys_fd == ready_fd) return UsageError("--keys-fd and --ready-fd must differ");
  } else if (host_id.value_or(0) != 0 || !listen.empty() || !join.empty() || !local_nodes.empty() ||
             keys_fd >= 0 || insecure) {
    return UsageError("--host-id, --local-nodes, --listen, --join, --keys-fd and --insecure need --hosts 2 or more");
  }
  std::optional<dsm::jobkeys::Keys> keys;
  if (keys_fd >= 0) {
    // Read before anything else starts: the launcher wrote the block and
    // closed its end, so this does not wait for anyone.
    dsm::UniqueFd fd(static_cast<int>(keys_fd));
    if (::fcntl(fd.get(), F_GETFD) < 0) {
      (void)fd.release();
      return UsageError("--keys-fd " + std::to_string(keys_fd) + " is not an open file descriptor");
    }
    // A file others may read is no place for a secret.
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      return UsageError("--keys-fd " + std::to_string(keys_fd) + " is a file that others may read or write (mode " +
                        std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                        std::to_string(st.st_mode & 7) + "): make it readable by its owner only");
    }
    auto read = dsm::jobkeys::Read(fd.get());
    if (!read.ok()) return UsageError("--keys-fd " + std::to_string(keys_fd) + ": " + read.status().message());
    keys = std::move(read).value();
  }

  ::signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  dsm::UniqueFd sigfd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd) {
    DSM_LOG_ERROR("signalfd: %s", std::strerror(errno));
    return 2;
  }
  config.signal_fd = sigfd.get();
  if (ready_fd >= 0) {
    if (::fcntl(static_cast<int>(ready_fd), F_SETFD, FD_CLOEXEC) != 0) {
      return UsageError("--ready-fd " + std::to_string(ready_fd) + " is not an open file descriptor");
    }
    config.status_fd = static_cast<int>(ready_fd);
  }

  if (hosts > 1) {
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "dsm-hostd[host %u]", config.space.host_id);
    dsm::SetLogPrefix(prefix);
    dsm::hostd::ZmqTransportConfig tc;
    tc.host_id = config.space.host_id;
    tc.num_hosts = config.space.num_hosts;
    tc.job_id = config.space.job_id;
    tc.listen = listen;
    tc.join = join;
    tc.curve = std::move(keys);
    if (peer_timeout_ms != 0) {
      tc.timing.peer_timeout_ms = peer_timeout_ms;
      tc.timing.heartbeat_ms = std::min(dsm::hostd::peer::kHeartbeatMs, peer_timeout_ms / 8);
    }
    if (!tc.curve) DSM_LOG_WARN("--insecure: any process that reaches %s can take part in this job", listen.c_str());
    auto transport = dsm::hostd::ZmqTransport::Create(tc);
    tc.curve.reset();
    if (!transport.ok()) {
      DSM_LOG_ERROR("cannot start: %s", transport.status().message().c_str());
      return 2;
    }
    config.transport = std::move(transport).value();
  }
  auto daemon = dsm::hostd::Daemon::Create(config);
  // The daemon owns the transport now: it must go before the daemon's loop.
  std::string endpoint = config.transport ? config.transport->endpoint() : "";
  config.transport.reset();
  if (!daemon.ok()) {
    DSM_LOG_ERROR("cannot start: %s", daemon.status().message().c_str());
    return 2;
  }
  // One host: ready now. Several: host 0 says where to join; "ready" follows
  // from the daemon once every host joined.
  std::optional<dsm::jobstatus::Line> first;
  if (hosts == 1) {
    first = dsm::jobstatus::Line::Ready();
  } else if (config.space.host_id == 0) {
    first = dsm::jobstatus::Line::Listening(endpoint);
  }
  if (ready_fd >= 0 && first) {
    auto text = dsm::jobstatus::Format(*first);
    if (!text.ok() || ::write(static_cast<int>(ready_fd), text.value().data(), text.value().size()) !=
                          static_cast<ssize_t>(text.value().size())) {
      DSM_LOG_ERROR("cannot write to --ready-fd %ld: %s", ready_fd,
                    text.ok() ? std::strerror(errno) : text.status().message().c_str());
      return 2;
    }
  }
  return daemon.value()->Run();
}
