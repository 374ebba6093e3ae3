#include "arena.h"

#include <cerrno>

namespace dsm::runtime {

namespace {
constexpr size_t kPage = 4096;
size_t RoundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }
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

size_t Arena::ClassSize(int cls) {
  if (cls < 16) return static_cast<size_t>(cls + 1) * 16;
  int rel = cls - 16;
  size_t base = size_t{256} << (rel / 4);
  return base + base / 4 * static_cast<size_t>(rel % 4 + 1);
}

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
    h->magic = kLive;
    h->size_class = kLargeClass;
    h->size = size;
    return block + kHeaderSize;
  }
  if (free_[cls] != nullptr) {
    block = static_cast<char*>(free_[cls]) - kHeaderSize;
    free_[cls] = *static_cast<void**>(free_[cls]);
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
  h->magic = kLive;
  h->size_class = static_cast<uint32_t>(cls);
  h->size = size;
  return block + kHeaderSize;
}

Arena::FreeResult Arena::Free(void* p) {
  if (p == nullptr) return FreeResult::kOk;
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return FreeResult::kNotAllocated;
  auto* h = reinterpret_cast<Header*>(static_cast<char*>(p) - kHeaderSize);
  if (h->magic == kFreed) return FreeResult::kDoubleFree;
  if (h->magic != kLive) return FreeResult::kNotAllocated;
  if (h->size_class == kLargeClass) {
    h->magic = kFreed;
    if (!source_->FreeChunk(h)) {
      h->magic = kLive;
      return FreeResult::kNotAllocated;
    }
    return FreeResult::kOk;
  }
  if (h->size_class >= static_cast<uint32_t>(kClasses)) return FreeResult::kNotAllocated;
  h->magic = kFreed;
  *static_cast<void**>(p) = free_[h->size_class];
  free_[h->size_class] = p;
  return FreeResult::kOk;
}

size_t Arena::RequestedSize(const void* p) {
  const auto* h = reinterpret_cast<const Header*>(static_cast<const char*>(p) - kHeaderSize);
  return h->magic == kLive ? h->size : 0;
}

}  // namespace dsm::runtime
