// Strict parsing of numbers given on command lines and in the environment.
// Thread-safe, no allocation beyond the result.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace dsm {

// A decimal unsigned integer, the whole string, no sign, no overflow.
std::optional<uint64_t> ParseUint(std::string_view text);

// A size: a decimal integer with an optional suffix K, M, G or T (powers of
// 1024, case-insensitive, an optional trailing 'B' or 'iB').
std::optional<uint64_t> ParseSize(std::string_view text);

// A list of ids below `limit`: comma-separated numbers and ranges ("0-3,5,
// 7-8"), each range ascending. Sorted, no duplicates; nullopt when malformed,
// empty, out of range or repeating an id.
std::optional<std::vector<uint32_t>> ParseIdList(std::string_view text, uint32_t limit);

}  // namespace dsm
