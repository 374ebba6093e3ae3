#include "dsm/hostd/shm_heap.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace dsm::hostd {
namespace {

using device::kPageSize;

constexpr uint64_t kBase = 1 << 20;
constexpr uint64_t kSize = 64 << 20;

TEST(ShmHeap, AllocatesPageGranularBlocksInsideTheRegion) {
  ShmHeap h(kBase, kSize);
  uint64_t a = 0, b = 0;
  ASSERT_EQ(h.Allocate(1, kPageSize, &a), device::kOk);
  ASSERT_EQ(h.Allocate(5000, kPageSize, &b), device::kOk);
  EXPECT_GE(a, kBase);
  EXPECT_EQ(a % kPageSize, 0u);
  EXPECT_EQ(b % kPageSize, 0u);
  EXPECT_GE(b, a + kPageSize);
  EXPECT_EQ(h.bytes_used(), 3 * kPageSize);
}

TEST(ShmHeap, HonoursLargeAlignment) {
  ShmHeap h(kBase + kPageSize, kSize);
  uint64_t a = 0;
  ASSERT_EQ(h.Allocate(kPageSize, 2 << 20, &a), device::kOk);
  EXPECT_EQ(a % (2 << 20), 0u);
}

TEST(ShmHeap, FreeCoalescesSoTheWholeRegionIsUsableAgain) {
  ShmHeap h(kBase, kSize);
  std::vector<uint64_t> blocks;
  uint64_t off;
  while (h.Allocate(1 << 20, kPageSize, &off) == device::kOk) blocks.push_back(off);
  EXPECT_EQ(blocks.size(), kSize / (1 << 20));
  // Free in an interleaved order to exercise both neighbours.
  for (size_t i = 0; i < blocks.size(); i += 2) ASSERT_EQ(h.Free(blocks[i]), device::kOk);
  for (size_t i = 1; i < blocks.size(); i += 2) ASSERT_EQ(h.Free(blocks[i]), device::kOk);
  EXPECT_EQ(h.free_extents(), 1u);
  EXPECT_EQ(h.bytes_free(), kSize);
  ASSERT_EQ(h.Allocate(kSize, kPageSize, &off), device::kOk);
  EXPECT_EQ(off, kBase);
}

TEST(ShmHeap, ExhaustionIsAnErrorNotACrash) {
  ShmHeap h(kBase, kSize);
  uint64_t off;
  EXPECT_EQ(h.Allocate(kSize + 1, kPageSize, &off), device::kNoMemory);
  EXPECT_EQ(h.Allocate(~0ULL, kPageSize, &off), device::kNoMemory);
  ASSERT_EQ(h.Allocate(kSize - kPageSize, kPageSize, &off), device::kOk);
  EXPECT_EQ(h.Allocate(2 * kPageSize, kPageSize, &off), device::kNoMemory);
  EXPECT_EQ(h.Allocate(kPageSize, kPageSize, &off), device::kOk);
  EXPECT_EQ(h.bytes_free(), 0u);
}

TEST(ShmHeap, BadArgumentsAndBadFreesAreRejected) {
  ShmHeap h(kBase, kSize);
  uint64_t off;
  EXPECT_EQ(h.Allocate(0, kPageSize, &off), device::kBadArgument);
  EXPECT_EQ(h.Allocate(10, 3000, &off), device::kBadArgument);
  ASSERT_EQ(h.Allocate(10, kPageSize, &off), device::kOk);
  EXPECT_EQ(h.Free(off + 16), device::kBadArgument);
  EXPECT_EQ(h.Free(0), device::kBadArgument);
  EXPECT_EQ(h.Free(off), device::kOk);
  EXPECT_EQ(h.Free(off), device::kBadArgument);  // double free
  EXPECT_EQ(h.bytes_free(), kSize);
}

TEST(ShmHeap, RandomWorkloadNeverOverlaps) {
  ShmHeap h(kBase, kSize);
  std::mt19937_64 rng(42);
  std::map<uint64_t, uint64_t> live;  // offset -> bytes
  for (int step = 0; step < 20000; ++step) {
    if (!live.empty() && rng() % 3 == 0) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      ASSERT_EQ(h.Free(it->first), device::kOk);
      live.erase(it);
      continue;
    }
    uint64_t bytes = 1 + rng() % (256 * 1024);
    uint64_t off;
    device::StatusCode s = h.Allocate(bytes, kPageSize, &off);
    if (s == device::kNoMemory) continue;
    ASSERT_EQ(s, device::kOk);
    ASSERT_GE(off, kBase);
    ASSERT_LE(off + bytes, kBase + kSize);
    auto next = live.lower_bound(off);
    if (next != live.end()) ASSERT_LE(off + bytes, next->first);
    if (next != live.begin()) {
      auto prev = std::prev(next);
      ASSERT_LE(prev->first + prev->second, off);
    }
    live.emplace(off, bytes);
  }
  for (auto& [off, bytes] : live) ASSERT_EQ(h.Free(off), device::kOk);
  EXPECT_EQ(h.bytes_free(), kSize);
  EXPECT_EQ(h.free_extents(), 1u);
}

}  // namespace
}  // namespace dsm::hostd
