// What dsm-run writes: its own one-line messages (Say), and with --tag-output
// the nodes' output, read from their pipes and passed on one whole line at a
// time with a prefix ("[node 2] ").
//
// TaggedOutput owns the read ends of the nodes' pipes. A destination that
// fails (stdout closed by the reader: EPIPE) is dropped for the rest of the
// job, while the pipes are still drained so the nodes never block. Single
// thread; not async-signal-safe.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "dsm/common/fd.h"

namespace dsm::launcher {

// One line "dsm-run: ..." on stderr, in one write.
[[gnu::format(printf, 1, 2)]] void Say(const char* fmt, ...);

// Lines longer than this are split in pieces of this size.
inline constexpr size_t kMaxTaggedLine = 64 * 1024;

class TaggedOutput {
 public:
  TaggedOutput() = default;
  TaggedOutput(const TaggedOutput&) = delete;
  TaggedOutput& operator=(const TaggedOutput&) = delete;

  // Takes the read end of a pipe (made non-blocking here) whose lines go to
  // dest (STDOUT_FILENO or STDERR_FILENO) after prefix; with an empty
  // prefix, bytes go on as they arrive. Returns its index.
  size_t Add(UniqueFd fd, int dest, std::string prefix);

  size_t size() const { return streams_.size(); }
  // -1 once the stream reached its end.
  int fd(size_t index) const { return streams_[index].fd.get(); }
  bool AnyOpen() const;

  // Reads what the stream has (call when poll says it is readable) and
  // writes every complete line; at end of file also the unterminated rest.
  void OnReadable(size_t index);

  // Writes what is left of every stream, as lines, and closes them all.
  void FlushAll();

 private:
  struct Stream {
    UniqueFd fd;
    int dest = 1;
    std::string prefix;
    std::string partial;
  };
  void Emit(Stream& s, bool eof);
  void Write(int dest, const std::string& text);

  std::vector<Stream> streams_;
  bool dest_broken_[3] = {false, false, false};
};

}  // namespace dsm::launcher
