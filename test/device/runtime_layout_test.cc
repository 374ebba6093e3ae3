// The runtime's shared layouts (device/include/dsm/device/runtime_layout.h):
// the sizes and offsets docs/wire-format.md draws, checked where a reader
// of the document would check them, and the start-up version agreement.
#include "dsm/device/runtime_layout.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>

namespace dsm::device {
namespace {

TEST(RuntimeLayout, FuncRefIsSixteenBytes) {
  EXPECT_EQ(sizeof(FuncRef), 16u);
  EXPECT_EQ(offsetof(FuncRef, object), 0u);
  EXPECT_EQ(offsetof(FuncRef, name_hash), 4u);
  EXPECT_EQ(offsetof(FuncRef, offset), 8u);
}

TEST(RuntimeLayout, ControlBlockStartsWithItsVersion) {
  EXPECT_EQ(sizeof(ControlBlock), 48u);
  EXPECT_EQ(offsetof(ControlBlock, layout_version), 0u);
  EXPECT_EQ(offsetof(ControlBlock, reserved0), 4u);
  EXPECT_EQ(offsetof(ControlBlock, generation), 8u);
  EXPECT_EQ(offsetof(ControlBlock, fn), 16u);
  EXPECT_EQ(offsetof(ControlBlock, fn) + offsetof(FuncRef, offset), 24u);
  EXPECT_EQ(offsetof(ControlBlock, arg), 32u);
  // It fits the control page, which the layout places before the guard page.
  Layout l = ComputeLayout(kDefaultSpaceSize);
  EXPECT_LE(l.control_offset + sizeof(ControlBlock), l.stack_offset - kPageSize);
}

TEST(RuntimeLayout, BlockHeaderKeepsPayloadsAligned) {
  EXPECT_EQ(sizeof(BlockHeader), 16u);
  EXPECT_EQ(offsetof(BlockHeader, magic), 0u);
  EXPECT_EQ(offsetof(BlockHeader, size_class), 4u);
  EXPECT_EQ(offsetof(BlockHeader, size), 8u);
  EXPECT_EQ(sizeof(BlockHeader) % kBlockAlign, 0u);
  EXPECT_EQ(sizeof(FreeBlockLink), 8u);
  // The magics read as text in a memory dump.
  char live[4], freed[4];
  std::memcpy(live, &kBlockLive, 4);
  std::memcpy(freed, &kBlockFreed, 4);
  EXPECT_EQ(std::string(live, 4), "DSDA");
  EXPECT_EQ(std::string(freed, 4), "DSDF");
}

TEST(RuntimeLayout, SizeClassesGrowAndStayAligned) {
  EXPECT_EQ(kBlockClasses, 48u);
  uint64_t previous = 0;
  for (uint32_t c = 0; c < kBlockClasses; ++c) {
    uint64_t size = BlockClassSize(c);
    SCOPED_TRACE(c);
    EXPECT_GT(size, previous);
    EXPECT_EQ(size % kBlockAlign, 0u);
    // At most 25 % waste above 256 bytes (16-byte steps below).
    if (previous >= 256) EXPECT_LE(size - previous, previous / 4);
    previous = size;
  }
  EXPECT_EQ(BlockClassSize(kBlockClasses - 1), kBlockLargeThreshold);
}

TEST(RuntimeLayout, FirstNodeSetsTheVersionOthersMustMatchIt) {
  ControlBlock cb{};
  uint32_t found = 0;
  EXPECT_TRUE(AgreeOnRuntimeLayout(&cb, &found));
  EXPECT_EQ(cb.layout_version, kRuntimeLayoutVersion);
  EXPECT_TRUE(AgreeOnRuntimeLayout(&cb, &found));
  EXPECT_EQ(found, kRuntimeLayoutVersion);
  // A node whose runtime wrote another version first.
  cb.layout_version = kRuntimeLayoutVersion + 1;
  EXPECT_FALSE(AgreeOnRuntimeLayout(&cb, &found));
  EXPECT_EQ(found, kRuntimeLayoutVersion + 1);
  EXPECT_EQ(cb.layout_version, kRuntimeLayoutVersion + 1);  // left as it was
}

}  // namespace
}  // namespace dsm::device
