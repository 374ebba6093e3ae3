// MergeTraces and the clock shift of timelines that came from other
// machines (tools/dsm-run/trace_merge.h).
#include "trace_merge.h"

#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

namespace dsm::launcher {
namespace {

int64_t Now(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

TEST(TraceMerge, ShiftLineMovesTheStartOnly) {
  const std::string line = R"({"name":"barrier","ph":"X","pid":1,"tid":2,"ts":1000.250,"dur":3.000})";
  EXPECT_EQ(ShiftLine(line, 1500000), R"({"name":"barrier","ph":"X","pid":1,"tid":2,"ts":2500.250,"dur":3.000})");
  EXPECT_EQ(ShiftLine(line, -999), R"({"name":"barrier","ph":"X","pid":1,"tid":2,"ts":999.251,"dur":3.000})");
  EXPECT_EQ(ShiftLine(line, -5000000000LL), R"({"name":"barrier","ph":"X","pid":1,"tid":2,"ts":0.000,"dur":3.000})")
      << "never before the clock's start";
  EXPECT_EQ(ShiftLine(line, 0), line);
  for (const char* bad : {R"({"name":"x","dur":3.000})", R"({"name":"x","ts":12,"dur":1.000})",
                          R"({"name":"x","ts":1.2345})", R"({"name":"x","ts":.500})", R"({"name":"x","ts":1.5})"}) {
    EXPECT_EQ(ShiftLine(bad, 1000), "") << bad;
  }
}

TEST(TraceMerge, OnlyWholeObjectsPass) {
  for (const char* good : {R"({})", R"({"a":[1,{"b":"}]"}],"c":"x\"}"})", R"({"name":"lock wait","args":{"lock":3}})"}) {
    EXPECT_TRUE(OneObject(good)) << good;
  }
  for (const char* bad : {"", "[]", R"({"a":1}]}{"b":2})", R"({"a":1},{"b":2})", R"({"a":[1}])", R"({"a":"x)",
                          R"({"a":1)", R"({"a":1}})", "{\"a\":\"\x01\"}", R"( {"a":1})"}) {
    EXPECT_FALSE(OneObject(bad)) << bad;
  }
}

TEST(TraceMerge, ClockShiftGoesThroughTheRealTimeClocks) {
  // This machine's own clocks: no shift, but for the time between reads.
  int64_t mono = Now(CLOCK_MONOTONIC), real = Now(CLOCK_REALTIME);
  int64_t shift = ClockShiftNs(static_cast<uint64_t>(mono), static_cast<uint64_t>(real));
  EXPECT_LT(std::abs(shift), 10000000) << shift;
  // A machine whose real-time clock reads 5 s more at the same monotonic
  // time: its events happened 5 s later on ours.
  mono = Now(CLOCK_MONOTONIC);
  real = Now(CLOCK_REALTIME);
  shift = ClockShiftNs(static_cast<uint64_t>(mono), static_cast<uint64_t>(real + 5000000000LL));
  EXPECT_NEAR(static_cast<double>(shift), 5e9, 1e7);
  // One booted 1000 s later (its monotonic clock 1000 s behind ours).
  shift = ClockShiftNs(static_cast<uint64_t>(mono - 1000000000000LL), static_cast<uint64_t>(real));
  EXPECT_NEAR(static_cast<double>(shift), 1e12, 1e7);
}

TEST(TraceMerge, LocalFilesAndSentTimelinesMakeOneDocument) {
  char dir[] = "/tmp/dsm-trace-merge-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string prefix = std::string(dir) + "/trace";
  {
    std::ofstream f(NodeTracePath(prefix, 0));
    f << R"({"name":"a","ph":"X","pid":1,"tid":0,"ts":10.000,"dur":1.000},)" << "\n";
    f << R"({"name":"torn","ph":"X","pid)" << "\n";
  }
  std::map<uint32_t, SentTrace> sent;
  sent[1] = SentTrace{R"({"name":"b","ph":"X","pid":1,"tid":1,"ts":20.000,"dur":1.000},)"
                      "\n"
                      R"({"name":"c","ph":"X","pid":1,"tid":1,"ts":30.500,"dur":2.000},)"
                      "\n{\"torn\n"
                      // Another node's track, and a line that would close the document: dropped.
                      R"({"name":"d","ph":"X","pid":1,"tid":0,"ts":40.000,"dur":1.000},)"
                      "\n"
                      R"({"name":"e","ph":"X","pid":1,"tid":1,"ts":50.000,"dur":1.000}]}{"x":1},)"
                      "\n",
                      -5000};
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* out = ::open_memstream(&buf, &len);
  ASSERT_NE(out, nullptr);
  MergeTraces(out, prefix, 3, sent);
  std::fclose(out);
  const std::string doc(buf, len);
  std::free(buf);
  EXPECT_EQ(doc,
            "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n"
            R"({"name":"process_name","ph":"M","pid":1,"args":{"name":"dsm job"}},)"
            "\n"
            R"({"name":"thread_name","ph":"M","pid":1,"tid":0,"args":{"name":"node 0"}},)"
            "\n"
            R"({"name":"a","ph":"X","pid":1,"tid":0,"ts":10.000,"dur":1.000},)"
            "\n"
            R"({"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"node 1"}},)"
            "\n"
            R"({"name":"b","ph":"X","pid":1,"tid":1,"ts":15.000,"dur":1.000},)"
            "\n"
            R"({"name":"c","ph":"X","pid":1,"tid":1,"ts":25.500,"dur":2.000},)"
            "\n"
            R"({"name":"thread_name","ph":"M","pid":1,"tid":2,"args":{"name":"node 2"}})"
            "\n]}\n");
  EXPECT_NE(::access(NodeTracePath(prefix, 0).c_str(), F_OK), 0) << "the node's file is removed";
  EXPECT_EQ(::rmdir(dir), 0);
}

}  // namespace
}  // namespace dsm::launcher
