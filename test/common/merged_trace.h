// A check of dsm-run --trace's merged file for the jobs of the pretend
// clusters (ssh, Slurm), whose nodes' timelines come back through their
// hosts' agents: a Chrome trace document with one named track per node, each
// node's one parallel region and its barriers, every time inside the window
// in which the test ran the job (the pretend hosts share this machine's
// clocks, so the clock shift must come out near zero: a shift computed from
// the wrong clock would put them days away), and every node's parallel
// region starting close to node 0's (all leave the same barrier; how close
// depends on how soon each sleeping node gets a CPU, tens of milliseconds on
// a loaded machine, hence a quarter of a second's slack).
//
// Header only; thread-safe (no state).
#pragma once

#include <time.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "json_reader.h"

namespace dsm::testing {

// CLOCK_MONOTONIC in microseconds, the clock of the trace's "ts".
inline double MonotonicMicros() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// "" when the file at `path` is such a trace of `nodes` nodes, every event
// between from_us and to_us; otherwise what is wrong.
inline std::string CheckMergedTrace(const std::string& path, uint32_t nodes, double from_us, double to_us) {
  std::string text, error;
  std::optional<JsonValue> doc = ReadJsonFile(path, &text, &error);
  if (!doc) return error;
  const JsonValue* events = doc->Find("traceEvents");
  if (events == nullptr || !events->is_array()) return "no \"traceEvents\" array";
  std::vector<int> names(nodes, 0), regions(nodes, 0), barriers(nodes, 0);
  std::vector<double> region_start(nodes, 0);
  for (const JsonValue& e : events->items) {
    const JsonValue *name = e.Find("name"), *ph = e.Find("ph"), *tid = e.Find("tid");
    if (name == nullptr || ph == nullptr) return "an event without name or ph";
    if (tid == nullptr) continue;  // the process's name
    std::optional<uint64_t> node = tid->AsUint();
    if (!node || *node >= nodes) return "an event of no node: tid " + tid->text;
    if (ph->text == "M") {
      ++names[*node];
      continue;
    }
    const JsonValue *ts = e.Find("ts"), *dur = e.Find("dur");
    if (ts == nullptr || !ts->is_number() || dur == nullptr || !dur->is_number()) return "an event without ts/dur";
    if (ts->number < from_us || ts->number + dur->number > to_us) {
      return "node " + std::to_string(*node) + "'s " + name->text + " at " + ts->text + " us is outside the job (" +
             std::to_string(from_us) + " to " + std::to_string(to_us) + ")";
    }
    if (name->text == "parallel region") {
      ++regions[*node];
      region_start[*node] = ts->number;
    }
    if (name->text == "barrier") ++barriers[*node];
  }
  for (uint32_t k = 0; k < nodes; ++k) {
    const std::string at = "node " + std::to_string(k) + ": ";
    if (names[k] != 1) return at + "not one track name";
    if (regions[k] != 1) return at + std::to_string(regions[k]) + " parallel regions, not 1";
    if (barriers[k] < 2) return at + "fewer than 2 barriers";
  }
  constexpr double kSlackUs = 250000;
  for (uint32_t k = 1; k < nodes; ++k) {
    if (region_start[k] < region_start[0] - kSlackUs || region_start[k] > region_start[0] + kSlackUs) {
      return "node " + std::to_string(k) + "'s parallel region starts at " + std::to_string(region_start[k]) +
             " us, node 0's at " + std::to_string(region_start[0]) + " us";
    }
  }
  return "";
}

}  // namespace dsm::testing
