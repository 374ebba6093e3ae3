// A node's timeline: intervals it spent in parallel regions, barriers, lock
// waits, coherence releases and page faults served by the daemon, written at
// exit as Chrome trace events ("ph":"X", times in microseconds of
// CLOCK_MONOTONIC, one thread per node) that `dsm-run --trace FILE` merges
// into one file for chrome://tracing or Perfetto.
//
// Enabled when DSM_TRACE names a path prefix: node K writes
// "<prefix>.node<K>.json", its events in order of start time (an interval
// before the ones it contains), so every node's timestamps are monotonic.
//
// Two stores:
// - Add, AddLockWait, AddRelease: the node's ordinary code; one vector
//   append each, at most kMaxEvents kept (later ones are counted and
//   reported in the file).
// - AddFault: called inside the SIGSEGV handler. Async-signal-safe: it
//   writes one slot of a fixed array mapped by Open() (kMaxFaultEvents; pages
//   touched as used) and allocates nothing, takes no lock; faults beyond the
//   array are counted and reported.
// When tracing is off every recording function returns after one branch.
//
// Ownership: Open() maps the fault array, which lives as long as the Trace.
// Thread safety: the node's main thread only (the handler runs on it).
// AddFault is async-signal-safe; Open, the other Add functions and Write are
// not. Write may run inside the handler when the job ends during a fault
// (the fault array is then complete up to the interrupted fault).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "dsm/common/fd.h"

namespace dsm::runtime {

class Trace {
 public:
  static constexpr size_t kMaxEvents = 1 << 20;
  static constexpr size_t kMaxFaultEvents = 1 << 18;  // 10 MiB of address space

  // Reads DSM_TRACE; a no-op when it is unset. Not async-signal-safe.
  void Open(int node);
  [[nodiscard]] bool enabled() const { return enabled_; }

  // An interval [start_ns, end_ns) named `name` (a string literal).
  void Add(const char* name, uint64_t start_ns, uint64_t end_ns);
  // A wait for lock `lock`, from the first failed attempt to the grant;
  // `daemon`: the lock came through the daemon (kLock), not the fast path.
  void AddLockWait(uint64_t start_ns, uint64_t end_ns, uint32_t lock, bool daemon);
  // A kRelease that sent `pages` pages to the daemon.
  void AddRelease(uint64_t start_ns, uint64_t end_ns, uint64_t pages);
  // A page fault that asked the daemon (kFault) for data page `page`;
  // `fetched`: the host's copy was not valid, and the daemon made it valid
  // (a fetch from the page's home). Async-signal-safe.
  void AddFault(uint64_t start_ns, uint64_t end_ns, uint64_t page, bool write, bool fetched) {
    if (faults_ == nullptr) return;
    RecordFault(start_ns, end_ns, page, write, fetched);
  }

  // Writes the events recorded so far (once); later calls do nothing.
  void Write();

 private:
  enum class Kind : uint8_t { kPlain, kLockWait, kRelease, kReadFault, kWriteFault };
  struct Event {
    uint64_t start_ns;
    uint64_t end_ns;
    const char* name;  // kPlain only
    uint64_t value;    // the lock id, the pages released, the faulting page
    Kind kind;
    bool flag;  // kLockWait: through the daemon; faults: fetched
  };
  static bool Before(const Event& a, const Event& b);

  void Push(const Event& e);
  void RecordFault(uint64_t start_ns, uint64_t end_ns, uint64_t page, bool write, bool fetched);
  void Print(std::FILE* f, const Event& e) const;

  bool enabled_ = false;
  bool written_ = false;
  std::string path_;
  int node_ = 0;
  std::vector<Event> events_;
  uint64_t dropped_ = 0;
  // The handler's store: faults_[0, fault_count_) are complete (a slot is
  // filled before the count covers it).
  Mapping fault_map_;
  Event* faults_ = nullptr;
  size_t fault_count_ = 0;
  uint64_t faults_dropped_ = 0;
};

}  // namespace dsm::runtime
