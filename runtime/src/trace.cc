#include "trace.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "dsm/common/log.h"

namespace dsm::runtime {

void Trace::Open(int node) {
  const char* prefix = std::getenv("DSM_TRACE");
  if (prefix == nullptr || *prefix == '\0') return;
  node_ = node;
  path_ = std::string(prefix) + ".node" + std::to_string(node) + ".json";
  events_.reserve(4096);
}

void Trace::Add(const char* name, uint64_t start_ns, uint64_t end_ns, int64_t lock) {
  if (!enabled()) return;
  if (events_.size() >= kMaxEvents) {
    ++dropped_;
    return;
  }
  events_.push_back({name, start_ns, end_ns, lock});
}

void Trace::Write() {
  if (!enabled() || written_) return;
  written_ = true;
  std::FILE* f = std::fopen(path_.c_str(), "w");
  if (f == nullptr) {
    DSM_LOG_WARN("cannot write the trace file %s", path_.c_str());
    return;
  }
  // One JSON object per line, each followed by a comma: the launcher
  // concatenates the nodes' files inside one array.
  for (const Event& e : events_) {
    std::fprintf(f, "{\"name\":\"%s\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f", e.name,
                 node_, static_cast<double>(e.start_ns) / 1e3,
                 static_cast<double>(e.end_ns - e.start_ns) / 1e3);
    if (e.lock >= 0) std::fprintf(f, ",\"args\":{\"lock\":%" PRId64 "}", e.lock);
    std::fputs("},\n", f);
  }
  if (dropped_ > 0) {
    std::fprintf(f,
                 "{\"name\":\"trace full: %" PRIu64 " events dropped\",\"ph\":\"i\",\"s\":\"t\",\"pid\":1,"
                 "\"tid\":%d,\"ts\":%.3f},\n",
                 dropped_, node_, static_cast<double>(events_.back().end_ns) / 1e3);
  }
  if (std::fclose(f) != 0) DSM_LOG_WARN("cannot write the trace file %s", path_.c_str());
}

}  // namespace dsm::runtime
