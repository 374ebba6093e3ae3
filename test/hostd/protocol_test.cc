#include "dsm/device/protocol.h"

#include <gtest/gtest.h>

namespace dsm::device {
namespace {

TEST(Layout, RegionsAreOrderedAlignedAndInside) {
  for (uint64_t size = kMinSpaceSize; size <= (64ULL << 30); size *= 2) {
    for (uint64_t globals : {uint64_t{0}, uint64_t{4096}, uint64_t{5} << 20}) {
      Layout l = ComputeLayout(size, kMasterStackSize, globals);
      SCOPED_TRACE(size);
      SCOPED_TRACE(globals);
      EXPECT_EQ(l.regs_offset, kPageSize);
      EXPECT_GE(l.lock_table_offset, l.regs_offset + kMaxSlots * kPageSize);
      EXPECT_GE(l.inval_offset, l.lock_table_offset + kLockTableEntries * sizeof(LockEntry));
      EXPECT_GE(l.list_offset, l.inval_offset + l.inval_size);
      EXPECT_GE(l.home_log_offset, l.list_offset + l.list_size);
      EXPECT_GE(l.data_offset, l.home_log_offset + l.home_log_size);
      // The data area and the globals window start at fixed offsets.
      EXPECT_EQ(l.data_offset, kDataOffset);
      EXPECT_EQ(l.globals_offset, kGlobalsOffset);
      EXPECT_EQ(l.data_offset % (2ULL << 20), 0u);
      EXPECT_EQ(l.control_offset, l.data_offset);
      EXPECT_GE(l.globals_offset, l.control_offset + kPageSize);
      EXPECT_GE(l.globals_size, globals);
      EXPECT_EQ(l.globals_size % (2ULL << 20), 0u);
      // A guard page separates the globals from the master stack.
      EXPECT_GE(l.stack_offset, l.globals_offset + l.globals_size + kPageSize);
      EXPECT_GE(l.heap_offset, l.stack_offset + l.stack_size);
      EXPECT_LE(l.heap_offset + l.heap_size, l.meta_offset);
      EXPECT_EQ(l.heap_offset % kPageSize, 0u);
      // Page state for every data page, at the end of the space.
      EXPECT_EQ(l.data_offset + l.data_size, l.meta_offset);
      EXPECT_GE(l.meta_size, l.data_size / kPageSize * 16);
      EXPECT_EQ(l.meta_offset + l.meta_size, size);
    }
  }
}

TEST(Layout, MasterStackSizeMovesTheHeapAndMustLeaveSomeOfIt) {
  Layout def = ComputeLayout(kDefaultSpaceSize);
  Layout big = ComputeLayout(kDefaultSpaceSize, 256ULL << 20);
  EXPECT_EQ(def.stack_size, kMasterStackSize);
  EXPECT_EQ(big.stack_size, 256ULL << 20);
  EXPECT_EQ(big.stack_offset, def.stack_offset);
  EXPECT_GE(big.heap_offset, big.stack_offset + big.stack_size);
  EXPECT_LE(big.heap_offset + big.heap_size, big.meta_offset);
  EXPECT_EQ(ComputeLayout(kDefaultSpaceSize, 5000).stack_size, 2 * kPageSize);  // rounded up
  EXPECT_TRUE(LayoutFits(kDefaultSpaceSize, kMasterStackSize));
  EXPECT_TRUE(LayoutFits(kDefaultSpaceSize, kMinMasterStackSize));
  EXPECT_FALSE(LayoutFits(kDefaultSpaceSize, kMinMasterStackSize - 1));
  EXPECT_FALSE(LayoutFits(kMaxSpaceSize, kMaxMasterStackSize + 1));
  EXPECT_FALSE(LayoutFits(kMinSpaceSize, 60ULL << 20));  // no heap left
  EXPECT_EQ(ComputeLayout(kMinSpaceSize, 1ULL << 30).heap_size, 0u);
}

TEST(Layout, GlobalsMoveTheStackAndMustLeaveAHeap) {
  Layout none = ComputeLayout(kDefaultSpaceSize);
  Layout some = ComputeLayout(kDefaultSpaceSize, kMasterStackSize, 3ULL << 20);
  EXPECT_EQ(none.globals_size, 0u);
  EXPECT_EQ(some.globals_size, 4ULL << 20);  // rounded up to 2 MiB
  EXPECT_EQ(some.stack_offset, none.stack_offset + (4ULL << 20));
  EXPECT_TRUE(LayoutFits(kDefaultSpaceSize, kMasterStackSize, 512ULL << 20));
  EXPECT_FALSE(LayoutFits(kDefaultSpaceSize, kMasterStackSize, 1ULL << 30));
  EXPECT_FALSE(LayoutFits(kMaxSpaceSize, kMasterStackSize, kMaxGlobalsSize + 1));
}

TEST(Layout, PinnedPagesAreTheControlPageAndTheStackNotTheGlobals) {
  SpaceHeader h{};
  Layout l = ComputeLayout(kDefaultSpaceSize, kMasterStackSize, 2ULL << 20);
  h.data_offset = l.data_offset;
  h.control_offset = l.control_offset;
  h.stack_offset = l.stack_offset;
  h.stack_size = l.stack_size;
  PinnedPages p = PinnedPagesOf(&h);
  auto page = [&](uint64_t offset) { return (offset - l.data_offset) / kPageSize; };
  EXPECT_TRUE(p.Contains(page(l.control_offset)));
  EXPECT_FALSE(p.Contains(page(l.globals_offset)));
  EXPECT_FALSE(p.Contains(page(l.globals_offset + l.globals_size - 1)));
  EXPECT_TRUE(p.Contains(page(l.stack_offset - kPageSize)));  // the guard
  EXPECT_TRUE(p.Contains(page(l.stack_offset + l.stack_size - 1)));
  EXPECT_FALSE(p.Contains(page(l.stack_offset + l.stack_size)));
  EXPECT_FALSE(p.Contains(page(l.heap_offset)));
}

TEST(Layout, PowerOfTwoHelper) {
  EXPECT_TRUE(IsPowerOfTwo(1));
  EXPECT_TRUE(IsPowerOfTwo(1ULL << 40));
  EXPECT_FALSE(IsPowerOfTwo(0));
  EXPECT_FALSE(IsPowerOfTwo(3ULL << 20));
  EXPECT_EQ(AlignUp(4097, 4096), 8192u);
  EXPECT_EQ(AlignUp(8192, 4096), 8192u);
}

TEST(Names, EveryCommandAndStatusHasAName) {
  for (uint32_t c = kNone; c < kCommandCount; ++c) EXPECT_STRNE(CommandName(c), "unknown") << c;
  EXPECT_STREQ(CommandName(kCommandCount), "unknown");
  for (int32_t s = kOk; s < kStatusCount; ++s) EXPECT_STRNE(StatusName(s), "unknown status") << s;
  EXPECT_STREQ(StatusName(-5), "unknown status");
}

}  // namespace
}  // namespace dsm::device
