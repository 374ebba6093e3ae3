// A node's timeline: intervals it spent in parallel regions, barriers and
// lock waits, written at exit as Chrome trace events ("ph":"X", times in
// microseconds of CLOCK_MONOTONIC, one thread per node) that `dsm-run
// --trace FILE` merges into one file for chrome://tracing or Perfetto.
//
// Enabled when DSM_TRACE names a path prefix: node K writes
// "<prefix>.node<K>.json". Recording costs one vector append per interval;
// at most kMaxEvents are kept (later ones are counted and reported).
//
// Thread safety: the node's main thread only. Not async-signal-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsm::runtime {

class Trace {
 public:
  static constexpr size_t kMaxEvents = 1 << 20;

  // Reads DSM_TRACE; a no-op when it is unset.
  void Open(int node);
  [[nodiscard]] bool enabled() const { return !path_.empty(); }
  // An interval [start_ns, end_ns) named `name`; `lock` >= 0 is recorded
  // as an argument.
  void Add(const char* name, uint64_t start_ns, uint64_t end_ns, int64_t lock = -1);
  // Writes the events recorded so far (once); later calls do nothing.
  void Write();

 private:
  struct Event {
    const char* name;
    uint64_t start_ns;
    uint64_t end_ns;
    int64_t lock;
  };
  std::string path_;
  int node_ = 0;
  std::vector<Event> events_;
  uint64_t dropped_ = 0;
  bool written_ = false;
};

}  // namespace dsm::runtime
