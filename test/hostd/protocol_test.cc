#include "dsm/device/protocol.h"

#include <gtest/gtest.h>

namespace dsm::device {
namespace {

TEST(Layout, RegionsAreOrderedAlignedAndInside) {
  for (uint64_t size = kMinSpaceSize; size <= (64ULL << 30); size *= 2) {
    Layout l = ComputeLayout(size);
    SCOPED_TRACE(size);
    EXPECT_EQ(l.regs_offset, kPageSize);
    EXPECT_GE(l.lock_table_offset, l.regs_offset + kMaxSlots * kPageSize);
    EXPECT_GE(l.meta_offset, l.lock_table_offset + kLockTableEntries * sizeof(LockEntry));
    EXPECT_GE(l.meta_size, size / kPageSize * 16);
    EXPECT_GE(l.inval_offset, l.meta_offset + l.meta_size);
    EXPECT_GE(l.list_offset, l.inval_offset + l.inval_size);
    EXPECT_GE(l.data_offset, l.list_offset + l.list_size);
    EXPECT_EQ(l.data_offset % (2ULL << 20), 0u);
    EXPECT_EQ(l.data_offset + l.data_size, size);
    EXPECT_EQ(l.control_offset, l.data_offset);
    // A guard page separates the control page from the master stack.
    EXPECT_GE(l.stack_offset, l.control_offset + 2 * kPageSize);
    EXPECT_GE(l.heap_offset, l.stack_offset + l.stack_size);
    EXPECT_EQ(l.heap_offset + l.heap_size, size);
    EXPECT_EQ(l.heap_offset % kPageSize, 0u);
  }
}

TEST(Layout, MasterStackSizeMovesTheHeapAndMustLeaveSomeOfIt) {
  Layout def = ComputeLayout(kDefaultSpaceSize);
  Layout big = ComputeLayout(kDefaultSpaceSize, 256ULL << 20);
  EXPECT_EQ(def.stack_size, kMasterStackSize);
  EXPECT_EQ(big.stack_size, 256ULL << 20);
  EXPECT_EQ(big.stack_offset, def.stack_offset);
  EXPECT_GE(big.heap_offset, big.stack_offset + big.stack_size);
  EXPECT_EQ(big.heap_offset + big.heap_size, kDefaultSpaceSize);
  EXPECT_EQ(ComputeLayout(kDefaultSpaceSize, 5000).stack_size, 2 * kPageSize);  // rounded up
  EXPECT_TRUE(LayoutFits(kDefaultSpaceSize, kMasterStackSize));
  EXPECT_TRUE(LayoutFits(kDefaultSpaceSize, kMinMasterStackSize));
  EXPECT_FALSE(LayoutFits(kDefaultSpaceSize, kMinMasterStackSize - 1));
  EXPECT_FALSE(LayoutFits(kMaxSpaceSize, kMaxMasterStackSize + 1));
  EXPECT_FALSE(LayoutFits(kMinSpaceSize, 60ULL << 20));  // no heap left
  EXPECT_EQ(ComputeLayout(kMinSpaceSize, 1ULL << 30).heap_size, 0u);
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
