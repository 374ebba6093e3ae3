// Reading one daemon's status pipe (its --ready-fd): bytes in, lines out.
//
// The lines themselves are defined in dsm/common/job_status.h; this only cuts
// the byte stream into them, whatever pieces the bytes come in, and reports a
// line that grows too long (kMaxLineLength with no '\n') once, dropping the
// rest of it; an agent's statistics record ("stats-json <n>" and n bytes)
// and each of its timeline records ("trace-json <node> <n> ..." and n bytes)
// come out whole as one event each. What a line means is the caller's business.
//
// Owns the pipe's read end (non-blocking). Single thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dsm/common/fd.h"
#include "dsm/common/job_status.h"

namespace dsm::launcher {

struct StatusEvent {
  enum class Type {
    kLine,      // text: a complete line, without its '\n'
    kOverlong,  // text: the first kMaxLineLength bytes of a line that is too long
    kEnd,       // end of file or a read error; text: an unterminated last line, if any
    kStatsJson, // text: the n bytes of an agent's "stats-json <n>" record (job_status.h)
    kTraceJson, // text: the n bytes of a "trace-json" record; trace: its header
  };
  Type type;
  std::string text;
  jobstatus::TraceJsonHeader trace{};  // kTraceJson only
};

class StatusReader {
 public:
  StatusReader() = default;
  explicit StatusReader(UniqueFd fd);
  StatusReader(StatusReader&&) = default;
  StatusReader& operator=(StatusReader&&) = default;

  // -1 once the end was reported.
  int fd() const { return fd_.get(); }
  bool open() const { return fd_.valid(); }

  // Reads whatever is there without blocking and appends what it means to
  // out; the last event is kEnd when the pipe ended (and it is then closed).
  void Drain(std::vector<StatusEvent>* out);

  // A record has begun and not all of its bytes came yet.
  [[nodiscard]] bool in_record() const { return blob_left_ != 0; }
  // CLOCK_MONOTONIC (ns) of the last read that returned bytes; 0: none yet.
  [[nodiscard]] int64_t last_bytes_ns() const { return last_bytes_ns_; }

 private:
  UniqueFd fd_;
  std::string buf_;    // an incomplete line
  bool skip_ = false;  // dropping the rest of an overlong line
  uint64_t blob_left_ = 0;  // bytes of a statistics or timeline record still to come
  std::string blob_;        // those that came
  StatusEvent::Type blob_type_ = StatusEvent::Type::kStatsJson;
  int64_t last_bytes_ns_ = 0;
  jobstatus::TraceJsonHeader trace_{};  // the timeline record's header
};

}  // namespace dsm::launcher
