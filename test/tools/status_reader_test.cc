// Tests of StatusReader (tools/dsm-run/status_reader.h), which cuts a
// daemon's status pipe into lines, and of the statistics record a remote
// daemon's agent appends to it ("stats-json <n>" and n bytes, then the
// nodes' timelines, "trace-json ...", dsm/common/job_status.h).
#include "status_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dsm/common/job_status.h"

namespace dsm::launcher {
namespace {

// Writes `bytes` into a pipe in pieces of `piece` bytes, reading between
// them, and returns every event until the end.
std::vector<StatusEvent> Feed(const std::string& bytes, size_t piece) {
  int p[2];
  EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
  StatusReader reader{UniqueFd(p[0])};
  UniqueFd w(p[1]);
  std::vector<StatusEvent> events;
  for (size_t at = 0; at < bytes.size(); at += piece) {
    const size_t n = std::min(piece, bytes.size() - at);
    EXPECT_EQ(::write(w.get(), bytes.data() + at, n), static_cast<ssize_t>(n));
    reader.Drain(&events);
  }
  w.reset();
  while (reader.open()) reader.Drain(&events);
  return events;
}

TEST(StatusReader, AStatisticsRecordComesOutWholeBetweenLines) {
  const std::string json = std::string("{\"host\":1,\"nodes\":[") + std::string(20000, ' ') + "]}\n";
  const std::string bytes = "ready\nfinished 0\n" + jobstatus::FormatStatsJsonHeader(json.size()) + json;
  for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, bytes.size()}) {
    SCOPED_TRACE(piece);
    std::vector<StatusEvent> e = Feed(bytes, piece);
    ASSERT_EQ(e.size(), 4u);
    EXPECT_EQ(e[0].type, StatusEvent::Type::kLine);
    EXPECT_EQ(e[0].text, "ready");
    EXPECT_EQ(e[1].text, "finished 0");
    EXPECT_EQ(e[2].type, StatusEvent::Type::kStatsJson);
    EXPECT_EQ(e[2].text, json) << "the record's bytes, newlines and all";
    EXPECT_EQ(e[3].type, StatusEvent::Type::kEnd);
    EXPECT_EQ(e[3].text, "");
  }
}

TEST(StatusReader, ACutOffRecordIsDroppedAndAnEmptyOneKept) {
  std::vector<StatusEvent> e = Feed("ready\n" + jobstatus::FormatStatsJsonHeader(100) + "{\"host\":0", 5);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].text, "ready");
  EXPECT_EQ(e[1].type, StatusEvent::Type::kEnd);
  EXPECT_EQ(e[1].text, "") << "nothing of the record";
  e = Feed(jobstatus::FormatStatsJsonHeader(0) + "lost 3\n", 3);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].type, StatusEvent::Type::kStatsJson);
  EXPECT_EQ(e[0].text, "");
  EXPECT_EQ(e[1].text, "lost 3");
}

TEST(StatusReader, OnlyExactHeadersStartARecord) {
  uint64_t n = 0;
  EXPECT_TRUE(jobstatus::ParseStatsJsonHeader("stats-json 12", &n));
  EXPECT_EQ(n, 12u);
  EXPECT_TRUE(jobstatus::ParseStatsJsonHeader("stats-json 0", &n));
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(jobstatus::ParseStatsJsonHeader("stats-json " + std::to_string(jobstatus::kMaxStatsJsonBytes), &n));
  for (const char* bad : {"stats-json", "stats-json ", "stats-json 012", "stats-json 1 ", "stats-json -1",
                          "stats-json 99999999999999999999999", "stats-json 67108865", "Stats-json 1",
                          "stats-json\t1"}) {
    EXPECT_FALSE(jobstatus::ParseStatsJsonHeader(bad, &n)) << bad;
  }
  // Not a status line: a daemon cannot write one by mistake and have it
  // taken for a job's end.
  EXPECT_FALSE(jobstatus::Parse("stats-json 12").ok());
  // A line that only looks like one stays a line.
  std::vector<StatusEvent> e = Feed("stats-json x\nready\n", 64);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].type, StatusEvent::Type::kLine);
  EXPECT_EQ(e[0].text, "stats-json x");
}

// A timeline record per node, after the statistics: each comes out whole,
// with its header (node, the sender's clocks).
TEST(StatusReader, TimelineRecordsComeOutWholeWithTheirHeaders) {
  const std::string t1 = "{\"name\":\"barrier\",\"ts\":5.000},\n{\"name\":\"x\",\"ts\":6.000},\n";
  const std::string t3 = std::string(9000, 'y') + "\n";
  const jobstatus::TraceJsonHeader h1{1, t1.size(), 123456789, 1700000000123456789ULL};
  const jobstatus::TraceJsonHeader h3{3, t3.size(), 7, 8};
  const std::string bytes = "ready\n" + jobstatus::FormatStatsJsonHeader(2) + "{}" +
                            jobstatus::FormatTraceJsonHeader(h1) + t1 + jobstatus::FormatTraceJsonHeader(h3) + t3 +
                            jobstatus::FormatTraceJsonHeader({2, 0, 1, 1});
  for (size_t piece : {size_t{1}, size_t{13}, size_t{4096}}) {
    SCOPED_TRACE(piece);
    std::vector<StatusEvent> e = Feed(bytes, piece);
    ASSERT_EQ(e.size(), 6u);
    EXPECT_EQ(e[1].type, StatusEvent::Type::kStatsJson);
    EXPECT_EQ(e[1].text, "{}");
    EXPECT_EQ(e[2].type, StatusEvent::Type::kTraceJson);
    EXPECT_EQ(e[2].trace, h1);
    EXPECT_EQ(e[2].text, t1);
    EXPECT_EQ(e[3].type, StatusEvent::Type::kTraceJson);
    EXPECT_EQ(e[3].trace, h3);
    EXPECT_EQ(e[3].text, t3);
    EXPECT_EQ(e[4].type, StatusEvent::Type::kTraceJson) << "an empty timeline is a record too";
    EXPECT_EQ(e[4].trace.node, 2u);
    EXPECT_EQ(e[4].text, "");
    EXPECT_EQ(e[5].type, StatusEvent::Type::kEnd);
  }
}

TEST(StatusReader, OnlyExactTimelineHeadersStartARecord) {
  jobstatus::TraceJsonHeader h;
  ASSERT_TRUE(jobstatus::ParseTraceJsonHeader("trace-json 4 100 5 6", &h));
  EXPECT_EQ(h, (jobstatus::TraceJsonHeader{4, 100, 5, 6}));
  EXPECT_EQ(jobstatus::FormatTraceJsonHeader(h), "trace-json 4 100 5 6\n");
  EXPECT_TRUE(jobstatus::ParseTraceJsonHeader(
      "trace-json 0 " + std::to_string(jobstatus::kMaxTraceJsonBytes) + " 0 9223372036854775807", &h));
  for (const char* bad : {"trace-json", "trace-json 1 2 3", "trace-json 1 2 3 4 ", "trace-json 01 2 3 4",
                          "trace-json 1 2 3 04", "trace-json 1  2 3 4", "trace-json -1 2 3 4", "trace-json 4294967296 2 3 4",
                          "trace-json 1 268435457 3 4", "trace-json 1 2 3 18446744073709551616", "Trace-json 1 2 3 4",
                          "trace-json 1 2 3 4\r", "trace-json 1 2 9223372036854775808 4",
                          "trace-json 1 2 3 9223372036854775808"}) {
    EXPECT_FALSE(jobstatus::ParseTraceJsonHeader(bad, &h)) << bad;
  }
  EXPECT_FALSE(jobstatus::Parse("trace-json 4 100 5 6").ok()) << "not a status line";
  std::vector<StatusEvent> e = Feed("trace-json 1 2\nready\n", 64);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].type, StatusEvent::Type::kLine) << "a line that only looks like one stays a line";
}

}  // namespace
}  // namespace dsm::launcher
