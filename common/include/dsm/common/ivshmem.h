// The ivshmem server protocol (QEMU docs/specs/ivshmem-spec), client side and
// the wire primitives shared with the server.
//
// Every message is one little-endian int64 on a UNIX stream socket, with at
// most one file descriptor attached (SCM_RIGHTS). On connect the server sends,
// in order: the protocol version (0); the client's peer id; -1 with the shared
// memory fd; for every other peer already present, its id once per vector with
// that vector's eventfd; the client's own id once per vector with its own
// eventfds. Afterwards: a peer id with an fd (repeated per vector) announces a
// peer joining; a peer id without an fd announces it leaving. Clients never
// send anything. Peer 0 is the server itself in dsmkit (the host daemon), so
// that every peer can ring it.
//
// Thread safety: none; each function works on the socket it is given.
// Not async-signal-safe (allocates).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dsm/common/fd.h"
#include "dsm/common/status.h"

namespace dsm::ivshmem {

constexpr int64_t kProtocolVersion = 0;
constexpr int64_t kShmMessage = -1;
// Peer ids fit the 16-bit field of the Doorbell register.
constexpr int64_t kMaxPeerId = 65535;
// Vectors per peer that dsmkit's server hands out; the client expects as many.
constexpr int kVectorsPerPeer = 1;

struct Message {
  int64_t value = 0;
  UniqueFd fd;  // invalid when the message carried none
};

// Sends one message (and fd when fd >= 0). Retries on EINTR; never raises
// SIGPIPE (MSG_NOSIGNAL).
Status SendMessage(int sock, int64_t value, int fd = -1);
// The same with system calls only (async-signal-safe, fit for a child forked
// from a process with threads): 0, or the errno of the failed sendmsg.
int SendMessageRaw(int sock, int64_t value, int fd = -1);

// Receives one message. A closed connection gives a Status with code
// ECONNRESET. Extra descriptors beyond one are closed and reported as EPROTO.
Result<Message> ReceiveMessage(int sock);

// Creates a listening UNIX stream socket. A path that starts with '@' names
// a socket in the abstract namespace (nothing on disk). Close-on-exec.
Result<UniqueFd> Listen(const std::string& path);

// Connects to a UNIX stream socket (same '@' convention). Close-on-exec.
Result<UniqueFd> Connect(const std::string& path);

// Everything a client learns during the handshake.
struct ClientSetup {
  UniqueFd socket;          // stays open: it carries join/leave notices, and
                            // its closing tells the client the server is gone
  int64_t own_id = -1;
  UniqueFd shm;             // the shared memory object
  std::vector<UniqueFd> own_vectors;                   // eventfds to wait on
  std::map<int64_t, std::vector<UniqueFd>> peers;      // eventfds to ring others
};

// Connects to the server at path and runs the handshake described above,
// expecting kVectorsPerPeer vectors per peer. Fails with a clear message on a
// version mismatch, a malformed sequence, or a server that closes early.
// timeout_ms bounds the whole handshake (a stuck server gives ETIMEDOUT).
Result<ClientSetup> ConnectClient(const std::string& path, int timeout_ms);

// Applies one notice received after the handshake: a join adds the fd to
// setup.peers[id], a leave erases setup.peers[id]. Returns the peer id.
Result<int64_t> ApplyNotice(ClientSetup& setup, Message msg);

// Rings vector v of an eventfd set (writes 1). Async-signal-safe when it
// succeeds (a failure allocates its message). A saturated counter counts as
// success: the eventfd is already ringing.
Status Ring(int eventfd);

}  // namespace dsm::ivshmem
