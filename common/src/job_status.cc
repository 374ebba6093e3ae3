#include "dsm/common/job_status.h"

#include <cerrno>
#include <limits>
#include <optional>

#include "dsm/common/parse.h"

namespace dsm::jobstatus {
namespace {

struct Word {
  Kind kind;
  std::string_view name;
};
constexpr Word kWords[] = {
    {Kind::kListening, "listening"}, {Kind::kReady, "ready"}, {Kind::kAttached, "attached"},
    {Kind::kFinished, "finished"},   {Kind::kLost, "lost"},   {Kind::kLostHost, "lost-host"},
};

constexpr uint32_t kMaxExitStatus = 255;

// A decimal number in canonical form: digits only, no leading zero (but
// "0"), at most max.
std::optional<uint32_t> ParseNumber(std::string_view text, uint32_t max) {
  if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return static_cast<uint32_t>(v);
}

Status Bad(std::string reason) { return Status(EPROTO, std::move(reason)); }

}  // namespace

const char* KindName(Kind kind) {
  for (const Word& w : kWords) {
    if (w.kind == kind) return w.name.data();
  }
  return "?";
}

bool ValidEndpoint(std::string_view e) {
  if (e.size() > kMaxEndpointLength) return false;
  size_t sep = e.find("://");
  if (sep == 0 || sep == std::string_view::npos || sep + 3 == e.size()) return false;
  for (size_t i = 0; i < sep; ++i) {
    if (e[i] < 'a' || e[i] > 'z') return false;
  }
  for (size_t i = sep + 3; i < e.size(); ++i) {
    if (e[i] <= ' ' || e[i] > '~') return false;
  }
  return true;
}

Result<std::string> Format(const Line& line) {
  switch (line.kind) {
    case Kind::kReady: return std::string("ready\n");
    case Kind::kListening:
      if (!ValidEndpoint(line.endpoint)) return Status(EINVAL, "invalid endpoint '" + line.endpoint + "'");
      return "listening " + line.endpoint + "\n";
    case Kind::kFinished:
      if (line.number > kMaxExitStatus) {
        return Status(EINVAL, "exit status " + std::to_string(line.number) + " above 255");
      }
      [[fallthrough]];
    case Kind::kAttached:
    case Kind::kLost:
    case Kind::kLostHost: return std::string(KindName(line.kind)) + " " + std::to_string(line.number) + "\n";
  }
  return Status(EINVAL, "unknown kind of status line");
}

Result<Line> Parse(std::string_view text) {
  if (text.size() >= kMaxLineLength) return Bad("line too long");
  size_t space = text.find(' ');
  std::string_view word = text.substr(0, space);
  const Word* found = nullptr;
  for (const Word& w : kWords) {
    if (w.name == word) found = &w;
  }
  if (found == nullptr) return Bad("unknown status line");
  if (found->kind == Kind::kReady) {
    if (space != std::string_view::npos) return Bad("'ready' takes no argument");
    return Line::Ready();
  }
  if (space == std::string_view::npos) return Bad("'" + std::string(word) + "' needs an argument");
  std::string_view arg = text.substr(space + 1);
  if (found->kind == Kind::kListening) {
    if (!ValidEndpoint(arg)) return Bad("invalid endpoint in 'listening'");
    return Line::Listening(std::string(arg));
  }
  uint32_t max = found->kind == Kind::kFinished ? kMaxExitStatus : std::numeric_limits<uint32_t>::max();
  std::optional<uint32_t> n = ParseNumber(arg, max);
  if (!n) return Bad("invalid number in '" + std::string(word) + "'");
  return Line{found->kind, *n, {}};
}

namespace {
constexpr std::string_view kStatsJsonWord = "stats-json ";
constexpr std::string_view kTraceJsonWord = "trace-json ";

// The next space-separated decimal number of text (no sign, no leading
// zero but "0" itself), consumed with its one following space if `more`.
std::optional<uint64_t> NextNumber(std::string_view* text, bool more) {
  size_t end = more ? text->find(' ') : text->size();
  if (end == std::string_view::npos || end == 0) return std::nullopt;
  std::string_view digits = text->substr(0, end);
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  std::optional<uint64_t> v = ParseUint(digits);
  text->remove_prefix(more ? end + 1 : end);
  return v;
}
}  // namespace

std::string FormatTraceJsonHeader(const TraceJsonHeader& h) {
  return std::string(kTraceJsonWord) + std::to_string(h.node) + " " + std::to_string(h.bytes) + " " +
         std::to_string(h.mono_ns) + " " + std::to_string(h.real_ns) + "\n";
}

bool ParseTraceJsonHeader(std::string_view text, TraceJsonHeader* h) {
  if (text.substr(0, kTraceJsonWord.size()) != kTraceJsonWord) return false;
  text.remove_prefix(kTraceJsonWord.size());
  auto node = NextNumber(&text, true);
  auto bytes = NextNumber(&text, true);
  auto mono = NextNumber(&text, true);
  auto real = NextNumber(&text, false);
  constexpr uint64_t kMaxClock = static_cast<uint64_t>(INT64_MAX);  // differences stay signed 64-bit
  if (!node || !bytes || !mono || !real || *node > UINT32_MAX || *bytes > kMaxTraceJsonBytes || *mono > kMaxClock ||
      *real > kMaxClock) {
    return false;
  }
  *h = TraceJsonHeader{static_cast<uint32_t>(*node), *bytes, *mono, *real};
  return true;
}

std::string FormatStatsJsonHeader(uint64_t n) { return std::string(kStatsJsonWord) + std::to_string(n) + "\n"; }

bool ParseStatsJsonHeader(std::string_view text, uint64_t* n) {
  if (text.substr(0, kStatsJsonWord.size()) != kStatsJsonWord) return false;
  std::string_view arg = text.substr(kStatsJsonWord.size());
  if (arg.size() > 1 && arg[0] == '0') return false;  // one spelling per number
  std::optional<uint64_t> v = ParseUint(arg);
  if (!v || *v > kMaxStatsJsonBytes) return false;
  *n = *v;
  return true;
}

}  // namespace dsm::jobstatus
