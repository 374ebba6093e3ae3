// Placement of nodes on simulated hosts and the daemons' node lists
// (tools/dsm-run/placement.h), in process.
#include "placement.h"

#include <gtest/gtest.h>

#include <vector>

namespace dsm::launcher {
namespace {

using Hosts = std::vector<uint32_t>;

TEST(Placement, BlockGivesConsecutiveNodesTheRemainderToTheFirstHosts) {
  EXPECT_EQ(PlaceNodes(4, 1, Placement::kBlock), (Hosts{0, 0, 0, 0}));
  EXPECT_EQ(PlaceNodes(4, 2, Placement::kBlock), (Hosts{0, 0, 1, 1}));
  EXPECT_EQ(PlaceNodes(10, 4, Placement::kBlock), (Hosts{0, 0, 0, 1, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(PlaceNodes(5, 3, Placement::kBlock), (Hosts{0, 0, 1, 1, 2}));
  EXPECT_EQ(PlaceNodes(3, 3, Placement::kBlock), (Hosts{0, 1, 2}));
}

TEST(Placement, CyclicDealsNodesRoundTheHosts) {
  EXPECT_EQ(PlaceNodes(4, 1, Placement::kCyclic), (Hosts{0, 0, 0, 0}));
  EXPECT_EQ(PlaceNodes(5, 2, Placement::kCyclic), (Hosts{0, 1, 0, 1, 0}));
  EXPECT_EQ(PlaceNodes(7, 3, Placement::kCyclic), (Hosts{0, 1, 2, 0, 1, 2, 0}));
}

TEST(Placement, EveryHostGetsANodeAndHostsDifferByOneAtMost) {
  for (Placement p : {Placement::kBlock, Placement::kCyclic}) {
    for (uint32_t hosts = 1; hosts <= 64; hosts += 7) {
      for (uint32_t nodes = hosts; nodes <= 1024; nodes = nodes * 3 + 1) {
        Hosts place = PlaceNodes(nodes, hosts, p);
        ASSERT_EQ(place.size(), nodes);
        size_t fewest = nodes, most = 0;
        for (uint32_t h = 0; h < hosts; ++h) {
          size_t n = NodesOfHost(place, h).size();
          fewest = std::min(fewest, n);
          most = std::max(most, n);
        }
        EXPECT_GE(fewest, 1u) << nodes << " nodes on " << hosts << " hosts";
        EXPECT_LE(most - fewest, 1u) << nodes << " nodes on " << hosts << " hosts";
        if (p == Placement::kBlock) {
          EXPECT_TRUE(std::is_sorted(place.begin(), place.end()));
        }
      }
    }
  }
}

TEST(Placement, NodesOfHost) {
  Hosts place = PlaceNodes(7, 3, Placement::kCyclic);
  EXPECT_EQ(NodesOfHost(place, 0), (std::vector<uint32_t>{0, 3, 6}));
  EXPECT_EQ(NodesOfHost(place, 2), (std::vector<uint32_t>{2, 5}));
  EXPECT_TRUE(NodesOfHost(place, 3).empty());
}

TEST(Placement, NodeLists) {
  EXPECT_EQ(FormatNodeList({}), "");
  EXPECT_EQ(FormatNodeList({5}), "5");
  EXPECT_EQ(FormatNodeList({0, 1, 2, 3}), "0-3");
  EXPECT_EQ(FormatNodeList({0, 2, 4}), "0,2,4");
  EXPECT_EQ(FormatNodeList({0, 1}), "0-1");
  EXPECT_EQ(FormatNodeList({0, 1, 2, 7, 9, 10}), "0-2,7,9-10");
  EXPECT_EQ(FormatNodeList({1023}), "1023");
}

}  // namespace
}  // namespace dsm::launcher
