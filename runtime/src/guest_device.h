// The guest side of the device: inside a QEMU guest a node reaches its host
// daemon through QEMU's ivshmem-doorbell PCI device instead of the daemon's
// UNIX socket (docs/vm.md, "The guest side of the device").
//
// The device is driven from user space through VFIO (the guest kernel runs
// an emulated IOMMU, so no driver of ours is needed in the guest): BAR2 is
// the shared space, mapped at the job's fixed address; BAR0 holds IVPosition
// (the peer id the daemon gave this guest) and the Doorbell register; MSI-X
// vector 0 is routed to an eventfd, so a waiting node sleeps until the daemon
// rings it. ivshmem-doorbell interrupts are MSI-X only, which is why VFIO
// (not uio or sysfs resource files) is the way in.
//
// Nothing tells a guest that QEMU's connection to the daemon closed, so the
// daemon bumps SpaceHeader::heartbeat every kHeartbeatPeriodMs while it lives
// and a sleeping guest looks at it every kHeartbeatCheckMs: unchanged for
// kHeartbeatDeadMs of the guest's own time means the daemon is gone.
//
// Thread safety: a GuestDevice and its doorbell belong to the node's main
// thread, like the DeviceClient that holds them. Not async-signal-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "dsm/common/fd.h"
#include "dsm/common/status.h"
#include "dsm/device/protocol.h"

namespace dsm::runtime {

// QEMU's ivshmem PCI ids.
inline constexpr uint16_t kIvshmemVendor = 0x1af4;
inline constexpr uint16_t kIvshmemDevice = 0x1110;

// The ivshmem device's PCI address ("0000:00:03.0") among the devices under
// sysfs_pci (/sys/bus/pci/devices), if there is one. Two or more: the first
// by address.
std::optional<std::string> FindIvshmemDevice(const std::string& sysfs_pci = "/sys/bus/pci/devices");

// How a guest node waits for the daemon's answer. kInterrupt (the default)
// sleeps on MSI-X vector 0; kPoll never takes an interrupt and instead
// re-reads the register page, sleeping between looks (20 us doubling up to
// 1 ms), so that a waiting guest never keeps a host CPU busy.
enum class GuestWait { kInterrupt, kPoll };

// DSM_GUEST_WAIT: "interrupt" (or unset) or "poll"; anything else is an error.
Result<GuestWait> GuestWaitFromEnv();

class GuestDevice {
 public:
  // Binds the device at bdf to vfio-pci (when it is bound to nothing or to
  // another driver), opens it through VFIO, enables memory decoding and bus
  // mastering and, for kInterrupt, routes MSI-X vector 0 to an eventfd.
  // Errors name what is missing (no VFIO in the guest kernel, no IOMMU
  // group, a region that cannot be mapped).
  static Result<GuestDevice> Open(const std::string& bdf, GuestWait wait);

  // BAR2's size: the shared space.
  [[nodiscard]] uint64_t space_size() const { return bar2_size_; }
  // Maps BAR2's bytes [offset, offset + len) at addr (kFixedNoReplace: the
  // whole space at its fixed address, failing if anything is there; else
  // replacing what is at addr, like DeviceClient::MapAlias).
  Result<char*> Map(char* addr, uint64_t offset, uint64_t len, bool fixed_no_replace) const;
  // IVPosition: this guest's peer id.
  Result<uint32_t> PeerId() const;
  // Writes the Doorbell register: (peer << 16) | vector.
  bool Ring(uint32_t peer, uint32_t vector) const;
  // The eventfd MSI-X vector 0 signals; -1 in kPoll mode.
  [[nodiscard]] int irq_fd() const { return irq_.get(); }
  [[nodiscard]] GuestWait wait() const { return wait_; }
  [[nodiscard]] const std::string& bdf() const { return bdf_; }

 private:
  GuestDevice() = default;
  Status ReadBar0(uint64_t offset, uint32_t* value) const;

  std::string bdf_;
  GuestWait wait_ = GuestWait::kInterrupt;
  UniqueFd container_;
  UniqueFd group_;
  UniqueFd device_;
  UniqueFd irq_;
  uint64_t bar0_offset_ = 0;  // the regions' offsets in device_
  uint64_t bar2_offset_ = 0;
  uint64_t bar2_size_ = 0;
  Mapping bar0_map_;  // BAR0 when VFIO lets it be mapped, else pread/pwrite
};

// How often a sleeping guest looks at the daemon's heartbeat, and how long it
// may stay unchanged before the daemon counts as gone.
inline constexpr int kHeartbeatCheckMs = 500;
inline constexpr uint64_t kHeartbeatDeadMs = 3000;

}  // namespace dsm::runtime
