#include "dsm/hostd/shm_heap.h"

namespace dsm::hostd {

using device::kPageSize;

ShmHeap::ShmHeap(uint64_t base, uint64_t size)
    : base_(device::AlignUp(base, kPageSize)), size_(0), bytes_free_(0) {
  uint64_t end = base + size;
  if (end > base_) size_ = (end - base_) / kPageSize * kPageSize;
  bytes_free_ = size_;
  if (size_ > 0) free_.emplace(base_, size_);
}

device::StatusCode ShmHeap::Allocate(uint64_t bytes, uint64_t align, uint64_t* offset) {
  if (bytes == 0 || !device::IsPowerOfTwo(align)) return device::kBadArgument;
  if (bytes > size_) return device::kNoMemory;
  if (align < kPageSize) align = kPageSize;
  uint64_t need = device::AlignUp(bytes, kPageSize);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    uint64_t start = it->first;
    uint64_t extent = it->second;
    uint64_t aligned = device::AlignUp(start, align);
    if (aligned - start >= extent || extent - (aligned - start) < need) continue;
    free_.erase(it);
    if (aligned > start) free_.emplace(start, aligned - start);
    uint64_t tail = start + extent - (aligned + need);
    if (tail > 0) free_.emplace(aligned + need, tail);
    used_.emplace(aligned, need);
    bytes_free_ -= need;
    *offset = aligned;
    return device::kOk;
  }
  return device::kNoMemory;
}

device::StatusCode ShmHeap::Free(uint64_t offset) {
  auto it = used_.find(offset);
  if (it == used_.end()) return device::kBadArgument;
  uint64_t size = it->second;
  used_.erase(it);
  bytes_free_ += size;
  InsertFree(offset, size);
  return device::kOk;
}

void ShmHeap::InsertFree(uint64_t offset, uint64_t size) {
  auto next = free_.lower_bound(offset);
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == offset) {
      offset = prev->first;
      size += prev->second;
      free_.erase(prev);
    }
  }
  if (next != free_.end() && offset + size == next->first) {
    size += next->second;
    free_.erase(next);
  }
  free_.emplace(offset, size);
}

}  // namespace dsm::hostd
