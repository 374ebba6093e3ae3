// Helpers shared by the ivshmem server tests and the QEMU attach test: a raw
// protocol receiver (independent of dsm::ivshmem::ReceiveMessage), a server
// event loop on a thread, temporary paths and fd accounting.
#pragma once

#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dsm/common/fd.h"
#include "dsm/common/ivshmem.h"
#include "dsm/hostd/ivshmem_server.h"

namespace dsm::ivstest {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

// A unique abstract-namespace socket name.
inline std::string UniqueAbstractPath(const std::string& tag) {
  static std::atomic<int> counter{0};
  return "@dsmkit-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// A private directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/dsm-ivs-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~TempDir() {
    if (path_.empty()) return;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") ::unlink((path_ + "/" + n).c_str());
      }
      ::closedir(d);
    }
    ::rmdir(path_.c_str());
  }
  [[nodiscard]] bool ok() const { return !path_.empty(); }
  [[nodiscard]] std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline int CountOpenFds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    --n;  // the directory stream's own descriptor
  }
  return n;
}

// What /proc says an fd is, e.g. "anon_inode:[eventfd]" or "/memfd:x (deleted)".
inline std::string FdKind(int fd) {
  char buf[256];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n < 0) return "?";
  return std::string(buf, static_cast<size_t>(n));
}

inline bool SameFile(int a, int b) {
  struct stat sa {}, sb {};
  if (::fstat(a, &sa) != 0 || ::fstat(b, &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

inline UniqueFd MakeMemfd(const char* name, size_t size) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
  if (fd && ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) fd.reset();
  return fd;
}

// One message exactly as it came off the wire, with every fd attached to it.
struct RawMsg {
  int64_t value = 0;
  std::vector<UniqueFd> fds;
};

// Reads one 8-byte little-endian message with plain recvmsg, collecting all
// descriptors. Returns "" on success or a description of what went wrong
// ("eof" for a cleanly closed connection with nothing read, "timeout").
inline std::string RecvRaw(int sock, RawMsg* out, int timeout_ms = 5000) {
  const auto deadline = Clock::now() + milliseconds(timeout_ms);
  unsigned char bytes[8];
  size_t got = 0;
  out->fds.clear();
  while (got < sizeof bytes) {
    pollfd p{sock, POLLIN, 0};
    int r = ::poll(&p, 1, RemainingMs(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return std::string("poll: ") + std::strerror(errno);
    if (r == 0) return "timeout";
    iovec iov{bytes + got, sizeof bytes - got};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return std::string("recvmsg: ") + std::strerror(errno);
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return "unexpected control message";
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        out->fds.emplace_back(fd);
      }
    }
    if ((mh.msg_flags & MSG_CTRUNC) != 0) return "control data truncated";
    if (n == 0) return got == 0 ? "eof" : "eof in the middle of a message";
    got += static_cast<size_t>(n);
  }
  uint64_t le;
  std::memcpy(&le, bytes, sizeof le);
  out->value = static_cast<int64_t>(le64toh(le));
  return "";
}

// True when nothing at all (no data, no EOF) is waiting on sock right now.
inline bool NothingPending(int sock) {
  pollfd p{sock, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

// Waits (bounded) until fd is readable, then reads its 8-byte eventfd count.
// Returns 0 on timeout.
inline uint64_t WaitEventfd(int fd, int timeout_ms = 5000) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (r != 1) return 0;
  uint64_t v = 0;
  if (::read(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) return 0;
  return v;
}

// ivshmem::ReceiveMessage, but fails with ETIMEDOUT instead of blocking
// forever when nothing arrives.
inline Result<ivshmem::Message> ReceiveWithin(int sock, int timeout_ms = 5000) {
  pollfd p{sock, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (r != 1) return Status(ETIMEDOUT, "no message within " + std::to_string(timeout_ms) + " ms");
  return ivshmem::ReceiveMessage(sock);
}

inline bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// Drives an IvshmemServer from its own thread the way the daemon does:
// poll(listen, own vectors, peer sockets) and dispatch. Everything it sees is
// recorded; tests wait for conditions with a deadline.
class ServerLoop {
 public:
  struct Events {
    std::vector<int64_t> joined;
    std::vector<int64_t> left;
    std::vector<std::string> accept_errors;
    uint64_t own_rings = 0;
  };

  explicit ServerLoop(hostd::IvshmemServer* server) : server_(server), wake_(::eventfd(0, EFD_CLOEXEC)) {
    server_->set_on_leave([this](int64_t id) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.left.push_back(id);
      cv_.notify_all();
    });
    thread_ = std::thread([this] { Loop(); });
  }
  ~ServerLoop() {
    stop_ = true;
    (void)ivshmem::Ring(wake_.get());
    thread_.join();
    server_->set_on_leave(nullptr);
  }

  // Runs fn on the loop thread (the server is single-threaded) and waits.
  bool Run(std::function<void()> fn, int timeout_ms = 10000) {
    auto done = std::make_shared<bool>(false);
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back([fn = std::move(fn), done, this] {
        fn();
        std::lock_guard<std::mutex> l(mu_);
        *done = true;
        cv_.notify_all();
      });
    }
    (void)ivshmem::Ring(wake_.get());
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, milliseconds(timeout_ms), [&] { return *done; });
  }

  // Waits until pred(events) holds; false on timeout.
  bool WaitFor(const std::function<bool(const Events&)>& pred, int timeout_ms = 10000) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, milliseconds(timeout_ms), [&] { return pred(events_); });
  }

  Events Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  void Loop() {
    while (!stop_) {
      std::vector<pollfd> fds;
      fds.push_back({wake_.get(), POLLIN, 0});
      fds.push_back({server_->listen_fd(), POLLIN, 0});
      fds.push_back({server_->own_vector(0), POLLIN, 0});
      auto peers = server_->PeerSockets();
      for (const auto& [id, sock] : peers) fds.push_back({sock, POLLIN, 0});
      int r = ::poll(fds.data(), fds.size(), -1);
      if (r < 0) continue;  // EINTR
      if (fds[0].revents != 0) {
        uint64_t v;
        (void)::read(wake_.get(), &v, sizeof v);
        std::deque<std::function<void()>> tasks;
        {
          std::lock_guard<std::mutex> lock(mu_);
          tasks.swap(tasks_);
        }
        for (auto& t : tasks) t();
      }
      if (fds[1].revents != 0) {
        auto id = server_->Accept();
        std::lock_guard<std::mutex> lock(mu_);
        if (id.ok()) {
          events_.joined.push_back(id.value());
        } else {
          events_.accept_errors.push_back(id.status().message());
        }
        cv_.notify_all();
      }
      if (fds[2].revents != 0) {
        uint64_t v = 0;
        if (::read(server_->own_vector(0), &v, sizeof v) == static_cast<ssize_t>(sizeof v)) {
          std::lock_guard<std::mutex> lock(mu_);
          events_.own_rings += v;
          cv_.notify_all();
        }
      }
      for (size_t i = 0; i < peers.size(); ++i) {
        if (fds[3 + i].revents != 0) (void)server_->HandlePeerEvent(peers[i].first);
      }
    }
  }

  hostd::IvshmemServer* server_;
  UniqueFd wake_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  Events events_;
  std::deque<std::function<void()>> tasks_;
  std::thread thread_;
};

}  // namespace dsm::ivstest
