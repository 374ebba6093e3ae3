// dsm-hostd's daemon: an EventLoop (event_loop.h) on which the ivshmem
// server and the host core register their handlers: the ivshmem listening
// socket, every peer's socket, the daemon's own doorbell eventfd and (in the
// dsm-hostd program) a signalfd. At the end of every round the daemon
// publishes the CPU it runs on and serves the requests the doorbell announced,
// after the round's membership changes.
//
// The same class runs as the dsm-hostd process and, for one-node jobs
// started without dsm-run and for tests, on a thread inside another process.
//
// Ownership: the daemon owns its loop, the shared space, the ivshmem server
// and the host core. The loop is destroyed last, so whatever else registers
// with it (a peer transport) may unregister in its destructor.
//
// Thread safety: Run() on one thread; RequestStop() from any thread; loop()
// as EventLoop says (Post and RequestStop from anywhere, the rest on the loop
// thread or before Run()).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dsm/common/job_status.h"
#include "dsm/common/status.h"
#include "dsm/hostd/event_loop.h"
#include "dsm/hostd/host_core.h"
#include "dsm/hostd/ivshmem_server.h"
#include "dsm/hostd/peer_transport.h"
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
  // Write this host's statistics as one JSON object to this file at exit.
  std::string stats_json;
  // A job of several hosts (space.num_hosts > 1): the node ids placed on
  // this host, and the transport to the other daemons (made by the dsm-hostd
  // program, so that nothing else links ZeroMQ). The daemon writes "ready"
  // on status_fd once every host joined, and "lost-host <h>" when a host is
  // lost.
  std::vector<uint32_t> local_nodes;
  std::shared_ptr<PeerTransport> transport;
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
  [[nodiscard]] EventLoop& loop() { return *loop_; }

 private:
  Daemon() = default;
  Status RegisterHandlers();
  void HandleAccept();
  void HandlePeer(int64_t peer);
  void HandleDoorbell();
  void EndOfRound();
  Status StartCluster();
  void WriteStatus(const jobstatus::Line& line);
  void WriteStatusText(const std::string& text);

  DaemonConfig config_;
  std::unique_ptr<EventLoop> loop_;  // first: destroyed last
  SharedSpace space_;
  std::unique_ptr<IvshmemServer> server_;
  std::unique_ptr<HostCore> core_;
  // Declared after loop_ so that it is destroyed before it (the transport
  // unregisters from the loop); taken out of config_ for the same reason.
  std::shared_ptr<PeerTransport> transport_;
  std::map<int64_t, int> peer_fds_;  // ivshmem peer id -> its socket, as watched
  bool doorbell_rang_ = false;       // this round; served at its end
};

}  // namespace dsm::hostd
