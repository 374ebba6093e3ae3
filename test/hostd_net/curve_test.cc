// CURVE authentication between the daemons of a job (ZmqTransport with the
// job's key pair, dsm-hostd --keys-fd):
//
//  * JobKeys: the key block (dsm/common/job_keys.h) is strict and never
//    quotes the secret in its errors.
//  * CurveTransport: transports of one job join and talk over CURVE; a
//    client with another key pair (refused by the ZAP handler), a client
//    without CURVE, bytes that are not ZMTP and a daemon of another job are
//    refused at the handshake: nothing they send reaches PeerMesh, and the
//    job goes on.
//  * CurveCluster: a whole job (real daemons on threads over ZeroMQ, nodes
//    doing locked updates across hosts) attacked by all of those finishes
//    with the right result.
//  * HostdKeys: the dsm-hostd program: no multi-host daemon without keys
//    unless --insecure, bad blocks refused, keys read from the descriptor
//    (closed afterwards, never on the command line), refusals logged with
//    the client's address.
//
// Nothing sleeps: every wait is for a condition (an event loop round, a
// monitor event, a closed socket, a line on a pipe, an exit) with a deadline.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "cluster_test_util.h"
#include "dsm/common/clock.h"
#include "dsm/common/fd.h"
#include "dsm/common/job_keys.h"
#include "dsm/hostd/peer_protocol.h"
#include "dsm/hostd/zmq_transport.h"
#include "transport_test_util.h"

namespace dsm::hostd {
namespace {

namespace peer = dsm::hostd::peer;
using testing::Recorder;
using testing::RunUntil;

constexpr uint64_t kJob = 5151;
constexpr int kClientEvents = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                              ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

jobkeys::Keys NewKeys() {
  char pub[jobkeys::kZ85KeyLength + 1], sec[jobkeys::kZ85KeyLength + 1];
  EXPECT_EQ(zmq_curve_keypair(pub, sec), 0) << "libzmq without CURVE";
  return jobkeys::Keys(pub, sec);
}

// A frame a daemon of job `job` would send: host 1 to host 0.
std::string Frame(uint16_t type, uint64_t job, std::string_view body, uint64_t link_seq = 0) {
  peer::PeerHeader h = peer::MakeHeader(type, 1, 0, job, 0);
  h.link_seq = link_seq;
  return peer::EncodeMessage(h, body);
}

// ---------------------------------------------------------------------------
// Attackers

// A ZeroMQ DEALER in its own context, connected to `endpoint`: without CURVE
// (no keys), or as a CURVE client expecting `server_key` with its own pair.
// A monitor of its own socket tells how its handshakes end.
class Client {
 public:
  Client(const std::string& endpoint, const std::optional<std::string>& server_key,
         const std::optional<jobkeys::Keys>& own)
      : socket_(context_, zmq::socket_type::dealer), monitor_(context_, zmq::socket_type::pair) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::routing_id, "h1-stray");
    if (server_key) {
      socket_.set(zmq::sockopt::curve_serverkey, *server_key);
      socket_.set(zmq::sockopt::curve_publickey, own->public_z85);
      socket_.set(zmq::sockopt::curve_secretkey, own->secret_z85);
    }
    EXPECT_EQ(zmq_socket_monitor(socket_.handle(), "inproc://client-monitor", kClientEvents), 0);
    monitor_.connect("inproc://client-monitor");
    socket_.connect(endpoint);
  }
  // Queued until (if ever) the handshake succeeds. The queue exists once
  // ZeroMQ's I/O thread has attached the connection's pipe, which under load
  // may come after connect() returned: wait for it (5 s at most) instead of
  // failing at once.
  void Send(const std::string& frame) {
    socket_.set(zmq::sockopt::sndtimeo, 5000);
    EXPECT_TRUE(socket_.send(zmq::buffer(frame), zmq::send_flags::none));
  }
  // The next handshake outcome within timeout_ms (ZMQ_EVENT_*), or 0.
  uint16_t NextOutcome(int timeout_ms) {
    zmq::pollitem_t item{monitor_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) <= 0) return 0;
    zmq::message_t event, endpoint;
    if (!monitor_.recv(event) || !monitor_.recv(endpoint) || event.size() < 2) return 0;
    uint16_t what = 0;
    std::memcpy(&what, event.data(), sizeof what);
    return what;
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  zmq::socket_t monitor_;
};

// A handshake outcome that is a failure (which one depends on which side
// notices first).
bool Failed(uint16_t outcome) {
  return outcome == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || outcome == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
         outcome == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
}

// A TCP connection to a "tcp://127.0.0.1:PORT" endpoint that sends `bytes`.
UniqueFd RawTcp(const std::string& endpoint, const std::string& bytes) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1))));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  EXPECT_EQ(::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  return fd;
}

// True once the other end closed (or reset) the connection, reading and
// dropping what it sent before (a ZMTP greeting); waits at most timeout_ms.
bool ClosedByPeer(int fd, int timeout_ms) {
  const uint64_t deadline = MonotonicNs() + static_cast<uint64_t>(timeout_ms) * 1000000;
  for (;;) {
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n > 0) continue;
    uint64_t now = MonotonicNs();
    if (now >= deadline) return false;
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    ::poll(&p, 1, static_cast<int>((deadline - now + 999999) / 1000000));
  }
}

// A ZMTP 3.0 greeting (signature, version 3.0, mechanism NULL, as-server
// 0, filler), then noise: the server sees a client without CURVE.
std::string ZmtpGreetingThenGarbage() {
  std::string g(64, '\0');
  g[0] = '\xff';
  g[9] = '\x7f';
  g[10] = 3;
  std::memcpy(&g[12], "NULL", 4);
  return g + std::string(300, '\xa5');
}

// Bytes that do not begin any ZMTP greeting.
const std::string kNoise = "GET / HTTP/1.1\r\nHost: dsm\r\n\r\n" + std::string(200, 'x');

// ---------------------------------------------------------------------------
// The key block

TEST(JobKeys, FormatParseRoundTrip) {
  jobkeys::Keys k = NewKeys();
  auto block = jobkeys::Format(k);
  ASSERT_TRUE(block.ok()) << block.status().message();
  EXPECT_EQ(*block, "curve-public " + k.public_z85 + "\ncurve-secret " + k.secret_z85 + "\n");
  auto back = jobkeys::Parse(*block);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->public_z85, k.public_z85);
  EXPECT_EQ(back->secret_z85, k.secret_z85);
  EXPECT_FALSE(jobkeys::Format(jobkeys::Keys("short", k.secret_z85)).ok());
}

TEST(JobKeys, ParseIsStrictAndNeverQuotesTheSecret) {
  jobkeys::Keys k = NewKeys();
  const std::string pub = "curve-public " + k.public_z85 + "\n", sec = "curve-secret " + k.secret_z85 + "\n";
  std::string bad_char = sec;
  bad_char[20] = '~';  // not in the Z85 alphabet
  const std::vector<std::string> bad = {
      "",
      pub,                                            // no secret
      sec + pub,                                      // wrong order
      pub + sec + "\n",                               // more than two lines
      pub + sec.substr(0, sec.size() - 1),            // no final newline
      pub + "curve-secret " + k.secret_z85 + "\r\n",  // CR
      pub + "curve-secret  " + k.secret_z85 + "\n",   // two spaces
      pub + "curve-secret " + k.secret_z85 + "A\n",   // 41 characters
      pub + bad_char,
      "CURVE-PUBLIC " + k.public_z85 + "\n" + sec,
  };
  for (const std::string& b : bad) {
    auto r = jobkeys::Parse(b);
    ASSERT_FALSE(r.ok()) << b;
    EXPECT_EQ(r.status().code(), EPROTO);
    EXPECT_EQ(r.status().message().find(k.secret_z85.substr(0, 10)), std::string::npos) << r.status().message();
  }
}

TEST(JobKeys, ReadTakesTheDescriptorToItsEndAndRefusesTooMuch) {
  jobkeys::Keys k = NewKeys();
  std::string block = jobkeys::Format(k).value();
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  // In two pieces: a reader must not stop at the first.
  ASSERT_EQ(::write(w.get(), block.data(), 20), 20);
  ASSERT_EQ(::write(w.get(), block.data() + 20, block.size() - 20), static_cast<ssize_t>(block.size() - 20));
  w.reset();
  auto keys = jobkeys::Read(r.get());
  ASSERT_TRUE(keys.ok()) << keys.status().message();
  EXPECT_EQ(keys->secret_z85, k.secret_z85);

  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  r.reset(p[0]);
  w.reset(p[1]);
  std::string big = block + std::string(jobkeys::kMaxBlockBytes, '#');
  ASSERT_EQ(::write(w.get(), big.data(), big.size()), static_cast<ssize_t>(big.size()));
  w.reset();
  auto too_long = jobkeys::Read(r.get());
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("longer than"), std::string::npos) << too_long.status().message();
}

// ---------------------------------------------------------------------------
// Transports of one job over CURVE, one event loop on the test thread.

class CurveTransport : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(loop).value();
  }
  void TearDown() override { transports_.clear(); }

  ZmqTransportConfig Config(uint32_t host, uint32_t num_hosts, const jobkeys::Keys& keys) {
    ZmqTransportConfig c;
    c.host_id = host;
    c.num_hosts = num_hosts;
    c.job_id = kJob;
    c.listen = "tcp://127.0.0.1:0";
    if (host != 0) c.join = transports_.at(0)->endpoint();
    c.curve = keys;
    return c;
  }
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
  void StartJob(uint32_t k) {
    for (uint32_t h = 0; h < k; ++h) ASSERT_NE(Add(Config(h, k, keys_)), nullptr);
    ASSERT_TRUE(RunUntil(loop_.get(), [&] {
      for (uint32_t h = 0; h < k; ++h) {
        if (!recorders_[h]->ready) return false;
      }
      return true;
    })) << "not every host became ready";
  }
  // Host 1 to host 0 still works, and nobody was lost.
  void ExpectJobGoesOn(const std::string& body) {
    const size_t before = recorders_[0]->messages.size();
    ASSERT_TRUE(transports_[1]->Send(0, peer::kBarrierArrive, 77, body));
    ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->messages.size() == before + 1; }));
    EXPECT_EQ(recorders_[0]->messages.back().body, body);
    EXPECT_EQ(recorders_[0]->messages.back().from, 1u);
    EXPECT_TRUE(recorders_[0]->lost.empty());
    EXPECT_TRUE(recorders_[1]->lost.empty());
  }

  jobkeys::Keys keys_ = NewKeys();
  std::unique_ptr<EventLoop> loop_;
  std::vector<std::unique_ptr<Recorder>> recorders_;
  std::vector<std::unique_ptr<ZmqTransport>> transports_;
};

TEST_F(CurveTransport, ThreeHostsJoinAndTalkOverCurve) {
  StartJob(3);
  for (uint32_t from = 0; from < 3; ++from) {
    for (uint32_t to = 0; to < 3; ++to) {
      if (from != to) ASSERT_TRUE(transports_[from]->Send(to, peer::kDiff, from + 1, std::string(100000, 'a' + from)));
    }
  }
  ASSERT_TRUE(RunUntil(loop_.get(), [&] {
    for (auto& r : recorders_) {
      if (r->messages.size() < 2) return false;
    }
    return true;
  }));
  for (uint32_t h = 0; h < 3; ++h) {
    SCOPED_TRACE(h);
    EXPECT_TRUE(transports_[h]->authenticated());
    for (const auto& m : recorders_[h]->messages) EXPECT_EQ(m.body, std::string(100000, 'a' + m.from));
    // Its ROUTER accepted the two other daemons' DEALERs, and nobody else.
    const auto& s = transports_[h]->security_stats();
    EXPECT_EQ(s.clients_accepted, 2u);
    EXPECT_EQ(s.clients_refused, 0u);
    EXPECT_EQ(s.handshakes_failed, 0u);
  }
}

TEST_F(CurveTransport, AClientWithAnotherKeyPairIsRefusedByZapAndTheJobGoesOn) {
  StartJob(2);
  const uint64_t received = transports_[0]->stats().frames_received;
  // It knows the job's public key (the server key) but not its secret, and
  // sends what a daemon of this job would: a hello, and a job end.
  Client stray(transports_[0]->endpoint(), keys_.public_z85, NewKeys());
  stray.Send(Frame(peer::kHello, kJob, peer::EncodeHello({1, 2, "tcp://127.0.0.1:1"})));
  stray.Send(Frame(peer::kJobEnd, kJob, "", 1));
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return transports_[0]->security_stats().clients_refused >= 1; }));
  EXPECT_EQ(stray.NextOutcome(5000), ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  EXPECT_EQ(transports_[0]->security_stats().clients_accepted, 1u);  // host 1 only
  ExpectJobGoesOn("after the stray");
  // Of all the frames, only host 1's (heartbeats, the message) arrived.
  EXPECT_EQ(transports_[0]->stats().frames_dropped, 0u);
  EXPECT_EQ(transports_[0]->stats().hellos_refused, 0u);
  EXPECT_EQ(recorders_[0]->messages.size(), 1u);
  EXPECT_GT(transports_[0]->stats().frames_received, received);
}

TEST_F(CurveTransport, PlainClientsAndGarbageAreRefusedAtTheHandshake) {
  StartJob(2);
  // A DEALER without CURVE, one expecting another server key, a ZMTP
  // greeting followed by garbage, and bytes that are not ZMTP at all.
  Client plain(transports_[0]->endpoint(), std::nullopt, std::nullopt);
  plain.Send(Frame(peer::kJobEnd, kJob, "", 1));
  jobkeys::Keys other = NewKeys();
  Client wrong_server(transports_[0]->endpoint(), other.public_z85, other);
  wrong_server.Send(Frame(peer::kJobEnd, kJob, "", 1));
  UniqueFd greeting = RawTcp(transports_[0]->endpoint(), ZmtpGreetingThenGarbage());
  UniqueFd noise = RawTcp(transports_[0]->endpoint(), kNoise);
  bool noise_closed = false, greeting_closed = false;
  ASSERT_TRUE(RunUntil(loop_.get(),
                       [&] {
                         noise_closed = noise_closed || ClosedByPeer(noise.get(), 0);
                         greeting_closed = greeting_closed || ClosedByPeer(greeting.get(), 0);
                         // plain, wrong_server and the greeting, each at least once.
                         return noise_closed && greeting_closed &&
                                transports_[0]->security_stats().handshakes_failed >= 3;
                       }))
      << "handshakes failed: " << transports_[0]->security_stats().handshakes_failed << ", noise closed "
      << noise_closed << ", greeting closed " << greeting_closed;
  EXPECT_TRUE(Failed(plain.NextOutcome(5000)));
  EXPECT_TRUE(Failed(wrong_server.NextOutcome(5000)));
  EXPECT_EQ(transports_[0]->security_stats().clients_refused, 0u);  // none got as far as ZAP
  ExpectJobGoesOn("after the garbage");
  EXPECT_EQ(transports_[0]->stats().frames_dropped, 0u);
  EXPECT_EQ(recorders_[0]->messages.size(), 1u);
}

TEST_F(CurveTransport, ADaemonOfAnotherJobNeverReachesTheMesh) {
  // Host 0 waits for host 1. A daemon with the same job id and host id but
  // its own key pair (another job's, or a replay of this job's hello by a
  // process without its secret) knocks first: without CURVE its hello would
  // be accepted and it would join this job.
  ASSERT_NE(Add(Config(0, 2, keys_)), nullptr);
  ZmqTransportConfig stray = Config(1, 2, NewKeys());
  stray.timing.join_timeout_ms = 600;
  ASSERT_NE(Add(stray), nullptr);
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[1]->LostHost(0); }));
  EXPECT_NE(recorders_[1]->LostReason(0).find("did not welcome host 1"), std::string::npos)
      << recorders_[1]->LostReason(0);
  EXPECT_GE(transports_[0]->security_stats().handshakes_failed, 1u);
  EXPECT_EQ(transports_[0]->stats().frames_received, 0u);
  EXPECT_EQ(transports_[0]->stats().hellos_refused, 0u);
  EXPECT_FALSE(recorders_[0]->ready);
  // The real host 1 joins.
  ASSERT_NE(Add(Config(1, 2, keys_)), nullptr);
  ASSERT_TRUE(RunUntil(loop_.get(), [&] { return recorders_[0]->ready && recorders_[2]->ready; }));
  EXPECT_TRUE(recorders_[0]->lost.empty());
}

TEST(CurveTransportConfig, KeysThatDoNotBelongTogetherAreRefused) {
  jobkeys::Keys a = NewKeys(), b = NewKeys();
  ZmqTransportConfig c;
  c.num_hosts = 2;
  c.listen = "tcp://127.0.0.1:0";
  c.curve = jobkeys::Keys(a.public_z85, b.secret_z85);
  auto mixed = ZmqTransport::Create(c);
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("not the secret key's"), std::string::npos) << mixed.status().message();
  c.curve = jobkeys::Keys(a.public_z85, "not a key");
  EXPECT_FALSE(ZmqTransport::Create(c).ok());
  c.curve = a;
  auto fine = ZmqTransport::Create(c);
  ASSERT_TRUE(fine.ok()) << fine.status().message();
  EXPECT_TRUE((*fine)->authenticated());
}

// ---------------------------------------------------------------------------
// A whole job under attack: real daemons on threads over ZeroMQ with CURVE.

constexpr int kRounds = 30;

// Node 0 allocates a counter and publishes its offset in the control page;
// every node adds id + 1 to it kRounds times under lock 1; after a barrier
// every node checks the total, and node 0 finishes the job.
void SumUnderLock(testing::TestNode& n) {
  const uint64_t control = n.page_offset(0);
  uint64_t counter = 0;
  if (n.id() == 0 && (!n.Alloc(device::kPageSize, &counter) || !n.Put(control, counter))) return;
  if (!n.Barrier()) return;
  if (n.id() != 0 && !n.Get(control, &counter)) return;
  for (int i = 0; i < kRounds; ++i) {
    uint64_t v = 0;
    if (!n.Lock(1) || !n.Get(counter, &v) || !n.Put(counter, v + n.id() + 1) || !n.Unlock(1)) return;
  }
  if (!n.Barrier()) return;
  uint64_t total = 0;
  if (!n.Get(counter, &total)) return;
  const uint64_t nodes = n.num_nodes(), want = kRounds * nodes * (nodes + 1) / 2;
  n.Check(total == want, "total " + std::to_string(total) + ", expected " + std::to_string(want));
  if (n.id() == 0) {
    if (n.Barrier()) n.Finish(0);
    return;
  }
  bool finished = false;
  if (n.FinalBarrier(&finished) && !finished) n.Expect(device::kBarrier, {}, device::kJobFinished);
}

TEST(CurveCluster, AJobUnderAttackFinishesWithTheRightResult) {
  testing::ClusterOptions o;
  o.placement = {{0, 2}, {1, 3}};
  o.job_id = kJob;
  o.zmq = true;
  o.curve = NewKeys();
  testing::Cluster cluster(o);
  Status s = cluster.Start();
  ASSERT_TRUE(s.ok()) << s.message();
  // At both daemons: a client with its own key pair (refused by ZAP), one
  // without CURVE and one of another job (refused at the handshake; libzmq
  // retries them all through the job), garbage after a ZMTP greeting, and
  // noise. The clients would end the job if a frame got through.
  std::vector<std::unique_ptr<Client>> by_zap, at_handshake;
  std::vector<UniqueFd> raw;
  jobkeys::Keys other = NewKeys();
  for (uint32_t h = 0; h < cluster.hosts(); ++h) {
    const std::string& ep = cluster.endpoint(h);
    by_zap.push_back(std::make_unique<Client>(ep, o.curve->public_z85, NewKeys()));
    at_handshake.push_back(std::make_unique<Client>(ep, std::nullopt, std::nullopt));
    at_handshake.push_back(std::make_unique<Client>(ep, other.public_z85, other));
    for (auto* c : {by_zap.back().get(), at_handshake[at_handshake.size() - 2].get(), at_handshake.back().get()}) {
      c->Send(Frame(peer::kJobEnd, kJob, "", 1));
    }
    raw.push_back(RawTcp(ep, ZmtpGreetingThenGarbage()));
    raw.push_back(RawTcp(ep, kNoise));
  }
  for (auto& c : by_zap) EXPECT_EQ(c->NextOutcome(5000), ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  for (auto& c : at_handshake) EXPECT_TRUE(Failed(c->NextOutcome(5000)));
  for (const UniqueFd& fd : raw) EXPECT_TRUE(ClosedByPeer(fd.get(), 5000));

  auto run = testing::RunNodes(cluster, SumUnderLock, 30000);
  ASSERT_FALSE(run.hung) << run.Describe();
  EXPECT_FALSE(run.any_wrong_data()) << run.Describe();
  for (const auto& node : run.nodes) EXPECT_EQ(node.status, device::kOk) << run.Describe();
  for (uint32_t h = 0; h < cluster.hosts(); ++h) {
    SCOPED_TRACE("host " + std::to_string(h));
    EXPECT_EQ(cluster.WaitStatus(h, "finished", 5000), "finished 0");
    auto view = cluster.View(h);
    ASSERT_TRUE(view.has_value());
    EXPECT_EQ(view->security.clients_accepted, 1u);  // the other host's daemon
    EXPECT_GE(view->security.clients_refused, 1u);
    EXPECT_GE(view->security.handshakes_failed, 4u);  // ZAP's, the two strays', the greeting
    EXPECT_EQ(view->mesh.frames_dropped, 0u);
    EXPECT_TRUE(view->lost_reasons.empty());
  }
}

// ---------------------------------------------------------------------------
// The dsm-hostd program

// A dsm-hostd process with its status pipe as fd 3 (--ready-fd 3), as fd 4
// a pipe holding `keys` (if any) or else `keys_file` (if >= 0), its stderr
// on a pipe, and DSM_LOG=warn. Killed and reaped when destroyed.
class Hostd {
 public:
  Hostd(const std::vector<std::string>& args, const std::optional<std::string>& keys, int keys_file = -1) {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    status_.reset(p[0]);
    UniqueFd status_w(p[1]);
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    err_.reset(p[0]);
    UniqueFd err_w(p[1]);
    UniqueFd keys_r;
    if (keys) {
      EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
      keys_r.reset(p[0]);
      UniqueFd keys_w(p[1]);
      EXPECT_EQ(::write(keys_w.get(), keys->data(), keys->size()), static_cast<ssize_t>(keys->size()));
      struct stat st {};
      EXPECT_EQ(::fstat(keys_r.get(), &st), 0);
      keys_pipe_ = "pipe:[" + std::to_string(st.st_ino) + "]";
    }
    // Out of the way of the numbers they get in the child.
    UniqueFd s(::fcntl(status_w.get(), F_DUPFD_CLOEXEC, 10)), e(::fcntl(err_w.get(), F_DUPFD_CLOEXEC, 10));
    const int keys_fd = keys ? keys_r.get() : keys_file;
    UniqueFd k(keys_fd >= 0 ? ::fcntl(keys_fd, F_DUPFD_CLOEXEC, 10) : -1);
    std::vector<std::string> argv_s = {DSM_HOSTD_PATH};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "DSM_LOG=", 8) != 0) env_s.emplace_back(*e);
    }
    env_s.emplace_back("DSM_LOG=warn");
    std::vector<char*> argv, envp;
    for (auto& a : argv_s) argv.push_back(a.data());
    for (auto& v : env_s) envp.push_back(v.data());
    argv.push_back(nullptr);
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(s.get(), 3);
      if (k) ::dup2(k.get(), 4);
      ::dup2(e.get(), STDERR_FILENO);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    EXPECT_GT(pid_, 0);
    pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  }
  ~Hostd() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  [[nodiscard]] pid_t pid() const { return pid_; }
  // True while the process holds the key pipe open under any number.
  [[nodiscard]] bool HoldsKeyPipe() const {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd", ec)) {
      if (std::filesystem::read_symlink(e.path(), ec).string() == keys_pipe_) return true;
    }
    return false;
  }

  // The first status line (or stderr line) that starts with (contains)
  // `text`, waiting up to timeout_ms for it; "" if none came.
  std::string WaitStatus(const std::string& text, int timeout_ms) {
    return WaitLine(status_, status_buf_, text, true, timeout_ms);
  }
  std::string WaitStderr(const std::string& text, int timeout_ms) {
    return WaitLine(err_, err_buf_, text, false, timeout_ms);
  }
  // Everything on stderr until it closes (the process exited).
  std::string Stderr(int timeout_ms) {
    WaitLine(err_, err_buf_, "\x01never", false, timeout_ms);
    return err_buf_;
  }
  // Its exit status, or -1 if it did not exit within timeout_ms.
  int WaitExit(int timeout_ms) {
    pollfd p{pidfd_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return -1;
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return -1;
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  static std::string WaitLine(UniqueFd& fd, std::string& buf, const std::string& text, bool prefix, int timeout_ms) {
    const uint64_t deadline = MonotonicNs() + static_cast<uint64_t>(timeout_ms) * 1000000;
    size_t scanned = 0;
    for (;;) {
      size_t eol;
      while ((eol = buf.find('\n', scanned)) != std::string::npos) {
        std::string line = buf.substr(scanned, eol - scanned);
        scanned = eol + 1;
        if (prefix ? line.rfind(text, 0) == 0 : line.find(text) != std::string::npos) return line;
      }
      uint64_t now = MonotonicNs();
      if (!fd || now >= deadline) return "";
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>((deadline - now) / 1000000) + 1) <= 0) continue;
      char chunk[1024];
      ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
      if (n <= 0) {
        fd.reset();  // closed: what is in buf is all there is
        continue;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
  }

  pid_t pid_ = -1;
  bool exited_ = false;
  std::string keys_pipe_ = "-";  // "pipe:[inode]" of the key pipe
  UniqueFd pidfd_, status_, err_;
  std::string status_buf_, err_buf_;
};

std::vector<std::string> HostArgs(uint32_t host, const std::string& join, std::vector<std::string> more) {
  static int n = 0;
  std::vector<std::string> a = {
      "--socket",      "@dsm-curve-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++),
      "--nodes",       "2",
      "--hosts",       "2",
      "--host-id",     std::to_string(host),
      "--local-nodes", std::to_string(host),
      "--listen",      "tcp://127.0.0.1:0",
      "--job-id",      std::to_string(kJob),
      "--ready-fd",    "3"};
  if (!join.empty()) a.insert(a.end(), {"--join", join});
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

std::string Block(const jobkeys::Keys& k) { return jobkeys::Format(k).value(); }

std::string FileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(HostdKeys, AMultiHostDaemonNeedsKeysOrInsecure) {
  struct Case {
    std::vector<std::string> args;
    bool keys;
    std::string error;
  };
  const std::vector<Case> cases = {
      {HostArgs(0, "", {}), false, "--keys-fd is required with --hosts"},
      {HostArgs(0, "", {"--keys-fd", "4", "--insecure"}), true, "--keys-fd and --insecure exclude each other"},
      {HostArgs(0, "", {"--keys-fd", "3"}), true, "--keys-fd and --ready-fd must differ"},
      {HostArgs(0, "", {"--keys-fd", "9"}), false, "--keys-fd 9 is not an open file descriptor"},
      {{"--socket", "@dsm-curve-test-one", "--nodes", "1", "--keys-fd", "4"}, true, "need --hosts 2 or more"},
  };
  for (const Case& c : cases) {
    Hostd d(c.args, c.keys ? std::optional<std::string>(Block(NewKeys())) : std::nullopt);
    EXPECT_EQ(d.WaitExit(5000), 2) << c.error;
    EXPECT_NE(d.Stderr(5000).find(c.error), std::string::npos) << d.Stderr(0);
  }
}

TEST(HostdKeys, BadKeyBlocksAreRefusedWithoutQuotingTheSecret) {
  jobkeys::Keys a = NewKeys(), b = NewKeys();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Block(jobkeys::Keys(a.public_z85, b.secret_z85)), "the CURVE public key is not the secret key's"},
      {"curve-secret " + a.secret_z85 + "\n", "does not have its public line where expected"},
      {"curve-public " + a.public_z85 + "\ncurve-secret " + a.secret_z85, "lacks a complete secret line"},
      {"", "lacks a complete public line"},
  };
  for (const auto& [block, error] : cases) {
    Hostd d(HostArgs(0, "", {"--keys-fd", "4"}), block);
    EXPECT_EQ(d.WaitExit(5000), 2) << error;
    std::string err = d.Stderr(5000);
    EXPECT_NE(err.find(error), std::string::npos) << err;
    EXPECT_EQ(err.find(a.secret_z85.substr(0, 12)), std::string::npos) << err;
    EXPECT_EQ(err.find(b.secret_z85.substr(0, 12)), std::string::npos) << err;
  }
}

TEST(HostdKeys, AKeyFileOthersMayReadIsRefusedOneOnlyItsOwnerMayReadIsRead) {
  jobkeys::Keys keys = NewKeys();
  const std::string path = ::testing::TempDir() + "/dsm-curve-keys-" + std::to_string(::getpid());
  for (mode_t mode : {0644, 0600}) {
    { std::ofstream(path) << Block(keys); }
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(file);
    Hostd d(HostArgs(0, "", {"--keys-fd", "4"}), std::nullopt, file.get());
    if (mode == 0644) {
      EXPECT_EQ(d.WaitExit(5000), 2);
      EXPECT_NE(d.Stderr(5000).find("is a file that others may read or write (mode 644)"), std::string::npos)
          << d.Stderr(0);
    } else {
      EXPECT_NE(d.WaitStatus("listening ", 5000), "") << d.Stderr(0);
    }
  }
  std::filesystem::remove(path);
}

TEST(HostdKeys, DaemonsWithKeysJoinRefuseAStrayAndLogItsAddress) {
  ASSERT_TRUE(std::filesystem::exists(DSM_HOSTD_PATH)) << DSM_HOSTD_PATH << " is not built";
  jobkeys::Keys keys = NewKeys();
  Hostd host0(HostArgs(0, "", {"--keys-fd", "4"}), Block(keys));
  std::string listening = host0.WaitStatus("listening ", 5000);
  ASSERT_FALSE(listening.empty()) << host0.Stderr(0);
  const std::string endpoint = listening.substr(10);
  Hostd host1(HostArgs(1, endpoint, {"--keys-fd", "4"}), Block(keys));
  ASSERT_EQ(host0.WaitStatus("ready", 5000), "ready");
  ASSERT_EQ(host1.WaitStatus("ready", 5000), "ready");
  for (const Hostd* d : {&host0, &host1}) {
    // The key pipe was read and closed; the secret is on no command line.
    const std::string proc = "/proc/" + std::to_string(d->pid());
    EXPECT_FALSE(d->HoldsKeyPipe());
    EXPECT_EQ(FileText(proc + "/cmdline").find(keys.secret_z85), std::string::npos);
    EXPECT_EQ(FileText(proc + "/environ").find(keys.secret_z85), std::string::npos);
  }
  jobkeys::Keys stray_keys = NewKeys();
  Client stray(endpoint, keys.public_z85, stray_keys);
  stray.Send(Frame(peer::kJobEnd, kJob, "", 1));
  EXPECT_EQ(stray.NextOutcome(5000), ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
  std::string logged = host0.WaitStderr("refused a connection from 127.0.0.1", 5000);
  EXPECT_NE(logged.find("its key " + stray_keys.public_z85 + " is not this job's"), std::string::npos) << logged;
  // Unharmed: no job end, nobody lost; SIGTERM stops both cleanly.
  EXPECT_EQ(host0.WaitStatus("finished", 0), "");
  EXPECT_EQ(host0.WaitStatus("lost", 0), "");
  ::kill(host0.pid(), SIGTERM);
  ::kill(host1.pid(), SIGTERM);
  EXPECT_EQ(host0.WaitExit(5000), 0);
  EXPECT_EQ(host1.WaitExit(5000), 0);
}

TEST(HostdKeys, InsecureDaemonsJoinWithoutKeysAndSaySo) {
  Hostd host0(HostArgs(0, "", {"--insecure"}), std::nullopt);
  std::string listening = host0.WaitStatus("listening ", 5000);
  ASSERT_FALSE(listening.empty()) << host0.Stderr(0);
  Hostd host1(HostArgs(1, listening.substr(10), {"--insecure"}), std::nullopt);
  ASSERT_EQ(host0.WaitStatus("ready", 5000), "ready");
  ASSERT_EQ(host1.WaitStatus("ready", 5000), "ready");
  EXPECT_NE(host0.WaitStderr("--insecure: any process that reaches", 5000), "");
  ::kill(host0.pid(), SIGTERM);
  ::kill(host1.pid(), SIGTERM);
  EXPECT_EQ(host0.WaitExit(5000), 0);
  EXPECT_EQ(host1.WaitExit(5000), 0);
}

}  // namespace
}  // namespace dsm::hostd
