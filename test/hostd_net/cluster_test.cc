// Whole jobs of two and three hosts in one process: real daemons, each on
// its own thread, joined by an InProcNetwork, and nodes (TestNode, one
// thread each) speaking the real register protocol, following the node's
// side of the coherence protocol by hand (cluster_test_util.h).
//
// Every program ends the job properly (node 0 finishes, the others see
// kJobFinished), and every run is bounded: a program that does not return
// in time is reported as a hang, with what each node was waiting for.
//
//  * ClusterShapes: message passing through a lock (daemon-managed and the
//    lock table's fast path), a ping-pong between hosts, a barrier, and false
//    sharing of the bytes of two pages by nodes of every host under
//    different locks.
//  * ClusterHeap: host 0 keeps the job-wide heap.
//  * ClusterFaults: engine messages dropped, duplicated, delayed or held
//    back (reordered) at random by the network. The job must either survive
//    with correct data or fail loudly (every node told the job ended, the
//    daemons' status says which host was lost): never wrong data, never a
//    hang.
//  * ClusterKill: a host dies mid-job; the others end it within 3 s.
//
// Tests of single page mechanisms (home-release logs, claim-ahead,
// untracked writes, home migration) are in cluster_pages_test.cc.
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cluster_test_util.h"
#include "dsm/common/clock.h"
#include "dsm/common/thread_annotations.h"

namespace dsm::hostd {
namespace {

using namespace dsm::device;
using testing::Cluster;
using testing::ClusterOptions;
using testing::ExpectFinished;
using testing::FinishJob;
using testing::kRunTimeoutMs;
using testing::RunOutcome;
using testing::SurvivedOrFailedLoudly;
using testing::TestNode;

// ---------------------------------------------------------------------------
// The programs' building blocks. Each returns false once the node failed
// (the job ended, or a request was refused); data checks go to Check().
//
// Node 0 allocates the shared region and passes its offset to the others
// through the runtime's control page (data page 0), across a barrier. In
// the region (pages from its start):
constexpr uint64_t kCounterPage = 0;   // uint64 counter
constexpr uint64_t kLogPage = 1;       // 4 pages: uint32 log[4096]
constexpr uint64_t kTurnPage = 5;      // uint64 turn, then 2 pages of payload
constexpr uint64_t kOwnPages = 8;      // one page per node (up to 8)
constexpr uint64_t kSharedPage = 16;   // 2 pages shared byte by byte
constexpr uint64_t kRegionPages = 18;
constexpr uint64_t kLogEntries = 4 * kPageSize / sizeof(uint32_t);
constexpr uint64_t kSharedBytes = 2 * kPageSize;

bool ShareRegion(TestNode& n, uint64_t* region) {
  const uint64_t control = n.page_offset(0);
  if (n.id() == 0) {
    if (!n.Alloc(kRegionPages * kPageSize, region) || !n.Put(control, *region)) return false;
  }
  if (!n.Barrier()) return false;
  if (n.id() != 0 && !n.Get(control, region)) return false;
  const uint64_t lo = n.header().heap_offset, hi = lo + n.header().heap_size;
  if (!n.Check(*region >= lo && *region + kRegionPages * kPageSize <= hi && *region % kPageSize == 0,
               "region offset " + std::to_string(*region) + " is not a block of the heap")) {
    *region = lo;  // go on (and fail the checks) rather than hang the others
  }
  return true;
}

uint64_t At(uint64_t region, uint64_t page, uint64_t byte = 0) { return region + page * kPageSize + byte; }

// Every node increments one counter under lock 1 and logs its id at the
// counter's old value; afterwards every node sees every increment.
bool CounterUnderLock(TestNode& n, uint64_t region, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    uint64_t c = 0;
    if (!n.Lock(1) || !n.Get(At(region, kCounterPage), &c)) return false;
    if (n.Check(c < kLogEntries, "counter " + std::to_string(c) + " out of range") &&
        !n.Put(At(region, kLogPage, c * 4), n.id() + 1)) {
      return false;
    }
    if (!n.Put(At(region, kCounterPage), c + 1)) return false;
    if (!n.Unlock(1)) return false;
  }
  if (!n.Barrier()) return false;
  const uint64_t total = uint64_t{n.num_nodes()} * static_cast<uint64_t>(rounds);
  uint64_t c = 0;
  if (!n.Get(At(region, kCounterPage), &c)) return false;
  n.Check(c == total, "counter " + std::to_string(c) + ", expected " + std::to_string(total));
  std::vector<uint64_t> per_node(n.num_nodes(), 0);
  for (uint64_t i = 0; i < std::min(c, kLogEntries); ++i) {
    uint32_t who = 0;
    if (!n.Get(At(region, kLogPage, i * 4), &who)) return false;
    if (!n.Check(who >= 1 && who <= n.num_nodes(), "log[" + std::to_string(i) + "] = " + std::to_string(who))) {
      break;
    }
    ++per_node[who - 1];
  }
  for (uint32_t k = 0; k < n.num_nodes(); ++k) {
    n.Check(per_node[k] == static_cast<uint64_t>(rounds),
            "node " + std::to_string(k) + " logged " + std::to_string(per_node[k]) + " increments");
  }
  return !n.failed();
}

uint64_t Payload(uint64_t turn, uint64_t word) { return (turn << 32) | (word * 2654435761u & 0xffffffffu); }

// Node 0 and the last node (on different hosts) take turns under lock 2:
// each checks the payload the other wrote for this turn and writes the next.
bool PingPong(TestNode& n, uint64_t region, uint64_t turns) {
  const uint32_t last = n.num_nodes() - 1;
  if (n.id() != 0 && n.id() != last) return true;
  const uint64_t me = n.id() == 0 ? 0 : 1;
  const uint64_t words = 2 * kPageSize / 8 - 1;
  const uint64_t turn_at = At(region, kTurnPage);
  for (;;) {
    uint64_t t = 0;
    if (!n.Lock(2) || !n.Get(turn_at, &t)) return false;
    if (t >= turns) return n.Unlock(2);
    if (t % 2 == me) {
      for (uint64_t w = 0; t > 0 && w < words; ++w) {
        uint64_t v = 0;
        if (!n.Get(turn_at + 8 + w * 8, &v)) return false;
        if (!n.Check(v == Payload(t, w), "turn " + std::to_string(t) + " word " + std::to_string(w))) break;
      }
      for (uint64_t w = 0; w < words; ++w) {
        if (!n.Put(turn_at + 8 + w * 8, Payload(t + 1, w))) return false;
      }
      if (!n.Put(turn_at, t + 1)) return false;
    }
    if (!n.Unlock(2)) return false;
  }
}

uint64_t Stamp(uint64_t round, uint64_t node, uint64_t word) { return (round << 40) | (node << 32) | word; }

// Each node writes its own page, then after a barrier reads everybody's.
bool BarrierExchange(TestNode& n, uint64_t region, int rounds) {
  const uint64_t words = kPageSize / 8;
  for (int r = 0; r < rounds; ++r) {
    for (uint64_t w = 0; w < words; ++w) {
      if (!n.Put(At(region, kOwnPages + n.id(), w * 8), Stamp(static_cast<uint64_t>(r), n.id(), w))) return false;
    }
    if (!n.Barrier()) return false;
    for (uint32_t k = 0; k < n.num_nodes(); ++k) {
      for (uint64_t w = 0; w < words; ++w) {
        uint64_t v = 0;
        if (!n.Get(At(region, kOwnPages + k, w * 8), &v)) return false;
        if (!n.Check(v == Stamp(static_cast<uint64_t>(r), k, w),
                     "round " + std::to_string(r) + ": page of node " + std::to_string(k) + " word " +
                         std::to_string(w))) {
          break;
        }
      }
    }
    if (!n.Barrier()) return false;
  }
  return true;
}

// Byte i of the shared pages belongs to node i % N, which writes it under
// its own lock: nodes of every host write neighbouring bytes of the same
// words. A value says whose it is ((v - 1) % N == owner).
uint8_t Value(uint64_t round, uint32_t node, uint32_t nodes) {
  return static_cast<uint8_t>(1 + (round * nodes + node) % 252);
}

bool FalseSharing(TestNode& n, uint64_t region, int rounds) {
  const uint32_t nodes = n.num_nodes();
  const uint64_t base = At(region, kSharedPage);
  std::vector<uint8_t> page(kSharedBytes);
  for (int r = 0; r < rounds; ++r) {
    const uint64_t round = static_cast<uint64_t>(r);
    if (!n.Lock(10 + n.id()) || !n.Read(base, page.data(), page.size())) return false;
    for (uint64_t i = 0; i < kSharedBytes; ++i) {
      const uint32_t owner = static_cast<uint32_t>(i % nodes);
      const uint8_t v = page[i];
      bool ok = owner == n.id() ? v == (r == 0 ? 0 : Value(round - 1, owner, nodes))
                                : v == 0 || (v - 1u) % nodes == owner;
      if (!n.Check(ok, "round " + std::to_string(r) + ": byte " + std::to_string(i) + " of node " +
                           std::to_string(owner) + " is " + std::to_string(v))) {
        break;
      }
    }
    for (uint64_t i = n.id(); i < kSharedBytes; i += nodes) {
      if (!n.Put(base + i, Value(round, n.id(), nodes))) return false;
    }
    if (!n.Unlock(10 + n.id())) return false;
  }
  if (!n.Barrier() || !n.Read(base, page.data(), page.size())) return false;
  for (uint64_t i = 0; i < kSharedBytes; ++i) {
    const uint32_t owner = static_cast<uint32_t>(i % nodes);
    const uint8_t want = Value(static_cast<uint64_t>(rounds - 1), owner, nodes);
    if (!n.Check(page[i] == want, "after the barrier byte " + std::to_string(i) + " is " +
                                      std::to_string(page[i]) + ", node " + std::to_string(owner) +
                                      " wrote " + std::to_string(want))) {
      break;
    }
  }
  return !n.failed();
}


// ---------------------------------------------------------------------------
// Shapes of clusters: every test runs on each.

struct Shape {
  const char* name;
  std::vector<std::vector<uint32_t>> placement;
  uint32_t home_mode = kHomeFirstTouch;
};

void PrintTo(const Shape& shape, std::ostream* os) { *os << shape.name; }

class ClusterShapes : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override { StartCluster(GetParam().home_mode); }
  void StartCluster(uint32_t home_mode) {
    ClusterOptions o;
    o.placement = GetParam().placement;
    o.home_mode = home_mode;
    cluster_.reset();
    cluster_ = std::make_unique<Cluster>(o);
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.message();
  }
  void TearDown() override { cluster_.reset(); }
  std::unique_ptr<Cluster> cluster_;
};


TEST_P(ClusterShapes, LockCarriesMessagesBetweenHosts) {
  auto run = testing::RunNodes(*cluster_, [](TestNode& n) {
    uint64_t region = 0;
    if (ShareRegion(n, &region) && CounterUnderLock(n, region, 40)) FinishJob(n);
  }, kRunTimeoutMs);
  ExpectFinished(*cluster_, run);
}

TEST_P(ClusterShapes, LockTableFastPathCarriesMessagesBetweenHosts) {
  auto run = testing::RunNodes(*cluster_, [](TestNode& n) {
    uint64_t region = 0;
    if (ShareRegion(n, &region) && CounterUnderLock(n, region, 40)) FinishJob(n);
  }, kRunTimeoutMs, TestNode::Locks::kTable);
  ExpectFinished(*cluster_, run);
}

TEST_P(ClusterShapes, PingPongThroughALock) {
  auto run = testing::RunNodes(*cluster_, [](TestNode& n) {
    uint64_t region = 0;
    if (ShareRegion(n, &region) && PingPong(n, region, 20)) FinishJob(n);
  }, kRunTimeoutMs, TestNode::Locks::kTable);
  ExpectFinished(*cluster_, run);
}

TEST_P(ClusterShapes, BarrierCarriesMessages) {
  auto run = testing::RunNodes(*cluster_, [](TestNode& n) {
    uint64_t region = 0;
    if (ShareRegion(n, &region) && BarrierExchange(n, region, 5)) FinishJob(n);
  }, kRunTimeoutMs);
  ExpectFinished(*cluster_, run);
}

TEST_P(ClusterShapes, FalseSharingUnderDifferentLocks) {
  auto run = testing::RunNodes(*cluster_, [](TestNode& n) {
    uint64_t region = 0;
    if (ShareRegion(n, &region) && FalseSharing(n, region, 40)) FinishJob(n);
  }, kRunTimeoutMs, TestNode::Locks::kTable);
  ExpectFinished(*cluster_, run);
}

TEST_P(ClusterShapes, FalseSharingWithRoundRobinHomes) {
  ASSERT_NO_FATAL_FAILURE(StartCluster(kHomeRoundRobin));
  auto run = testing::RunNodes(*cluster_, [](TestNode& n) {
    uint64_t region = 0;
    if (ShareRegion(n, &region) && FalseSharing(n, region, 40) && CounterUnderLock(n, region, 20)) FinishJob(n);
  }, kRunTimeoutMs);
  ExpectFinished(*cluster_, run);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ClusterShapes,
    ::testing::Values(Shape{"TwoHostsOneNodeEach", {{0}, {1}}}, Shape{"TwoHostsTwoNodesEach", {{0, 2}, {1, 3}}},
                      Shape{"ThreeHostsTwoNodesEach", {{0, 3}, {1, 4}, {2, 5}}},
                      Shape{"TwoHostsTwoNodesEachMigrating", {{0, 2}, {1, 3}}, kHomeMigrate},
                      Shape{"ThreeHostsTwoNodesEachMigrating", {{0, 3}, {1, 4}, {2, 5}}, kHomeMigrate}),
    [](const ::testing::TestParamInfo<Shape>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------
// The job-wide heap.

TEST(ClusterHeap, HostZeroKeepsTheHeapOfEveryHost) {
  ClusterOptions o;
  o.placement = {{0}, {1}};
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  std::atomic<uint64_t> from_host1{0}, from_host0{0}, again{0};
  auto run = testing::RunNodes(cluster, [&](TestNode& n) {
    const uint64_t lo = n.header().heap_offset, hi = lo + n.header().heap_size;
    const uint64_t bytes = 3 * kPageSize;
    uint64_t off = 0;
    if (n.id() == 1) {  // host 1 allocates first: the lowest block of host 0's heap
      if (!n.Alloc(bytes, &off)) return;
      n.Check(off == lo, "host 1's first block is at " + std::to_string(off) + ", the heap starts at " +
                             std::to_string(lo));
      from_host1 = off;
      for (uint64_t i = 0; i < bytes / 8; ++i) {
        if (!n.Put(off + i * 8, i * 3 + 1)) return;
      }
    }
    if (!n.Barrier()) return;
    if (n.id() == 0) {  // after it, host 0 gets the next block, and sees host 1's data
      if (!n.Alloc(bytes, &off)) return;
      from_host0 = off;
      n.Check(off >= from_host1 + bytes && off + bytes <= hi, "host 0's block overlaps host 1's");
      for (uint64_t i = 0; i < bytes / 8; ++i) {
        uint64_t v = 0;
        if (!n.Get(from_host1 + i * 8, &v)) return;
        if (!n.Check(v == i * 3 + 1, "word " + std::to_string(i) + " of host 1's block")) break;
      }
    }
    if (!n.Barrier()) return;
    if (n.id() == 1) {  // host 1 frees its block on host 0's heap; a second free is refused
      if (!n.Free(from_host1)) return;
      n.Expect(kFree, {from_host1.load()}, kBadArgument);
    }
    if (!n.Barrier()) return;
    if (n.id() == 0) {  // first fit: host 0 gets host 1's freed block back
      if (!n.Alloc(bytes, &off)) return;
      again = off;
      if (!n.Free(off) || !n.Free(from_host0)) return;
    }
    FinishJob(n);
  }, kRunTimeoutMs);
  ExpectFinished(cluster, run);
  EXPECT_EQ(again.load(), from_host1.load());
}

// ---------------------------------------------------------------------------
// Faults injected by the network into engine messages (type >= kJobEnd; the
// membership protocol has its own tests).

struct FaultCase {
  const char* name;
  InProcFault::Action action;
  uint32_t seed;
};

void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }

// Picks a fraction of the engine messages at random (seeded) and applies the
// action to them. Called on every host's loop thread.
class FaultInjector {
 public:
  FaultInjector(InProcFault::Action action, uint32_t seed, double rate)
      : action_(action), rate_(rate), rng_(seed) {}
  InProcNetwork::FaultHook Hook() {
    return [this](const InProcFrame& f) { return Decide(f); };
  }
  uint64_t injected() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return injected_;
  }
  // "3 lock-grant, 1 diff" for the report.
  std::string Summary() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    std::string out;
    for (uint16_t t = 0; t < peer::kMsgTypeEnd; ++t) {
      if (by_type_[t] == 0) continue;
      out += (out.empty() ? "" : ", ") + std::to_string(by_type_[t]) + " " + peer::MsgTypeName(t);
    }
    return out.empty() ? "none" : out;
  }

 private:
  InProcFault Decide(const InProcFrame& f) EXCLUDES(mu_) {
    if (f.type < peer::kJobEnd || f.type >= peer::kMsgTypeEnd) return InProcFault::Deliver();
    MutexLock lock(&mu_);
    if (std::uniform_real_distribution<double>(0, 1)(rng_) >= rate_) return InProcFault::Deliver();
    ++injected_;
    ++by_type_[f.type];
    switch (action_) {
      case InProcFault::kDrop: return InProcFault::Drop();
      case InProcFault::kDuplicate: return InProcFault::Duplicate();
      case InProcFault::kDelay: return InProcFault::Delay(1 + static_cast<int>(rng_() % 20));
      case InProcFault::kHold: return InProcFault::Hold();
      case InProcFault::kDeliver: break;
    }
    return InProcFault::Deliver();
  }

  const InProcFault::Action action_;
  const double rate_;
  Mutex mu_;
  std::mt19937 rng_ GUARDED_BY(mu_);
  uint64_t injected_ GUARDED_BY(mu_) = 0;
  uint64_t by_type_[peer::kMsgTypeEnd] GUARDED_BY(mu_) = {};
};



// What the daemons said about lost peers, for the report.
std::string LossReasons(Cluster& cluster) {
  std::string out;
  for (uint32_t h = 0; h < cluster.hosts(); ++h) {
    auto v = cluster.View(h);
    if (!v) continue;
    for (const std::string& r : v->lost_reasons) out += "\n  host " + std::to_string(h) + ": " + r;
  }
  return out;
}


class ClusterFaults : public ::testing::TestWithParam<FaultCase> {};

TEST_P(ClusterFaults, SurviveWithCorrectDataOrFailLoudly) {
  const FaultCase& c = GetParam();
  FaultInjector faults(c.action, c.seed, 0.05);  // outlives the cluster (its hook)
  ClusterOptions o;
  o.placement = {{0, 2}, {1, 3}};
  o.timing.heartbeat_ms = 100;
  o.timing.peer_timeout_ms = 1000;
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  cluster.network().SetFaultHook(faults.Hook());
  auto run = testing::RunNodes(cluster, [](TestNode& n) {
    uint64_t region = 0;
    if (ShareRegion(n, &region) && CounterUnderLock(n, region, 30) && BarrierExchange(n, region, 3) &&
        FalseSharing(n, region, 20)) {
      FinishJob(n);
    }
  }, 30000, TestNode::Locks::kTable);
  bool survived = false;
  std::string wrong = SurvivedOrFailedLoudly(cluster, run, &survived);
  std::printf("[  fault   ] %s: %llu faults (%s) in %.2f s: %s%s\n", c.name,
              static_cast<unsigned long long>(faults.injected()), faults.Summary().c_str(), run.seconds,
              !wrong.empty() ? "WRONG" : survived ? "survived" : "failed loudly",
              survived ? "" : LossReasons(cluster).c_str());
  std::fflush(stdout);
  EXPECT_EQ(wrong, "");
  if (c.action == InProcFault::kDuplicate || c.action == InProcFault::kDelay) {
    // The link drops duplicates and keeps its order through a delay.
    EXPECT_TRUE(survived) << "a duplicate or a delay must not end the job:\n" << run.Describe();
  } else if (faults.injected() > 0) {
    // The first message lost or overtaken ends the job, naming the link.
    EXPECT_FALSE(survived);
    EXPECT_NE(LossReasons(cluster).find("lost or out of order on the link"), std::string::npos)
        << LossReasons(cluster);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Faults, ClusterFaults,
    ::testing::Values(FaultCase{"Drop1", InProcFault::kDrop, 1}, FaultCase{"Drop2", InProcFault::kDrop, 2},
                      FaultCase{"Duplicate1", InProcFault::kDuplicate, 1},
                      FaultCase{"Duplicate2", InProcFault::kDuplicate, 2},
                      FaultCase{"Delay1", InProcFault::kDelay, 1}, FaultCase{"Delay2", InProcFault::kDelay, 2},
                      FaultCase{"Hold1", InProcFault::kHold, 1}, FaultCase{"Hold2", InProcFault::kHold, 2}),
    [](const ::testing::TestParamInfo<FaultCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------
// A host dies mid-job.

class ClusterKill : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ClusterKill, TheOtherHostsEndTheJobWithin3s) {
  const uint32_t victim = GetParam();
  const uint32_t killer = (victim + 1) % 3;  // node k lives on host k
  ClusterOptions o;
  o.placement = {{0}, {1}, {2}};  // the real timing: heartbeats every 250 ms, lost after 2 s
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  std::atomic<uint64_t> killed_at{0};
  std::vector<std::atomic<uint64_t>> ended_at(3);
  auto run = testing::RunNodes(cluster, [&](TestNode& n) {
    uint64_t region = 0;
    if (!ShareRegion(n, &region)) return;
    for (uint64_t i = 0;; ++i) {  // until the job ends
      uint64_t c = 0;
      if (!n.Lock(1) || !n.Get(At(region, kCounterPage), &c) || !n.Put(At(region, kCounterPage), c + 1) ||
          !n.Unlock(1)) {
        break;
      }
      if (i % 8 == 7 && !n.Barrier()) break;
      if (n.id() == killer && i == 40) {
        killed_at = MonotonicNs();
        cluster.network().KillHost(victim);
      }
    }
    ended_at[n.id()] = MonotonicNs();
  }, 20000);
  ASSERT_FALSE(run.hung) << run.Describe();
  ASSERT_NE(killed_at.load(), 0u) << "the workload failed before the kill:\n" << run.Describe();
  EXPECT_FALSE(run.any_wrong_data()) << run.Describe();
  for (uint32_t h = 0; h < 3; ++h) {
    const auto& node = run.nodes[h];
    EXPECT_EQ(node.status, kHostLost) << run.Describe();
    if (h == victim) continue;  // cut off, it loses everybody else
    EXPECT_EQ(node.status_value, victim) << "node " << h << " was told another host was lost";
    double took = static_cast<double>(ended_at[h] - killed_at) / 1e9;
    EXPECT_LT(took, 3.0) << "node " << h << " learnt that host " << victim << " was lost after " << took << " s";
    EXPECT_EQ(cluster.WaitStatus(h, "lost-host", 1000), "lost-host " + std::to_string(victim)) << "host " << h;
    auto view = cluster.View(h);
    ASSERT_TRUE(view.has_value()) << "host " << h << "'s loop does not answer";
    EXPECT_EQ(view->state, JobState::kFailed) << "host " << h;
    EXPECT_EQ(view->lost_host, std::optional<uint32_t>(victim)) << "host " << h;
  }
}

INSTANTIATE_TEST_SUITE_P(Victims, ClusterKill, ::testing::Values(0u, 2u),
                         [](const ::testing::TestParamInfo<uint32_t>& info) {
                           return "Host" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace dsm::hostd
