// Messages from other daemons are never trusted: random and damaged bodies
// of every engine message type go into a host engine (and host 0's
// manager); nothing may crash or read out of bounds (run it under the asan
// preset too), and a malformed message ends the job with a message (there is
// no retransmission: dropping it would leave some node waiting for ever).
#include <gtest/gtest.h>

#include <random>

#include "dsm/hostd/coherence.h"
#include "dsm/hostd/peer_codec.h"

namespace dsm::hostd {
namespace {

using namespace dsm::hostd::peer;

struct Engine {
  explicit Engine(uint32_t host) {
    SpaceConfig sc;
    sc.size = device::kMinSpaceSize;
    sc.num_nodes = 2;
    sc.host_id = host;
    sc.num_hosts = 2;
    sc.job_id = 7;
    auto created = SharedSpace::Create(sc);
    EXPECT_TRUE(created.ok()) << created.status().message();
    space = std::move(created).value();
    heap = std::make_unique<ShmHeap>(space.header()->heap_offset, space.header()->heap_size);
    Coherence::Config cc;
    cc.host_id = host;
    cc.num_hosts = 2;
    cc.local_nodes = 1;
    engine = std::make_unique<Coherence>(
        &space, cc, heap.get(),
        [this](uint32_t to, uint16_t type, uint64_t, std::string body) {
          ++sent;
          last_type = type;
          last_body = std::move(body);
          return true;
        },
        [this](uint32_t, const NodeReply&) { ++completed; }, [this](const std::string&) { ++failed; });
  }
  SharedSpace space;
  std::unique_ptr<ShmHeap> heap;
  std::unique_ptr<Coherence> engine;
  int sent = 0, completed = 0, failed = 0;
  uint16_t last_type = 0;
  std::string last_body;
};

// A body that starts like a valid one of `type` (so that decoding goes past
// the first checks), then random bytes.
std::string Plausible(uint16_t type, std::mt19937_64& rng, uint64_t pages) {
  BodyWriter w;
  switch (type) {
    case kLockGrant:
    case kLockRecall:
    case kLockReturn:
    case kLockRequest:
      w.Put(LockBody{static_cast<uint32_t>(rng() % 4), static_cast<uint32_t>(rng() % 4)});
      break;
    case kBarrierArrive:
    case kBarrierDepart:
      w.Put(BarrierBody{rng() % 2});
      break;
    default:
      w.Put(PageListBody{static_cast<uint32_t>(rng() % 4), static_cast<uint32_t>(rng() % 2)});
      break;
  }
  if (rng() % 2) {
    w.Put(NoticeHeader{static_cast<uint32_t>(rng() % 3), 0, rng() % 4});
  }
  size_t extra = rng() % 64;
  for (size_t i = 0; i < extra; ++i) {
    uint32_t v = static_cast<uint32_t>(rng());
    if (rng() % 2) v %= static_cast<uint32_t>(pages + 2);
    w.Put(v);
  }
  return w.Take();
}

TEST(CoherenceFuzz, RandomBodiesOfEveryTypeAreDroppedWithoutHarm) {
  std::mt19937_64 rng(20261201);
  for (uint32_t host : {0u, 1u}) {
    Engine e(host);
    const uint64_t pages = e.space.header()->data_pages;
    for (int i = 0; i < 20000; ++i) {
      uint16_t type = static_cast<uint16_t>(kJobEnd + rng() % (kMsgTypeEnd - kJobEnd));
      std::string body;
      if (rng() % 3 == 0) {
        body.resize(rng() % 300);
        for (char& c : body) c = static_cast<char>(rng());
      } else {
        body = Plausible(type, rng, pages);
      }
      e.engine->OnMessage(static_cast<uint32_t>(rng() % 3), type, rng() % 4, body);
    }
    EXPECT_GT(e.failed, 0) << "garbage never ended the job";
  }
}

TEST(CoherenceFuzz, TruncatedFetchRepliesAndDiffsAreRefused) {
  Engine e(1);
  // A fetch of page 5 whose home is host 0: learn the home, then fault.
  BodyWriter homes;
  homes.Put(PageListBody{1, 0});
  homes.Put(HomeEntry{5, 0});
  NodeReply reply;
  ASSERT_FALSE(e.engine->Fault(1, 0, 5, false, &reply));  // home query out
  ASSERT_EQ(e.last_type, kHomeQuery);
  e.engine->OnMessage(0, kHomeReply, 1, homes.Take());
  ASSERT_EQ(e.last_type, kFetch);
  BodyWriter full;
  full.Put(PageListBody{1, 0});
  full.Put(FetchEntry{5, 0, 3});
  std::string page(device::kPageSize, 'x');
  full.PutBytes(page.data(), page.size());
  std::string good = full.Take();
  e.engine->OnMessage(0, kFetchReply, 2, good.substr(0, good.size() - 1));
  EXPECT_EQ(e.completed, 0) << "a truncated reply completed the fault";
  EXPECT_EQ(e.failed, 1) << "a truncated reply did not end the job";
  EXPECT_NE(e.space.page(5)[0], 'x');
  e.engine->OnMessage(0, kFetchReply, 2, good);
  EXPECT_EQ(e.completed, 0) << "a reply to a request already answered was taken";
}

}  // namespace
}  // namespace dsm::hostd
