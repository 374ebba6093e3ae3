// Whole jobs of two hosts in one process (cluster_test_util.h), testing one
// page mechanism each:
//
//  * ClusterHomeLog: releases of pages homed on the writer's host go through
//    the home-release log; a corrupt log ends the job.
//  * ClusterClaimAhead: first touches in order claim many pages per query.
//  * ClusterUntracked: pages homed on the writer's host that no other host
//    has a copy of are written untracked; once a copy leaves, the writer's
//    next release logs them.
//  * ClusterWriteRuns: a writer's runs of pages homed elsewhere are fetched
//    ahead, even when many runs are written at once.
//  * ClusterHomeMigration (--home migrate): a barrier moves a page written
//    by one host only to that host, which then writes it without diffs; a
//    request that reaches the new home before the barrier's departure does
//    waits for it.
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <cinttypes>
#include <string>
#include <thread>
#include <vector>

#include "cluster_test_util.h"
#include "dsm/common/clock.h"

namespace dsm::hostd {
namespace {

using namespace dsm::device;
using testing::Cluster;
using testing::ClusterOptions;
using testing::ExpectFinished;
using testing::FinishJob;
using testing::kRunTimeoutMs;
using testing::SurvivedOrFailedLoudly;
using testing::TestNode;

// Releases of pages homed on the writer's host go through its home-release
// log, with no message: the daemon drains the logs before notices leave the
// host. Host 0's node writes pages it homes, under a lock and before a
// barrier; host 1's node must see every value.
TEST(ClusterHomeLog, LoggedReleasesReachTheOtherHostThroughLocksAndBarriers) {
  ClusterOptions o;
  o.placement = {{0}, {1}};
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  constexpr int kRounds = 50;
  auto run = testing::RunNodes(cluster, [&](TestNode& n) {
    const uint64_t a = n.page_offset(PinnedPagesOf(&n.header()).stack_end + 3);
    const uint64_t b = a + 5 * kPageSize;
    if (n.id() == 0) {  // first touch: host 0 is the home of both pages
      if (!n.Put<uint64_t>(a, 0) || !n.Put<uint64_t>(b, 0)) return;
    }
    if (!n.Barrier()) return;
    for (int round = 1; round <= kRounds; ++round) {
      if (!n.Lock(9)) return;
      uint64_t v = 0;
      if (!n.Get(a, &v)) return;
      if (!n.Put(a, v + 1) || !n.Unlock(9)) return;
    }
    if (n.id() == 0 && !n.Put<uint64_t>(b, 77)) return;
    if (!n.Barrier()) return;
    uint64_t va = 0, vb = 0;
    if (!n.Get(a, &va) || !n.Get(b, &vb)) return;
    n.Check(va == 2 * kRounds, "the locked counter is " + std::to_string(va));
    n.Check(vb == 77, "the value written before the barrier is " + std::to_string(vb));
    FinishJob(n);
  }, kRunTimeoutMs);
  ExpectFinished(cluster, run);
}

// A node that corrupts its home-release log ends the job, named; the daemon
// does not read entries that were never written.
TEST(ClusterHomeLog, CorruptLogEndsTheJobNamingTheSlot) {
  ClusterOptions o;
  o.placement = {{0}, {1}};
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  ::testing::internal::CaptureStderr();
  auto run = testing::RunNodes(cluster, [&](TestNode& n) {
    if (n.id() == 1) n.CorruptHomeLog(kHomeLogEntries + 1);
    if (!n.Barrier()) return;
    FinishJob(n);
  }, kRunTimeoutMs);
  bool survived = false;
  std::string why = SurvivedOrFailedLoudly(cluster, run, &survived);
  EXPECT_EQ(why, "");
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(survived) << run.Describe();
  EXPECT_NE(log.find("node in slot 1 corrupted its home-release log"), std::string::npos) << log;
}

// First touches in order claim pages ahead: host 1's node writes 512 pages
// nobody touched, one after the other, then three more arrays of 256 pages
// in one loop (a page of each in turn: three runs in order), and asks the
// manager for homes a few dozen times, not 1280; host 0's node then reads
// every value.
TEST(ClusterClaimAhead, InOrderFirstTouchesClaimManyPagesPerQuery) {
  ClusterOptions o;
  o.placement = {{0}, {1}};
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  constexpr uint64_t kOne = 512, kEach = 256, kArrays = 3;
  constexpr uint64_t kPagesWritten = kOne + kArrays * kEach;
  // Page k of the job's writes: the single array first, then the three.
  auto offset_of = [](TestNode& n, uint64_t k) {
    const uint64_t first = n.page_offset(PinnedPagesOf(&n.header()).stack_end + 8);
    if (k < kOne) return first + k * kPageSize;
    k -= kOne;
    const uint64_t array = k % kArrays, page = k / kArrays;
    return first + (kOne + 64 + array * (kEach + 64) + page) * kPageSize;
  };
  auto run = testing::RunNodes(cluster, [&](TestNode& n) {
    if (n.id() == 1) {
      for (uint64_t k = 0; k < kPagesWritten; ++k) {
        if (!n.Put<uint64_t>(offset_of(n, k), 1000 + k)) return;
      }
    }
    if (!n.Barrier()) return;
    if (n.id() == 0) {
      for (uint64_t k = 0; k < kPagesWritten; ++k) {
        uint64_t v = 0;
        if (!n.Get(offset_of(n, k), &v)) return;
        n.Check(v == 1000 + k, "written page " + std::to_string(k) + " holds " + std::to_string(v));
      }
    }
    FinishJob(n);
  }, kRunTimeoutMs);
  ExpectFinished(cluster, run);
  auto view = cluster.View(1);
  ASSERT_TRUE(view.has_value());
  const uint64_t queries = view->coherence.msgs_sent[peer::kHomeQuery];
  EXPECT_GE(queries, 1u);
  // One run: 1, 2, 4, ... 64 pages per query; each of the three the same.
  EXPECT_LE(queries, 60u) << "home queries for " << kPagesWritten << " pages touched in order";
  // They were homed where they were written: host 0 fetched them.
  auto host0 = cluster.View(0);
  ASSERT_TRUE(host0.has_value());
  EXPECT_GE(host0->coherence.pages_fetched, kPagesWritten);
}

// ---------------------------------------------------------------------------
// Untracked writes to pages homed on the writer's host (PageMeta::copied).

// Spins (yielding) until *step reaches `want`; false after 10 s.
bool WaitStep(const std::atomic<int>& step, int want) {
  const uint64_t deadline = MonotonicNs() + 10'000'000'000ULL;
  while (step.load() < want) {
    if (MonotonicNs() > deadline) return false;
    sched_yield();
  }
  return true;
}

// Host 0's node writes a page it homes untracked; host 1 reads it after a
// lock; host 0 writes it again without a fault (still untracked) and its next
// release must log it, or host 1 would keep its stale copy; then the page is
// tracked, and host 1 sees a third value after the next lock. The test's
// own atomic `step` orders the nodes without the protocol's help.
TEST(ClusterUntracked, ACopyMakesTheNextReleaseLogTheUntrackedPage) {
  ClusterOptions o;
  o.placement = {{0}, {1}};
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  std::atomic<int> step{0};
  auto run = testing::RunNodes(cluster, [&](TestNode& n) {
    const uint64_t page = PinnedPagesOf(&n.header()).stack_end + 7;
    const uint64_t at = n.page_offset(page) + 24;
    auto expect = [&](uint64_t want, const char* when) {
      uint64_t v = 0;
      if (n.Lock(9) && n.Get(at, &v)) {
        n.Check(v == want, std::string(when) + ": read " + std::to_string(v) + ", expected " + std::to_string(want));
      }
      return n.Unlock(9);
    };
    auto wait = [&](int want) { return n.Check(WaitStep(step, want), "waited 10 s for step " + std::to_string(want)); };
    if (n.id() == 0) {
      if (!n.Put<uint64_t>(at, 1)) return;  // first touch: homed on host 0, no copy anywhere
      n.Check(n.untracked(page), "a fresh page homed here is tracked");
      if (!n.Barrier() || !n.Lock(9) || !n.Put<uint64_t>(at, 100) || !n.Unlock(9)) return;
      n.Check(n.untracked(page) && n.untracked_shared() == 0, "released before any copy left: tracked");
      step = 1;
      if (!wait(2)) return;  // host 1 has a copy of 100
      if (!n.Put<uint64_t>(at, 200)) return;  // no fault: still untracked
      if (!n.Lock(9) || !n.Unlock(9)) return;  // the ring lists the page: logged
      n.Check(!n.untracked(page) && n.untracked_shared() == 1, "the release did not track the copied page");
      step = 3;
      if (!wait(4)) return;  // host 1 fetched 200: the page is copied again
      if (!n.Put<uint64_t>(at, 300)) return;
      n.Check(!n.untracked(page), "a write to a page copied since its last notice went untracked");
      if (!n.Lock(9) || !n.Unlock(9)) return;
      step = 5;
    } else {
      if (!n.Barrier() || !wait(1) || !expect(100, "after the untracked release")) return;
      step = 2;
      if (!wait(3) || !expect(200, "after the write made while the copy was out")) return;
      step = 4;
      if (!wait(5) || !expect(300, "after the tracked write")) return;
    }
    FinishJob(n);
  }, kRunTimeoutMs);
  ExpectFinished(cluster, run);
}

// The race window: host 1 fetches a page while host 0's node keeps writing
// it untracked. The page has two halves; in round r host 0's node writes
// half r % 2 over and over with rising values, then under lock 9 publishes
// the last value and hands the turn to host 1's node, which checks that half
// exactly while host 0's node already writes the other half (no word is
// read while written: data-race free, but the fetches copy the page while
// it is written). Every value host 1 checks was written before a release
// that the lock orders before its acquire.
TEST(ClusterUntracked, FetchesWhileTheHomeKeepsWritingSeeEveryReleasedValue) {
  ClusterOptions o;
  o.placement = {{0}, {1}};
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  constexpr uint64_t kRounds = 60;
  constexpr uint64_t kHalfWords = 240;  // words [8, 248) and [264, 504)
  std::atomic<uint64_t> untracked_faults{0}, untracked_shared{0};
  auto run = testing::RunNodes(cluster, [&](TestNode& n) {
    const uint64_t first = PinnedPagesOf(&n.header()).stack_end + 11;
    const uint64_t turn = n.page_offset(first);  // uint64 turn (1: host 1's), round, value
    const uint64_t data = n.page_offset(first + 2);
    auto half = [&](uint64_t r) { return data + (r % 2 == 0 ? 8 : 264) * sizeof(uint64_t); };
    std::vector<uint64_t> words(kHalfWords);
    if (n.id() == 0) {
      if (!n.Put<uint64_t>(turn, 0) || !n.Put<uint64_t>(data, 0)) return;  // homed on host 0
      if (!n.Barrier()) return;
      uint64_t v = 0;
      for (uint64_t r = 0; r < kRounds; ++r) {
        for (bool published = false; !published;) {
          ++v;
          std::fill(words.begin(), words.end(), (r << 32) | v);
          if (!n.Write(half(r), words.data(), words.size() * sizeof(uint64_t))) return;
          uint64_t t = 0;
          if (!n.Lock(9) || !n.Get(turn, &t)) return;
          if (t == 0) {
            if (!n.Put(turn + 8, r) || !n.Put(turn + 16, (r << 32) | v) || !n.Put<uint64_t>(turn, 1)) return;
            published = true;
          }
          if (!n.Unlock(9)) return;
        }
      }
      untracked_faults = n.untracked_faults();
      untracked_shared = n.untracked_shared();
    } else {
      if (!n.Barrier()) return;
      for (uint64_t r = 0; r < kRounds; ++r) {
        for (uint64_t t = 0; t != 1;) {
          if (!n.Lock(9) || !n.Get(turn, &t)) return;
          if (t != 1 && !n.Unlock(9)) return;
          if (t != 1) sched_yield();
        }
        uint64_t round = 0, value = 0;
        if (!n.Get(turn + 8, &round) || !n.Get(turn + 16, &value) ||
            !n.Read(half(r), words.data(), words.size() * sizeof(uint64_t))) {
          return;
        }
        n.Check(round == r, "round " + std::to_string(round) + ", expected " + std::to_string(r));
        for (uint64_t i = 0; i < kHalfWords; ++i) {
          if (!n.Check(words[i] == value, "round " + std::to_string(r) + ": word " + std::to_string(i) + " is " +
                                              std::to_string(words[i]) + ", released " + std::to_string(value))) {
            break;
          }
        }
        if (!n.Put<uint64_t>(turn, 0) || !n.Unlock(9)) return;
      }
    }
    FinishJob(n);
  }, kRunTimeoutMs, TestNode::Locks::kTable);
  ExpectFinished(cluster, run);
  std::printf("[  info    ] host 0: %llu untracked write faults, %llu pages tracked again after a copy\n",
              static_cast<unsigned long long>(untracked_faults.load()),
              static_cast<unsigned long long>(untracked_shared.load()));
  EXPECT_GE(untracked_faults.load(), 1u);
  EXPECT_GE(untracked_shared.load(), 1u) << "no copy ever met an untracked page";
}

// ---------------------------------------------------------------------------
// Fetching ahead for writers.

// Host 1's node writes 16 runs of 8 pages homed on host 0, a page of each
// run in turn (like Radix's permutation: many sequential streams at once,
// so consecutive faults are never neighbours). A run's pages twinned here
// make the next fault of that run fetch twice as many pages: a few fetch
// messages per run instead of one per page. Host 0 then reads every value.
TEST(ClusterWriteRuns, InterleavedRunsOfWritesFetchAhead) {
  ClusterOptions o;
  o.placement = {{0}, {1}};
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  constexpr uint64_t kRuns = 16, kRunPages = 8, kGap = 4;
  auto offset_of = [](TestNode& n, uint64_t run, uint64_t page) {
    return n.page_offset(PinnedPagesOf(&n.header()).stack_end + 8 + run * (kRunPages + kGap) + page);
  };
  auto run = testing::RunNodes(cluster, [&](TestNode& n) {
    if (n.id() == 0) {
      for (uint64_t r = 0; r < kRuns; ++r) {
        for (uint64_t p = 0; p < kRunPages + kGap; ++p) {
          if (!n.Put<uint64_t>(offset_of(n, r, p), 1)) return;
        }
      }
    }
    if (!n.Barrier()) return;
    if (n.id() == 1) {
      for (uint64_t p = 0; p < kRunPages; ++p) {
        for (uint64_t r = 0; r < kRuns; ++r) {
          if (!n.Put<uint64_t>(offset_of(n, r, p) + 8, 1000 * r + p)) return;
        }
      }
    }
    if (!n.Barrier()) return;
    if (n.id() == 0) {
      for (uint64_t r = 0; r < kRuns; ++r) {
        for (uint64_t p = 0; p < kRunPages; ++p) {
          uint64_t v = 0;
          if (!n.Get(offset_of(n, r, p) + 8, &v)) return;
          n.Check(v == 1000 * r + p, "run " + std::to_string(r) + " page " + std::to_string(p) + " holds " +
                                         std::to_string(v));
        }
      }
    }
    FinishJob(n);
  }, kRunTimeoutMs);
  ExpectFinished(cluster, run);
  auto view = cluster.View(1);
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->coherence.twins, kRuns * kRunPages);
  // Per run: 1 page, then 2, then 6 (twice the 3 twinned behind): about 3
  // fetches (a few more go to the job's own pages).
  EXPECT_LE(view->coherence.fetch_messages, kRuns * 4) << "one per page would be " << kRuns * kRunPages;
}

// ---------------------------------------------------------------------------
// Home migration (kHomeMigrate).

constexpr uint64_t kMovedPages = 8;

uint64_t MovedPage(TestNode& n, uint64_t i) {
  return n.page_offset(PinnedPagesOf(&n.header()).stack_end + 8 + i);
}

// Writes base + i into moved page i, for every i.
bool WriteMoved(TestNode& n, uint64_t base) {
  for (uint64_t i = 0; i < kMovedPages; ++i) {
    if (!n.Put<uint64_t>(MovedPage(n, i), base + i)) return false;
  }
  return true;
}

// Checks that moved page i holds base + i, for every i.
bool CheckMoved(TestNode& n, uint64_t base, const std::string& when) {
  for (uint64_t i = 0; i < kMovedPages; ++i) {
    uint64_t v = 0;
    if (!n.Get(MovedPage(n, i), &v)) return false;
    n.Check(v == base + i, when + ": page " + std::to_string(i) + " holds " + std::to_string(v));
  }
  return true;
}

// Round r: node 1 writes 100 r + i into the moved pages, node 0 waits for
// that before its barrier (so that its release sees the copies host 1
// took, and tracks its own untracked pages in round 1); then a barrier.
bool WriteRound(TestNode& n, std::atomic<int>& step, int r) {
  if (n.id() == 1) {
    if (!WriteMoved(n, 100 * static_cast<uint64_t>(r))) return false;
    step.store(r);
  } else if (n.id() == 0 && !n.Check(WaitStep(step, r), "waited 10 s for round " + std::to_string(r))) {
    return false;
  }
  return n.Barrier();
}

// Node 0 initialises pages (homed on host 0); node 1 then writes them in
// every round and node 0 reads them. The first round's interval has host 0
// writing too (its node's release tracks the pages host 1 copied), the
// second has host 1 alone, so the pages move to host 1 at the end of round
// 2, and rounds 3 and 4 write them in place with no diff. Then node 0
// writes them alone and they move back.
TEST(ClusterHomeMigration, PagesMoveToTheOnlyWriterAndBack) {
  ClusterOptions o;
  o.placement = {{0}, {1}};
  o.home_mode = kHomeMigrate;
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  constexpr int kRounds = 4;
  std::atomic<int> step{0};
  auto run = testing::RunNodes(cluster, [&](TestNode& n) {
    if ((n.id() == 0 && !WriteMoved(n, 1000)) || !n.Barrier()) return;
    for (int r = 1; r <= kRounds; ++r) {
      if (!WriteRound(n, step, r)) return;
      if (n.id() == 0 && !CheckMoved(n, 100 * static_cast<uint64_t>(r), "round " + std::to_string(r))) return;
      if (!n.Barrier()) return;
    }
    if ((n.id() == 0 && !WriteMoved(n, 5000)) || !n.Barrier()) return;
    if (n.id() == 1 && !CheckMoved(n, 5000, "after moving back")) return;
    FinishJob(n);
  }, kRunTimeoutMs);
  ExpectFinished(cluster, run);
  auto h0 = cluster.View(0);
  auto h1 = cluster.View(1);
  ASSERT_TRUE(h0.has_value() && h1.has_value());
  EXPECT_EQ(h1->coherence.homes_gained, kMovedPages);
  EXPECT_EQ(h0->coherence.homes_lost, kMovedPages);
  EXPECT_EQ(h0->coherence.homes_gained, kMovedPages) << "node 0's last writes move them back";
  EXPECT_EQ(h1->coherence.homes_lost, kMovedPages);
  // Rounds 1 and 2 sent a diff per page; rounds 3 and 4 none.
  EXPECT_EQ(h1->coherence.diffs, 2 * kMovedPages);
}

// The departure of the barrier that moves the pages to host 1 is held back
// on its way to host 1, while host 2's node goes on and writes them: its
// diff (of all eight pages, whose copies it read under a lock after host
// 1's last writes) reaches host 1 before host 1 knows it is their home, and
// must wait for the departure rather than be refused, and then be applied.
// (Between host 0 and host 1 this cannot happen: the manager's departure
// and host 0's requests share one ordered link.) Heartbeats are off, so
// that holding one message back does not look like a lost one.
TEST(ClusterHomeMigration, RequestsAheadOfTheDepartureWaitForIt) {
  ClusterOptions o;
  o.placement = {{0}, {1}, {2}};
  o.home_mode = kHomeMigrate;
  o.timing.heartbeat_ms = 60'000;
  o.timing.peer_timeout_ms = 120'000;
  Cluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  // Departures to host 1: barrier 0 (after initialising), 1 (host 0 still
  // writing), 2 (host 1 alone wrote: the move). The third is held.
  std::atomic<int> departures{0};
  cluster.network().SetFaultHook([&](const InProcFrame& f) {
    if (f.type == peer::kBarrierDepart && f.to == 1 && departures.fetch_add(1) == 2) return InProcFault::Hold();
    return InProcFault::Deliver();
  });
  std::thread releaser([&] {
    // Once host 1 has deferred a request, the departure may go (after 20 s
    // regardless, and the test fails).
    const uint64_t deadline = MonotonicNs() + 20'000'000'000ULL;
    while (MonotonicNs() < deadline) {
      auto v = cluster.View(1);
      if (v && v->coherence.deferred > 0) break;
      sched_yield();
    }
    cluster.network().ReleaseHeld();
  });
  std::atomic<int> step{0};
  auto run = testing::RunNodes(cluster, [&](TestNode& n) {
    if ((n.id() == 0 && !WriteMoved(n, 1000)) || !n.Barrier()) return;
    if (!WriteRound(n, step, 1)) return;
    // Round 2: host 1 writes under lock 5; host 2 then reads the pages under
    // the same lock (valid copies of the version the move will name).
    if (n.id() == 1 && (!n.Lock(5) || !WriteMoved(n, 200) || !n.Unlock(5))) return;
    if (n.id() == 1) step.store(2);
    if (n.id() != 1 && !n.Check(WaitStep(step, 2), "waited 10 s for round 2")) return;
    if (n.id() == 2 && (!n.Lock(5) || !CheckMoved(n, 200, "under the lock") || !n.Unlock(5))) return;
    if (!n.Barrier()) return;
    // Host 2 departed; host 1 may not have: a diff of eight pages for the
    // new home.
    if (n.id() == 2 && (!WriteMoved(n, 7000) || !n.Lock(3) || !n.Unlock(3))) return;
    if (!n.Barrier()) return;
    if (n.id() != 2 && !CheckMoved(n, 7000, "written by host 2")) return;
    FinishJob(n);
  }, kRunTimeoutMs);
  releaser.join();
  ExpectFinished(cluster, run);
  auto h1 = cluster.View(1);
  ASSERT_TRUE(h1.has_value());
  EXPECT_GE(h1->coherence.deferred, 1u);
  EXPECT_EQ(h1->coherence.homes_gained, kMovedPages);
  EXPECT_EQ(h1->coherence.diffs, 2 * kMovedPages) << "host 1's writes after the move need no diff";
  auto h2 = cluster.View(2);
  ASSERT_TRUE(h2.has_value());
  EXPECT_EQ(h2->coherence.diffs, kMovedPages) << "host 2's one release, to the new home";
  EXPECT_EQ(h2->coherence.msgs_sent[peer::kDiff], 1u);
}

}  // namespace
}  // namespace dsm::hostd
