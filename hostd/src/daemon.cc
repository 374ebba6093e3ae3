#include "dsm/hostd/daemon.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dsm/common/ivshmem.h"
#include "dsm/common/job_status.h"
#include "dsm/common/log.h"

namespace dsm::hostd {

namespace {

void DrainEventfd(int fd) {
  uint64_t v;
  while (::read(fd, &v, sizeof v) == sizeof v) {
  }
}

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::Create(const DaemonConfig& config) {
  std::unique_ptr<Daemon> d(new Daemon());
  d->config_ = config;
  d->transport_ = std::move(d->config_.transport);
  auto loop = EventLoop::Create();
  if (!loop.ok()) return loop.status();
  d->loop_ = std::move(loop).value();
  auto space = SharedSpace::Create(config.space);
  if (!space.ok()) return space.status();
  d->space_ = std::move(space).value();
  DSM_LOG_DEBUG("shared space: %s", d->space_.backing().c_str());
  auto server = IvshmemServer::Create(config.socket_path, d->space_.fd(),
                                      static_cast<int64_t>(device::kMaxSlots) - 1);
  if (!server.ok()) return server.status();
  d->server_ = std::move(server).value();
  IvshmemServer* srv = d->server_.get();
  d->core_ = std::make_unique<HostCore>(&d->space_, config.space.num_nodes, [srv](uint32_t slot) {
    Status s = srv->Ring(slot, 0);
    if (!s.ok()) DSM_LOG_DEBUG("ring peer %u: %s", slot, s.message().c_str());
  });
  Daemon* self = d.get();
  if (config.status_fd >= 0) {
    d->core_->set_on_attach([self](uint32_t node) { self->WriteStatus(jobstatus::Line::Attached(node)); });
    d->core_->set_on_job_end([self](JobState state) {
      const HostCore& core = *self->core_;
      if (state == JobState::kFinished) {
        self->WriteStatus(jobstatus::Line::Finished(static_cast<uint32_t>(core.exit_status())));
      } else if (core.lost_host() && !core.lost_node()) {
        self->WriteStatus(jobstatus::Line::LostHost(*core.lost_host()));
      } else {
        self->WriteStatus(jobstatus::Line::Lost(core.lost_node().value_or(~0u)));
      }
    });
  }
  if (config.space.num_hosts > 1) {
    if (Status s = d->StartCluster(); !s.ok()) return s;
  }
  srv->set_on_leave([self](int64_t peer) {
    // The server closed the socket already (so the kernel dropped it from the
    // epoll set); forget its handler too.
    auto it = self->peer_fds_.find(peer);
    if (it != self->peer_fds_.end()) {
      self->loop_->RemoveFd(it->second);
      self->peer_fds_.erase(it);
    }
    self->core_->OnPeerLeft(static_cast<uint32_t>(peer));
  });
  if (Status s = d->RegisterHandlers(); !s.ok()) return s;
  return d;
}

Status Daemon::RegisterHandlers() {
  if (Status s = loop_->AddFd(server_->listen_fd(), [this] { HandleAccept(); }); !s.ok()) return s;
  if (Status s = loop_->AddFd(server_->own_vector(0), [this] { HandleDoorbell(); }); !s.ok()) return s;
  if (config_.signal_fd >= 0) {
    if (Status s = loop_->AddFd(config_.signal_fd, [this] { loop_->RequestStop(); }); !s.ok()) return s;
  }
  loop_->SetIdleHook([this] { EndOfRound(); });
  // Guests see no socket close when the daemon dies: they watch this.
  device::SpaceHeader* h = space_.header();
  loop_->AddTimer(device::kHeartbeatPeriodMs, device::kHeartbeatPeriodMs,
                  [h] { __atomic_fetch_add(&h->heartbeat, 1, __ATOMIC_RELAXED); });
  return Status::Ok();
}

Status Daemon::StartCluster() {
  if (!transport_) return Status(EINVAL, "a job of several hosts needs a transport");
  const SpaceConfig& sc = config_.space;
  std::vector<bool> local(sc.num_nodes, false);
  for (uint32_t n : config_.local_nodes) {
    if (n >= sc.num_nodes) return Status(EINVAL, "local node " + std::to_string(n) + " out of range");
    local[n] = true;
  }
  Coherence::Config cc;
  cc.host_id = sc.host_id;
  cc.num_hosts = sc.num_hosts;
  cc.local_nodes = static_cast<uint32_t>(config_.local_nodes.size());
  cc.home_mode = static_cast<device::HomeMode>(sc.home_mode);
  PeerTransport* t = transport_.get();
  core_->EnableCluster(cc, std::move(local),
                       [t](uint32_t to, uint16_t type, uint64_t request_id, std::string body) {
                         return t->Send(to, type, request_id, body);
                       });
  PeerTransport::Events events;
  events.on_message = [this](uint32_t from, uint16_t type, uint64_t request_id, std::string_view body) {
    core_->OnPeerMessage(from, type, request_id, body);
  };
  events.on_ready = [this] {
    DSM_LOG_INFO("every host joined");
    if (config_.status_fd >= 0) WriteStatus(jobstatus::Line::Ready());
  };
  events.on_host_lost = [this](uint32_t host, const std::string& why) { core_->OnHostLost(host, why); };
  return t->Start(loop_.get(), std::move(events));
}

void Daemon::WriteStatus(const jobstatus::Line& line) {
  auto text = jobstatus::Format(line);
  if (!text.ok()) {
    DSM_LOG_ERROR("status line: %s", text.status().message().c_str());
    return;
  }
  WriteStatusText(text.value());
}

void Daemon::WriteStatusText(const std::string& text) {
  if (::write(config_.status_fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    DSM_LOG_DEBUG("status fd: %s", std::strerror(errno));
  }
}

void Daemon::RequestStop() { loop_->RequestStop(); }

void Daemon::HandleAccept() {
  auto peer = server_->Accept();
  if (!peer.ok()) {
    // A client that hangs up before its handshake (a liveness probe, a node
    // killed while starting) or a spurious wake-up is not worth a warning.
    int code = peer.status().code();
    bool quiet = code == EPIPE || code == ECONNRESET || code == EAGAIN || code == EWOULDBLOCK;
    Log(quiet ? LogLevel::kInfo : LogLevel::kWarn, "refused a peer: %s", peer.status().message().c_str());
    return;
  }
  int64_t id = peer.value();
  for (auto& [pid, fd] : server_->PeerSockets()) {
    if (pid == id) {
      if (Status s = loop_->AddFd(fd, [this, id] { HandlePeer(id); }); !s.ok()) {
        DSM_LOG_ERROR("cannot watch peer %lld: %s", static_cast<long long>(id), s.message().c_str());
        server_->RemovePeer(id);
        return;
      }
      peer_fds_[id] = fd;
    }
  }
  core_->OnPeerJoined(static_cast<uint32_t>(id));
  DSM_LOG_INFO("peer %lld joined", static_cast<long long>(id));
}

void Daemon::HandlePeer(int64_t peer) {
  // Leaving removes the socket from the loop (see set_on_leave in Create).
  if (server_->HasPeer(peer)) server_->HandlePeerEvent(peer);
}

void Daemon::HandleDoorbell() {
  DrainEventfd(server_->own_vector(0));
  doorbell_rang_ = true;
}

void Daemon::EndOfRound() {
  // Tell nodes where we run: one on the same CPU should block, not spin.
  int cpu = sched_getcpu();
  if (cpu >= 0) __atomic_store_n(&space_.header()->daemon_cpu, static_cast<uint32_t>(cpu), __ATOMIC_RELAXED);
  // Serve requests after membership changes of this round, so a request
  // and the join of its peer in the same round are both seen.
  if (doorbell_rang_) {
    doorbell_rang_ = false;
    core_->OnDoorbell();
  }
  if (config_.exit_when_done && core_->done()) loop_->RequestStop();
}

int Daemon::Run() {
  if (!(config_.exit_when_done && core_->done())) loop_->Run();
  if (transport_) transport_->Leave();
  if (config_.print_stats) {
    std::string table = core_->StatsTable();
    if (space_.header()->num_hosts > 1) {
      std::fprintf(stderr, "dsm-hostd: statistics of host %u\n%s", space_.header()->host_id, table.c_str());
    } else {
      std::fprintf(stderr, "dsm-hostd: statistics\n%s", table.c_str());
    }
    std::fflush(stderr);
  }
  if (!config_.stats_json.empty()) {
    std::string json = core_->StatsJson();
    FILE* f = std::fopen(config_.stats_json.c_str(), "w");
    if (f == nullptr || std::fwrite(json.data(), 1, json.size(), f) != json.size() || std::fclose(f) != 0) {
      DSM_LOG_ERROR("cannot write statistics to %s: %s", config_.stats_json.c_str(), std::strerror(errno));
    }
  }
  return core_->state() == JobState::kFailed ? 1 : 0;
}

}  // namespace dsm::hostd
