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

  ManagerTest()
      : heap_(1 << 20, 64 << 20),
        manager_(kHosts, kPages, device::kHomeFirstTouch, &heap_,
                 [this](uint32_t to, uint16_t type, uint64_t id, std::string body) {
                   sent_.push_back(Sent{to, type, id, std::move(body)});
                 }) {}

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
  // Decodes the notices of a grant or departure.
  static std::vector<Notice> NoticesOf(const Sent& s, size_t fixed) {
    BodyReader r(s.body);
    std::string_view skip;
    EXPECT_TRUE(r.GetBytes(fixed, &skip));
    std::vector<uint64_t> vt;
    std::vector<Notice> notices;
    EXPECT_TRUE(GetNotices(&r, kHosts, kPages, &vt, &notices));
    EXPECT_TRUE(r.done());
    return notices;
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
  auto arrive = [&](uint32_t h, uint64_t epoch, std::vector<Notice> n) {
    BodyWriter w;
    w.Put(BarrierBody{epoch});
    std::string fixed = w.Take();
    return manager_.OnMessage(h, kBarrierArrive, 0, WithNotices(fixed, n));
  };
  ASSERT_TRUE(arrive(0, 0, {{10, 0, 1}}));
  EXPECT_FALSE(arrive(0, 0, {})) << "twice in one barrier";
  EXPECT_FALSE(arrive(1, 1, {})) << "wrong epoch";
  ASSERT_TRUE(arrive(1, 0, {{11, 1, 1}}));
  EXPECT_TRUE(sent_.empty());
  ASSERT_TRUE(arrive(2, 0, {}));
  ASSERT_EQ(sent_.size(), 3u);
  for (uint32_t h = 0; h < kHosts; ++h) {
    Sent d = Pop();
    EXPECT_EQ(d.to, h);
    EXPECT_EQ(d.type, kBarrierDepart);
    auto n = NoticesOf(d, sizeof(BarrierBody));
    for (const Notice& x : n) EXPECT_NE(x.writer, h);
    EXPECT_EQ(n.size(), h == 2 ? 2u : 1u);
  }
  EXPECT_EQ(manager_.log_size(), 0u) << "everyone has everything after a barrier";
  EXPECT_EQ(manager_.barriers(), 1u);
  EXPECT_TRUE(arrive(0, 1, {}));
}

TEST_F(ManagerTest, FirstTouchClaimsTheFirstPageOrAsManyAsAsked) {
  auto query = [&](uint32_t h, std::vector<uint32_t> pages, uint32_t flags) {
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
  };
  EXPECT_EQ(query(2, {4, 5, 6}, kClaimFirst), (std::vector<uint32_t>{2, kNoHome, kNoHome}));
  EXPECT_EQ(query(1, {5, 4}, kClaimFirst), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(query(0, {4, 5, 6}, 0), (std::vector<uint32_t>{2, 1, kNoHome}));
  BodyWriter bad;
  bad.Put(PageListBody{1, kClaimFirst});
  bad.Put(uint32_t{kPages});
  EXPECT_FALSE(manager_.OnMessage(0, kHomeQuery, 1, bad.Take())) << "page outside the data area";
  // A claim count claims that many leading pages that have no home yet; the
  // rest are only looked up.
  EXPECT_EQ(query(1, {10, 11, 12, 4, 13}, kClaimFirst | (4u << kClaimCountShift)),
            (std::vector<uint32_t>{1, 1, 1, 2, kNoHome}));
  EXPECT_EQ(query(2, {12, 13, 14}, kClaimFirst | (2u << kClaimCountShift)),
            (std::vector<uint32_t>{1, 2, kNoHome}));
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
