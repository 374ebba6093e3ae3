// A host's shared space: one file (space_file.h) holding the header page, the register
// pages, the host lock table, reserved coherence areas and the data area
// (layout in device/protocol.h). The daemon creates it and hands its fd to
// every peer; being a memfd or an unlinked file on a private tmpfs, it
// vanishes with its last reference, so no job leaves a shared-memory object
// behind.
//
// Thread safety: the object is immutable after Create(); the memory it maps
// is shared with other processes and accessed with the atomics of
// protocol.h.
#pragma once

#include <cstdint>
#include <string>

#include "dsm/common/fd.h"
#include "dsm/common/status.h"
#include "dsm/device/protocol.h"

namespace dsm::hostd {

struct SpaceConfig {
  uint64_t size = device::kDefaultSpaceSize;  // power of two
  uint32_t num_nodes = 1;
  uint32_t host_id = 0;
  uint32_t num_hosts = 1;
  uint64_t job_id = 0;
  uint64_t stack_size = device::kMasterStackSize;  // node 0's main stack
  uint64_t globals_size = 0;  // the program's shared globals (dsm-run reads them)
  uint32_t home_mode = device::kHomeMigrate;        // several hosts only
  bool huge_pages = true;  // a file that can have huge pages, and nodes that ask
};

class SharedSpace {
 public:
  static Result<SharedSpace> Create(const SpaceConfig& config);

  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] void* base() const { return map_.addr(); }
  [[nodiscard]] device::SpaceHeader* header() const {
    return static_cast<device::SpaceHeader*>(map_.addr());
  }
  [[nodiscard]] device::RegisterFile* regs(uint32_t slot) const {
    return device::RegisterPage(map_.addr(), slot);
  }
  [[nodiscard]] device::LockEntry* lock_table() const { return device::LockTable(map_.addr()); }
  [[nodiscard]] device::PageMeta* page_meta() const { return device::PageMetaTable(map_.addr()); }
  [[nodiscard]] char* data() const { return static_cast<char*>(map_.addr()) + header()->data_offset; }
  [[nodiscard]] char* page(uint32_t index) const { return data() + uint64_t{index} * device::kPageSize; }
  // The file's kind: "tmpfs huge=advise" or "memfd (why)".
  [[nodiscard]] const std::string& backing() const { return backing_; }

 private:
  UniqueFd fd_;
  Mapping map_;
  std::string backing_;
};

// Checks a size given by a user: a power of two within the device's bounds.
Status ValidateSpaceSize(uint64_t size);
// Checks a master stack size and a globals size given by a user against the
// space they live in.
Status ValidateStackSize(uint64_t stack_size, uint64_t space_size, uint64_t globals_size = 0);

}  // namespace dsm::hostd
