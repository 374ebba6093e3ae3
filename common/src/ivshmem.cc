#include "dsm/common/ivshmem.h"

#include <endian.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>

namespace dsm::ivshmem {
namespace {

using Clock = std::chrono::steady_clock;

// Room for a few descriptors so that a sender attaching more than one is
// detected (and the extras closed) instead of silently truncated.
constexpr size_t kMaxFdsPerRecv = 8;

Result<sockaddr_un> MakeAddress(const std::string& path, socklen_t* len) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty()) return Status(EINVAL, "empty ivshmem socket path");
  if (path[0] == '@') {
    const std::string name = path.substr(1);
    if (name.empty()) return Status(EINVAL, "empty abstract socket name '@'");
    if (name.size() > sizeof(addr.sun_path) - 1)
      return Status(ENAMETOOLONG, "abstract socket name too long: " + path);
    addr.sun_path[0] = '\0';
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  } else {
    if (path.size() >= sizeof(addr.sun_path))
      return Status(ENAMETOOLONG, "socket path too long (max " +
                                      std::to_string(sizeof(addr.sun_path) - 1) + " bytes): " + path);
    std::memcpy(addr.sun_path, path.data(), path.size());
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  }
  return addr;
}

int RemainingMs(std::optional<Clock::time_point> deadline) {
  if (!deadline) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1000000000 ? 1000000000 : static_cast<int>(left);
}

// Waits until sock is readable. Returns ETIMEDOUT when the deadline passes.
Status WaitReadable(int sock, std::optional<Clock::time_point> deadline) {
  for (;;) {
    pollfd p{sock, POLLIN, 0};
    int timeout = RemainingMs(deadline);
    int r = ::poll(&p, 1, timeout);
    if (r > 0) return Status::Ok();  // readable, hung up or error: recvmsg tells
    if (r == 0) return Status(ETIMEDOUT, "timed out waiting for a message");
    if (errno != EINTR) return Status::FromErrno("poll");
  }
}

// Receives exactly one 8-byte message plus at most one fd; with a deadline,
// never blocks past it (polls before every read).
Result<Message> Receive(int sock, std::optional<Clock::time_point> deadline) {
  unsigned char bytes[8];
  size_t got = 0;
  Message msg;
  bool extra_fds = false;
  while (got < sizeof bytes) {
    if (deadline) {
      Status s = WaitReadable(sock, deadline);
      if (!s.ok()) return s;
    }
    iovec iov{bytes + got, sizeof bytes - got};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerRecv)];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | (deadline ? MSG_DONTWAIT : 0));
    if (n < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && deadline) continue;  // spurious wakeup
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && got > 0) {
        // Non-blocking socket, message split in flight: wait for the rest.
        Status s = WaitReadable(sock, std::nullopt);
        if (!s.ok()) return s;
        continue;
      }
      if (errno == ECONNRESET) return Status(ECONNRESET, "connection reset by peer");
      return Status::FromErrno("recvmsg");
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (!msg.fd.valid()) {
          msg.fd.reset(fd);
        } else {
          ::close(fd);
          extra_fds = true;
        }
      }
    }
    if ((mh.msg_flags & MSG_CTRUNC) != 0) extra_fds = true;
    if (n == 0) {
      if (got == 0) return Status(ECONNRESET, "connection closed by peer");
      return Status(ECONNRESET, "connection closed in the middle of a message");
    }
    got += static_cast<size_t>(n);
  }
  if (extra_fds) return Status(EPROTO, "message carried more than one file descriptor");
  uint64_t le;
  std::memcpy(&le, bytes, sizeof le);
  msg.value = static_cast<int64_t>(le64toh(le));
  return msg;
}

Result<UniqueFd> ConnectImpl(const std::string& path, int timeout_ms) {
  socklen_t len = 0;
  auto addr = MakeAddress(path, &len);
  if (!addr.ok()) return addr.status();
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) return Status::FromErrno("socket");
  if (timeout_ms >= 0) {
    // A UNIX stream connect() blocks while the listener's backlog is full;
    // it honours SO_SNDTIMEO for that wait.
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;
    (void)::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  for (;;) {
    if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr.value()), len) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EISCONN) break;
    if (errno == EAGAIN && timeout_ms >= 0)
      return Status(ETIMEDOUT, "connecting to " + path + ": timed out (listener backlog full)");
    return Status::FromErrno("connect to " + path);
  }
  if (timeout_ms >= 0) {
    timeval zero{0, 0};
    (void)::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero);
  }
  return sock;
}

Status Proto(const std::string& what) { return Status(EPROTO, "ivshmem handshake: " + what); }

}  // namespace

Status SendMessage(int sock, int64_t value, int fd) {
  if (int err = SendMessageRaw(sock, value, fd); err != 0) return Status::FromErrno("sendmsg", err);
  return Status::Ok();
}

int SendMessageRaw(int sock, int64_t value, int fd) {
  const uint64_t le = htole64(static_cast<uint64_t>(value));
  unsigned char bytes[8];
  std::memcpy(bytes, &le, sizeof bytes);
  size_t sent = 0;
  bool fd_sent = fd < 0;
  while (sent < sizeof bytes) {
    iovec iov{bytes + sent, sizeof bytes - sent};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (!fd_sent) {
      std::memset(control, 0, sizeof control);
      mh.msg_control = control;
      mh.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n = ::sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    fd_sent = true;  // the descriptor travels with the first byte sent
    sent += static_cast<size_t>(n);
  }
  return 0;
}

Result<Message> ReceiveMessage(int sock) { return Receive(sock, std::nullopt); }

Result<UniqueFd> Listen(const std::string& path) {
  socklen_t len = 0;
  auto addr = MakeAddress(path, &len);
  if (!addr.ok()) return addr.status();
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) return Status::FromErrno("socket");
  const auto* sa = reinterpret_cast<const sockaddr*>(&addr.value());
  if (::bind(sock.get(), sa, len) != 0) {
    if (errno != EADDRINUSE) return Status::FromErrno("bind " + path);
    if (path[0] == '@') return Status(EADDRINUSE, "abstract socket " + path + " is already in use");
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return Status::FromErrno("bind " + path, EADDRINUSE);
    if (!S_ISSOCK(st.st_mode))
      return Status(EADDRINUSE, path + " already exists and is not a socket; not replacing it");
    // A socket file: live if something accepts connections on it, stale if
    // connecting is refused. Non-blocking so a full backlog cannot stall us.
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!probe) return Status::FromErrno("socket");
    int r;
    do {
      r = ::connect(probe.get(), sa, len);
    } while (r != 0 && errno == EINTR);
    if (r == 0 || errno == EAGAIN || errno == EINPROGRESS)
      return Status(EADDRINUSE, "socket " + path + " is already in use by a running server");
    if (errno != ECONNREFUSED)
      return Status::FromErrno("socket " + path + " exists and probing it failed");
    probe.reset();
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return Status::FromErrno("removing stale socket " + path);
    if (::bind(sock.get(), sa, len) != 0) return Status::FromErrno("bind " + path);
  }
  if (::listen(sock.get(), SOMAXCONN) != 0) {
    Status s = Status::FromErrno("listen on " + path);
    if (path[0] != '@') ::unlink(path.c_str());
    return s;
  }
  return sock;
}

Result<UniqueFd> Connect(const std::string& path) { return ConnectImpl(path, -1); }

Result<ClientSetup> ConnectClient(const std::string& path, int timeout_ms) {
  if (timeout_ms < 0) timeout_ms = 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto sock = ConnectImpl(path, timeout_ms);
  if (!sock.ok()) return sock.status();

  ClientSetup setup;
  setup.socket = std::move(sock.value());
  int received = 0;
  auto next = [&]() -> Result<Message> {
    auto m = Receive(setup.socket.get(), deadline);
    if (!m.ok()) {
      const Status& s = m.status();
      std::string where = " from " + path + " (after " + std::to_string(received) + " messages)";
      if (s.code() == ETIMEDOUT)
        return Status(ETIMEDOUT, "ivshmem handshake timed out after " + std::to_string(timeout_ms) +
                                     " ms" + where);
      if (s.code() == ECONNRESET)
        return Status(ECONNRESET, "ivshmem server closed the connection during the handshake" + where);
      return Status(s.code(), "ivshmem handshake" + where + ": " + s.message());
    }
    ++received;
    return m;
  };

  // 1. Protocol version, no fd.
  auto version = next();
  if (!version.ok()) return version.status();
  if (version->value != kProtocolVersion)
    return Status(EPROTO, "ivshmem server speaks protocol version " + std::to_string(version->value) +
                              ", expected version " + std::to_string(kProtocolVersion));
  if (version->fd.valid()) return Proto("version message carried a file descriptor");

  // 2. Our own peer id, no fd. Id 0 is the server (dsmkit convention).
  auto id = next();
  if (!id.ok()) return id.status();
  if (id->fd.valid()) return Proto("own id message carried a file descriptor");
  if (id->value < 1 || id->value > kMaxPeerId)
    return Proto("server assigned invalid peer id " + std::to_string(id->value) + " (expected 1.." +
                 std::to_string(kMaxPeerId) + ")");
  setup.own_id = id->value;

  // 3. -1 with the shared memory fd.
  auto shm = next();
  if (!shm.ok()) return shm.status();
  if (shm->value != kShmMessage)
    return Proto("expected the shared memory message (-1), got " + std::to_string(shm->value));
  if (!shm->fd.valid()) return Proto("shared memory message (-1) carried no file descriptor");
  setup.shm = std::move(shm->fd);

  // 4. Every other peer's vectors, then our own.
  while (setup.own_vectors.size() < static_cast<size_t>(kVectorsPerPeer)) {
    auto m = next();
    if (!m.ok()) return m.status();
    if (m->value < 0)
      return Proto("unexpected negative id " + std::to_string(m->value) + " in the peer list");
    if (m->value > kMaxPeerId) return Proto("peer id " + std::to_string(m->value) + " out of range");
    if (!m->fd.valid())
      return Proto("peer " + std::to_string(m->value) + " announced without an eventfd");
    if (m->value == setup.own_id) {
      setup.own_vectors.push_back(std::move(m->fd));
      continue;
    }
    if (!setup.own_vectors.empty())
      return Proto("peer " + std::to_string(m->value) + " announced between our own vectors");
    auto& vecs = setup.peers[m->value];
    if (vecs.size() >= static_cast<size_t>(kVectorsPerPeer))
      return Proto("peer " + std::to_string(m->value) + " announced with more than " +
                   std::to_string(kVectorsPerPeer) + " vectors");
    vecs.push_back(std::move(m->fd));
  }
  for (const auto& [peer, vecs] : setup.peers) {
    if (vecs.size() != static_cast<size_t>(kVectorsPerPeer))
      return Proto("peer " + std::to_string(peer) + " announced with " + std::to_string(vecs.size()) +
                   " vectors, expected " + std::to_string(kVectorsPerPeer));
  }
  return setup;
}

Result<int64_t> ApplyNotice(ClientSetup& setup, Message msg) {
  if (msg.value < 0)
    return Status(EPROTO, "ivshmem notice: unexpected negative id " + std::to_string(msg.value));
  if (msg.value > kMaxPeerId)
    return Status(EPROTO, "ivshmem notice: peer id " + std::to_string(msg.value) + " out of range");
  if (msg.value == setup.own_id)
    return Status(EPROTO, "ivshmem notice about our own id " + std::to_string(msg.value));
  if (msg.fd.valid()) {
    auto& vecs = setup.peers[msg.value];
    if (vecs.size() >= static_cast<size_t>(kVectorsPerPeer))
      return Status(EPROTO, "ivshmem notice: peer " + std::to_string(msg.value) + " announced with more than " +
                                std::to_string(kVectorsPerPeer) + " vectors");
    vecs.push_back(std::move(msg.fd));
  } else {
    setup.peers.erase(msg.value);
  }
  return msg.value;
}

Status Ring(int eventfd) {
  const uint64_t one = 1;
  for (;;) {
    ssize_t n = ::write(eventfd, &one, sizeof one);
    if (n == static_cast<ssize_t>(sizeof one)) return Status::Ok();
    if (n < 0 && errno == EINTR) continue;
    // A saturated non-blocking counter is already ringing.
    if (n < 0 && errno == EAGAIN) return Status::Ok();
    return Status::FromErrno("ringing eventfd " + std::to_string(eventfd));
  }
}

}  // namespace dsm::ivshmem
