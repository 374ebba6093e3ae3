#include "dsm/hostd/daemon.h"

#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dsm/common/ivshmem.h"
#include "dsm/common/log.h"

namespace dsm::hostd {

namespace {

// epoll tags: peers use their id (1..kMaxSlots-1); these sit above.
constexpr uint64_t kTagListen = 1ULL << 32;
constexpr uint64_t kTagDoorbell = kTagListen + 1;
constexpr uint64_t kTagStop = kTagListen + 2;
constexpr uint64_t kTagSignal = kTagListen + 3;

void DrainEventfd(int fd) {
  uint64_t v;
  while (::read(fd, &v, sizeof v) == sizeof v) {
  }
}

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::Create(const DaemonConfig& config) {
  std::unique_ptr<Daemon> d(new Daemon());
  d->config_ = config;
  auto space = SharedSpace::Create(config.space);
  if (!space.ok()) return space.status();
  d->space_ = std::move(space).value();
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
    d->core_->set_on_attach([self](uint32_t node) { self->WriteStatus("attached " + std::to_string(node)); });
    d->core_->set_on_job_end([self](JobState state) {
      self->WriteStatus(state == JobState::kFinished
                            ? "finished " + std::to_string(self->core_->exit_status())
                            : "lost " + std::to_string(self->core_->lost_node().value_or(~0u)));
    });
  }
  srv->set_on_leave([self](int64_t peer) {
    self->core_->OnPeerLeft(static_cast<uint32_t>(peer));
  });
  d->epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!d->epoll_) return Status::FromErrno("epoll_create1");
  d->stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!d->stop_) return Status::FromErrno("eventfd");
  if (Status s = d->Watch(srv->listen_fd(), kTagListen); !s.ok()) return s;
  if (Status s = d->Watch(srv->own_vector(0), kTagDoorbell); !s.ok()) return s;
  if (Status s = d->Watch(d->stop_.get(), kTagStop); !s.ok()) return s;
  if (config.signal_fd >= 0) {
    if (Status s = d->Watch(config.signal_fd, kTagSignal); !s.ok()) return s;
  }
  return d;
}

Status Daemon::Watch(int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return Status::FromErrno("epoll_ctl");
  return Status::Ok();
}

void Daemon::WriteStatus(const std::string& line) {
  std::string text = line + "\n";
  if (::write(config_.status_fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    DSM_LOG_DEBUG("status fd: %s", std::strerror(errno));
  }
}

void Daemon::RequestStop() {
  uint64_t one = 1;
  ssize_t n = ::write(stop_.get(), &one, sizeof one);
  (void)n;
}

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
      if (Status s = Watch(fd, static_cast<uint64_t>(id)); !s.ok()) {
        DSM_LOG_ERROR("cannot watch peer %lld: %s", static_cast<long long>(id), s.message().c_str());
        server_->RemovePeer(id);
        return;
      }
    }
  }
  core_->OnPeerJoined(static_cast<uint32_t>(id));
  DSM_LOG_INFO("peer %lld joined", static_cast<long long>(id));
}

int Daemon::Run() {
  epoll_event events[64];
  bool stop = false;
  while (!stop) {
    if (config_.exit_when_done && core_->done()) break;
    int n = ::epoll_wait(epoll_.get(), events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      DSM_LOG_ERROR("epoll_wait: %s", std::strerror(errno));
      break;
    }
    // Tell nodes where we run: one on the same CPU should block, not spin.
    int cpu = sched_getcpu();
    if (cpu >= 0) __atomic_store_n(&space_.header()->daemon_cpu, static_cast<uint32_t>(cpu), __ATOMIC_RELAXED);
    bool doorbell = false;
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == kTagListen) {
        HandleAccept();
      } else if (tag == kTagDoorbell) {
        DrainEventfd(server_->own_vector(0));
        doorbell = true;
      } else if (tag == kTagStop || tag == kTagSignal) {
        stop = true;
      } else {
        auto peer = static_cast<int64_t>(tag);
        if (!server_->HasPeer(peer)) continue;
        // The socket is removed from the epoll set when the server closes it.
        server_->HandlePeerEvent(peer);
      }
    }
    // Serve requests after membership changes of this round, so a request
    // and the join of its peer in the same round are both seen.
    if (doorbell) core_->OnDoorbell();
  }
  if (config_.print_stats) {
    std::string table = core_->StatsTable();
    std::fprintf(stderr, "dsm-hostd: statistics\n%s", table.c_str());
    std::fflush(stderr);
  }
  return core_->state() == JobState::kFailed ? 1 : 0;
}

}  // namespace dsm::hostd
