#include "status_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dsm/common/job_status.h"
#include "dsm/common/log.h"

namespace dsm::launcher {

StatusReader::StatusReader(UniqueFd fd) : fd_(std::move(fd)) { ::fcntl(fd_.get(), F_SETFL, O_NONBLOCK); }

void StatusReader::Drain(std::vector<StatusEvent>* out) {
  // Bounded, so that a daemon writing without pause cannot starve the loop.
  for (int reads = 0; fd_ && reads < 64; ++reads) {
    char buf[512];
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      if (n < 0) DSM_LOG_DEBUG("reading a daemon's --ready-fd: %s", std::strerror(errno));
      fd_.reset();
      std::string rest;
      rest.swap(buf_);
      if (skip_) rest.clear();
      skip_ = false;
      out->push_back(StatusEvent{StatusEvent::Type::kEnd, std::move(rest)});
      return;
    }
    buf_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = buf_.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (skip_) {
        skip_ = false;
      } else {
        out->push_back(StatusEvent{StatusEvent::Type::kLine, buf_.substr(start, nl - start)});
      }
    }
    buf_.erase(0, start);
    if (buf_.size() >= jobstatus::kMaxLineLength) {
      if (!skip_) {
        out->push_back(StatusEvent{StatusEvent::Type::kOverlong, buf_.substr(0, jobstatus::kMaxLineLength)});
      }
      skip_ = true;
      buf_.clear();
    }
  }
}

}  // namespace dsm::launcher
