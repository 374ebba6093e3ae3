// InProcTransport: a whole mesh in one process, on one loop or on one loop
// thread per host, and every fault the network can inject.
#include "dsm/hostd/inproc_transport.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dsm/common/clock.h"
#include "dsm/common/thread_annotations.h"
#include "transport_test_util.h"

namespace dsm::hostd {
namespace {

using testing::Recorder;
using testing::RunUntil;
namespace peer = dsm::hostd::peer;

constexpr uint64_t kJob = 99;

PeerTiming Fast() {
  PeerTiming t;
  t.heartbeat_ms = 20;
  t.peer_timeout_ms = 200;
  t.join_timeout_ms = 1000;
  return t;
}

// K hosts on one loop, on the test thread.
class InProcTest : public ::testing::Test {
 protected:
  void Build(uint32_t k, PeerTiming timing = {}) {
    net_ = std::make_unique<InProcNetwork>(k, kJob, timing);
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(loop).value();
    for (uint32_t h = 0; h < k; ++h) {
      auto t = net_->CreateTransport(h);
      ASSERT_TRUE(t.ok()) << t.status().message();
      transports_.push_back(std::move(t).value());
      recorders_.push_back(std::make_unique<Recorder>());
    }
  }
  void StartAll() {
    for (size_t h = 0; h < transports_.size(); ++h) {
      ASSERT_TRUE(transports_[h]->Start(loop_.get(), recorders_[h]->Events()).ok());
    }
  }
  void StartJob(uint32_t k, PeerTiming timing = {}) {
    Build(k, timing);
    StartAll();
    ASSERT_TRUE(RunUntil(loop_.get(), [&] {
      for (auto& r : recorders_) {
        if (!r->ready) return false;
      }
      return true;
    })) << "not every host became ready";
  }
  void TearDown() override {
    transports_.clear();
    loop_.reset();
    net_.reset();
  }
  std::vector<std::string> Bodies(uint32_t host) {
    std::vector<std::string> out;
    for (const auto& m : recorders_[host]->messages) out.push_back(m.body);
    return out;
  }

  std::unique_ptr<InProcNetwork> net_;
  std::unique_ptr<EventLoop> loop_;
  std::vector<std::unique_ptr<Recorder>> recorders_;
  std::vector<std::unique_ptr<InProcTransport>> transports_;
};

TEST_F(InProcTest, JoinsAndDeliversInOrderWithoutFaults) {
  StartJob(3);
  EXPECT_EQ(transports_[1]->endpoint(), "");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(transports_[1]->Send(0, peer::kLockRequest, i + 1, "m" + std::to_string(i)));
    ASSERT_TRUE(transports_[0]->Send(0, peer::kLockGrant, i + 1, "self" + std::to_string(i)));
  }
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->messages.size() == 10; }));
  std::vector<std::string> from1, self;
  for (const auto& m : recorders_[0]->messages) (m.from == 1 ? from1 : self).push_back(m.body);
  EXPECT_EQ(from1, (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4"}));
  EXPECT_EQ(self, (std::vector<std::string>{"self0", "self1", "self2", "self3", "self4"}));
  EXPECT_EQ(net_->counters().dropped, 0u);
  EXPECT_FALSE(net_->CreateTransport(1).ok());  // one per host
}

TEST_F(InProcTest, DropBreaksTheLinkAndLosesTheSender) {
  StartJob(2);
  net_->SetFaultHook([](const InProcFrame& f) {
    return f.type == peer::kLockRequest && f.request_id == 2 ? InProcFault::Drop() : InProcFault::Deliver();
  });
  for (uint64_t i = 1; i <= 4; ++i) ASSERT_TRUE(transports_[1]->Send(0, peer::kLockRequest, i, std::to_string(i)));
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->LostHost(1); }));
  // Nothing after the gap is delivered: the engine never sees a hole.
  EXPECT_EQ(Bodies(0), (std::vector<std::string>{"1"}));
  EXPECT_EQ(recorders_[0]->LostReason(1),
            "host 1 (inproc:1): message(s) lost or out of order on the link to host 0: message 3 ("
            "lock-request) arrived when message 2 was due");
  EXPECT_EQ(transports_[0]->stats().links_broken, 1u);
  EXPECT_EQ(net_->counters().dropped, 1u);
  EXPECT_FALSE(transports_[0]->Send(1, peer::kJobEnd, 0, "x"));
}

TEST_F(InProcTest, ALostLastMessageIsNoticedByTheNextHeartbeat) {
  PeerTiming t;
  t.heartbeat_ms = 20;
  t.peer_timeout_ms = 10000;  // so that silence cannot be what loses it
  StartJob(2, t);
  net_->SetFaultHook([](const InProcFrame& f) {
    return f.type == peer::kBarrierArrive ? InProcFault::Drop() : InProcFault::Deliver();
  });
  uint64_t start = MonotonicNs();
  ASSERT_TRUE(transports_[1]->Send(0, peer::kBarrierArrive, 0, "gone"));
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->LostHost(1); }, 3000));
  EXPECT_LT(testing::SecondsSince(start), 1.0);
  EXPECT_NE(recorders_[0]->LostReason(1).find("it sent 1 messages, 0 arrived"), std::string::npos)
      << recorders_[0]->LostReason(1);
  EXPECT_TRUE(recorders_[0]->messages.empty());
}

TEST_F(InProcTest, DuplicatesAreDroppedAndMembershipSurvivesThem) {
  // Every frame twice from the start, hellos and welcomes included: the join
  // still happens once, and every engine message is delivered once.
  Build(3);
  net_->SetFaultHook([](const InProcFrame&) { return InProcFault::Duplicate(); });
  StartAll();
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->ready && recorders_[1]->ready && recorders_[2]->ready; }));
  ASSERT_TRUE(transports_[2]->Send(1, peer::kDiff, 1, "a"));
  ASSERT_TRUE(transports_[2]->Send(1, peer::kDiff, 2, "b"));
  ASSERT_TRUE(transports_[2]->Send(1, peer::kJobEnd, 0, "c"));
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return transports_[1]->stats().duplicates == 3; }));
  EXPECT_EQ(Bodies(1), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_GT(net_->counters().duplicated, 2u);
  for (auto& r : recorders_) EXPECT_TRUE(r->lost.empty());
}

TEST_F(InProcTest, DelayIsLatencyThatKeepsTheLinksOrder) {
  StartJob(3);
  net_->SetFaultHook([](const InProcFrame& f) {
    return f.type == peer::kFetch ? InProcFault::Delay(60) : InProcFault::Deliver();
  });
  uint64_t start = MonotonicNs();
  uint64_t last_at = 0;
  ASSERT_TRUE(transports_[0]->Send(1, peer::kFetch, 1, "delayed"));
  ASSERT_TRUE(transports_[0]->Send(1, peer::kFetchReply, 2, "behind it"));
  ASSERT_TRUE(transports_[2]->Send(1, peer::kFetchReply, 3, "other link"));
  ASSERT_TRUE(RunUntil(loop_.get(), [&] {
    if (last_at == 0 && recorders_[1]->messages.size() == 3) last_at = MonotonicNs();
    return last_at != 0;
  }));
  EXPECT_EQ(Bodies(1), (std::vector<std::string>{"other link", "delayed", "behind it"}));
  EXPECT_GE(last_at - start, 60u * 1000000);
  EXPECT_EQ(net_->counters().delayed, 1u);
  EXPECT_TRUE(recorders_[1]->lost.empty());
}

TEST_F(InProcTest, HoldReordersAndTheReorderBreaksTheLink) {
  StartJob(3);
  std::atomic<int> holds{1};
  net_->SetFaultHook([&](const InProcFrame& f) {
    if (f.type == peer::kAlloc && holds.fetch_sub(1) > 0) return InProcFault::Hold();
    return InProcFault::Deliver();
  });
  ASSERT_TRUE(transports_[1]->Send(0, peer::kAlloc, 1, "first"));
  ASSERT_TRUE(transports_[2]->Send(0, peer::kAlloc, 2, "other link"));  // does not release it
  ASSERT_TRUE(transports_[1]->Send(0, peer::kAlloc, 3, "second"));      // overtakes it
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->LostHost(1); }));
  EXPECT_EQ(Bodies(0), (std::vector<std::string>{"other link"}));
  EXPECT_NE(recorders_[0]->LostReason(1).find("message 2 (alloc) arrived when message 1 was due"),
            std::string::npos)
      << recorders_[0]->LostReason(1);
  // A held frame with nothing after it waits for ReleaseHeld, and then
  // arrives in order.
  holds = 1;
  ASSERT_TRUE(transports_[2]->Send(0, peer::kAlloc, 4, "alone"));
  EXPECT_EQ(net_->ReleaseHeld(), 1u);
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->messages.size() == 2; }));
  EXPECT_EQ(recorders_[0]->messages.back().body, "alone");
  EXPECT_FALSE(recorders_[0]->LostHost(2));
  EXPECT_EQ(net_->counters().held, 2u);
}

TEST_F(InProcTest, KilledHostIsLostThroughTheHeartbeatTimeout) {
  StartJob(3, Fast());
  uint64_t start = MonotonicNs();
  net_->KillHost(2);
  ASSERT_TRUE(RunUntil(loop_.get(), [&] {
    return recorders_[0]->LostHost(2) && recorders_[1]->LostHost(2) && recorders_[2]->lost.size() == 2;
  }, 3000));
  // Not before the timeout, and by timeout + a couple of heartbeats.
  double took = testing::SecondsSince(start);
  EXPECT_GE(took, 0.18);
  EXPECT_LT(took, 1.0);
  EXPECT_NE(recorders_[0]->LostReason(2).find("host 2 (inproc:2) silent for"), std::string::npos)
      << recorders_[0]->LostReason(2);
  // The killed host, cut off, loses everyone; the others keep each other.
  EXPECT_TRUE(recorders_[2]->LostHost(0) && recorders_[2]->LostHost(1));
  EXPECT_FALSE(recorders_[0]->LostHost(1));
  EXPECT_FALSE(recorders_[1]->LostHost(0));
  EXPECT_FALSE(transports_[0]->Send(2, peer::kJobEnd, 0, ""));
  ASSERT_TRUE(transports_[0]->Send(1, peer::kJobEnd, 0, "still"));
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[1]->CountFrom(0) == 1; }));
}

TEST_F(InProcTest, ByeIsNotALossButSilenceIs) {
  StartJob(3, Fast());
  transports_[1]->Leave();
  net_->KillHost(2);
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->LostHost(2); }, 3000));
  EXPECT_FALSE(recorders_[0]->LostHost(1));
  EXPECT_EQ(transports_[0]->peer_state(1), PeerMesh::PeerState::kLeft);
  // The leaver reports nobody, not even the host that went silent.
  EXPECT_TRUE(recorders_[1]->lost.empty());
}

TEST_F(InProcTest, DroppedHelloEndsInAJoinTimeout) {
  PeerTiming t = Fast();
  t.join_timeout_ms = 150;
  Build(3, t);
  net_->SetFaultHook([](const InProcFrame& f) {
    return f.type == peer::kHello && f.from == 2 ? InProcFault::Drop() : InProcFault::Deliver();
  });
  StartAll();
  ASSERT_TRUE(RunUntil(loop_.get(), [&] {
    return recorders_[0]->LostHost(2) && recorders_[1]->LostHost(0) && recorders_[2]->LostHost(0);
  }));
  EXPECT_EQ(recorders_[0]->LostReason(2), "host 2 did not join within 0.15 s");
  EXPECT_FALSE(recorders_[0]->LostHost(1));
  EXPECT_FALSE(recorders_[0]->ready);
}

TEST_F(InProcTest, EngineMessagesBeforeTheWelcomeAreHeldUntilReady) {
  // Host 1's welcome is delayed; host 2, welcomed at once, writes to host 1
  // straight away. Host 1 sees the message after on_ready, not before.
  Build(3);
  net_->SetFaultHook([](const InProcFrame& f) {
    return f.type == peer::kWelcome && f.to == 1 ? InProcFault::Delay(50) : InProcFault::Deliver();
  });
  bool ready_when_delivered = false;
  auto events = recorders_[1]->Events();
  auto inner = events.on_message;
  events.on_message = [&, inner](uint32_t from, uint16_t type, uint64_t id, std::string_view body) {
    ready_when_delivered = recorders_[1]->ready;
    inner(from, type, id, body);
  };
  ASSERT_TRUE(transports_[0]->Start(loop_.get(), recorders_[0]->Events()).ok());
  ASSERT_TRUE(transports_[1]->Start(loop_.get(), events).ok());
  auto e2 = recorders_[2]->Events();
  e2.on_ready = [&] {
    recorders_[2]->ready = true;
    EXPECT_TRUE(transports_[2]->Send(1, peer::kHomeQuery, 5, "early"));
  };
  ASSERT_TRUE(transports_[2]->Start(loop_.get(), e2).ok());
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[1]->messages.size() == 1; }));
  EXPECT_TRUE(ready_when_delivered);
  EXPECT_EQ(recorders_[1]->messages[0].body, "early");
}

// Thread-safe record of one host's events, for hosts on their own threads.
class SharedRecorder {
 public:
  PeerTransport::Events Events() {
    PeerTransport::Events e;
    e.on_message = [this](uint32_t from, uint16_t, uint64_t, std::string_view body) {
      MutexLock lock(&mu_);
      bodies_.push_back(std::to_string(from) + ":" + std::string(body));
      cv_.SignalAll();
    };
    e.on_ready = [this] {
      MutexLock lock(&mu_);
      ready_ = true;
      cv_.SignalAll();
    };
    e.on_host_lost = [this](uint32_t, const std::string&) {
      MutexLock lock(&mu_);
      ++lost_;
      cv_.SignalAll();
    };
    return e;
  }
  bool WaitReady() {
    MutexLock lock(&mu_);
    return cv_.WaitFor(&mu_, std::chrono::seconds(5), [this]() REQUIRES(mu_) { return ready_; });
  }
  bool WaitMessages(size_t n) {
    MutexLock lock(&mu_);
    return cv_.WaitFor(&mu_, std::chrono::seconds(5), [&]() REQUIRES(mu_) { return bodies_.size() >= n; });
  }
  std::vector<std::string> bodies() {
    MutexLock lock(&mu_);
    return bodies_;
  }
  int lost() {
    MutexLock lock(&mu_);
    return lost_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool ready_ GUARDED_BY(mu_) = false;
  std::vector<std::string> bodies_ GUARDED_BY(mu_);
  int lost_ GUARDED_BY(mu_) = 0;
};

TEST(InProcThreadsTest, HostsOnTheirOwnLoopThreads) {
  constexpr uint32_t kHosts = 3;
  constexpr int kPerPair = 200;
  InProcNetwork net(kHosts, kJob);
  std::vector<std::unique_ptr<EventLoop>> loops;
  std::vector<std::unique_ptr<InProcTransport>> transports;
  std::vector<std::unique_ptr<SharedRecorder>> recorders;
  for (uint32_t h = 0; h < kHosts; ++h) {
    loops.push_back(std::move(EventLoop::Create()).value());
    transports.push_back(std::move(net.CreateTransport(h)).value());
    recorders.push_back(std::make_unique<SharedRecorder>());
    ASSERT_TRUE(transports[h]->Start(loops[h].get(), recorders[h]->Events()).ok());
  }
  std::vector<std::thread> threads;
  for (uint32_t h = 0; h < kHosts; ++h) threads.emplace_back([&, h] { loops[h]->Run(); });
  for (auto& r : recorders) ASSERT_TRUE(r->WaitReady());
  // Every host sends to every other host from its own loop thread.
  for (uint32_t h = 0; h < kHosts; ++h) {
    loops[h]->Post([&, h] {
      for (int i = 0; i < kPerPair; ++i) {
        for (uint32_t to = 0; to < kHosts; ++to) {
          if (to != h) EXPECT_TRUE(transports[h]->Send(to, peer::kDiff, i + 1, std::to_string(i)));
        }
      }
    });
  }
  for (auto& r : recorders) EXPECT_TRUE(r->WaitMessages((kHosts - 1) * kPerPair));
  for (uint32_t h = 0; h < kHosts; ++h) {
    std::vector<int> next(kHosts, 0);
    for (const std::string& b : recorders[h]->bodies()) {
      uint32_t from = static_cast<uint32_t>(std::stoul(b.substr(0, b.find(':'))));
      EXPECT_EQ(b.substr(b.find(':') + 1), std::to_string(next[from])) << "host " << h << " from " << from;
      ++next[from];
    }
    EXPECT_EQ(recorders[h]->lost(), 0);
  }
  // Each transport is destroyed on its own loop thread, then the loop stops.
  for (uint32_t h = 0; h < kHosts; ++h) {
    loops[h]->Post([&, h] {
      transports[h]->Leave();
      transports[h].reset();
      loops[h]->RequestStop();
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace dsm::hostd
