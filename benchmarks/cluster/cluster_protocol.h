// The line protocol between dsm_cluster_bench (the Google Benchmark process)
// and node 0 of a dsm_cluster_node job, which dsm-run connects to the
// benchmark through its standard input and output: node 0 reads dsm-run's
// stdin and writes to its stdout. Defined here once; both sides include it.
//
//   benchmark -> node 0 (stdin)    "run <n>\n"   run one batch of n operations
//                                  "end\n"       end the job (node 0 returns 0)
//   node 0 -> benchmark (stdout)   "dsm-cluster-node 1 ready\n"
//                                  "dsm-cluster-node 1 ok time_s=<s> <key>=<value> ...\n"
//                                  "dsm-cluster-node 1 error <text>\n"
//
// The "1" after the tag is the protocol version. time_s is the time the
// batch of n operations took as measured inside the node processes (the
// benchmark's manual time); the other keys are counters, already per
// operation where that applies (see dsm_cluster_node.cc). Lines without the
// tag (a daemon or another node writing to the shared stdout) are not
// replies; the benchmark passes them on to its stderr.
//
// Header-only, no state; thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace dsm_cluster {

inline constexpr std::string_view kTag = "dsm-cluster-node 1 ";
inline constexpr std::string_view kRun = "run ";
inline constexpr std::string_view kEnd = "end";

struct Reply {
  enum class Kind { kReady, kOk, kError };
  Kind kind = Kind::kError;
  std::string error;                       // kError
  double time_s = 0;                       // kOk
  std::map<std::string, double> counters;  // kOk: every key=value but time_s
};

inline std::string FormatReady() { return std::string(kTag) + "ready\n"; }

inline std::string FormatError(std::string_view text) {
  std::string line = std::string(kTag) + "error ";
  for (char c : text) line += (c == '\n' ? ' ' : c);
  return line + "\n";
}

inline std::string FormatOk(double time_s, const std::map<std::string, double>& counters) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "ok time_s=%.9g", time_s);
  std::string line = std::string(kTag) + buf;
  for (const auto& [key, value] : counters) {
    std::snprintf(buf, sizeof buf, "=%.9g", value);
    line += " " + key + buf;
  }
  return line + "\n";
}

// Parses one line (without its newline). False when it is not a well-formed
// reply; then *out is unspecified.
inline bool ParseReply(std::string_view line, Reply* out) {
  if (line.substr(0, kTag.size()) != kTag) return false;
  line.remove_prefix(kTag.size());
  *out = Reply{};
  if (line == "ready") {
    out->kind = Reply::Kind::kReady;
    return true;
  }
  if (line.substr(0, 6) == "error ") {
    out->kind = Reply::Kind::kError;
    out->error = std::string(line.substr(6));
    return true;
  }
  if (line.substr(0, 3) != "ok ") return false;
  out->kind = Reply::Kind::kOk;
  line.remove_prefix(3);
  bool have_time = false;
  while (!line.empty()) {
    size_t space = line.find(' ');
    std::string_view item = line.substr(0, space);
    line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    std::string key(item.substr(0, eq)), text(item.substr(eq + 1));
    char* end = nullptr;
    double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') return false;
    if (key == "time_s") {
      out->time_s = value;
      have_time = true;
    } else {
      out->counters[key] = value;
    }
  }
  return have_time;
}

// "run <n>" -> n; 0 when the line is not a run command or n is not a positive number.
inline uint64_t ParseRun(std::string_view line) {
  if (line.substr(0, kRun.size()) != kRun) return 0;
  std::string digits(line.substr(kRun.size()));
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  return std::strtoull(digits.c_str(), nullptr, 10);
}

}  // namespace dsm_cluster
