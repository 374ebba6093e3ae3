#include "trace_merge.h"

#include <unistd.h>

#include <cinttypes>
#include <cstring>
#include <string_view>

#include "dsm/common/clock.h"

namespace dsm::launcher {

namespace {

// A line that can be an event: '{' ... '}', its trailing ",\n" removed.
bool Trim(std::string* line) {
  size_t len = line->size();
  while (len > 0 && ((*line)[len - 1] == '\n' || (*line)[len - 1] == ',')) --len;
  line->resize(len);
  return len > 0 && line->front() == '{' && line->back() == '}';
}

void Emit(std::FILE* out, const std::string& line) {
  std::fputs(",\n", out);
  std::fputs(line.c_str(), out);
}

}  // namespace

std::string NodeTracePath(const std::string& prefix, uint32_t node) {
  return prefix + ".node" + std::to_string(node) + ".json";
}

int64_t ClockShiftNs(uint64_t their_mono_ns, uint64_t their_real_ns) {
  // Both <= INT64_MAX (ParseTraceJsonHeader), so each difference fits; the
  // last subtraction saturates instead of overflowing.
  const int64_t ours = static_cast<int64_t>(RealtimeNs()) - static_cast<int64_t>(MonotonicNs());
  const int64_t theirs = static_cast<int64_t>(their_real_ns) - static_cast<int64_t>(their_mono_ns);
  int64_t shift = 0;
  if (__builtin_sub_overflow(theirs, ours, &shift)) return theirs > 0 ? INT64_MAX : INT64_MIN;
  return shift;
}

bool OneObject(const std::string& line) {
  // Outside strings: braces and brackets nest and match, and the first '{'
  // closes only at the end. Inside: a backslash escapes the next character;
  // no control characters.
  std::string open;  // the unclosed '{' and '['
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (open.empty() && i != 0) return false;  // something after the object
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      open.push_back(c);
    } else if (c == '}' || c == ']') {
      if (open.empty() || open.back() != (c == '}' ? '{' : '[')) return false;
      open.pop_back();
    } else if (open.empty()) {
      return false;
    }
  }
  return open.empty() && !in_string && !line.empty() && line.front() == '{';
}

std::string ShiftLine(const std::string& line, int64_t shift_ns) {
  static constexpr std::string_view kKey = "\"ts\":";
  const size_t key = line.find(kKey);
  if (key == std::string::npos) return {};
  size_t at = key + kKey.size();
  int64_t us = 0;
  size_t digits = 0;
  for (; at < line.size() && line[at] >= '0' && line[at] <= '9' && digits < 15; ++at, ++digits) {
    us = us * 10 + (line[at] - '0');
  }
  if (digits == 0 || at + 4 > line.size() || line[at] != '.') return {};
  int64_t frac = 0;
  for (size_t i = 1; i <= 3; ++i) {
    char c = line[at + i];
    if (c < '0' || c > '9') return {};
    frac = frac * 10 + (c - '0');
  }
  const size_t end = at + 4;
  if (end < line.size() && line[end] >= '0' && line[end] <= '9') return {};  // more than three decimals
  int64_t ns = 0;  // at most 15 digits of microseconds: us * 1000 + frac fits
  if (__builtin_add_overflow(us * 1000 + frac, shift_ns, &ns)) ns = shift_ns > 0 ? INT64_MAX : 0;
  if (ns < 0) ns = 0;
  char ts[48];
  std::snprintf(ts, sizeof ts, "%" PRId64 ".%03d", ns / 1000, static_cast<int>(ns % 1000));
  return line.substr(0, key + kKey.size()) + ts + line.substr(end);
}

void MergeTraces(std::FILE* out, const std::string& prefix, uint32_t nodes,
                 const std::map<uint32_t, SentTrace>& sent) {
  std::fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", out);
  std::fputs("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"dsm job\"}}", out);
  for (uint32_t k = 0; k < nodes; ++k) {
    std::fprintf(out, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"node %u\"}}",
                 k, k);
    if (auto it = sent.find(k); it != sent.end()) {
      const std::string& text = it->second.text;
      const std::string tid = ",\"tid\":" + std::to_string(k) + ",";
      for (size_t at = 0; at < text.size();) {
        size_t nl = text.find('\n', at);
        std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
        at = nl == std::string::npos ? text.size() : nl + 1;
        // From another machine: one object of this node's track, or nothing
        // (a torn, foreign or malformed line cannot break the document).
        if (!Trim(&line) || !OneObject(line) || line.find(tid) == std::string::npos) continue;
        std::string moved = ShiftLine(line, it->second.shift_ns);
        if (!moved.empty()) Emit(out, moved);
      }
      continue;
    }
    if (prefix.empty()) continue;
    std::string path = NodeTracePath(prefix, k);
    std::FILE* in = std::fopen(path.c_str(), "r");
    if (in == nullptr) continue;  // the node never got far enough to write one
    char buf[1024];
    while (std::fgets(buf, sizeof buf, in) != nullptr) {
      std::string line(buf);
      if (Trim(&line)) Emit(out, line);  // else torn or foreign
    }
    std::fclose(in);
    ::unlink(path.c_str());
  }
  std::fputs("\n]}\n", out);
}

}  // namespace dsm::launcher
