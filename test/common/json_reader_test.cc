// The tests' JSON reader (json_reader.h): what it accepts, what it refuses,
// and the values it gives.
#include "json_reader.h"

#include <gtest/gtest.h>

namespace dsm::testing {
namespace {

TEST(JsonReader, GivesTheValuesOfADocument) {
  std::string error;
  auto v = ParseJson(R"( {"a":[1,-2.5e3,true,false,null],"s":"x\"\u00e9\ud83d\ude00","o":{},"a":0} )", &error);
  ASSERT_TRUE(v.has_value()) << error;
  ASSERT_TRUE(v->is_object());
  EXPECT_EQ(v->Count("a"), 2u);
  const JsonValue* a = v->Find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->is_array());
  ASSERT_EQ(a->items.size(), 5u);
  EXPECT_EQ(a->items[0].AsUint(), 1u);
  EXPECT_EQ(a->items[1].number, -2500.0);
  EXPECT_FALSE(a->items[1].AsUint().has_value());
  EXPECT_TRUE(a->items[2].is_bool() && a->items[2].boolean);
  EXPECT_TRUE(a->items[3].is_bool() && !a->items[3].boolean);
  EXPECT_EQ(a->items[4].type, JsonValue::Type::kNull);
  EXPECT_EQ(v->Find("s")->text, "x\"\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(v->Find("o")->is_object());
  EXPECT_EQ(v->Find("missing"), nullptr);
  EXPECT_EQ(ParseJson("18446744073709551615")->AsUint(), UINT64_MAX);
  EXPECT_FALSE(ParseJson("18446744073709551616")->AsUint().has_value());
}

TEST(JsonReader, RefusesWhatIsNotJson) {
  for (const char* text : {"", "{", "{\"a\"}", "{\"a\":1,}", "[1,]", "01", "1.", ".5", "+1", "tru", "{a:1}",
                           "\"\\x\"", "\"\\ud800\"", "\"tab\there\"", "{} {}"}) {
    EXPECT_FALSE(ParseJson(text).has_value()) << text;
  }
  const size_t deepest = JsonParser::kMaxDepth + 1;  // arrays, the outermost at depth 0
  EXPECT_TRUE(ParseJson(std::string(deepest, '[') + std::string(deepest, ']')).has_value());
  EXPECT_FALSE(ParseJson(std::string(deepest + 1, '[') + std::string(deepest + 1, ']')).has_value());
}

}  // namespace
}  // namespace dsm::testing
