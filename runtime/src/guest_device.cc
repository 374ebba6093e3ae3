#include "guest_device.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace dsm::runtime {

namespace {

// ivshmem's BAR0 registers (QEMU docs/specs/ivshmem-spec).
constexpr uint64_t kRegIvPosition = 8;
constexpr uint64_t kRegDoorbell = 12;
constexpr uint64_t kBar0Size = 16;

Result<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::FromErrno("cannot read " + path);
  char buf[256];
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n < 0) return Status::FromErrno("cannot read " + path);
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status WriteSmallFile(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Status::FromErrno("cannot open " + path);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return Status::FromErrno("cannot write '" + text + "' to " + path);
  }
  return Status::Ok();
}

std::string Basename(const std::string& p) {
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// The driver bound to the device, "" if none.
std::string BoundDriver(const std::string& dev) {
  char target[512];
  ssize_t n = ::readlink((dev + "/driver").c_str(), target, sizeof target - 1);
  if (n <= 0) return "";
  target[n] = '\0';
  return Basename(target);
}

Status BindToVfio(const std::string& bdf) {
  const std::string dev = "/sys/bus/pci/devices/" + bdf;
  std::string driver = BoundDriver(dev);
  if (driver == "vfio-pci") return Status::Ok();
  if (::access("/sys/bus/pci/drivers/vfio-pci", F_OK) != 0) {
    return Status(ENODEV, "the guest kernel has no vfio-pci driver loaded (modules vfio_pci and "
                          "vfio_iommu_type1; dsm-image's init loads them)");
  }
  if (!driver.empty()) {
    if (Status s = WriteSmallFile(dev + "/driver/unbind", bdf); !s.ok()) return s;
  }
  if (Status s = WriteSmallFile(dev + "/driver_override", "vfio-pci"); !s.ok()) return s;
  if (Status s = WriteSmallFile("/sys/bus/pci/drivers_probe", bdf); !s.ok()) return s;
  if (BoundDriver(dev) != "vfio-pci") {
    return Status(ENODEV, "the ivshmem device " + bdf + " did not bind to vfio-pci (is the guest's IOMMU on? "
                          "QEMU needs -M q35 -device intel-iommu and the kernel intel_iommu=on)");
  }
  return Status::Ok();
}

Status RegionInfo(int device, uint32_t index, vfio_region_info* info) {
  *info = {};
  info->argsz = sizeof *info;
  info->index = index;
  if (::ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info) != 0) {
    return Status::FromErrno("VFIO cannot describe region " + std::to_string(index) + " of the ivshmem device");
  }
  return Status::Ok();
}

}  // namespace

std::optional<std::string> FindIvshmemDevice(const std::string& sysfs_pci) {
  DIR* d = ::opendir(sysfs_pci.c_str());
  if (d == nullptr) return std::nullopt;
  std::vector<std::string> found;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string dev = sysfs_pci + "/" + e->d_name;
    auto vendor = ReadSmallFile(dev + "/vendor");
    auto device = ReadSmallFile(dev + "/device");
    if (!vendor.ok() || !device.ok()) continue;
    if (std::strtoul(vendor->c_str(), nullptr, 16) == kIvshmemVendor &&
        std::strtoul(device->c_str(), nullptr, 16) == kIvshmemDevice) {
      found.emplace_back(e->d_name);
    }
  }
  ::closedir(d);
  if (found.empty()) return std::nullopt;
  std::sort(found.begin(), found.end());
  return found.front();
}

Result<GuestWait> GuestWaitFromEnv() {
  const char* v = std::getenv("DSM_GUEST_WAIT");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "interrupt") == 0) return GuestWait::kInterrupt;
  if (std::strcmp(v, "poll") == 0) return GuestWait::kPoll;
  return Status(EINVAL, std::string("DSM_GUEST_WAIT='") + v + "': expected 'interrupt' or 'poll'");
}

Result<GuestDevice> GuestDevice::Open(const std::string& bdf, GuestWait wait) {
  GuestDevice g;
  g.bdf_ = bdf;
  g.wait_ = wait;
  if (Status s = BindToVfio(bdf); !s.ok()) return s;

  g.container_.reset(::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC));
  if (!g.container_) return Status::FromErrno("cannot open /dev/vfio/vfio (VFIO in the guest kernel)");
  if (::ioctl(g.container_.get(), VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
    return Status(EPROTO, "the guest kernel's VFIO speaks another API version");
  }
  if (::ioctl(g.container_.get(), VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
    return Status(ENODEV, "the guest kernel's VFIO has no type-1 IOMMU (module vfio_iommu_type1)");
  }
  char target[512];
  const std::string dev = "/sys/bus/pci/devices/" + bdf;
  ssize_t n = ::readlink((dev + "/iommu_group").c_str(), target, sizeof target - 1);
  if (n <= 0) {
    return Status(ENODEV, "the ivshmem device " + bdf + " has no IOMMU group (the guest needs intel_iommu=on "
                          "and QEMU -device intel-iommu)");
  }
  target[n] = '\0';
  const std::string group_path = "/dev/vfio/" + Basename(target);
  g.group_.reset(::open(group_path.c_str(), O_RDWR | O_CLOEXEC));
  if (!g.group_) return Status::FromErrno("cannot open " + group_path);
  vfio_group_status gs{};
  gs.argsz = sizeof gs;
  if (::ioctl(g.group_.get(), VFIO_GROUP_GET_STATUS, &gs) != 0) return Status::FromErrno("VFIO group status");
  if ((gs.flags & VFIO_GROUP_FLAGS_VIABLE) == 0) {
    return Status(EBUSY, "VFIO group " + group_path + " is not viable (another device of the group has a driver)");
  }
  int cfd = g.container_.get();
  if (::ioctl(g.group_.get(), VFIO_GROUP_SET_CONTAINER, &cfd) != 0) {
    return Status::FromErrno("VFIO cannot put group " + group_path + " in a container");
  }
  if (::ioctl(g.container_.get(), VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) != 0) {
    return Status::FromErrno("VFIO cannot set the IOMMU type (interrupt remapping missing?)");
  }
  g.device_.reset(::ioctl(g.group_.get(), VFIO_GROUP_GET_DEVICE_FD, bdf.c_str()));
  if (!g.device_) return Status::FromErrno("VFIO cannot open device " + bdf);

  vfio_region_info bar0, bar2, config;
  if (Status s = RegionInfo(g.device_.get(), VFIO_PCI_BAR0_REGION_INDEX, &bar0); !s.ok()) return s;
  if (Status s = RegionInfo(g.device_.get(), VFIO_PCI_BAR2_REGION_INDEX, &bar2); !s.ok()) return s;
  if (Status s = RegionInfo(g.device_.get(), VFIO_PCI_CONFIG_REGION_INDEX, &config); !s.ok()) return s;
  if (bar0.size < kBar0Size) return Status(EPROTO, "the ivshmem device's BAR0 is too small");
  if ((bar2.flags & VFIO_REGION_INFO_FLAG_MMAP) == 0) {
    return Status(ENOTSUP, "VFIO cannot map the ivshmem device's shared memory (BAR2)");
  }
  g.bar0_offset_ = bar0.offset;
  g.bar2_offset_ = bar2.offset;
  g.bar2_size_ = bar2.size;
  if ((bar0.flags & VFIO_REGION_INFO_FLAG_MMAP) != 0) {
    void* p = ::mmap(nullptr, bar0.size, PROT_READ | PROT_WRITE, MAP_SHARED, g.device_.get(),
                     static_cast<off_t>(bar0.offset));
    if (p != MAP_FAILED) g.bar0_map_ = Mapping(p, bar0.size);
  }

  // Memory decoding, and bus mastering, without which MSI-X never fires.
  uint16_t cmd = 0;
  const auto cmd_at = static_cast<off_t>(config.offset + PCI_COMMAND);
  if (::pread(g.device_.get(), &cmd, sizeof cmd, cmd_at) != sizeof cmd) {
    return Status::FromErrno("cannot read the ivshmem device's PCI command register");
  }
  cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
  if (::pwrite(g.device_.get(), &cmd, sizeof cmd, cmd_at) != sizeof cmd) {
    return Status::FromErrno("cannot enable the ivshmem device (PCI command register)");
  }

  if (wait == GuestWait::kInterrupt) {
    g.irq_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!g.irq_) return Status::FromErrno("eventfd");
    // vfio_irq_set ends in a flexible array: the eventfd follows it.
    alignas(vfio_irq_set) char buf[sizeof(vfio_irq_set) + sizeof(int32_t)] = {};
    auto* set = reinterpret_cast<vfio_irq_set*>(buf);
    set->argsz = sizeof buf;
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = VFIO_PCI_MSIX_IRQ_INDEX;
    set->start = 0;
    set->count = 1;
    int32_t fd = g.irq_.get();
    std::memcpy(buf + sizeof(vfio_irq_set), &fd, sizeof fd);
    if (::ioctl(g.device_.get(), VFIO_DEVICE_SET_IRQS, set) != 0) {
      return Status::FromErrno("VFIO cannot route the ivshmem device's MSI-X vector 0 to an eventfd");
    }
  }
  return g;
}

Result<char*> GuestDevice::Map(char* addr, uint64_t offset, uint64_t len, bool fixed_no_replace) const {
  if (offset > bar2_size_ || len > bar2_size_ - offset) return Status(EINVAL, "mapping outside BAR2");
  int flags = MAP_SHARED | (fixed_no_replace ? MAP_FIXED_NOREPLACE : MAP_FIXED);
  void* p = ::mmap(addr, len, PROT_READ | PROT_WRITE, flags, device_.get(), static_cast<off_t>(bar2_offset_ + offset));
  if (p == MAP_FAILED) return Status::FromErrno("cannot map the ivshmem device's shared memory");
  if (p != addr) {
    ::munmap(p, len);
    return Status(EEXIST, "the shared space's fixed address is in use in this process");
  }
  return static_cast<char*>(p);
}

Status GuestDevice::ReadBar0(uint64_t offset, uint32_t* value) const {
  if (bar0_map_.valid()) {
    *value = __atomic_load_n(reinterpret_cast<const uint32_t*>(static_cast<char*>(bar0_map_.addr()) + offset),
                             __ATOMIC_SEQ_CST);
    return Status::Ok();
  }
  if (::pread(device_.get(), value, sizeof *value, static_cast<off_t>(bar0_offset_ + offset)) != sizeof *value) {
    return Status::FromErrno("cannot read the ivshmem device's registers (BAR0)");
  }
  return Status::Ok();
}

Result<uint32_t> GuestDevice::PeerId() const {
  uint32_t v = 0;
  if (Status s = ReadBar0(kRegIvPosition, &v); !s.ok()) return s;
  return v;
}

bool GuestDevice::Ring(uint32_t peer, uint32_t vector) const {
  uint32_t v = (peer << 16) | (vector & 0xffff);
  if (bar0_map_.valid()) {
    __atomic_store_n(reinterpret_cast<uint32_t*>(static_cast<char*>(bar0_map_.addr()) + kRegDoorbell), v,
                     __ATOMIC_SEQ_CST);
    return true;
  }
  return ::pwrite(device_.get(), &v, sizeof v, static_cast<off_t>(bar0_offset_ + kRegDoorbell)) == sizeof v;
}

}  // namespace dsm::runtime
