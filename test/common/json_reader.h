// A small strict JSON reader for tests that check the files dsmkit writes
// (--trace, --stats-json): ParseJson turns one RFC 8259 document into a
// tree of JsonValue, or says where it is wrong. Strings are kept as their
// decoded UTF-8; numbers as their text (exact) and as a double. Members keep
// their order and duplicates, so a test can check that a key is unique.
//
// Header-only; no state; thread-safe. Not for production use: recursion is
// bounded (kMaxDepth) but nothing is optimised.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace dsm::testing {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;  // a string's value, or a number as written
  std::vector<JsonValue> items;     // an array's items, or an object's values
  std::vector<std::string> keys;    // an object's keys, keys[i] naming items[i]

  bool is_object() const { return type == Type::kObject; }
  bool is_array() const { return type == Type::kArray; }
  bool is_number() const { return type == Type::kNumber; }
  bool is_string() const { return type == Type::kString; }
  bool is_bool() const { return type == Type::kBool; }

  // How many members are named `key`.
  size_t Count(std::string_view key) const {
    size_t n = 0;
    for (const std::string& k : keys) n += k == key;
    return n;
  }
  // The first member named `key`, or nullptr.
  const JsonValue* Find(std::string_view key) const {
    for (size_t i = 0; i < keys.size() && i < items.size(); ++i) {
      if (keys[i] == key) return &items[i];
    }
    return nullptr;
  }
  // A number written as a non-negative integer, exactly; nullopt otherwise.
  std::optional<uint64_t> AsUint() const {
    if (type != Type::kNumber || text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    if (text.size() > 20) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (errno != 0 || *end != '\0') return std::nullopt;
    return static_cast<uint64_t>(v);
  }
};

class JsonParser {
 public:
  static constexpr int kMaxDepth = 64;

  explicit JsonParser(std::string_view text) : s_(text) {}

  std::optional<JsonValue> Parse(std::string* error) {
    JsonValue v;
    SkipSpace();
    if (!Value(&v, 0)) return Fail(error);
    SkipSpace();
    if (at_ != s_.size()) {
      why_ = "text after the document";
      return Fail(error);
    }
    return v;
  }

 private:
  std::optional<JsonValue> Fail(std::string* error) {
    if (error != nullptr) *error = why_ + " at offset " + std::to_string(at_);
    return std::nullopt;
  }
  bool Bad(const char* why) {
    why_ = why;
    return false;
  }
  void SkipSpace() {
    while (at_ < s_.size() && (s_[at_] == ' ' || s_[at_] == '\t' || s_[at_] == '\n' || s_[at_] == '\r')) ++at_;
  }
  bool Literal(std::string_view word) {
    if (s_.substr(at_, word.size()) != word) return Bad("unknown literal");
    at_ += word.size();
    return true;
  }
  bool Value(JsonValue* v, int depth) {
    if (depth > kMaxDepth) return Bad("nested too deeply");
    if (at_ >= s_.size()) return Bad("unexpected end");
    char c = s_[at_];
    switch (c) {
      case '{': return Object(v, depth);
      case '[': return Array(v, depth);
      case '"': v->type = JsonValue::Type::kString; return String(&v->text);
      case 't': v->type = JsonValue::Type::kBool; v->boolean = true; return Literal("true");
      case 'f': v->type = JsonValue::Type::kBool; return Literal("false");
      case 'n': return Literal("null");
      default: return Number(v);
    }
  }
  bool Object(JsonValue* v, int depth) {
    v->type = JsonValue::Type::kObject;
    ++at_;
    SkipSpace();
    if (at_ < s_.size() && s_[at_] == '}') {
      ++at_;
      return true;
    }
    for (;;) {
      SkipSpace();
      if (at_ >= s_.size() || s_[at_] != '"') return Bad("expected a key");
      std::string key;
      if (!String(&key)) return false;
      SkipSpace();
      if (at_ >= s_.size() || s_[at_] != ':') return Bad("expected ':'");
      ++at_;
      SkipSpace();
      JsonValue member;
      if (!Value(&member, depth + 1)) return false;
      v->keys.push_back(std::move(key));
      v->items.push_back(std::move(member));
      SkipSpace();
      if (at_ < s_.size() && s_[at_] == ',') {
        ++at_;
        continue;
      }
      if (at_ < s_.size() && s_[at_] == '}') {
        ++at_;
        return true;
      }
      return Bad("expected ',' or '}'");
    }
  }
  bool Array(JsonValue* v, int depth) {
    v->type = JsonValue::Type::kArray;
    ++at_;
    SkipSpace();
    if (at_ < s_.size() && s_[at_] == ']') {
      ++at_;
      return true;
    }
    for (;;) {
      SkipSpace();
      JsonValue item;
      if (!Value(&item, depth + 1)) return false;
      v->items.push_back(std::move(item));
      SkipSpace();
      if (at_ < s_.size() && s_[at_] == ',') {
        ++at_;
        continue;
      }
      if (at_ < s_.size() && s_[at_] == ']') {
        ++at_;
        return true;
      }
      return Bad("expected ',' or ']'");
    }
  }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
  bool Digits() {
    size_t from = at_;
    while (at_ < s_.size() && IsDigit(s_[at_])) ++at_;
    return at_ > from;
  }
  bool Number(JsonValue* v) {
    size_t from = at_;
    if (at_ < s_.size() && s_[at_] == '-') ++at_;
    if (at_ < s_.size() && s_[at_] == '0') {
      ++at_;
    } else if (!Digits()) {
      return Bad("bad value");
    }
    if (at_ < s_.size() && s_[at_] == '.') {
      ++at_;
      if (!Digits()) return Bad("bad fraction");
    }
    if (at_ < s_.size() && (s_[at_] == 'e' || s_[at_] == 'E')) {
      ++at_;
      if (at_ < s_.size() && (s_[at_] == '+' || s_[at_] == '-')) ++at_;
      if (!Digits()) return Bad("bad exponent");
    }
    v->type = JsonValue::Type::kNumber;
    v->text = std::string(s_.substr(from, at_ - from));
    v->number = std::strtod(v->text.c_str(), nullptr);
    return true;
  }
  static void PutUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xc0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xe0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      *out += static_cast<char>(0xf0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  bool Hex4(uint32_t* cp) {
    if (at_ + 4 > s_.size()) return Bad("short \\u escape");
    *cp = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[at_++];
      uint32_t d;
      if (c >= '0' && c <= '9') d = static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<uint32_t>(c - 'A' + 10);
      else return Bad("bad \\u escape");
      *cp = *cp * 16 + d;
    }
    return true;
  }
  // UTF-8 is checked only as far as the reader needs: bytes >= 0x80 are
  // copied, control characters are refused.
  bool String(std::string* out) {
    ++at_;  // the opening quote
    for (;;) {
      if (at_ >= s_.size()) return Bad("unterminated string");
      char c = s_[at_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return Bad("control character in a string");
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (at_ >= s_.size()) return Bad("unterminated escape");
      char e = s_[at_++];
      switch (e) {
        case '"': *out += '"'; break;
        case '\\': *out += '\\'; break;
        case '/': *out += '/'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00) {
            uint32_t low;
            if (s_.substr(at_, 2) != "\\u") return Bad("lone surrogate");
            at_ += 2;
            if (!Hex4(&low) || low < 0xdc00 || low >= 0xe000) return Bad("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return Bad("lone surrogate");
          }
          PutUtf8(out, cp);
          break;
        }
        default: return Bad("bad escape");
      }
    }
  }

  std::string_view s_;
  size_t at_ = 0;
  std::string why_;
};

inline std::optional<JsonValue> ParseJson(std::string_view text, std::string* error = nullptr) {
  return JsonParser(text).Parse(error);
}

// The file at `path`, read whole into *text and parsed; nullopt with *error
// saying why ("cannot read PATH" or the parser's reason).
inline std::optional<JsonValue> ReadJsonFile(const std::string& path, std::string* text, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path;
    return std::nullopt;
  }
  std::stringstream read;
  read << in.rdbuf();
  *text = read.str();
  std::optional<JsonValue> doc = ParseJson(*text, error);
  if (!doc) *error = "not JSON: " + *error;
  return doc;
}

}  // namespace dsm::testing
