#include "arena.h"

#include <cerrno>

namespace dsm::runtime {

using device::FreeBlockLink;
using device::kBlockAligned;
using device::kBlockFreed;
using device::kBlockLargeClass;
using device::kBlockLive;

namespace {
constexpr size_t kPage = 4096;
size_t RoundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

// The live block an aligned payload (header kBlockAligned) lies in, or
// nullptr if the header does not describe one.
char* EnclosingPayload(const void* p) {
  const auto* h = reinterpret_cast<const device::BlockHeader*>(static_cast<const char*>(p) -
                                                               sizeof(device::BlockHeader));
  const size_t distance = h->size_class;
  if (distance < 2 * sizeof(device::BlockHeader) || distance % 16 != 0 ||
      distance > Arena::kMaxAlign + sizeof(device::BlockHeader)) {
    return nullptr;
  }
  char* outer = const_cast<char*>(static_cast<const char*>(p)) - distance;
  const auto* outer_header =
      reinterpret_cast<const device::BlockHeader*>(outer - sizeof(device::BlockHeader));
  return outer_header->magic == kBlockLive ? outer : nullptr;
}
}  // namespace

int Arena::ClassOf(size_t size) {
  if (size == 0) size = 1;
  if (size <= 256) return static_cast<int>((size + 15) / 16) - 1;
  if (size > kLargeThreshold) return -1;
  // Above 256: four classes per power of two: (256, 320], (320, 384], ...
  int cls = 16;
  size_t base = 256;
  for (;;) {
    size_t step = base / 4;
    for (size_t k = 1; k <= 4; ++k, ++cls) {
      if (size <= base + step * k) return cls;
    }
    base *= 2;
  }
}

size_t Arena::ClassSize(int cls) { return device::BlockClassSize(static_cast<uint32_t>(cls)); }

void* Arena::Allocate(size_t size) {
  if (size > (size_t{1} << 46)) {
    errno = ENOMEM;
    return nullptr;
  }
  int cls = ClassOf(size);
  char* block = nullptr;
  if (cls < 0) {
    block = static_cast<char*>(source_->AllocChunk(RoundUp(size + kHeaderSize, kPage)));
    if (block == nullptr) {
      errno = ENOMEM;
      return nullptr;
    }
    auto* h = reinterpret_cast<Header*>(block);
    h->magic = kBlockLive;
    h->size_class = kBlockLargeClass;
    h->size = size;
    return block + kHeaderSize;
  }
  if (free_[cls] != nullptr) {
    block = static_cast<char*>(free_[cls]) - kHeaderSize;
    free_[cls] = reinterpret_cast<void*>(static_cast<FreeBlockLink*>(free_[cls])->next);
  } else {
    size_t need = ClassSize(cls) + kHeaderSize;
    if (bump_ == nullptr || static_cast<size_t>(bump_end_ - bump_) < need) {
      // The rest of the old chunk is abandoned to keep this O(1); it is at
      // most one block of the largest class.
      auto* chunk = static_cast<char*>(source_->AllocChunk(kChunkSize));
      if (chunk == nullptr) {
        errno = ENOMEM;
        return nullptr;
      }
      bump_ = chunk;
      bump_end_ = chunk + kChunkSize;
    }
    block = bump_;
    bump_ += need;
  }
  auto* h = reinterpret_cast<Header*>(block);
  h->magic = kBlockLive;
  h->size_class = static_cast<uint32_t>(cls);
  h->size = size;
  return block + kHeaderSize;
}

void* Arena::AllocateAligned(size_t size, size_t align) {
  if (align <= kHeaderSize) return Allocate(size);
  if ((align & (align - 1)) != 0 || align > kMaxAlign) {
    errno = EINVAL;
    return nullptr;
  }
  if (size > (size_t{1} << 46)) {
    errno = ENOMEM;
    return nullptr;
  }
  // The aligned payload starts at least two headers into the enclosing
  // payload: its own header never overlaps the free-list link a freed
  // enclosing block gets in its first bytes.
  auto* outer = static_cast<char*>(Allocate(size + align + kHeaderSize));
  if (outer == nullptr) return nullptr;
  const auto first = reinterpret_cast<uintptr_t>(outer) + 2 * kHeaderSize;
  auto* p = reinterpret_cast<char*>(RoundUp(first, align));
  auto* h = reinterpret_cast<Header*>(p - kHeaderSize);
  h->magic = kBlockAligned;
  h->size_class = static_cast<uint32_t>(p - outer);
  h->size = size;
  return p;
}

Arena::FreeResult Arena::Free(void* p) {
  if (p == nullptr) return FreeResult::kOk;
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return FreeResult::kNotAllocated;
  auto* h = reinterpret_cast<Header*>(static_cast<char*>(p) - kHeaderSize);
  if (h->magic == kBlockFreed) return FreeResult::kDoubleFree;
  if (h->magic == kBlockAligned) {
    char* outer = EnclosingPayload(p);
    if (outer == nullptr) return FreeResult::kNotAllocated;
    h->magic = kBlockFreed;
    FreeResult r = Free(outer);
    if (r != FreeResult::kOk) h->magic = kBlockAligned;
    return r;
  }
  if (h->magic != kBlockLive) return FreeResult::kNotAllocated;
  if (h->size_class == kBlockLargeClass) {
    h->magic = kBlockFreed;
    if (!source_->FreeChunk(h)) {
      h->magic = kBlockLive;
      return FreeResult::kNotAllocated;
    }
    return FreeResult::kOk;
  }
  if (h->size_class >= static_cast<uint32_t>(kClasses)) return FreeResult::kNotAllocated;
  h->magic = kBlockFreed;
  static_cast<FreeBlockLink*>(p)->next = reinterpret_cast<uint64_t>(free_[h->size_class]);
  free_[h->size_class] = p;
  return FreeResult::kOk;
}

size_t Arena::RequestedSize(const void* p) {
  const auto* h = reinterpret_cast<const Header*>(static_cast<const char*>(p) - kHeaderSize);
  return h->magic == kBlockLive || h->magic == kBlockAligned ? h->size : 0;
}

size_t Arena::UsableSize(const void* p) {
  const auto* h = reinterpret_cast<const Header*>(static_cast<const char*>(p) - kHeaderSize);
  if (h->magic == kBlockAligned) {
    const char* outer = EnclosingPayload(p);
    if (outer == nullptr) return 0;
    const size_t usable = UsableSize(outer);
    return usable > h->size_class ? usable - h->size_class : 0;
  }
  if (h->magic != kBlockLive) return 0;
  if (h->size_class == kBlockLargeClass) return RoundUp(h->size + kHeaderSize, kPage) - kHeaderSize;
  if (h->size_class >= static_cast<uint32_t>(kClasses)) return 0;
  return ClassSize(static_cast<int>(h->size_class));
}

}  // namespace dsm::runtime
