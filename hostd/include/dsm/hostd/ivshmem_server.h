// The host daemon's ivshmem server: the peer list and the server side of the
// protocol described in dsm/common/ivshmem.h, faithful enough that QEMU's
// stock ivshmem-doorbell device attaches to it unchanged.
//
// The server is peer 0: it owns kVectorsPerPeer eventfds of its own that are
// announced to every client as an existing peer, so that a node (or a guest,
// through the Doorbell register) can ring the daemon. Each client gets the
// lowest free peer id in [1, max_peer_id] and kVectorsPerPeer eventfds.
//
// Ownership: the server owns the listening socket, every peer's socket and
// eventfds, its own eventfds and a duplicate of the shared-memory fd. The
// caller's event loop polls listen_fd(), own_vector(0) and every peer socket,
// and calls Accept() / HandlePeerEvent() when they are ready. A send that
// fails removes that peer (and announces its leaving to the others): one bad
// peer never takes the server down.
//
// Thread safety: none; one event loop thread drives it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dsm/common/fd.h"
#include "dsm/common/status.h"

namespace dsm::hostd {

class IvshmemServer {
 public:
  // Listens on path ('@' prefix: abstract namespace). shm_fd is duplicated.
  static Result<std::unique_ptr<IvshmemServer>> Create(const std::string& path, int shm_fd,
                                                       int64_t max_peer_id);
  ~IvshmemServer();  // closes everything; unlinks a filesystem socket path
  IvshmemServer(const IvshmemServer&) = delete;
  IvshmemServer& operator=(const IvshmemServer&) = delete;

  [[nodiscard]] int listen_fd() const { return listen_.get(); }
  [[nodiscard]] int own_vector(int v) const { return own_vectors_.at(static_cast<size_t>(v)).get(); }
  [[nodiscard]] const std::string& path() const { return path_; }

  // Accepts one pending connection and runs the handshake. Returns the new
  // peer's id. A client that cannot be served (no free id, send failure) is
  // closed and reported as an error; the server carries on.
  Result<int64_t> Accept();

  // The socket of every connected peer, to poll for readability/hangup.
  [[nodiscard]] std::vector<std::pair<int64_t, int>> PeerSockets() const;

  // Call when a peer's socket polled readable or hung up. Clients never send
  // data, so anything readable is drained and ignored; end of file removes the
  // peer. Returns true when the peer left.
  bool HandlePeerEvent(int64_t peer_id);

  // Disconnects a peer and tells the others it left. No-op for unknown ids.
  void RemovePeer(int64_t peer_id);

  // Rings vector v of a peer (peer 0: the server's own vector). Fails for
  // unknown peers or vectors.
  Status Ring(int64_t peer_id, int vector);

  [[nodiscard]] bool HasPeer(int64_t peer_id) const { return peers_.count(peer_id) != 0; }
  [[nodiscard]] size_t peer_count() const { return peers_.size(); }

  // Called after a peer is removed (by HandlePeerEvent, RemovePeer or a failed
  // send), with its id.
  void set_on_leave(std::function<void(int64_t)> f) { on_leave_ = std::move(f); }

 private:
  struct Peer {
    UniqueFd socket;
    std::vector<UniqueFd> vectors;
  };
  IvshmemServer() = default;
  Status SendHandshake(int64_t id, Peer& peer);
  void Announce(int64_t joined_id, const Peer& joined);
  void RemovePeerInternal(int64_t peer_id, std::vector<int64_t>* failed);

  std::string path_;
  bool abstract_ = false;
  UniqueFd listen_;
  UniqueFd shm_;
  int64_t max_peer_id_ = 0;
  std::vector<UniqueFd> own_vectors_;
  std::map<int64_t, Peer> peers_;
  std::function<void(int64_t)> on_leave_;
  // Identity of the socket file we bound, so that the destructor unlinks it
  // only if it is still ours.
  bool socket_identified_ = false;
  uint64_t socket_dev_ = 0;
  uint64_t socket_ino_ = 0;
};

}  // namespace dsm::hostd
