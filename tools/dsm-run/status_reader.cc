#include "status_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dsm/common/clock.h"
#include "dsm/common/job_status.h"
#include "dsm/common/log.h"

namespace dsm::launcher {

StatusReader::StatusReader(UniqueFd fd) : fd_(std::move(fd)) { ::fcntl(fd_.get(), F_SETFL, O_NONBLOCK); }

void StatusReader::Drain(std::vector<StatusEvent>* out) {
  // Bounded, so that a daemon writing without pause cannot starve the loop.
  for (int reads = 0; fd_ && reads < 64; ++reads) {
    char buf[4096];
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      if (n < 0) DSM_LOG_DEBUG("reading a daemon's --ready-fd: %s", std::strerror(errno));
      if (blob_left_ != 0) DSM_LOG_DEBUG("an agent's record ended %llu bytes early", static_cast<unsigned long long>(blob_left_));
      fd_.reset();
      std::string rest;
      rest.swap(buf_);
      if (skip_ || blob_left_ != 0) rest.clear();
      skip_ = false;
      blob_left_ = 0;
      blob_.clear();
      out->push_back(StatusEvent{StatusEvent::Type::kEnd, std::move(rest)});
      return;
    }
    last_bytes_ns_ = static_cast<int64_t>(MonotonicNs());
    buf_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (;;) {
      if (blob_left_ != 0) {  // inside an agent's statistics or timeline record
        const size_t take = static_cast<size_t>(std::min<uint64_t>(blob_left_, buf_.size() - start));
        blob_.append(buf_, start, take);
        start += take;
        blob_left_ -= take;
        if (blob_left_ != 0) break;
        out->push_back(StatusEvent{blob_type_, std::move(blob_), trace_});
        blob_.clear();
        continue;
      }
      const size_t nl = buf_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string line = buf_.substr(start, nl - start);
      start = nl + 1;
      if (skip_) {
        skip_ = false;
        continue;
      }
      uint64_t bytes = 0;
      if (jobstatus::ParseStatsJsonHeader(line, &bytes)) {
        blob_type_ = StatusEvent::Type::kStatsJson;
        trace_ = {};
        if (bytes == 0) out->push_back(StatusEvent{blob_type_, {}, {}});
        blob_left_ = bytes;
        continue;
      }
      if (jobstatus::ParseTraceJsonHeader(line, &trace_)) {
        blob_type_ = StatusEvent::Type::kTraceJson;
        if (trace_.bytes == 0) out->push_back(StatusEvent{blob_type_, {}, trace_});
        blob_left_ = trace_.bytes;
        continue;
      }
      out->push_back(StatusEvent{StatusEvent::Type::kLine, std::move(line)});
    }
    buf_.erase(0, start);
    if (blob_left_ == 0 && buf_.size() >= jobstatus::kMaxLineLength) {
      if (!skip_) {
        out->push_back(StatusEvent{StatusEvent::Type::kOverlong, buf_.substr(0, jobstatus::kMaxLineLength)});
      }
      skip_ = true;
      buf_.clear();
    }
  }
}

}  // namespace dsm::launcher
