#include "dsm/hostd/lock_manager.h"

#include <gtest/gtest.h>

namespace dsm::hostd {
namespace {

using device::kAlreadyHeld;
using device::kBadArgument;
using device::kNotHeld;
using device::kOk;

TEST(LockManager, FreeLockIsGrantedAtOnce) {
  LockManager m;
  bool granted = false;
  EXPECT_EQ(m.Acquire(7, 3, &granted), kOk);
  EXPECT_TRUE(granted);
  EXPECT_EQ(m.Holder(7), 3u);
}

TEST(LockManager, GrantsInFifoOrder) {
  LockManager m;
  bool granted;
  ASSERT_EQ(m.Acquire(1, 0, &granted), kOk);
  for (uint32_t n : {5u, 2u, 9u, 1u}) {
    ASSERT_EQ(m.Acquire(1, n, &granted), kOk);
    EXPECT_FALSE(granted);
  }
  EXPECT_EQ(m.Waiters(1), 4u);
  std::optional<uint32_t> next;
  uint32_t holder = 0;
  for (uint32_t expect : {5u, 2u, 9u, 1u}) {
    ASSERT_EQ(m.Release(1, holder, &next), kOk);
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(*next, expect);
    EXPECT_EQ(m.Holder(1), expect);
    holder = expect;
  }
  ASSERT_EQ(m.Release(1, holder, &next), kOk);
  EXPECT_FALSE(next.has_value());
  EXPECT_FALSE(m.Holder(1).has_value());
  EXPECT_EQ(m.size(), 0u);  // released locks cost nothing
}

TEST(LockManager, ReleaseByNonHolderIsRejectedAndChangesNothing) {
  LockManager m;
  bool granted;
  ASSERT_EQ(m.Acquire(4, 1, &granted), kOk);
  ASSERT_EQ(m.Acquire(4, 2, &granted), kOk);
  std::optional<uint32_t> next;
  EXPECT_EQ(m.Release(4, 2, &next), kNotHeld);   // queued, not holder
  EXPECT_EQ(m.Release(4, 3, &next), kNotHeld);   // stranger
  EXPECT_EQ(m.Release(99, 1, &next), kNotHeld);  // unknown lock
  EXPECT_EQ(m.Holder(4), 1u);
  EXPECT_EQ(m.Waiters(4), 1u);
}

TEST(LockManager, HolderAskingAgainOrQueuedTwiceIsAnError) {
  LockManager m;
  bool granted;
  ASSERT_EQ(m.Acquire(4, 1, &granted), kOk);
  EXPECT_EQ(m.Acquire(4, 1, &granted), kAlreadyHeld);
  ASSERT_EQ(m.Acquire(4, 2, &granted), kOk);
  EXPECT_EQ(m.Acquire(4, 2, &granted), kBadArgument);
  EXPECT_EQ(m.Waiters(4), 1u);
}

TEST(LockManager, ManyLocksAreIndependent) {
  LockManager m;
  bool granted;
  for (uint32_t id = 0; id < 10000; ++id) {
    ASSERT_EQ(m.Acquire(id * 2654435761u, id % 8, &granted), kOk);
    ASSERT_TRUE(granted);
  }
  EXPECT_EQ(m.size(), 10000u);
  std::optional<uint32_t> next;
  for (uint32_t id = 0; id < 10000; ++id) {
    ASSERT_EQ(m.Release(id * 2654435761u, id % 8, &next), kOk);
    EXPECT_FALSE(next.has_value());
  }
  EXPECT_EQ(m.size(), 0u);
}

TEST(LockManager, FastPathHolderRecordedThenHandedOver) {
  LockManager m;
  m.SetHolder(12, 6);
  bool granted = true;
  ASSERT_EQ(m.Acquire(12, 0, &granted), kOk);
  EXPECT_FALSE(granted);
  std::optional<uint32_t> next;
  ASSERT_EQ(m.Release(12, 6, &next), kOk);
  EXPECT_EQ(next, 0u);
  m.Forget(12);  // no waiters left: the lock word is authoritative again
  EXPECT_EQ(m.size(), 0u);
}

}  // namespace
}  // namespace dsm::hostd
