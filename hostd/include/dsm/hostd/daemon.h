// dsm-hostd's event loop: one thread polls the ivshmem listening socket,
// every peer's socket, the daemon's own doorbell eventfd, a stop eventfd and
// (in the dsm-hostd program) a signalfd, and dispatches to the ivshmem server
// and the host core. No timers yet.
//
// The same class runs as the dsm-hostd process and, for one-node jobs
// started without dsm-run and for tests, on a thread inside another process.
//
// Thread safety: Run() on one thread; RequestStop() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "dsm/common/fd.h"
#include "dsm/common/status.h"
#include "dsm/hostd/host_core.h"
#include "dsm/hostd/ivshmem_server.h"
#include "dsm/hostd/shared_space.h"

namespace dsm::hostd {

struct DaemonConfig {
  std::string socket_path;        // '@' prefix: abstract namespace
  SpaceConfig space;
  bool exit_when_done = false;    // return from Run() once the job ended and all peers left
  bool print_stats = false;       // print the statistics table on stderr when Run() returns
  int signal_fd = -1;             // optional signalfd; readable means stop
  // Optional: the daemon reports the job's progress here, one line per
  // event, each written before the node concerned is answered: "attached
  // <node id>" as a node joins; when the job ends, "finished <exit status>"
  // or "lost <node id>".
  int status_fd = -1;
};

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> Create(const DaemonConfig& config);

  // Serves until RequestStop(), a signal on signal_fd, or (exit_when_done)
  // the end of the job. Returns the process exit status the daemon should
  // have: 0 when the job finished or was never run, 1 when it failed.
  int Run();
  void RequestStop();

  [[nodiscard]] const std::string& socket_path() const { return server_->path(); }
  [[nodiscard]] const SharedSpace& space() const { return space_; }
  [[nodiscard]] const HostCore& core() const { return *core_; }

 private:
  Daemon() = default;
  Status Watch(int fd, uint64_t tag);
  void HandleAccept();
  void WriteStatus(const std::string& line);

  DaemonConfig config_;
  SharedSpace space_;
  std::unique_ptr<IvshmemServer> server_;
  std::unique_ptr<HostCore> core_;
  UniqueFd epoll_;
  UniqueFd stop_;
};

}  // namespace dsm::hostd
