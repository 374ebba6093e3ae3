#include "device_client.h"

#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <ctime>

#include "dsm/common/clock.h"
#include "dsm/common/exit_status.h"

namespace dsm::runtime {

using namespace dsm::device;

namespace {

inline void CpuRelax() { __builtin_ia32_pause(); }

// Spinning pays off only when the daemon runs on another core and answers
// within a few microseconds (a cross-CPU wake-up costs 40 us here, a served
// request 6-10 us); beyond that the node blocks, since 2-core machines with
// more processes than cores must not spin. Requests that usually wait for
// other nodes (lock hand-off, barrier) spin only briefly.
constexpr uint64_t kSpinNs = 20000;
constexpr uint64_t kSpinWaitingNs = 2000;

uint64_t SpinBudget(uint32_t command) {
  if (command == kBarrierSleep) return 0;  // the node spun already: it sleeps
  return command == kLock || command == kBarrier ? kSpinWaitingNs : kSpinNs;
}

Status CheckHeader(const SpaceHeader* h, uint64_t size) {
  if (LoadAcquire(&h->magic) != kMagic) return Status(EPROTO, "shared space has no dsmkit header (bad magic)");
  if (h->version != kVersion) {
    return Status(EPROTO, "shared space layout version " + std::to_string(h->version) +
                              ", this runtime speaks " + std::to_string(kVersion));
  }
  if (h->space_size != size || h->page_size != kPageSize || h->max_slots != kMaxSlots ||
      h->data_offset >= size || h->heap_offset >= size || h->stack_offset >= size ||
      h->lock_table_offset >= size || h->regs_offset >= size) {
    return Status(EPROTO, "shared space header is inconsistent");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<DeviceClient>> DeviceClient::Connect(const std::string& socket_path,
                                                            int timeout_ms, Placement placement) {
  auto setup = ivshmem::ConnectClient(socket_path, timeout_ms);
  if (!setup.ok()) {
    return Status(setup.status().code(),
                  "cannot reach the host daemon at " + socket_path + ": " + setup.status().message());
  }
  ivshmem::ClientSetup& su = setup.value();
  if (su.own_id <= 0 || su.own_id >= kMaxSlots) {
    return Status(EPROTO, "daemon gave peer id " + std::to_string(su.own_id) + ", outside 1.." +
                              std::to_string(kMaxSlots - 1));
  }
  auto daemon = su.peers.find(0);
  if (daemon == su.peers.end() || daemon->second.empty() || su.own_vectors.empty()) {
    return Status(EPROTO, "daemon did not announce its doorbell (peer 0)");
  }
  std::unique_ptr<DeviceClient> c(new DeviceClient());
  c->peer_id_ = su.own_id;
  UniqueFd shm = std::move(su.shm);
  c->doorbell_ = std::make_unique<EventfdDoorbell>(std::move(su));

  struct stat st;
  if (::fstat(shm.get(), &st) != 0) return Status::FromErrno("fstat shared space");
  auto size = static_cast<uint64_t>(st.st_size);
  if (!IsPowerOfTwo(size) || size < kMinSpaceSize || size > kMaxSpaceSize) {
    return Status(EPROTO, "shared space has size " + std::to_string(size));
  }
  const bool fixed = placement == Placement::kFixed;
  void* want = fixed ? reinterpret_cast<void*>(kFixedBase) : nullptr;
  int flags = MAP_SHARED | MAP_NORESERVE | (fixed ? MAP_FIXED_NOREPLACE : 0);
  void* addr = ::mmap(want, size, PROT_READ | PROT_WRITE, flags, shm.get(), 0);
  if (addr == MAP_FAILED) {
    return Status::FromErrno(fixed ? "cannot map the shared space at its fixed address 0x200000000000"
                                   : "cannot map the shared space");
  }
  if (fixed && addr != want) {
    ::munmap(addr, size);
    return Status(EEXIST, "the shared space's fixed address 0x200000000000 is in use in this process");
  }
  c->map_ = Mapping(addr, size);
  c->shm_ = std::move(shm);
  if (Status s = c->Finish(); !s.ok()) return s;
  return c;
}

Result<std::unique_ptr<DeviceClient>> DeviceClient::ConnectGuest(const std::string& bdf, GuestWait wait) {
  auto dev = GuestDevice::Open(bdf, wait);
  if (!dev.ok()) return Status(dev.status().code(), "ivshmem device " + bdf + ": " + dev.status().message());
  std::unique_ptr<DeviceClient> c(new DeviceClient());
  c->guest_ = std::make_unique<GuestDevice>(std::move(dev).value());
  const GuestDevice& g = *c->guest_;
  uint64_t size = g.space_size();
  if (!IsPowerOfTwo(size) || size < kMinSpaceSize || size > kMaxSpaceSize) {
    return Status(EPROTO, "the ivshmem device's shared memory has size " + std::to_string(size));
  }
  auto peer = g.PeerId();
  if (!peer.ok()) return peer.status();
  if (*peer == 0 || *peer >= kMaxSlots) {
    return Status(EPROTO, "the ivshmem device's IVPosition is " + std::to_string(*peer) + ", outside 1.." +
                              std::to_string(kMaxSlots - 1) + " (is QEMU attached to a dsm-hostd socket?)");
  }
  c->peer_id_ = *peer;
  auto addr = g.Map(reinterpret_cast<char*>(kFixedBase), 0, size, true);
  if (!addr.ok()) return addr.status();
  c->map_ = Mapping(*addr, size);
  if (Status s = c->Finish(); !s.ok()) return s;
  c->doorbell_ = std::make_unique<GuestDoorbell>(c->guest_.get(), c->header());
  c->spin_ = false;
  return c;
}

Status DeviceClient::Finish() {
  if (Status s = CheckHeader(header(), map_.size()); !s.ok()) return s;
  regs_ = RegisterPage(base(), static_cast<uint32_t>(peer_id_));
  seq_ = LoadAcquire(&regs_->seq);
  return Status::Ok();
}

Status DeviceClient::MapAlias(char* addr, uint64_t offset, uint64_t len) {
  if (reinterpret_cast<uintptr_t>(addr) % kPageSize != 0 || offset % kPageSize != 0 ||
      len % kPageSize != 0 || offset > space_size() || len > space_size() - offset) {
    return Status(EINVAL, "bad alias mapping of the shared space");
  }
  if (guest_) {
    auto p = guest_->Map(addr, offset, len, false);
    return p.ok() ? Status::Ok() : Status(p.status().code(), "cannot map the shared globals: " + p.status().message());
  }
  void* p = ::mmap(addr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, shm_.get(),
                   static_cast<off_t>(offset));
  if (p == MAP_FAILED) return Status::FromErrno("cannot map the shared globals");
  return Status::Ok();
}

DeviceClient::Reply DeviceClient::Call(uint32_t command, std::initializer_list<uint64_t> args) {
  // One request at a time: a second one while the first is outstanding (a
  // page fault served inside the request path) would wait for ever on a
  // sequence number the daemon has gone past. Never expected; fail loudly.
  if (in_call_) {
    static const char kMessage[] =
        "dsm: error: a request to the host daemon was made while another was outstanding "
        "(a page fault inside the runtime's request path); ending\n";
    ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    (void)ignored;
    ::_exit(kExitJobFailed);
  }
  in_call_ = true;
  Reply reply = CallOnce(command, args);
  in_call_ = false;
  return reply;
}

DeviceClient::Reply DeviceClient::CallOnce(uint32_t command, std::initializer_list<uint64_t> args) {
  RegisterFile* r = regs_;
  int i = 0;
  for (uint64_t a : args) __atomic_store_n(&r->args[i++], a, __ATOMIC_RELAXED);
  for (; i < 6; ++i) __atomic_store_n(&r->args[i], uint64_t{0}, __ATOMIC_RELAXED);
  __atomic_store_n(&r->command, command, __ATOMIC_RELAXED);
  uint64_t seq = ++seq_;
  StoreRelease(&r->seq, seq);
  Reply reply;
  if (!doorbell_->Ring() || !Wait(seq, SpinBudget(command))) {
    reply.status = kDaemonGone;
    return reply;
  }
  reply.status = __atomic_load_n(&r->status, __ATOMIC_RELAXED);
  for (int k = 0; k < 4; ++k) reply.results[k] = __atomic_load_n(&r->results[k], __ATOMIC_RELAXED);
  return reply;
}

bool DeviceClient::Wait(uint64_t seq, uint64_t spin_ns) {
  RegisterFile* r = regs_;
  if (LoadAcquire(&r->done_seq) == seq) return true;
  uint64_t start = MonotonicNs();
  int cpu = sched_getcpu();
  if (spin_ && (cpu < 0 || static_cast<uint32_t>(cpu) != __atomic_load_n(&header()->daemon_cpu, __ATOMIC_RELAXED))) {
    for (uint32_t i = 1;; ++i) {
      if (LoadAcquire(&r->done_seq) == seq) {
        __atomic_fetch_add(&r->counters.wait_ns, MonotonicNs() - start, __ATOMIC_RELAXED);
        return true;
      }
      CpuRelax();
      if (i % 64 == 0 && MonotonicNs() - start > spin_ns) break;
    }
  }
  bool ok = true;
  const bool ring_me = doorbell_->WantsRing();
  if (ring_me) StoreSeqCst(&r->node_flags, kNodeWaiting);
  while (LoadSeqCst(&r->done_seq) != seq) {
    if (!doorbell_->Sleep()) {
      // The daemon may have answered just before going away.
      ok = LoadSeqCst(&r->done_seq) == seq;
      break;
    }
  }
  if (ring_me) StoreSeqCst(&r->node_flags, 0u);
  __atomic_fetch_add(&r->counters.wait_ns, MonotonicNs() - start, __ATOMIC_RELAXED);
  return ok;
}

EventfdDoorbell::EventfdDoorbell(ivshmem::ClientSetup setup) : setup_(std::move(setup)) {
  ring_fd_ = setup_.peers.at(0)[0].get();
  wait_fd_ = setup_.own_vectors[0].get();
}

bool EventfdDoorbell::Ring() { return ivshmem::Ring(ring_fd_).ok(); }

bool EventfdDoorbell::Sleep() {
  pollfd fds[2] = {{wait_fd_, POLLIN, 0}, {setup_.socket.get(), POLLIN, 0}};
  int n = ::poll(fds, 2, -1);
  if (n < 0) return errno == EINTR;
  if (fds[0].revents & POLLIN) {
    uint64_t v;
    ssize_t got = ::read(wait_fd_, &v, sizeof v);
    (void)got;
  }
  if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) return DrainSocket();
  return true;
}

GuestDoorbell::GuestDoorbell(const GuestDevice* device, const SpaceHeader* header)
    : device_(device), header_(header) {
  last_beat_ = __atomic_load_n(&header_->heartbeat, __ATOMIC_RELAXED);
  beat_seen_ns_ = MonotonicNs();
}

bool GuestDoorbell::Ring() {
  poll_ns_ = 0;  // a new request: polling starts with short naps again
  return device_->Ring(0, 0);
}

bool GuestDoorbell::DaemonAlive() {
  uint64_t beat = __atomic_load_n(&header_->heartbeat, __ATOMIC_RELAXED);
  uint64_t now = MonotonicNs();
  if (beat != last_beat_) {
    last_beat_ = beat;
    beat_seen_ns_ = now;
    return true;
  }
  return now - beat_seen_ns_ < kHeartbeatDeadMs * 1000000;
}

bool GuestDoorbell::Sleep() {
  if (device_->wait() == GuestWait::kPoll) {
    // Bounded polling: the caller re-reads the register page after each nap.
    poll_ns_ = poll_ns_ == 0 ? 20000 : std::min<uint64_t>(poll_ns_ * 2, 1000000);
    timespec ts{0, static_cast<long>(poll_ns_)};
    ::nanosleep(&ts, nullptr);
    if (poll_ns_ >= 1000000) return DaemonAlive();
    return true;
  }
  poll_ns_ = 0;
  pollfd pfd{device_->irq_fd(), POLLIN, 0};
  int n = ::poll(&pfd, 1, kHeartbeatCheckMs);
  if (n < 0) return errno == EINTR;
  if (n == 0) return DaemonAlive();
  uint64_t v;
  ssize_t got = ::read(pfd.fd, &v, sizeof v);
  (void)got;
  return true;
}

bool EventfdDoorbell::DrainSocket() {
  // Join/leave notices of other peers; the daemon closing is end of file.
  pollfd pfd{setup_.socket.get(), POLLIN, 0};
  while (::poll(&pfd, 1, 0) > 0) {
    auto msg = ivshmem::ReceiveMessage(setup_.socket.get());
    if (!msg.ok()) return false;
    auto applied = ivshmem::ApplyNotice(setup_, std::move(msg).value());
    if (!applied.ok()) return false;
    if (setup_.peers.count(0) == 0) return false;  // the daemon itself left
  }
  return true;
}

}  // namespace dsm::runtime
