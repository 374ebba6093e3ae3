// ZmqTransport: several transports in one process on 127.0.0.1, one event
// loop on the test thread. Joining, messages both ways (20 MB and to self),
// refusal of strays, loss and bye, malformed frames, join timeouts.
#include "dsm/hostd/zmq_transport.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "dsm/common/clock.h"
#include "dsm/hostd/peer_protocol.h"
#include "transport_test_util.h"

namespace dsm::hostd {
namespace {

using testing::Recorder;
using testing::RunUntil;
namespace peer = dsm::hostd::peer;

constexpr uint64_t kJob = 4242;

class ZmqTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(loop).value();
  }
  void TearDown() override {
    transports_.clear();  // before the loop
  }

  ZmqTransportConfig Config(uint32_t host, uint32_t num_hosts) {
    ZmqTransportConfig c;
    c.host_id = host;
    c.num_hosts = num_hosts;
    c.job_id = kJob;
    c.listen = "tcp://127.0.0.1:0";
    if (host != 0) c.join = transports_.at(0)->endpoint();
    return c;
  }

  // Creates and starts a transport; its recorder is recorders_[index].
  ZmqTransport* Add(const ZmqTransportConfig& config) {
    auto t = ZmqTransport::Create(config);
    EXPECT_TRUE(t.ok()) << t.status().message();
    if (!t.ok()) return nullptr;
    recorders_.push_back(std::make_unique<Recorder>());
    transports_.push_back(std::move(t).value());
    Status s = transports_.back()->Start(loop_.get(), recorders_.back()->Events());
    EXPECT_TRUE(s.ok()) << s.message();
    return transports_.back().get();
  }

  // K hosts of job kJob, all ready.
  void StartJob(uint32_t k, PeerTiming timing = {}) {
    for (uint32_t h = 0; h < k; ++h) {
      ZmqTransportConfig c = Config(h, k);
      c.timing = timing;
      ASSERT_NE(Add(c), nullptr);
    }
    ASSERT_TRUE(RunUntil(loop_.get(), [&] { return AllReady(k); })) << "not every host became ready";
  }
  bool AllReady(uint32_t k) {
    for (uint32_t h = 0; h < k; ++h) {
      if (!recorders_[h]->ready) return false;
    }
    return true;
  }

  std::unique_ptr<EventLoop> loop_;
  std::vector<std::unique_ptr<Recorder>> recorders_;
  std::vector<std::unique_ptr<ZmqTransport>> transports_;
};

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

TEST_F(ZmqTransportTest, ThreeHostsJoinAndExchangeMessagesBothWays) {
  StartJob(3);
  EXPECT_NE(transports_[0]->endpoint().find("tcp://127.0.0.1:"), std::string::npos);
  EXPECT_NE(transports_[0]->endpoint(), "tcp://127.0.0.1:0");
  // Three messages on every ordered pair, to ourselves included.
  constexpr int kEach = 3;
  for (uint32_t from = 0; from < 3; ++from) {
    for (uint32_t to = 0; to < 3; ++to) {
      for (int i = 0; i < kEach; ++i) {
        std::string body = std::to_string(from) + "->" + std::to_string(to) + "#" + std::to_string(i);
        ASSERT_TRUE(transports_[from]->Send(to, peer::kLockRequest, 100 * from + i + 1, body));
      }
    }
  }
  ASSERT_TRUE(RunUntil(loop_.get(), [&] {
    for (auto& r : recorders_) {
      if (r->messages.size() < 3 * kEach) return false;
    }
    return true;
  }));
  for (uint32_t to = 0; to < 3; ++to) {
    const Recorder& r = *recorders_[to];
    ASSERT_EQ(r.messages.size(), 3u * kEach);
    int next[3] = {0, 0, 0};
    for (const auto& m : r.messages) {
      // In order per sender, intact, with the request id.
      std::string want = std::to_string(m.from) + "->" + std::to_string(to) + "#" + std::to_string(next[m.from]);
      EXPECT_EQ(m.body, want);
      EXPECT_EQ(m.type, peer::kLockRequest);
      EXPECT_EQ(m.request_id, 100u * m.from + next[m.from] + 1);
      ++next[m.from];
    }
    EXPECT_TRUE(r.lost.empty());
  }
  // 20 MB both ways between two joined hosts.
  const std::string big1 = Pattern(20u << 20, 1), big2 = Pattern(20u << 20, 2);
  ASSERT_TRUE(transports_[1]->Send(2, peer::kFetchReply, 7, big1));
  ASSERT_TRUE(transports_[2]->Send(1, peer::kFetchReply, 8, big2));
  ASSERT_TRUE(RunUntil(loop_.get(), [&] {
    return recorders_[1]->messages.size() > 3 * kEach && recorders_[2]->messages.size() > 3 * kEach;
  }, 8000));
  EXPECT_TRUE(recorders_[2]->messages.back().body == big1);
  EXPECT_EQ(recorders_[2]->messages.back().request_id, 7u);
  EXPECT_TRUE(recorders_[1]->messages.back().body == big2);
  for (auto& t : transports_) t->Leave();
}

TEST_F(ZmqTransportTest, SendRefusesWhatCannotBeSent) {
  StartJob(2);
  ZmqTransport* t = transports_[0].get();
  EXPECT_FALSE(t->Send(2, peer::kJobEnd, 0, "x"));          // no such host
  EXPECT_FALSE(t->Send(1, peer::kHeartbeat, 0, ""));        // not an engine type
  EXPECT_FALSE(t->Send(1, peer::kMsgTypeEnd, 0, ""));
  EXPECT_FALSE(t->Send(1, peer::kJobEnd, 0, std::string(peer::kMaxMessageBytes + 1, '\0')));
  EXPECT_TRUE(t->Send(1, peer::kJobEnd, 0, ""));
  t->Leave();
  EXPECT_FALSE(t->Send(1, peer::kJobEnd, 0, ""));
  EXPECT_FALSE(t->Send(0, peer::kJobEnd, 0, ""));
}

TEST_F(ZmqTransportTest, StraysOfAnotherJobOrVersionAndDuplicatesAreRefusedByName) {
  ASSERT_NE(Add(Config(0, 3)), nullptr);
  // A daemon of another job, and one speaking another version, knock first.
  ZmqTransportConfig other_job = Config(1, 3);
  other_job.job_id = kJob + 1;
  ZmqTransport* stray_job = Add(other_job);
  ZmqTransportConfig other_version = Config(2, 3);
  other_version.protocol_version = peer::kPeerVersion + 1;
  ZmqTransport* stray_version = Add(other_version);
  ASSERT_TRUE(stray_job && stray_version);
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[1]->LostHost(0) && recorders_[2]->LostHost(0); }));
  std::string why_job = recorders_[1]->LostReason(0);
  std::string why_version = recorders_[2]->LostReason(0);
  EXPECT_EQ(why_job.rfind("refused by host 0: host 1 (" + stray_job->endpoint() + ")", 0), 0u) << why_job;
  EXPECT_NE(why_job.find("job " + std::to_string(kJob + 1) + ", this is job " + std::to_string(kJob)),
            std::string::npos) << why_job;
  EXPECT_EQ(why_version.rfind("refused by host 0: host 2 (" + stray_version->endpoint() + ")", 0), 0u)
      << why_version;
  EXPECT_NE(why_version.find("version " + std::to_string(peer::kPeerVersion + 1) + ", this daemon speaks version " +
                             std::to_string(peer::kPeerVersion)),
            std::string::npos)
      << why_version;
  EXPECT_FALSE(recorders_[0]->ready);
  EXPECT_TRUE(recorders_[0]->lost.empty());

  // The real hosts join as if nothing happened.
  ASSERT_NE(Add(Config(1, 3)), nullptr);  // recorders_[3]
  ASSERT_NE(Add(Config(2, 3)), nullptr);  // recorders_[4]
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->ready && recorders_[3]->ready && recorders_[4]->ready; }));
  // A second host 1 of the right job is a duplicate.
  ASSERT_NE(Add(Config(1, 3)), nullptr);  // recorders_[5]
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[5]->LostHost(0); }));
  EXPECT_NE(recorders_[5]->LostReason(0).find("already joined from " + transports_[3]->endpoint()),
            std::string::npos) << recorders_[5]->LostReason(0);
  EXPECT_EQ(transports_[0]->stats().hellos_refused, 3u);

  ASSERT_TRUE(transports_[3]->Send(2, peer::kDiff, 1, "still working"));
  ASSERT_TRUE(transports_[4]->Send(0, peer::kDiff, 2, "still working"));
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[4]->CountFrom(1) == 1 && recorders_[0]->CountFrom(2) == 1; }));
  for (size_t i : {0, 3, 4}) EXPECT_TRUE(recorders_[i]->lost.empty()) << i;
}

TEST_F(ZmqTransportTest, LeavingWithByeIsNotALossDyingSilentlyIsWithinThreeSeconds) {
  StartJob(3);
  transports_[1]->Leave();
  transports_[1].reset();  // flushes the byes
  transports_[2].reset();  // dies without a word
  uint64_t start = MonotonicNs();
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->LostHost(2); }, 3000));
  EXPECT_LT(testing::SecondsSince(start), 3.0);
  std::string reason = recorders_[0]->LostReason(2);
  EXPECT_NE(reason.find("host 2 (tcp://127.0.0.1:"), std::string::npos) << reason;
  EXPECT_NE(reason.find("silent for 2."), std::string::npos) << reason;
  // Host 1 was as silent as host 2 for as long, but it said bye.
  EXPECT_FALSE(recorders_[0]->LostHost(1));
  EXPECT_EQ(transports_[0]->peer_state(1), PeerMesh::PeerState::kLeft);
  EXPECT_EQ(recorders_[0]->lost.size(), 1u);
  EXPECT_FALSE(transports_[0]->Send(1, peer::kJobEnd, 0, ""));
  EXPECT_FALSE(transports_[0]->Send(2, peer::kJobEnd, 0, ""));
}

TEST_F(ZmqTransportTest, MalformedFramesAreDroppedAndCounted) {
  StartJob(2);
  ZmqTransport* host0 = transports_[0].get();
  zmq::context_t ctx(1);
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(host0->endpoint());
  auto frame = [](uint16_t type, uint32_t from, uint32_t to, uint64_t job, std::string_view body) {
    return peer::EncodeMessage(peer::MakeHeader(type, from, to, job, 0), body);
  };
  std::vector<std::string> bad;
  bad.push_back("abc");                                                // shorter than a header
  bad.push_back(std::string(sizeof(peer::PeerHeader), '\xee'));        // bad magic
  bad.push_back(frame(peer::kJobEnd, 1, 0, kJob + 1, "x"));            // another job, not a hello
  bad.push_back(frame(peer::kJobEnd, 5, 0, kJob, "x"));                // host out of range
  bad.push_back(frame(peer::kJobEnd, 1, 1, kJob, "x"));                // not for this host
  std::string cut = frame(peer::kLockGrant, 1, 0, kJob, "12345678");
  cut.resize(cut.size() - 3);
  bad.push_back(cut);                                                  // body cut short
  std::string huge = frame(peer::kDiff, 1, 0, kJob, "");
  uint64_t len = ~uint64_t{0};
  std::memcpy(huge.data() + 32, &len, sizeof len);
  bad.push_back(huge);                                                 // absurd body length
  bad.push_back(frame(peer::kHello, 1, 0, kJob, "short"));             // malformed hello body
  bad.push_back(frame(peer::kWelcome, 1, 0, kJob, ""));                // welcome from a non-0 host
  bad.push_back(Pattern(1000, 9));                                     // noise
  for (const std::string& f : bad) ASSERT_TRUE(raw.send(zmq::buffer(f), zmq::send_flags::none));
  // And a multi-part message.
  ASSERT_TRUE(raw.send(zmq::str_buffer("part1"), zmq::send_flags::sndmore));
  ASSERT_TRUE(raw.send(zmq::str_buffer("part2"), zmq::send_flags::none));
  const uint64_t want = bad.size() + 1;
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return host0->stats().frames_dropped >= want; }))
      << host0->stats().frames_dropped << " of " << want;
  EXPECT_EQ(host0->stats().frames_dropped, want);
  // The job is undisturbed.
  ASSERT_TRUE(transports_[1]->Send(0, peer::kBarrierArrive, 3, "ok"));
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->messages.size() == 1; }));
  EXPECT_EQ(recorders_[0]->messages[0].body, "ok");
  EXPECT_TRUE(recorders_[0]->lost.empty());
  EXPECT_TRUE(recorders_[1]->lost.empty());
}

TEST_F(ZmqTransportTest, JoinTimeoutsNameTheMissingHosts) {
  PeerTiming fast;
  fast.join_timeout_ms = 300;
  ZmqTransportConfig c0 = Config(0, 3);
  c0.timing = fast;
  ASSERT_NE(Add(c0), nullptr);
  ZmqTransportConfig c1 = Config(1, 3);
  c1.timing = fast;
  ASSERT_NE(Add(c1), nullptr);
  // Host 2 never comes: host 0 gives up on it; host 1 is never welcomed.
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->LostHost(2) && recorders_[1]->LostHost(0); }));
  EXPECT_EQ(recorders_[0]->LostReason(2), "host 2 did not join within 0.30 s");
  EXPECT_FALSE(recorders_[0]->LostHost(1));
  EXPECT_EQ(recorders_[1]->LostReason(0),
            "host 0 (" + transports_[0]->endpoint() + ") did not welcome host 1 within 0.30 s");
  EXPECT_FALSE(recorders_[0]->ready);
  EXPECT_FALSE(recorders_[1]->ready);
}

TEST_F(ZmqTransportTest, HostsMayStartBeforeHostZeroListens) {
  // Host 1 dials a port where nobody listens yet; ZeroMQ retries.
  ZmqTransportConfig c0;
  c0.host_id = 0;
  c0.num_hosts = 2;
  c0.job_id = kJob;
  c0.listen = "tcp://127.0.0.1:0";
  auto probe = ZmqTransport::Create(c0);
  ASSERT_TRUE(probe.ok());
  std::string endpoint = (*probe)->endpoint();
  probe.value().reset();  // frees the port
  ZmqTransportConfig c1 = c0;
  c1.host_id = 1;
  c1.join = endpoint;
  ASSERT_NE(Add(c1), nullptr);
  c0.listen = endpoint;
  ASSERT_NE(Add(c0), nullptr);
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->ready && recorders_[1]->ready; }));
}

TEST(ZmqTransportConfigTest, BadConfigurationsAreErrors) {
  ZmqTransportConfig c;
  c.num_hosts = 2;
  c.listen = "tcp://0.0.0.0:0";
  auto wildcard = ZmqTransport::Create(c);
  ASSERT_FALSE(wildcard.ok());
  EXPECT_NE(wildcard.status().message().find("advertised"), std::string::npos);
  c.listen = "tcp://127.0.0.1:0";
  c.join = "tcp://127.0.0.1:1";
  EXPECT_FALSE(ZmqTransport::Create(c).ok());  // host 0 joins nobody
  c.host_id = 1;
  c.join = "";
  EXPECT_FALSE(ZmqTransport::Create(c).ok());  // host 1 needs host 0
  c.host_id = 2;
  c.join = "tcp://127.0.0.1:1";
  EXPECT_FALSE(ZmqTransport::Create(c).ok());  // host id out of range
  c.host_id = 1;
  c.listen = "tcp://not an address";
  EXPECT_FALSE(ZmqTransport::Create(c).ok());
  c.listen = "tcp://0.0.0.0:0";
  c.advertise = "tcp://10.0.0.1:7000";
  auto advertised = ZmqTransport::Create(c);
  ASSERT_TRUE(advertised.ok()) << advertised.status().message();
  EXPECT_EQ((*advertised)->endpoint(), "tcp://10.0.0.1:7000");
}

}  // namespace
}  // namespace dsm::hostd
