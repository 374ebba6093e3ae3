// A node's allocator for shared memory: size classes carved from chunks the
// host daemon hands out (kAlloc), so that small allocations never leave the
// node. Blocks above kLargeThreshold get a chunk of their own.
//
// Every block starts with a 16-byte header (magic, size class, size), so any
// node can free any block: a freed block joins the free list of the node
// that frees it (a block is valid on every node, and the program's
// synchronisation orders the free after every use). Bad pointers and double
// frees are recognised by the header's magic. The header, the size classes
// and the free-list link are shared bytes: they are defined in
// device/include/dsm/device/runtime_layout.h.
//
// Cost: O(1) per allocation and free, plus a daemon round trip per new
// chunk (1 MiB). Thread safety: none (one per node, used by its main
// thread). Not async-signal-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsm/device/runtime_layout.h"

namespace dsm::runtime {

// Where chunks come from: the daemon in a node, a test heap in tests.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // bytes is a multiple of the page size. nullptr when exhausted.
  virtual void* AllocChunk(size_t bytes) = 0;
  virtual bool FreeChunk(void* chunk) = 0;
};

class Arena {
 public:
  static constexpr size_t kHeaderSize = sizeof(device::BlockHeader);
  static constexpr size_t kLargeThreshold = device::kBlockLargeThreshold;
  static constexpr size_t kChunkSize = 1 << 20;

  explicit Arena(ChunkSource* source) : source_(source) {}

  // 16-byte aligned; nullptr (and errno ENOMEM) when the source is exhausted
  // or size is absurd.
  void* Allocate(size_t size);

  // Aligned to `align`, a power of two up to kMaxAlign (16 and below: the
  // same as Allocate). The block holding it is size + align + 16 bytes
  // (device::kBlockAligned); Free, RequestedSize and UsableSize take the
  // aligned pointer. nullptr and errno ENOMEM as above, or EINVAL for an
  // alignment that is not a power of two or above kMaxAlign.
  static constexpr size_t kMaxAlign = size_t{1} << 30;
  void* AllocateAligned(size_t size, size_t align);

  enum class FreeResult { kOk, kNotAllocated, kDoubleFree };
  FreeResult Free(void* p);

  // The size the caller asked for (0 for pointers that are not live blocks).
  static size_t RequestedSize(const void* p);
  // Bytes the caller may use from p on (at least RequestedSize; 0 for
  // pointers that are not live blocks).
  static size_t UsableSize(const void* p);

  static int ClassOf(size_t size);          // -1 above kLargeThreshold
  static size_t ClassSize(int size_class);  // bytes of payload
  static constexpr int kClasses = device::kBlockClasses;

 private:
  using Header = device::BlockHeader;

  ChunkSource* source_;
  void* free_[kClasses] = {};
  char* bump_ = nullptr;
  char* bump_end_ = nullptr;
};

}  // namespace dsm::runtime
