// A check of dsm-run --stats-json's merged file for the jobs of the
// pretend clusters (ssh, Slurm): one object per host, in host order, each
// with its nodes and its coherence counters; and the lock acquisitions of
// every node summed (the counter program takes its lock ITER times per node).
//
// Header only; thread-safe (no state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "json_reader.h"

namespace dsm::testing {

// "" when the file at `path` is such a file with nodes_per_host[h] nodes on
// host h and `locks` acquisitions in all; otherwise what is wrong.
inline std::string CheckMergedStats(const std::string& path, const std::vector<size_t>& nodes_per_host,
                                    uint64_t locks) {
  std::string text, error;
  std::optional<JsonValue> doc = ReadJsonFile(path, &text, &error);
  if (!doc) return error + "\n" + text;
  const JsonValue* hosts = doc->Find("hosts");
  if (hosts == nullptr || !hosts->is_array() || hosts->items.size() != nodes_per_host.size()) {
    return "not one entry per host:\n" + text;
  }
  uint64_t taken = 0;
  for (size_t h = 0; h < nodes_per_host.size(); ++h) {
    const JsonValue& host = hosts->items[h];
    const std::string at = "host " + std::to_string(h) + ": ";
    if (!host.is_object()) return at + "no statistics:\n" + text;
    if (host.Find("host") == nullptr || host.Find("host")->AsUint() != h) return at + "wrong \"host\":\n" + text;
    if (host.Find("coherence") == nullptr) return at + "no \"coherence\" (a job of several hosts):\n" + text;
    const JsonValue* nodes = host.Find("nodes");
    if (nodes == nullptr || !nodes->is_array() || nodes->items.size() != nodes_per_host[h]) {
      return at + "not " + std::to_string(nodes_per_host[h]) + " nodes:\n" + text;
    }
    for (const JsonValue& n : nodes->items) {
      for (const char* key : {"lock_fast", "lock_slow"}) {
        if (n.Find(key) == nullptr || !n.Find(key)->AsUint()) return at + "a node without " + key + ":\n" + text;
        taken += *n.Find(key)->AsUint();
      }
    }
  }
  if (taken != locks) return std::to_string(taken) + " lock acquisitions, not " + std::to_string(locks);
  return "";
}

}  // namespace dsm::testing
