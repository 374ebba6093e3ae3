#include "trace.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <cstring>

#include "dsm/common/log.h"

namespace dsm::runtime {

namespace {

// Microseconds with three decimals, exactly (no rounding through a double).
void PrintMicros(std::FILE* f, const char* key, uint64_t ns) {
  std::fprintf(f, ",\"%s\":%" PRIu64 ".%03u", key, ns / 1000, static_cast<unsigned>(ns % 1000));
}

}  // namespace

void Trace::Open(int node) {
  const char* prefix = std::getenv("DSM_TRACE");
  if (prefix == nullptr || *prefix == '\0') return;
  node_ = node;
  path_ = std::string(prefix) + ".node" + std::to_string(node) + ".json";
  events_.reserve(4096);
  const size_t bytes = kMaxFaultEvents * sizeof(Event);
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    DSM_LOG_WARN("cannot map the page fault trace (%s): page faults are not traced", std::strerror(errno));
  } else {
    fault_map_ = Mapping(p, bytes);
    faults_ = static_cast<Event*>(p);
  }
  enabled_ = true;
}

void Trace::Push(const Event& e) {
  if (events_.size() >= kMaxEvents) {
    ++dropped_;
    return;
  }
  events_.push_back(e);
}

void Trace::Add(const char* name, uint64_t start_ns, uint64_t end_ns) {
  if (!enabled_) return;
  Push({start_ns, end_ns, name, 0, Kind::kPlain, false});
}

void Trace::AddLockWait(uint64_t start_ns, uint64_t end_ns, uint32_t lock, bool daemon) {
  if (!enabled_) return;
  Push({start_ns, end_ns, nullptr, lock, Kind::kLockWait, daemon});
}

void Trace::AddRelease(uint64_t start_ns, uint64_t end_ns, uint64_t pages) {
  if (!enabled_) return;
  Push({start_ns, end_ns, nullptr, pages, Kind::kRelease, false});
}

// Inside the SIGSEGV handler, which interrupts only the node's main thread
// and never itself (it touches no data page). It writes only the slot past
// the count: Write, which may be interrupted when it runs on node 0's master
// stack (shared data), reads only the slots below the count it took first.
// The signal fence keeps the compiler from publishing the count before the
// slot.
void Trace::RecordFault(uint64_t start_ns, uint64_t end_ns, uint64_t page, bool write, bool fetched) {
  const size_t n = fault_count_;
  if (n >= kMaxFaultEvents) {
    ++faults_dropped_;
    return;
  }
  Event& e = faults_[n];
  e.start_ns = start_ns;
  e.end_ns = end_ns;
  e.name = nullptr;
  e.value = page;
  e.kind = write ? Kind::kWriteFault : Kind::kReadFault;
  e.flag = fetched;
  std::atomic_signal_fence(std::memory_order_release);
  fault_count_ = n + 1;
}

// Start time first; of two intervals starting together the longer (the
// enclosing one) first.
bool Trace::Before(const Event& a, const Event& b) {
  if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
  return a.end_ns > b.end_ns;
}

void Trace::Print(std::FILE* f, const Event& e) const {
  const char* name = e.name;
  switch (e.kind) {
    case Kind::kPlain: break;
    case Kind::kLockWait: name = "lock wait"; break;
    case Kind::kRelease: name = "release"; break;
    case Kind::kReadFault: name = "read fault"; break;
    case Kind::kWriteFault: name = "write fault"; break;
  }
  std::fprintf(f, "{\"name\":\"%s\",\"ph\":\"X\",\"pid\":1,\"tid\":%d", name, node_);
  PrintMicros(f, "ts", e.start_ns);
  PrintMicros(f, "dur", e.end_ns >= e.start_ns ? e.end_ns - e.start_ns : 0);
  switch (e.kind) {
    case Kind::kPlain: break;
    case Kind::kLockWait:
      std::fprintf(f, ",\"args\":{\"lock\":%" PRIu64 ",\"daemon\":%s}", e.value, e.flag ? "true" : "false");
      break;
    case Kind::kRelease: std::fprintf(f, ",\"args\":{\"pages\":%" PRIu64 "}", e.value); break;
    case Kind::kReadFault:
    case Kind::kWriteFault:
      std::fprintf(f, ",\"args\":{\"page\":%" PRIu64 ",\"fetched\":%s}", e.value, e.flag ? "true" : "false");
      break;
  }
  std::fputs("},\n", f);
}

void Trace::Write() {
  if (!enabled_ || written_) return;
  written_ = true;
  const size_t faults = fault_count_;
  std::atomic_signal_fence(std::memory_order_acquire);
  std::FILE* f = std::fopen(path_.c_str(), "w");
  if (f == nullptr) {
    DSM_LOG_WARN("cannot write the trace file %s", path_.c_str());
    return;
  }
  // One JSON object per line, each followed by a comma: the launcher
  // concatenates the nodes' files inside one array. Both stores are sorted
  // in place (no allocation: this may run inside the fault handler) and
  // merged by start time.
  std::sort(events_.begin(), events_.end(), Before);
  if (faults_ != nullptr) std::sort(faults_, faults_ + faults, Before);
  size_t i = 0, j = 0;
  uint64_t last_ns = 0;
  while (i < events_.size() || j < faults) {
    const bool take_fault = j < faults && (i == events_.size() || Before(faults_[j], events_[i]));
    const Event& e = take_fault ? faults_[j++] : events_[i++];
    Print(f, e);
    last_ns = std::max({last_ns, e.start_ns, e.end_ns});
  }
  if (dropped_ > 0 || faults_dropped_ > 0) {
    std::fprintf(f,
                 "{\"name\":\"trace full: %" PRIu64 " events and %" PRIu64
                 " page faults dropped\",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d",
                 dropped_, faults_dropped_, node_);
    PrintMicros(f, "ts", last_ns);
    std::fputs("},\n", f);
  }
  if (std::fclose(f) != 0) DSM_LOG_WARN("cannot write the trace file %s", path_.c_str());
}

}  // namespace dsm::runtime
