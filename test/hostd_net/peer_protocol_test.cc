// The peer message codec: every header check, truncation at every length,
// membership bodies, and random bytes.
#include "dsm/hostd/peer_protocol.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace dsm::hostd::peer {
namespace {

constexpr uint64_t kJob = 77;
constexpr uint32_t kHosts = 3;

std::string Frame(uint16_t type = kJobEnd, std::string_view body = "12345678") {
  return EncodeMessage(MakeHeader(type, 1, 2, kJob, 9), body);
}

// Overwrites a header field of an encoded frame.
template <typename T>
std::string Patch(std::string frame, size_t offset, T value) {
  std::memcpy(frame.data() + offset, &value, sizeof value);
  return frame;
}

TEST(PeerProtocolTest, RoundTrip) {
  std::string body(1000, 'x');
  body[0] = 'a';
  std::string frame = Frame(kDiff, body);
  ASSERT_EQ(frame.size(), sizeof(PeerHeader) + body.size());
  auto m = DecodeMessage(frame, kJob, kHosts);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->header.type, kDiff);
  EXPECT_EQ(m->header.from_host, 1u);
  EXPECT_EQ(m->header.to_host, 2u);
  EXPECT_EQ(m->header.request_id, 9u);
  EXPECT_EQ(m->header.body_len, body.size());
  EXPECT_EQ(m->body, body);
  EXPECT_EQ(m->body.data(), frame.data() + sizeof(PeerHeader));  // no copy
  auto empty = DecodeMessage(Frame(kHeartbeat, ""), kJob, kHosts);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->body.empty());
}

TEST(PeerProtocolTest, EveryTruncationIsMalformed) {
  std::string frame = Frame(kJobEnd, "12345678");
  for (size_t n = 0; n < frame.size(); ++n) {
    auto m = DecodeMessage(std::string_view(frame).substr(0, n), kJob, kHosts);
    ASSERT_FALSE(m.ok()) << n;
    EXPECT_EQ(m.status().code(), kDecodeMalformed) << n << ": " << m.status().message();
  }
  auto trailing = DecodeMessage(frame + "z", kJob, kHosts);
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.status().code(), kDecodeMalformed);
  EXPECT_NE(trailing.status().message().find("says 8 body bytes, the frame has 9"), std::string::npos)
      << trailing.status().message();
}

TEST(PeerProtocolTest, HeaderChecks) {
  std::string f = Frame();
  auto code = [](const std::string& frame) { return DecodeMessage(frame, kJob, kHosts).status().code(); };
  EXPECT_EQ(code(Patch(f, 0, uint32_t{0x12345678})), kDecodeMalformed);  // magic
  auto v = DecodeMessage(Patch(f, 4, uint16_t{7}), kJob, kHosts);
  EXPECT_EQ(v.status().code(), kDecodeWrongVersion);
  EXPECT_EQ(v.status().message(),
            "peer protocol version 7, this daemon speaks version " + std::to_string(kPeerVersion));
  EXPECT_EQ(code(Patch(f, 6, uint16_t{kInvalid})), kDecodeMalformed);
  EXPECT_EQ(code(Patch(f, 6, uint16_t{7})), kDecodeMalformed);  // a gap between types
  EXPECT_EQ(code(Patch(f, 6, uint16_t{kMsgTypeEnd})), kDecodeMalformed);
  EXPECT_EQ(code(Patch(f, 6, uint16_t{0xffff})), kDecodeMalformed);
  EXPECT_EQ(code(Patch(f, 8, uint32_t{kHosts})), kDecodeBadHost);    // from
  EXPECT_EQ(code(Patch(f, 12, uint32_t{~0u})), kDecodeBadHost);      // to
  auto job = DecodeMessage(Patch(f, 16, uint64_t{78}), kJob, kHosts);
  EXPECT_EQ(job.status().code(), kDecodeWrongJob);
  EXPECT_NE(job.status().message().find("job 78, this is job 77"), std::string::npos);
  // A body length over the limit is refused before it is compared with the
  // frame, and one that would wrap around is too.
  EXPECT_EQ(code(Patch(f, 32, uint64_t{kMaxMessageBytes + 1})), kDecodeMalformed);
  EXPECT_EQ(code(Patch(f, 32, ~uint64_t{0})), kDecodeMalformed);
  EXPECT_EQ(code(Patch(f, 32, uint64_t{7})), kDecodeMalformed);
  // The version is checked before the job: another version's header may
  // have its job id elsewhere.
  EXPECT_EQ(code(Patch(Patch(f, 4, uint16_t{kPeerVersion + 1}), 16, uint64_t{1})), kDecodeWrongVersion);
}

TEST(PeerProtocolTest, DamagedFramesAreCheckedWithoutOverreading) {
  std::mt19937_64 rng(12345);
  std::string good = Frame(kLockGrant, std::string(64, 'q'));
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string f = good;
    // Flip a few random bytes, and sometimes cut the frame.
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) f[rng() % f.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) f.resize(rng() % f.size());
    auto m = DecodeMessage(f, kJob, kHosts);
    if (m.ok()) {
      ++decoded;  // only flips in request_id, the body or a valid type/host can pass
      EXPECT_EQ(m->header.magic, kPeerMagic);
      EXPECT_EQ(m->header.job_id, kJob);
      EXPECT_LT(m->header.from_host, kHosts);
      EXPECT_EQ(m->body.size() + sizeof(PeerHeader), f.size());
    }
  }
  EXPECT_GT(decoded, 0);
}

TEST(PeerProtocolTest, HelloRoundTripAndMalformed) {
  Hello h{2, 3, "tcp://10.1.2.3:7000"};
  std::string body = EncodeHello(h);
  auto d = DecodeHello(body);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->host_id, 2u);
  EXPECT_EQ(d->num_hosts, 3u);
  EXPECT_EQ(d->endpoint, h.endpoint);
  for (size_t n = 0; n < body.size(); ++n) EXPECT_FALSE(DecodeHello(body.substr(0, n)).ok()) << n;
  EXPECT_FALSE(DecodeHello(body + "x").ok());
  EXPECT_FALSE(DecodeHello(Patch(body, 8, uint32_t{kMaxEndpoint + 1})).ok());
  EXPECT_FALSE(DecodeHello(Patch(body, 8, ~uint32_t{0})).ok());
}

TEST(PeerProtocolTest, WelcomeRoundTripAndMalformed) {
  std::vector<std::string> eps{"tcp://a:1", "", "tcp://c:3"};
  std::string body = EncodeWelcome(eps);
  auto d = DecodeWelcome(body, 3);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(*d, eps);
  EXPECT_FALSE(DecodeWelcome(body, 2).ok());
  for (size_t n = 0; n < body.size(); ++n) EXPECT_FALSE(DecodeWelcome(body.substr(0, n), 3).ok()) << n;
  EXPECT_FALSE(DecodeWelcome(body + "x", 3).ok());
  // A length that runs past the end.
  EXPECT_FALSE(DecodeWelcome(Patch(body, sizeof(WelcomeBody), uint32_t{1000}), 3).ok());
}

TEST(PeerProtocolTest, RefuseRoundTripAndMalformed) {
  std::string body = EncodeRefuse({kWrongJob, "host 1 is of job 5"});
  auto d = DecodeRefuse(body);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->reason, kWrongJob);
  EXPECT_EQ(d->text, "host 1 is of job 5");
  for (size_t n = 0; n < body.size(); ++n) EXPECT_FALSE(DecodeRefuse(body.substr(0, n)).ok()) << n;
  EXPECT_FALSE(DecodeRefuse(Patch(body, 4, uint32_t{kMaxRefuseText + 1})).ok());
  // Over-long text is cut when encoding, so the encoder never makes what the
  // decoder refuses.
  EXPECT_TRUE(DecodeRefuse(EncodeRefuse({kBadHostId, std::string(5000, 'r')})).ok());
  EXPECT_STREQ(RefuseReasonName(kDuplicateHost), "duplicate host");
}

TEST(PeerProtocolTest, TypeNames) {
  EXPECT_STREQ(MsgTypeName(kHello), "hello");
  EXPECT_STREQ(MsgTypeName(kLockRequest), "lock-request");
  EXPECT_STREQ(MsgTypeName(kFreeReply), "free-reply");
  EXPECT_STREQ(MsgTypeName(9), "unknown");
  EXPECT_STREQ(MsgTypeName(kMsgTypeEnd), "unknown");
  for (uint16_t t = 1; t < kMsgTypeEnd; ++t) EXPECT_NE(MsgTypeName(t), nullptr);
}

}  // namespace
}  // namespace dsm::hostd::peer
