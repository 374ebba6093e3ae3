// The job's manager alone: its messages in, its messages out, no daemon.
#include "dsm/hostd/manager.h"

#include <gtest/gtest.h>

#include <deque>

#include "dsm/hostd/peer_codec.h"

namespace dsm::hostd {
namespace {

using namespace dsm::hostd::peer;

struct Sent {
  uint32_t to;
  uint16_t type;
  uint64_t request_id;
  std::string body;
};

class ManagerTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kHosts = 3;
  static constexpr uint64_t kPages = 1000;

  explicit ManagerTest(device::HomeMode mode = device::kHomeFirstTouch, device::PinnedPages pinned = {})
      : heap_(1 << 20, 64 << 20),
        manager_(kHosts, kPages, mode, &heap_,
                 [this](uint32_t to, uint16_t type, uint64_t id, std::string body) {
                   sent_.push_back(Sent{to, type, id, std::move(body)});
                 },
                 pinned) {}

  static std::string LockMsg(uint32_t id, uint32_t flags) {
    BodyWriter w;
    w.Put(LockBody{id, flags});
    return w.Take();
  }
  static std::string WithNotices(std::string fixed, std::vector<Notice> notices) {
    BodyWriter w;
    w.PutBytes(fixed.data(), fixed.size());
    PutNotices(&w, std::vector<uint64_t>(kHosts, 0), notices);
    return w.Take();
  }
  Sent Pop() {
    EXPECT_FALSE(sent_.empty());
    if (sent_.empty()) return Sent{};
    Sent s = std::move(sent_.front());
    sent_.pop_front();
    return s;
  }
  // Decodes the notices of a grant or departure (and a departure's home
  // moves).
  static std::vector<Notice> NoticesOf(const Sent& s, size_t fixed, std::vector<HomeMove>* moves = nullptr) {
    BodyReader r(s.body);
    std::string_view skip;
    EXPECT_TRUE(r.GetBytes(fixed, &skip));
    std::vector<uint64_t> vt;
    std::vector<Notice> notices;
    EXPECT_TRUE(GetNotices(&r, kHosts, kPages, &vt, &notices));
    std::vector<HomeMove> m;
    if (s.type == kBarrierDepart) EXPECT_TRUE(GetMoves(&r, kHosts, kPages, &m));
    if (moves != nullptr) *moves = m;
    EXPECT_TRUE(r.done());
    return notices;
  }
  bool Arrive(uint32_t h, uint64_t epoch, std::vector<Notice> n) {
    BodyWriter w;
    w.Put(BarrierBody{epoch});
    return manager_.OnMessage(h, kBarrierArrive, 0, WithNotices(w.Take(), std::move(n)));
  }
  // Homes of `pages` as the directory answers host h (looked up, not claimed
  // unless `claim`).
  std::vector<uint32_t> Query(uint32_t h, std::vector<uint32_t> pages, uint32_t flags) {
    BodyWriter w;
    w.Put(PageListBody{static_cast<uint32_t>(pages.size()), flags});
    w.PutBytes(pages.data(), pages.size() * 4);
    EXPECT_TRUE(manager_.OnMessage(h, kHomeQuery, 42, w.Take()));
    Sent s = Pop();
    EXPECT_EQ(s.type, kHomeReply);
    EXPECT_EQ(s.request_id, 42u);
    BodyReader r(s.body);
    PageListBody b;
    EXPECT_TRUE(r.Get(&b));
    std::vector<uint32_t> homes;
    HomeEntry e;
    while (r.Get(&e)) homes.push_back(e.home);
    return homes;
  }
  static LockBody LockOf(const Sent& s) {
    BodyReader r(s.body);
    LockBody b{};
    EXPECT_TRUE(r.Get(&b));
    return b;
  }

  ShmHeap heap_;
  std::deque<Sent> sent_;
  Manager manager_;
};

TEST_F(ManagerTest, GrantsAFreeTokenAtOnce) {
  ASSERT_TRUE(manager_.OnMessage(1, kLockRequest, 0, LockMsg(7, 0)));
  Sent g = Pop();
  EXPECT_EQ(g.to, 1u);
  EXPECT_EQ(g.type, kLockGrant);
  EXPECT_EQ(LockOf(g).lock_id, 7u);
  EXPECT_EQ(LockOf(g).flags & kLockRecallAfter, 0u);
  EXPECT_TRUE(sent_.empty());
}

TEST_F(ManagerTest, RecallsOnceAndGrantsInFifoOrderWithNotices) {
  ASSERT_TRUE(manager_.OnMessage(0, kLockRequest, 0, LockMsg(7, 0)));
  Pop();  // grant to 0
  ASSERT_TRUE(manager_.OnMessage(1, kLockRequest, 0, LockMsg(7, 0)));
  Sent recall = Pop();
  EXPECT_EQ(recall.to, 0u);
  EXPECT_EQ(recall.type, kLockRecall);
  ASSERT_TRUE(manager_.OnMessage(2, kLockRequest, 0, LockMsg(7, 0)));
  EXPECT_TRUE(sent_.empty()) << "a second recall for the same holder";
  // Host 0 returns the token with two notices of its own and wants it again.
  ASSERT_TRUE(manager_.OnMessage(0, kLockReturn, 0,
                                 WithNotices(LockMsg(7, kLockWantAgain), {{5, 0, 3}, {9, 0, 1}})));
  Sent g1 = Pop();
  EXPECT_EQ(g1.to, 1u);
  EXPECT_NE(LockOf(g1).flags & kLockRecallAfter, 0u) << "others wait: return after one use";
  auto n1 = NoticesOf(g1, sizeof(LockBody));
  ASSERT_EQ(n1.size(), 2u);
  EXPECT_EQ(n1[0].page, 5u);
  EXPECT_EQ(n1[0].version, 3u);
  // Host 1 returns; host 2 is next, then host 0 (queued again by want-again).
  ASSERT_TRUE(manager_.OnMessage(1, kLockReturn, 0, WithNotices(LockMsg(7, 0), {{5, 1, 4}})));
  Sent g2 = Pop();
  EXPECT_EQ(g2.to, 2u);
  auto n2 = NoticesOf(g2, sizeof(LockBody));
  ASSERT_EQ(n2.size(), 2u) << "one notice per page, the newest";
  EXPECT_EQ(n2[0].page, 5u);
  EXPECT_EQ(n2[0].version, 4u);
  EXPECT_EQ(n2[0].writer, 1u);
  ASSERT_TRUE(manager_.OnMessage(2, kLockReturn, 0, WithNotices(LockMsg(7, 0), {})));
  Sent g0 = Pop();
  EXPECT_EQ(g0.to, 0u);
  auto n0 = NoticesOf(g0, sizeof(LockBody));
  ASSERT_EQ(n0.size(), 1u) << "host 0's own notices are not sent back to it";
  EXPECT_EQ(n0[0].writer, 1u);
  EXPECT_EQ(LockOf(g0).flags & kLockRecallAfter, 0u);
}

TEST_F(ManagerTest, RefusesReturnsAndRequestsThatBreakTheProtocol) {
  EXPECT_FALSE(manager_.OnMessage(1, kLockReturn, 0, WithNotices(LockMsg(7, 0), {})));
  ASSERT_TRUE(manager_.OnMessage(1, kLockRequest, 0, LockMsg(7, 0)));
  Pop();
  EXPECT_FALSE(manager_.OnMessage(1, kLockRequest, 0, LockMsg(7, 0))) << "holder asks again";
  EXPECT_FALSE(manager_.OnMessage(2, kLockReturn, 0, WithNotices(LockMsg(7, 0), {})))
      << "return by a host without the token";
  // A return carrying another writer's notice.
  EXPECT_FALSE(manager_.OnMessage(1, kLockReturn, 0, WithNotices(LockMsg(7, 0), {{1, 2, 1}})));
  // Truncated and oversized bodies.
  std::string ok = WithNotices(LockMsg(7, 0), {{1, 1, 1}});
  for (size_t n = 0; n < ok.size(); ++n) {
    EXPECT_FALSE(manager_.OnMessage(1, kLockReturn, 0, ok.substr(0, n))) << n;
  }
  EXPECT_FALSE(manager_.OnMessage(1, kLockReturn, 0, ok + "x"));
  EXPECT_FALSE(manager_.OnMessage(1, kLockRequest, 0, ""));
  EXPECT_TRUE(sent_.empty());
  EXPECT_TRUE(manager_.OnMessage(1, kLockReturn, 0, ok));
}

TEST_F(ManagerTest, BarrierDepartsEveryHostWithWhatItHasNotSeen) {
  ASSERT_TRUE(Arrive(0, 0, {{10, 0, 1}}));
  EXPECT_FALSE(Arrive(0, 0, {})) << "twice in one barrier";
  EXPECT_FALSE(Arrive(1, 1, {})) << "wrong epoch";
  ASSERT_TRUE(Arrive(1, 0, {{11, 1, 1}}));
  EXPECT_TRUE(sent_.empty());
  ASSERT_TRUE(Arrive(2, 0, {}));
  ASSERT_EQ(sent_.size(), 3u);
  for (uint32_t h = 0; h < kHosts; ++h) {
    Sent d = Pop();
    EXPECT_EQ(d.to, h);
    EXPECT_EQ(d.type, kBarrierDepart);
    std::vector<HomeMove> moves;
    auto n = NoticesOf(d, sizeof(BarrierBody), &moves);
    for (const Notice& x : n) EXPECT_NE(x.writer, h);
    EXPECT_EQ(n.size(), h == 2 ? 2u : 1u);
    EXPECT_TRUE(moves.empty()) << "first touch: homes never move";
  }
  EXPECT_EQ(manager_.log_size(), 0u) << "everyone has everything after a barrier";
  EXPECT_EQ(manager_.barriers(), 1u);
  EXPECT_TRUE(Arrive(0, 1, {}));
}

TEST_F(ManagerTest, FirstTouchClaimsTheFirstPageOrAsManyAsAsked) {
  EXPECT_EQ(Query(2, {4, 5, 6}, kClaimFirst), (std::vector<uint32_t>{2, kNoHome, kNoHome}));
  EXPECT_EQ(Query(1, {5, 4}, kClaimFirst), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(Query(0, {4, 5, 6}, 0), (std::vector<uint32_t>{2, 1, kNoHome}));
  BodyWriter bad;
  bad.Put(PageListBody{1, kClaimFirst});
  bad.Put(uint32_t{kPages});
  EXPECT_FALSE(manager_.OnMessage(0, kHomeQuery, 1, bad.Take())) << "page outside the data area";
  // A claim count claims that many leading pages that have no home yet; the
  // rest are only looked up.
  EXPECT_EQ(Query(1, {10, 11, 12, 4, 13}, kClaimFirst | (4u << kClaimCountShift)),
            (std::vector<uint32_t>{1, 1, 1, 2, kNoHome}));
  EXPECT_EQ(Query(2, {12, 13, 14}, kClaimFirst | (2u << kClaimCountShift)),
            (std::vector<uint32_t>{1, 2, kNoHome}));
}

class MigratingManagerTest : public ManagerTest {
 protected:
  // Page 0 is pinned (the control page).
  MigratingManagerTest() : ManagerTest(device::kHomeMigrate, device::PinnedPages{1, 0, 0}) {}
};

TEST_F(MigratingManagerTest, ABarrierMovesPagesWrittenByOneOtherHostOnly) {
  // Homes: pages 20-24 on host 0, 30 on host 1; page 0 is pinned (host 0).
  EXPECT_EQ(Query(0, {20, 21, 22, 23, 24}, kClaimFirst | (5u << kClaimCountShift)),
            (std::vector<uint32_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(Query(1, {30}, kClaimFirst), (std::vector<uint32_t>{1}));
  // Interval: host 1 alone writes 20 (twice: the newest version counts) and
  // 30 (its own home); hosts 1 and 2 write 21; host 0 (the home) and host 2
  // write 22; host 2 writes 23, one notice by lock return, one at the
  // barrier; host 1 writes the pinned page 0. Nobody writes 24.
  ASSERT_TRUE(manager_.OnMessage(2, kLockRequest, 0, LockMsg(7, 0)));
  Pop();
  ASSERT_TRUE(manager_.OnMessage(2, kLockReturn, 0, WithNotices(LockMsg(7, 0), {{23, 2, 4}})));
  ASSERT_TRUE(Arrive(0, 0, {{22, 0, 3}}));
  ASSERT_TRUE(Arrive(1, 0, {{20, 1, 5}, {21, 1, 2}, {30, 1, 1}, {0, 1, 9}}));
  ASSERT_TRUE(manager_.OnMessage(1, kLockRequest, 0, LockMsg(8, 0)));
  Pop();
  ASSERT_TRUE(manager_.OnMessage(1, kLockReturn, 0, WithNotices(LockMsg(8, 0), {{20, 1, 6}})));
  ASSERT_TRUE(Arrive(2, 0, {{21, 2, 3}, {22, 2, 4}, {23, 2, 5}}));
  ASSERT_EQ(sent_.size(), kHosts);
  for (uint32_t h = 0; h < kHosts; ++h) {
    Sent d = Pop();
    ASSERT_EQ(d.type, kBarrierDepart);
    std::vector<HomeMove> moves;
    NoticesOf(d, sizeof(BarrierBody), &moves);
    ASSERT_EQ(moves.size(), 2u) << "every host hears of every move";
    EXPECT_EQ(moves[0].page, 20u);
    EXPECT_EQ(moves[0].home, 1u);
    EXPECT_EQ(moves[0].version, 6u);
    EXPECT_EQ(moves[1].page, 23u);
    EXPECT_EQ(moves[1].home, 2u);
    EXPECT_EQ(moves[1].version, 5u);
  }
  EXPECT_EQ(manager_.homes_moved(), 2u);
  // The directory says so at once.
  EXPECT_EQ(Query(0, {20, 21, 22, 23, 24, 30, 0}, 0), (std::vector<uint32_t>{1, 0, 0, 2, 0, 1, 0}));
  // The next interval starts from nothing: host 0 writes 20 alone, and it
  // moves back.
  ASSERT_TRUE(Arrive(0, 1, {{20, 0, 7}}));
  ASSERT_TRUE(Arrive(1, 1, {}));
  ASSERT_TRUE(Arrive(2, 1, {}));
  for (uint32_t h = 0; h < kHosts; ++h) {
    std::vector<HomeMove> moves;
    NoticesOf(Pop(), sizeof(BarrierBody), &moves);
    ASSERT_EQ(moves.size(), 1u);
    EXPECT_EQ(moves[0].page, 20u);
    EXPECT_EQ(moves[0].home, 0u);
  }
  EXPECT_EQ(Query(2, {20}, 0), (std::vector<uint32_t>{0}));
}

// A program that takes locks for a long time between barriers: the
// interval's writes are compacted on the way (one entry per page), and the
// barrier still moves exactly the pages one other host alone wrote.
TEST_F(MigratingManagerTest, ManyIntervalsBetweenBarriersMoveTheSamePages) {
  constexpr uint32_t kFirst = 100, kCount = 500, kReturns = 150;  // 75000 notices
  std::vector<uint32_t> pages(kCount);
  for (uint32_t i = 0; i < kCount; ++i) pages[i] = kFirst + i;
  ASSERT_EQ(Query(0, pages, kClaimFirst | (kCount << kClaimCountShift)), std::vector<uint32_t>(kCount, 0u));
  for (uint32_t k = 0; k < kReturns; ++k) {
    ASSERT_TRUE(manager_.OnMessage(1, kLockRequest, 0, LockMsg(7, 0)));
    Pop();
    std::vector<Notice> n;
    for (uint32_t p : pages) n.push_back(Notice{p, 1, k + 1});
    if (k == kReturns / 2) n.push_back(Notice{kPages - 1, 1, 1});  // homed nowhere: no move
    ASSERT_TRUE(manager_.OnMessage(1, kLockReturn, 0, WithNotices(LockMsg(7, 0), n)));
  }
  ASSERT_TRUE(Arrive(0, 0, {}));
  ASSERT_TRUE(Arrive(1, 0, {}));
  ASSERT_TRUE(Arrive(2, 0, {{kFirst + 7, 2, 3}}));
  std::vector<HomeMove> moves;
  for (uint32_t h = 0; h < kHosts; ++h) NoticesOf(Pop(), sizeof(BarrierBody), &moves);
  ASSERT_EQ(moves.size(), kCount - 1);
  for (const HomeMove& m : moves) {
    EXPECT_NE(m.page, kFirst + 7) << "two hosts wrote it";
    EXPECT_EQ(m.home, 1u);
    EXPECT_EQ(m.version, kReturns) << "the newest version of page " << m.page;
  }
}

TEST(PeerCodecTest, MoveBlocksRejectEveryMalformation) {
  BodyWriter w;
  PutMoves(&w, {{3, 1, 9}, {4, 0, 1}});
  std::string good = w.Take();
  std::vector<HomeMove> m;
  {
    BodyReader r(good);
    ASSERT_TRUE(GetMoves(&r, 2, 10, &m));
    EXPECT_TRUE(r.done());
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[1].page, 4u);
  }
  for (size_t cut = 0; cut < good.size(); ++cut) {
    BodyReader r(std::string_view(good).substr(0, cut));
    EXPECT_FALSE(GetMoves(&r, 2, 10, &m)) << cut;
  }
  BodyReader host_out(good);
  EXPECT_FALSE(GetMoves(&host_out, 1, 10, &m)) << "a home beyond the hosts";
  BodyReader page_out(good);
  EXPECT_FALSE(GetMoves(&page_out, 2, 4, &m)) << "a page beyond the data area";
  std::string huge = good;
  uint64_t count = ~0ULL / 2;
  std::memcpy(huge.data(), &count, 8);
  BodyReader r(huge);
  EXPECT_FALSE(GetMoves(&r, 2, 10, &m));
}

TEST_F(ManagerTest, HeapAllocAndFree) {
  BodyWriter w;
  w.Put(AllocBody{1 << 20, 4096});
  ASSERT_TRUE(manager_.OnMessage(2, kAlloc, 9, w.Take()));
  Sent s = Pop();
  EXPECT_EQ(s.type, kAllocReply);
  EXPECT_EQ(s.request_id, 9u);
  BodyReader r(s.body);
  AllocReplyBody a;
  ASSERT_TRUE(r.Get(&a));
  EXPECT_EQ(a.status, device::kOk);
  BodyWriter f;
  f.Put(FreeBody{a.offset});
  ASSERT_TRUE(manager_.OnMessage(1, kFree, 10, f.Take()));
  Sent freed = Pop();
  BodyReader fr(freed.body);
  FreeReplyBody fb;
  ASSERT_TRUE(fr.Get(&fb));
  EXPECT_EQ(fb.status, device::kOk);
}

TEST(PeerCodecTest, NoticeBlocksRejectEveryMalformation) {
  BodyWriter w;
  PutNotices(&w, {1, 2}, {{3, 1, 9}, {4, 0, 1}});
  std::string good = w.Take();
  std::vector<uint64_t> vt;
  std::vector<Notice> n;
  {
    BodyReader r(good);
    ASSERT_TRUE(GetNotices(&r, 2, 10, &vt, &n));
    EXPECT_TRUE(r.done());
    EXPECT_EQ(vt, (std::vector<uint64_t>{1, 2}));
    ASSERT_EQ(n.size(), 2u);
  }
  for (size_t cut = 0; cut < good.size(); ++cut) {
    BodyReader r(std::string_view(good).substr(0, cut));
    EXPECT_FALSE(GetNotices(&r, 2, 10, &vt, &n)) << cut;
  }
  BodyReader wrong_hosts(good);
  EXPECT_FALSE(GetNotices(&wrong_hosts, 3, 10, &vt, &n));
  BodyReader page_out(good);
  EXPECT_FALSE(GetNotices(&page_out, 2, 4, &vt, &n));
  // A count that promises more than the body holds (no huge allocation).
  std::string huge = good;
  uint64_t count = ~0ULL / 2;
  std::memcpy(huge.data() + 8, &count, 8);
  BodyReader r(huge);
  EXPECT_FALSE(GetNotices(&r, 2, 10, &vt, &n));
}

TEST(PeerCodecTest, CompactKeepsTheNewestNoticePerPage) {
  std::vector<Notice> n{{5, 0, 2}, {3, 1, 1}, {5, 1, 7}, {5, 2, 4}, {3, 0, 2}};
  CompactNotices(&n);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].page, 3u);
  EXPECT_EQ(n[0].version, 2u);
  EXPECT_EQ(n[1].page, 5u);
  EXPECT_EQ(n[1].version, 7u);
}

}  // namespace
}  // namespace dsm::hostd
