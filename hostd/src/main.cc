// dsm-hostd: the host daemon. See hostd/include/dsm/hostd/daemon.h.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

#include "dsm/common/fd.h"
#include "dsm/common/log.h"
#include "dsm/common/parse.h"
#include "dsm/hostd/daemon.h"

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
  --ready-fd FD      write "ready\n" to FD once listening, "attached <node>\n"
                     as each node joins (before it is answered), and when the
                     job ends "finished <status>\n" (node 0 finished with
                     that exit status) or "lost <node>\n" (that node left
                     early), before any other node is told; closed at exit
  --exit-when-done   exit once the job ended and every node left
  --stats            print per-node statistics on stderr at exit
  --help, --version

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
    } else if (arg == "--ready-fd") {
      const char* v = value("--ready-fd");
      auto n = v ? dsm::ParseUint(v) : std::nullopt;
      if (!n || *n > 1 << 20) return UsageError("--ready-fd needs a file descriptor number");
      ready_fd = static_cast<long>(*n);
    } else if (arg == "--exit-when-done") {
      config.exit_when_done = true;
    } else if (arg == "--stats") {
      config.print_stats = true;
    } else {
      return UsageError("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (config.socket_path.empty()) return UsageError("--socket is required");
  if (nodes == 0) return UsageError("--nodes is required");
  if (dsm::Status s = dsm::hostd::ValidateStackSize(config.space.stack_size, config.space.size); !s.ok()) {
    return UsageError(s.message());
  }
  config.space.num_nodes = static_cast<uint32_t>(nodes);
  config.space.job_id = std::random_device{}();

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

  auto daemon = dsm::hostd::Daemon::Create(config);
  if (!daemon.ok()) {
    DSM_LOG_ERROR("cannot start: %s", daemon.status().message().c_str());
    return 2;
  }
  if (ready_fd >= 0) {
    const char ready[] = "ready\n";
    if (::write(static_cast<int>(ready_fd), ready, sizeof ready - 1) != sizeof ready - 1) {
      DSM_LOG_ERROR("cannot write to --ready-fd %ld: %s", ready_fd, std::strerror(errno));
      return 2;
    }
  }
  return daemon.value()->Run();
}
