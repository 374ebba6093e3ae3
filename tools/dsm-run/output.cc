#include "output.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "dsm/common/log.h"

namespace dsm::launcher {
namespace {

bool WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {  // someone gave us a non-blocking fd
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

void Say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  WriteLine("dsm-run: ", fmt, ap);
  va_end(ap);
}

size_t TaggedOutput::Add(UniqueFd fd, int dest, std::string prefix) {
  ::fcntl(fd.get(), F_SETFL, O_NONBLOCK);
  streams_.push_back(Stream{std::move(fd), dest, std::move(prefix), {}});
  return streams_.size() - 1;
}

bool TaggedOutput::AnyOpen() const {
  return std::any_of(streams_.begin(), streams_.end(), [](const Stream& s) { return s.fd.valid(); });
}

void TaggedOutput::OnReadable(size_t index) {
  Stream& s = streams_[index];
  char buf[65536];
  ssize_t n = ::read(s.fd.get(), buf, sizeof buf);
  if (n > 0) {
    s.partial.append(buf, static_cast<size_t>(n));
    Emit(s, false);
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    Emit(s, true);
    s.fd.reset();
  }
}

void TaggedOutput::FlushAll() {
  for (Stream& s : streams_) {
    if (s.fd) Emit(s, true);
  }
  streams_.clear();
}

void TaggedOutput::Emit(Stream& s, bool eof) {
  if (s.prefix.empty()) {
    // Untagged: bytes pass as they come, partial lines included.
    if (!s.partial.empty()) Write(s.dest, s.partial);
    s.partial.clear();
    return;
  }
  std::string out;
  size_t start = 0;
  for (;;) {
    size_t nl = s.partial.find('\n', start);
    if (nl == std::string::npos) break;
    out += s.prefix;
    out.append(s.partial, start, nl + 1 - start);
    start = nl + 1;
  }
  s.partial.erase(0, start);
  while (s.partial.size() >= kMaxTaggedLine || (eof && !s.partial.empty())) {
    size_t len = std::min(s.partial.size(), kMaxTaggedLine);
    out += s.prefix;
    out.append(s.partial, 0, len);
    out += '\n';
    s.partial.erase(0, len);
  }
  if (!out.empty()) Write(s.dest, out);
}

void TaggedOutput::Write(int dest, const std::string& text) {
  if (dest_broken_[dest]) return;
  if (!WriteAll(dest, text.data(), text.size())) {
    dest_broken_[dest] = true;  // e.g. EPIPE: keep draining the nodes, drop their output
    if (dest != STDERR_FILENO) {
      Say("warning: cannot write to stdout (%s); dropping the nodes' output", std::strerror(errno));
    }
  }
}

}  // namespace dsm::launcher
