// Tests of the job status codec (common/include/dsm/common/job_status.h), the
// lines dsm-hostd writes to dsm-run.
#include "dsm/common/job_status.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dsm::jobstatus {
namespace {

std::string MustFormat(const Line& line) {
  auto r = Format(line);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : "";
}

TEST(JobStatus, FormatsEveryKind) {
  EXPECT_EQ(MustFormat(Line::Ready()), "ready\n");
  EXPECT_EQ(MustFormat(Line::Listening("tcp://127.0.0.1:5555")), "listening tcp://127.0.0.1:5555\n");
  EXPECT_EQ(MustFormat(Line::Attached(0)), "attached 0\n");
  EXPECT_EQ(MustFormat(Line::Attached(1023)), "attached 1023\n");
  EXPECT_EQ(MustFormat(Line::Finished(0)), "finished 0\n");
  EXPECT_EQ(MustFormat(Line::Finished(255)), "finished 255\n");
  EXPECT_EQ(MustFormat(Line::Lost(7)), "lost 7\n");
  EXPECT_EQ(MustFormat(Line::LostHost(63)), "lost-host 63\n");
}

TEST(JobStatus, FormatRefusesWhatParseWouldRefuse) {
  EXPECT_FALSE(Format(Line::Finished(256)).ok());
  EXPECT_FALSE(Format(Line::Listening("")).ok());
  EXPECT_FALSE(Format(Line::Listening("tcp://a b")).ok());
  EXPECT_FALSE(Format(Line::Listening("127.0.0.1:5")).ok());
  EXPECT_EQ(Format(Line::Listening("tcp://a\nready")).status().code(), EINVAL);
}

TEST(JobStatus, RoundTrips) {
  const std::vector<Line> lines = {
      Line::Ready(),
      Line::Listening("tcp://10.213.0.1:40123"),
      Line::Listening("ipc:///tmp/x"),
      Line::Attached(0),
      Line::Attached(4294967295u),
      Line::Finished(0),
      Line::Finished(42),
      Line::Finished(255),
      Line::Lost(0),
      Line::Lost(1023),
      Line::LostHost(0),
      Line::LostHost(63),
  };
  for (const Line& line : lines) {
    std::string text = MustFormat(line);
    SCOPED_TRACE(text);
    ASSERT_EQ(text.back(), '\n');
    EXPECT_LT(text.size(), kMaxLineLength + 1);
    auto back = Parse(std::string_view(text).substr(0, text.size() - 1));
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back.value(), line);
    EXPECT_EQ(back.value().EndsJob(),
              line.kind == Kind::kFinished || line.kind == Kind::kLost || line.kind == Kind::kLostHost);
  }
}

TEST(JobStatus, LongestEndpointFitsOneLine) {
  std::string endpoint = "tcp://" + std::string(kMaxEndpointLength - 6, 'a');
  std::string text = MustFormat(Line::Listening(endpoint));
  EXPECT_LE(text.size(), kMaxLineLength);
  EXPECT_TRUE(Parse(std::string_view(text).substr(0, text.size() - 1)).ok());
  EXPECT_FALSE(Format(Line::Listening(endpoint + "a")).ok());
}

TEST(JobStatus, RefusesEverythingElse) {
  const std::vector<std::string> bad = {
      "",
      " ",
      "ready ",
      " ready",
      "ready\r",
      "ready 1",
      "Ready",
      "READY",
      "ready\n",
      "readyx",
      "attached",
      "attached ",
      "attached  1",
      "attached 1 ",
      "attached -1",
      "attached +1",
      "attached 01",
      "attached 00",
      "attached 1x",
      "attached 0x10",
      "attached 4294967296",
      "attached 99999999999999999999",
      "attached\t1",
      "finished 256",
      "finished 1000",
      "finished",
      "lost",
      "lost x",
      "lost-host",
      "lost-host -0",
      "lost_host 1",
      "losthost 1",
      "lost-hosts 1",
      "listening",
      "listening ",
      "listening tcp://",
      "listening ://x",
      "listening tcp:/x",
      "listening TCP://x",
      "listening tcp://a b",
      "listening tcp://a\x7f",
      "listening tcp://\xc3\xa9",
      "listening 127.0.0.1:5555",
      "some news",
      std::string("ready\0", 6),
      std::string("attached 1\0", 11),
      "attached " + std::string(300, '1'),
      "listening tcp://" + std::string(kMaxEndpointLength, 'a'),
  };
  for (const std::string& text : bad) {
    SCOPED_TRACE(::testing::PrintToString(text));
    auto r = Parse(text);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), EPROTO);
    EXPECT_FALSE(r.status().message().empty());
  }
}

TEST(JobStatus, ParsesNumbersAtTheirLimits) {
  EXPECT_EQ(Parse("attached 0").value(), Line::Attached(0));
  EXPECT_EQ(Parse("lost 4294967295").value(), Line::Lost(4294967295u));
  EXPECT_EQ(Parse("finished 255").value(), Line::Finished(255));
  EXPECT_EQ(Parse("lost-host 10").value(), Line::LostHost(10));
  EXPECT_EQ(Parse("listening tcp://[::1]:7").value(), Line::Listening("tcp://[::1]:7"));
}

// Garbage of every kind never crashes the parser (and anything it accepts
// formats back to the same text).
TEST(JobStatus, ArbitraryBytesNeverCrash) {
  uint64_t state = 0x9e3779b97f4a7c15u;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const std::string alphabet = "readyltsngfihcotk-0123456789 \n\r:/\x01\xff";
  const std::vector<std::string> seeds = {"ready", "attached 12", "finished 3", "lost-host 2",
                                          "listening tcp://1.2.3.4:5"};
  for (int i = 0; i < 20000; ++i) {
    std::string text = seeds[next() % seeds.size()];
    int edits = static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = text.empty() ? 0 : next() % (text.size() + 1);
      char c = alphabet[next() % alphabet.size()];
      switch (next() % 3) {
        case 0: text.insert(text.begin() + static_cast<std::ptrdiff_t>(pos), c); break;
        case 1:
          if (pos < text.size()) text.erase(pos, 1);
          break;
        default:
          if (pos < text.size()) text[pos] = c;
          break;
      }
    }
    auto r = Parse(text);
    if (r.ok()) {
      auto again = Format(r.value());
      ASSERT_TRUE(again.ok()) << text;
      EXPECT_EQ(again.value(), text + "\n");
    }
  }
}

}  // namespace
}  // namespace dsm::jobstatus
