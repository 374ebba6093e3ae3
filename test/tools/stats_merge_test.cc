// --stats-json's strict JSON object check and merge
// (tools/dsm-run/stats_merge.h), in process.
#include "stats_merge.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dsm::launcher {
namespace {

TEST(StatsMerge, AcceptsJsonObjects) {
  for (const char* text : {
           "{}",
           " \t\r\n{ }\n",
           R"({"a":1})",
           R"({"hosts":[1,2.5,-3,0,0.0,1e9,1E-9,-0.5e+3,true,false,null,"x"]})",
           R"({"nested":{"deep":[[],[{}],{"k":[null]}]}})",
           R"({"s":"esc \" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"})",
           "{\"utf8\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
           R"({"a":1,"a":2})",
       }) {
    EXPECT_TRUE(IsJsonObject(text)) << text;
  }
}

TEST(StatsMerge, RefusesAnythingElse) {
  for (const char* text : {
           "",
           " ",
           "[]",
           "1",
           "\"x\"",
           "null",
           "{",
           "}",
           "{}{}",
           "{} x",
           "{},",
           R"({"a"})",
           R"({"a":})",
           R"({a:1})",
           R"({'a':1})",
           R"({"a":1,})",
           R"({,"a":1})",
           R"({"a":[1,]})",
           R"({"a":[,1]})",
           R"({"a":01})",
           R"({"a":1.})",
           R"({"a":.5})",
           R"({"a":+1})",
           R"({"a":-})",
           R"({"a":1e})",
           R"({"a":0x10})",
           R"({"a":NaN})",
           R"({"a":Infinity})",
           R"({"a":tru})",
           R"({"a":True})",
           R"({"a":"\x"})",
           R"({"a":"\u12"})",
           R"({"a":"\u12G4"})",
           "{\"a\":\"tab\there\"}",
           "{\"a\":\"nl\nhere\"}",
           R"({"a":"unterminated})",
           "\xef\xbb\xbf{}",
           "{\"bad\":\"\xc3\"}",
           "{\"bad\":\"\xc0\xaf\"}",
           "{\"bad\":\"\xed\xa0\x80\"}",
           "{\"bad\":\"\xf5\x80\x80\x80\"}",
           "{\"bad\":\"\x80\"}",
           "{\"a\":1}/*c*/",
       }) {
    EXPECT_FALSE(IsJsonObject(std::string(text))) << text;
  }
  EXPECT_FALSE(IsJsonObject(std::string("{\"a\":1}\0", 8)));
}

TEST(StatsMerge, DeepNestingIsRefusedNotACrash) {
  std::string ok = "{\"a\":" + std::string(kMaxJsonDepth - 2, '[') + std::string(kMaxJsonDepth - 2, ']') + "}";
  EXPECT_TRUE(IsJsonObject(ok));
  std::string deep = "{\"a\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}";
  EXPECT_FALSE(IsJsonObject(deep));
}

TEST(StatsMerge, EmbedsEachHostVerbatimInHostOrder) {
  std::vector<std::optional<std::string>> hosts = {std::string("{\"host\":0, \"x\": [1, 2]}\n"), std::nullopt,
                                                   std::string("not json"), std::string("  {\"host\":3}  ")};
  EXPECT_EQ(MergeHostStats(hosts), "{\"hosts\":[\n{\"host\":0, \"x\": [1, 2]},\nnull,\nnull,\n{\"host\":3}\n]}\n");
  std::string merged = MergeHostStats(hosts);
  EXPECT_TRUE(IsJsonObject(merged));
  EXPECT_EQ(MergeHostStats({}), "{\"hosts\":[\n]}\n");
  EXPECT_TRUE(IsJsonObject(MergeHostStats({})));
  EXPECT_EQ(HostStatsPath("out/s.json", 2), "out/s.json.host2");
}

}  // namespace
}  // namespace dsm::launcher
