// --stats-json: the daemons' statistics merged into one JSON document.
//
// Each daemon writes one JSON object (its format is the daemon's) to the file
// it is given; the launcher embeds them verbatim, in host order, as
// {"hosts":[<host 0>,<host 1>,...]}, after checking that each is exactly one
// JSON object (a strict RFC 8259 syntax check, nothing more: no JSON library).
// A host whose file is missing or is not a JSON object appears as null.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsm::launcher {

// True if text is one JSON object, with nothing but JSON whitespace around
// it. Strings must be valid UTF-8; nesting deeper than kMaxJsonDepth is
// refused (so that no input can exhaust the stack).
inline constexpr int kMaxJsonDepth = 256;
bool IsJsonObject(std::string_view text);

// The merged document, ending in a newline. per_host[k]: host k's text, or
// nullopt if it wrote none; text that is not a JSON object becomes null.
std::string MergeHostStats(const std::vector<std::optional<std::string>>& per_host);

// The file host `host`'s daemon is told to write for --stats-json FILE.
std::string HostStatsPath(const std::string& file, uint32_t host);

}  // namespace dsm::launcher
