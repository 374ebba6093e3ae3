#include "dsm/hostd/ivshmem_server.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dsm/common/ivshmem.h"
#include "dsm/common/log.h"

namespace dsm::hostd {
namespace {

// Bounds how long one send to a peer may block the event loop (a client that
// stops reading fills its socket buffer). A send that times out fails, and the
// peer is removed like any other failed send.
constexpr int kSendTimeoutMs = 1000;

}  // namespace

Result<std::unique_ptr<IvshmemServer>> IvshmemServer::Create(const std::string& path, int shm_fd,
                                                             int64_t max_peer_id) {
  if (max_peer_id < 1 || max_peer_id > ivshmem::kMaxPeerId)
    return Status(EINVAL, "ivshmem server: max_peer_id " + std::to_string(max_peer_id) + " not in 1.." +
                              std::to_string(ivshmem::kMaxPeerId));
  if (shm_fd < 0) return Status(EBADF, "ivshmem server: invalid shared memory fd");

  std::unique_ptr<IvshmemServer> s(new IvshmemServer());
  s->shm_.reset(::fcntl(shm_fd, F_DUPFD_CLOEXEC, 0));
  if (!s->shm_) return Status::FromErrno("ivshmem server: duplicating the shared memory fd");
  for (int v = 0; v < ivshmem::kVectorsPerPeer; ++v) {
    // Only the server reads its own vectors (after poll), so non-blocking is
    // safe even though clients share these descriptions for writing.
    UniqueFd e(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!e) return Status::FromErrno("ivshmem server: eventfd");
    s->own_vectors_.push_back(std::move(e));
  }
  auto listen = ivshmem::Listen(path);
  if (!listen.ok()) return Status(listen.status().code(), "ivshmem server: " + listen.status().message());
  s->listen_ = std::move(listen.value());
  s->path_ = path;
  s->abstract_ = !path.empty() && path[0] == '@';
  s->max_peer_id_ = max_peer_id;
  // Accept() must never block when the pending connection went away between
  // poll and accept.
  int flags = ::fcntl(s->listen_.get(), F_GETFL);
  if (flags < 0 || ::fcntl(s->listen_.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    Status st = Status::FromErrno("ivshmem server: making the listening socket non-blocking");
    if (!s->abstract_) ::unlink(path.c_str());
    return st;
  }
  if (!s->abstract_) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      s->socket_dev_ = st.st_dev;
      s->socket_ino_ = st.st_ino;
      s->socket_identified_ = true;
    }
  }
  DSM_LOG_INFO("ivshmem server listening on %s (max peer id %lld)", path.c_str(),
               static_cast<long long>(max_peer_id));
  return s;
}

IvshmemServer::~IvshmemServer() {
  peers_.clear();  // closes every peer socket and eventfd: clients see EOF
  listen_.reset();
  if (!abstract_ && !path_.empty() && socket_identified_) {
    // Unlink only the socket we created: someone may have replaced it.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == socket_dev_ && st.st_ino == socket_ino_)
      ::unlink(path_.c_str());
  }
}

Result<int64_t> IvshmemServer::Accept() {
  int fd;
  do {
    fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Status::FromErrno("ivshmem server: accept on " + path_);
  Peer peer;
  peer.socket.reset(fd);

  int64_t id = 1;
  for (const auto& [used, p] : peers_) {  // ordered: first gap is the lowest free id
    if (used != id) break;
    ++id;
  }
  if (id > max_peer_id_) {
    DSM_LOG_WARN("ivshmem server: rejecting a client, all peer ids 1..%lld are in use",
                 static_cast<long long>(max_peer_id_));
    return Status(EUSERS, "ivshmem server: no free peer id (all of 1.." + std::to_string(max_peer_id_) +
                              " in use); connection closed");
  }

  timeval tv{kSendTimeoutMs / 1000, (kSendTimeoutMs % 1000) * 1000};
  (void)::setsockopt(peer.socket.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  for (int v = 0; v < ivshmem::kVectorsPerPeer; ++v) {
    // Blocking: these descriptions are shared with the client, which may
    // read them with blocking reads.
    UniqueFd e(::eventfd(0, EFD_CLOEXEC));
    if (!e) return Status::FromErrno("ivshmem server: eventfd for peer " + std::to_string(id));
    peer.vectors.push_back(std::move(e));
  }

  Status hs = SendHandshake(id, peer);
  if (!hs.ok()) {
    if (hs.code() == EPIPE || hs.code() == ECONNRESET) {
      // Typically a client that connected and hung up at once, such as the
      // liveness probe of another server instance (see ivshmem::Listen).
      DSM_LOG_INFO("ivshmem server: client went away before its handshake: %s", hs.message().c_str());
    } else {
      DSM_LOG_WARN("ivshmem server: handshake with new peer %lld failed: %s", static_cast<long long>(id),
                   hs.message().c_str());
    }
    return Status(hs.code(), "ivshmem server: handshake with peer " + std::to_string(id) +
                                 " failed: " + hs.message());
  }
  auto [it, inserted] = peers_.emplace(id, std::move(peer));
  (void)inserted;
  DSM_LOG_INFO("ivshmem server: peer %lld joined", static_cast<long long>(id));
  Announce(id, it->second);
  if (!HasPeer(id))
    return Status(EPIPE, "ivshmem server: peer " + std::to_string(id) + " went away while joining");
  return id;
}

Status IvshmemServer::SendHandshake(int64_t id, Peer& peer) {
  const int sock = peer.socket.get();
  Status s = ivshmem::SendMessage(sock, ivshmem::kProtocolVersion);
  if (s.ok()) s = ivshmem::SendMessage(sock, id);
  if (s.ok()) s = ivshmem::SendMessage(sock, ivshmem::kShmMessage, shm_.get());
  // Peer 0 (this server) first, then every connected peer in id order.
  for (const auto& e : own_vectors_) {
    if (s.ok()) s = ivshmem::SendMessage(sock, 0, e.get());
  }
  for (const auto& [other, p] : peers_) {
    for (const auto& e : p.vectors) {
      if (s.ok()) s = ivshmem::SendMessage(sock, other, e.get());
    }
  }
  for (const auto& e : peer.vectors) {
    if (s.ok()) s = ivshmem::SendMessage(sock, id, e.get());
  }
  return s;
}

namespace {

// A peer that has just exited (typically several nodes at the end of a job)
// makes sends fail with EPIPE or ECONNRESET before its hang-up is read: that
// is the normal way peers go and is logged quietly. Anything else is worth a
// warning.
void LogSendFailure(const Status& s, const char* what, int64_t to, int64_t about) {
  const bool gone = s.code() == EPIPE || s.code() == ECONNRESET;
  Log(gone ? LogLevel::kInfo : LogLevel::kWarn,
      "ivshmem server: telling peer %lld %s peer %lld failed: %s; removing it",
      static_cast<long long>(to), what, static_cast<long long>(about), s.message().c_str());
}

}  // namespace

void IvshmemServer::Announce(int64_t joined_id, const Peer& joined) {
  std::vector<int64_t> failed;
  for (const auto& [other, p] : peers_) {
    if (other == joined_id) continue;
    for (const auto& e : joined.vectors) {
      Status s = ivshmem::SendMessage(p.socket.get(), joined_id, e.get());
      if (!s.ok()) {
        LogSendFailure(s, "about", other, joined_id);
        failed.push_back(other);
        break;
      }
    }
  }
  // `joined` may be removed below (if telling it about a leave fails): no
  // use of it past this point.
  while (!failed.empty()) {
    int64_t p = failed.back();
    failed.pop_back();
    RemovePeerInternal(p, &failed);
  }
}

std::vector<std::pair<int64_t, int>> IvshmemServer::PeerSockets() const {
  std::vector<std::pair<int64_t, int>> out;
  out.reserve(peers_.size());
  for (const auto& [id, p] : peers_) out.emplace_back(id, p.socket.get());
  return out;
}

bool IvshmemServer::HandlePeerEvent(int64_t peer_id) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return false;
  const int sock = it->second.socket.get();
  // Clients never send: drain (bounded, so one chatty peer cannot starve the
  // loop) and close any descriptors they attached.
  for (int round = 0; round < 16; ++round) {
    char buf[256];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
    iovec iov{buf, sizeof buf};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); n >= 0 && c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        ::close(fd);
      }
    }
    if (n > 0) {
      DSM_LOG_DEBUG("ivshmem server: ignoring %zd bytes from peer %lld", n, static_cast<long long>(peer_id));
      continue;
    }
    // End of file, or an error such as ECONNRESET: the peer is gone.
    if (n < 0)
      DSM_LOG_INFO("ivshmem server: peer %lld socket error: %s", static_cast<long long>(peer_id),
                   std::strerror(errno));
    RemovePeer(peer_id);
    return true;
  }
  return false;
}

void IvshmemServer::RemovePeer(int64_t peer_id) {
  if (!HasPeer(peer_id)) return;
  std::vector<int64_t> pending{peer_id};
  while (!pending.empty()) {
    int64_t p = pending.back();
    pending.pop_back();
    RemovePeerInternal(p, &pending);
  }
}

void IvshmemServer::RemovePeerInternal(int64_t peer_id, std::vector<int64_t>* failed) {
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return;  // already removed through another failure
  peers_.erase(it);                 // closes its socket and eventfds
  DSM_LOG_INFO("ivshmem server: peer %lld left", static_cast<long long>(peer_id));
  for (const auto& [other, p] : peers_) {
    Status s = ivshmem::SendMessage(p.socket.get(), peer_id);
    if (!s.ok()) {
      LogSendFailure(s, "that this peer left:", other, peer_id);
      if (std::find(failed->begin(), failed->end(), other) == failed->end()) failed->push_back(other);
    }
  }
  if (on_leave_) on_leave_(peer_id);
}

Status IvshmemServer::Ring(int64_t peer_id, int vector) {
  if (vector < 0 || vector >= ivshmem::kVectorsPerPeer)
    return Status(EINVAL, "ivshmem server: no vector " + std::to_string(vector) + " (peers have " +
                              std::to_string(ivshmem::kVectorsPerPeer) + ")");
  if (peer_id == 0) return ivshmem::Ring(own_vectors_[static_cast<size_t>(vector)].get());
  auto it = peers_.find(peer_id);
  if (it == peers_.end()) return Status(ENOENT, "ivshmem server: no peer " + std::to_string(peer_id));
  return ivshmem::Ring(it->second.vectors[static_cast<size_t>(vector)].get());
}

}  // namespace dsm::hostd
