// A node's connection to its host daemon: the ivshmem handshake, the shared
// space mapped at device::kFixedBase, and request/reply through the node's
// register page and doorbells.
//
// Native nodes reach the device this way (the daemon's UNIX socket); a
// guest reaches the same register page through the ivshmem PCI device's BARs
// (guest_device.h), with only the ring and wait steps different.
//
// Thread safety: one request at a time (the node's main thread). Not
// async-signal-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "dsm/common/fd.h"
#include "dsm/common/ivshmem.h"
#include "dsm/common/status.h"
#include "dsm/device/protocol.h"
#include "guest_device.h"

namespace dsm::runtime {

// Not a device status: the daemon's socket closed while waiting.
constexpr int32_t kDaemonGone = -1;

// The two ways a node's request path differs between a native process and a
// guest: how it rings the daemon, and how it sleeps until the daemon may
// have answered. Everything else (the register page, the sequence numbers,
// spinning, the waiting flag) is the same code for both.
class Doorbell {
 public:
  virtual ~Doorbell() = default;
  // Rings the daemon (ivshmem peer 0, vector 0). False when it cannot.
  virtual bool Ring() = 0;
  // Blocks until the daemon rang this node or went away; spurious returns
  // are allowed (the caller re-checks done_seq). False when the daemon is
  // gone.
  virtual bool Sleep() = 0;
  // Whether Sleep needs the daemon to ring (kNodeWaiting); a polling guest
  // does not.
  [[nodiscard]] virtual bool WantsRing() const { return true; }
};

// A native node's doorbell: the eventfds from the ivshmem handshake, plus the
// daemon's socket, whose end of file means the daemon is gone.
class EventfdDoorbell : public Doorbell {
 public:
  explicit EventfdDoorbell(ivshmem::ClientSetup setup);
  bool Ring() override;
  bool Sleep() override;

 private:
  bool DrainSocket();

  ivshmem::ClientSetup setup_;
  int ring_fd_ = -1;  // the daemon's (peer 0) vector 0
  int wait_fd_ = -1;  // our own vector 0
};

// A guest node's doorbell: the Doorbell register in BAR0, and MSI-X vector 0
// on an eventfd (GuestWait::kInterrupt) or bounded sleeps between looks at
// the register page (kPoll). The daemon counts as gone when its heartbeat
// stands still for kHeartbeatDeadMs.
class GuestDoorbell : public Doorbell {
 public:
  GuestDoorbell(const GuestDevice* device, const device::SpaceHeader* header);
  bool Ring() override;
  bool Sleep() override;
  [[nodiscard]] bool WantsRing() const override { return device_->wait() == GuestWait::kInterrupt; }

 private:
  bool DaemonAlive();

  const GuestDevice* device_;
  const device::SpaceHeader* header_;
  uint64_t last_beat_ = 0;
  uint64_t beat_seen_ns_ = 0;  // when last_beat_ was first seen
  uint64_t poll_ns_ = 0;       // kPoll: the next sleep
};

class DeviceClient {
 public:
  struct Reply {
    int32_t status = device::kOk;
    uint64_t results[4] = {0, 0, 0, 0};
  };

  // Where the shared space is mapped. Nodes use kFixed (one address on every
  // node: pointers into shared data mean the same everywhere). kAnywhere lets
  // a test hold several clients, and a daemon, in one process.
  enum class Placement { kFixed, kAnywhere };

  // Connects to the daemon at socket_path and maps its shared space. Fails
  // with a message naming the problem (no daemon, version, address in use).
  static Result<std::unique_ptr<DeviceClient>> Connect(const std::string& socket_path, int timeout_ms,
                                                       Placement placement = Placement::kFixed);

  // Inside a QEMU guest: opens the ivshmem PCI device at bdf (see
  // FindIvshmemDevice) through VFIO and maps its shared memory at the fixed
  // address. Errors name what the guest lacks.
  static Result<std::unique_ptr<DeviceClient>> ConnectGuest(const std::string& bdf, GuestWait wait);

  // One request; returns when the daemon completed it, or with kDaemonGone.
  Reply Call(uint32_t command, std::initializer_list<uint64_t> args);

  [[nodiscard]] char* base() const { return static_cast<char*>(map_.addr()); }
  [[nodiscard]] device::SpaceHeader* header() const {
    return reinterpret_cast<device::SpaceHeader*>(base());
  }
  [[nodiscard]] device::RegisterFile* regs() const { return regs_; }
  [[nodiscard]] device::LockEntry* lock_table() const { return device::LockTable(base()); }
  [[nodiscard]] int64_t peer_id() const { return peer_id_; }
  [[nodiscard]] uint64_t space_size() const { return map_.size(); }

  // Maps the space's bytes [offset, offset + len) a second time at addr
  // (page-aligned), replacing what was there: the program's shared globals
  // (see GlobalsWindow). The mapping lives as long as the process.
  Status MapAlias(char* addr, uint64_t offset, uint64_t len);

 private:
  DeviceClient() = default;
  // Waits for done_seq == seq: spins for up to spin_ns (not at all when the
  // daemon last ran on this CPU: it could not answer while we spin), then
  // sets kNodeWaiting and sleeps on the doorbell. Returns false when the
  // daemon went away.
  bool Wait(uint64_t seq, uint64_t spin_ns);
  Reply CallOnce(uint32_t command, std::initializer_list<uint64_t> args);
  // Checks the header of the space mapped at map_ and finds the register page.
  Status Finish();

  std::unique_ptr<Doorbell> doorbell_;
  Mapping map_;
  UniqueFd shm_;  // the space's fd, for MapAlias (native nodes)
  std::unique_ptr<GuestDevice> guest_;  // guests: the device, for MapAlias
  bool spin_ = true;  // guests never spin: the daemon is at least 40 us away
  int64_t peer_id_ = -1;
  device::RegisterFile* regs_ = nullptr;
  uint64_t seq_ = 0;
  bool in_call_ = false;  // a request is outstanding (see Call)
};

}  // namespace dsm::runtime
