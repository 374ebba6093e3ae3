#include "stats_merge.h"

#include <cstdint>

namespace dsm::launcher {
namespace {

// A recursive-descent checker over text; each Parse* consumes one item and
// returns false on the first error.
class JsonChecker {
 public:
  explicit JsonChecker(std::string_view text) : s_(text) {}

  bool WholeObject() {
    SkipSpace();
    if (Peek() != '{' || !Value(0)) return false;
    SkipSpace();
    return pos_ == s_.size();
  }

 private:
  int Peek() const { return pos_ < s_.size() ? static_cast<unsigned char>(s_[pos_]) : -1; }
  bool Eat(char c) {
    if (Peek() != static_cast<unsigned char>(c)) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool Value(int depth) {
    if (depth >= kMaxJsonDepth) return false;
    SkipSpace();
    switch (Peek()) {
      case '{': return Object(depth);
      case '[': return Array(depth);
      case '"': return String();
      case 't': return Literal("true");
      case 'f': return Literal("false");
      case 'n': return Literal("null");
      default: return Number();
    }
  }

  bool Object(int depth) {
    Eat('{');
    SkipSpace();
    if (Eat('}')) return true;
    for (;;) {
      SkipSpace();
      if (Peek() != '"' || !String()) return false;
      SkipSpace();
      if (!Eat(':') || !Value(depth + 1)) return false;
      SkipSpace();
      if (Eat('}')) return true;
      if (!Eat(',')) return false;
    }
  }

  bool Array(int depth) {
    Eat('[');
    SkipSpace();
    if (Eat(']')) return true;
    for (;;) {
      if (!Value(depth + 1)) return false;
      SkipSpace();
      if (Eat(']')) return true;
      if (!Eat(',')) return false;
    }
  }

  bool Digits() {
    size_t start = pos_;
    while (Peek() >= '0' && Peek() <= '9') ++pos_;
    return pos_ > start;
  }

  bool Number() {
    Eat('-');
    if (Eat('0')) {
      // no leading zeros
    } else if (Peek() >= '1' && Peek() <= '9') {
      Digits();
    } else {
      return false;
    }
    if (Eat('.') && !Digits()) return false;
    if (Eat('e') || Eat('E')) {
      if (!Eat('+')) Eat('-');
      if (!Digits()) return false;
    }
    return true;
  }

  static bool IsHex(int c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

  // One UTF-8 sequence starting with lead byte c (>= 0x80), shortest form,
  // no surrogates, at most U+10FFFF.
  bool Utf8(int c) {
    int extra;
    uint32_t min;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1, min = 0x80, cp = static_cast<uint32_t>(c & 0x1f);
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2, min = 0x800, cp = static_cast<uint32_t>(c & 0x0f);
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3, min = 0x10000, cp = static_cast<uint32_t>(c & 0x07);
    } else {
      return false;
    }
    ++pos_;
    for (int i = 0; i < extra; ++i) {
      int b = Peek();
      if (b < 0x80 || b > 0xbf) return false;
      cp = (cp << 6) | static_cast<uint32_t>(b & 0x3f);
      ++pos_;
    }
    return cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
  }

  bool String() {
    Eat('"');
    for (;;) {
      int c = Peek();
      if (c < 0x20) return false;  // the end of the text, or a control character
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c >= 0x80) {
        if (!Utf8(c)) return false;
        continue;
      }
      ++pos_;
      if (c != '\\') continue;
      int e = Peek();
      ++pos_;
      switch (e) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't': break;
        case 'u':
          for (int i = 0; i < 4; ++i, ++pos_) {
            if (!IsHex(Peek())) return false;
          }
          break;
        default: return false;
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

std::string_view Trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

bool IsJsonObject(std::string_view text) { return JsonChecker(text).WholeObject(); }

std::string MergeHostStats(const std::vector<std::optional<std::string>>& per_host) {
  std::string out = "{\"hosts\":[";
  for (size_t k = 0; k < per_host.size(); ++k) {
    out += k == 0 ? "\n" : ",\n";
    if (per_host[k] && IsJsonObject(*per_host[k])) {
      out += Trim(*per_host[k]);
    } else {
      out += "null";
    }
  }
  out += "\n]}\n";
  return out;
}

std::string HostStatsPath(const std::string& file, uint32_t host) { return file + ".host" + std::to_string(host); }

}  // namespace dsm::launcher
