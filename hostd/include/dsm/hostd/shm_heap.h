// The host's shared-heap allocator: hands out page-granular blocks of the
// heap region of the shared space (offsets, never pointers). Nodes carve
// their small objects from such blocks themselves (runtime/arena.h), so this
// sees only chunk-sized requests.
//
// Address-ordered first fit with coalescing; O(free extents) per allocation,
// O(log n) per free. Thread safety: none; the daemon's event loop owns it.
#pragma once

#include <cstdint>
#include <map>

#include "dsm/common/status.h"
#include "dsm/device/protocol.h"

namespace dsm::hostd {

class ShmHeap {
 public:
  ShmHeap(uint64_t base, uint64_t size);

  // A block of at least bytes (rounded up to pages), aligned to align (a
  // power of two; at least a page). kBadArgument for 0 bytes or a bad
  // alignment, kNoMemory when no extent fits.
  device::StatusCode Allocate(uint64_t bytes, uint64_t align, uint64_t* offset);

  // Frees a block returned by Allocate. kBadArgument for anything else
  // (including a second free of the same block).
  device::StatusCode Free(uint64_t offset);

  [[nodiscard]] uint64_t bytes_free() const { return bytes_free_; }
  [[nodiscard]] uint64_t bytes_used() const { return size_ - bytes_free_; }
  [[nodiscard]] size_t blocks() const { return used_.size(); }
  [[nodiscard]] size_t free_extents() const { return free_.size(); }

 private:
  void InsertFree(uint64_t offset, uint64_t size);

  uint64_t base_;
  uint64_t size_;
  uint64_t bytes_free_;
  std::map<uint64_t, uint64_t> free_;  // offset -> size, never adjacent
  std::map<uint64_t, uint64_t> used_;  // offset -> size
};

}  // namespace dsm::hostd
