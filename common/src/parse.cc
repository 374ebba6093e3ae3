#include "dsm/common/parse.h"

#include <cctype>

namespace dsm {

std::optional<uint64_t> ParseUint(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<uint64_t> ParseSize(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  auto number = ParseUint(text.substr(0, digits));
  if (!number) return std::nullopt;
  std::string_view suffix = text.substr(digits);
  int shift = 0;
  if (!suffix.empty()) {
    switch (std::toupper(static_cast<unsigned char>(suffix[0]))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      case 'B': shift = 0; break;
      default: return std::nullopt;
    }
    suffix.remove_prefix(1);
    if (shift != 0 && (suffix == "B" || suffix == "iB" || suffix == "ib" || suffix == "b")) suffix = {};
    if (!suffix.empty()) return std::nullopt;
  }
  if (shift > 0 && *number > (UINT64_MAX >> shift)) return std::nullopt;
  return *number << shift;
}

std::optional<std::vector<uint32_t>> ParseIdList(std::string_view text, uint32_t limit) {
  std::vector<uint32_t> ids;
  std::vector<bool> seen(limit, false);
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (comma != std::string_view::npos && text.empty()) return std::nullopt;  // trailing comma
    size_t dash = item.find('-');
    auto first = ParseUint(item.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : ParseUint(item.substr(dash + 1));
    if (!first || !last || *first > *last || *last >= limit) return std::nullopt;
    for (uint64_t id = *first; id <= *last; ++id) {
      if (seen[id]) return std::nullopt;
      seen[id] = true;
    }
  }
  for (uint32_t id = 0; id < limit; ++id) {
    if (seen[id]) ids.push_back(id);
  }
  if (ids.empty()) return std::nullopt;
  return ids;
}

}  // namespace dsm
