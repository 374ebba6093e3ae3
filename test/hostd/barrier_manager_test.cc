#include "dsm/hostd/barrier_manager.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace dsm::hostd {
namespace {

TEST(BarrierManager, ReleasesEveryoneWhenTheLastArrives) {
  BarrierManager b(4);
  std::vector<uint32_t> release;
  for (uint32_t n : {2u, 0u, 3u}) {
    ASSERT_EQ(b.Arrive(n, &release), device::kOk);
    EXPECT_TRUE(release.empty());
  }
  EXPECT_EQ(b.arrived(), 3u);
  ASSERT_EQ(b.Arrive(1, &release), device::kOk);
  std::sort(release.begin(), release.end());
  EXPECT_EQ(release, (std::vector<uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(b.generation(), 1u);
  EXPECT_EQ(b.arrived(), 0u);
}

TEST(BarrierManager, IsReusableForManyGenerations) {
  BarrierManager b(3);
  std::vector<uint32_t> release;
  for (int gen = 0; gen < 100; ++gen) {
    for (uint32_t n = 0; n < 3; ++n) {
      uint32_t node = (n + static_cast<uint32_t>(gen)) % 3;
      ASSERT_EQ(b.Arrive(node, &release), device::kOk);
      EXPECT_EQ(release.size(), n == 2 ? 3u : 0u);
    }
  }
  EXPECT_EQ(b.generation(), 100u);
}

TEST(BarrierManager, RejectsDoubleArrivalAndUnknownNodes) {
  BarrierManager b(2);
  std::vector<uint32_t> release;
  ASSERT_EQ(b.Arrive(0, &release), device::kOk);
  EXPECT_EQ(b.Arrive(0, &release), device::kBadArgument);
  EXPECT_EQ(b.Arrive(2, &release), device::kBadArgument);
  EXPECT_EQ(b.arrived(), 1u);
  ASSERT_EQ(b.Arrive(1, &release), device::kOk);
  EXPECT_EQ(release.size(), 2u);
}

TEST(BarrierManager, SingleParticipantNeverWaits) {
  BarrierManager b(1);
  std::vector<uint32_t> release;
  ASSERT_EQ(b.Arrive(0, &release), device::kOk);
  EXPECT_EQ(release, std::vector<uint32_t>{0});
}

}  // namespace
}  // namespace dsm::hostd
