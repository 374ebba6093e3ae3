// The job status protocol: the lines a host daemon (dsm-hostd) writes to its
// launcher (dsm-run) on the pipe given with --ready-fd. This header is the one
// definition of those lines; the daemon formats them with Format(), the
// launcher reads them with Parse(), and test/tools/fake_hostd.sh, a stand-in
// daemon for the launcher's tests, writes the same text by hand.
//
// Every line is ASCII text ending in '\n', one of:
//
//   listening <endpoint>   host 0 of a multi-host job: where the other
//                          daemons must join it (--join), e.g.
//                          "tcp://10.213.0.1:40123"; written before "ready"
//   ready                  the daemon accepts nodes on its socket
//   attached <node>        node <node> joined the job (written before the
//                          node is answered, so before it can go on)
//   finished <status>      node 0 finished the job with exit status 0..255
//   lost <node>            node <node> left the job before it finished
//   lost-host <host>       the daemon of host <host> died or went silent
//
// Order: "listening" (host 0 of a multi-host job only), then "ready", then
// any number of "attached" lines, then at most one job-end line: "finished",
// "lost" or "lost-host", written before any node of that daemon is told.
// Numbers are decimal without sign or leading zeros; one space separates the
// word from its argument; nothing else is on the line. A line longer than
// kMaxLineLength (its '\n' included) is not a status line.
//
// On another machine (dsm-run --hostfile, --host, Slurm) the daemon's pipe is
// its agent's standard output (tools/dsm-run/remote.h), and once the daemon
// has exited the agent may append its statistics there: the line
// "stats-json <n>" and then exactly n bytes (at most kMaxStatsJsonBytes), the
// daemon's --stats-json file. With dsm-run --trace the agent then appends one
// record per timeline the host's nodes left: "trace-json <node> <n> <mono>
// <real>" and exactly n bytes (at most kMaxTraceJsonBytes), node K's
// DSM_TRACE file; <mono> and <real> are that machine's CLOCK_MONOTONIC and
// CLOCK_REALTIME in nanoseconds, read together once for all its records, so
// that dsm-run can put the file's monotonic times on its own clock (through
// the real-time clocks, which NTP keeps together across machines). These
// records are not status lines: Parse() refuses them; ParseStatsJsonHeader()
// and ParseTraceJsonHeader() read their first lines.
//
// Parse() is strict: anything else, a '\r' included, is an error value, never
// a crash and never a guess. Whether a node or host number is in the job's
// range is for the caller to judge. Thread-safe; allocates (not
// async-signal-safe).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dsm/common/status.h"

namespace dsm::jobstatus {

// The longest line, '\n' included, that either side accepts.
inline constexpr size_t kMaxLineLength = 256;
// The longest endpoint in a "listening" line.
inline constexpr size_t kMaxEndpointLength = 200;
// The most bytes of statistics an agent's "stats-json" record carries.
inline constexpr uint64_t kMaxStatsJsonBytes = 64ULL << 20;
// The most bytes of one node's timeline in a "trace-json" record.
inline constexpr uint64_t kMaxTraceJsonBytes = 256ULL << 20;

enum class Kind {
  kListening,  // endpoint
  kReady,
  kAttached,  // number = node
  kFinished,  // number = node 0's exit status, 0..255
  kLost,      // number = node
  kLostHost,  // number = host
};

struct Line {
  Kind kind = Kind::kReady;
  uint32_t number = 0;   // see Kind
  std::string endpoint;  // kListening only

  static Line Listening(std::string endpoint) { return Line{Kind::kListening, 0, std::move(endpoint)}; }
  static Line Ready() { return Line{Kind::kReady, 0, {}}; }
  static Line Attached(uint32_t node) { return Line{Kind::kAttached, node, {}}; }
  static Line Finished(uint32_t status) { return Line{Kind::kFinished, status, {}}; }
  static Line Lost(uint32_t node) { return Line{Kind::kLost, node, {}}; }
  static Line LostHost(uint32_t host) { return Line{Kind::kLostHost, host, {}}; }

  // True for the lines that end a job: finished, lost, lost-host.
  [[nodiscard]] bool EndsJob() const {
    return kind == Kind::kFinished || kind == Kind::kLost || kind == Kind::kLostHost;
  }
  bool operator==(const Line&) const = default;
};

// The word that starts a line of this kind ("ready", "lost-host", ...).
const char* KindName(Kind kind);

// An endpoint fit for a "listening" line: "<scheme>://<address>", the scheme
// lowercase letters, the address 1 or more printable ASCII characters without
// spaces, kMaxEndpointLength in all at most.
bool ValidEndpoint(std::string_view endpoint);

// The line, '\n' included. An error (EINVAL) for what Parse() would refuse: an
// invalid endpoint, a status above 255.
Result<std::string> Format(const Line& line);

// One line, without its '\n'. An error (EPROTO) with a short reason for
// anything but the lines above, exactly as written there.
Result<Line> Parse(std::string_view text);

// The first line of an agent's statistics record, '\n' included, for n bytes
// (n <= kMaxStatsJsonBytes).
std::string FormatStatsJsonHeader(uint64_t n);
// True when text (without its '\n') is such a line; *n is then its count.
bool ParseStatsJsonHeader(std::string_view text, uint64_t* n);

// The first line of a timeline record.
struct TraceJsonHeader {
  uint32_t node = 0;
  uint64_t bytes = 0;    // <= kMaxTraceJsonBytes
  uint64_t mono_ns = 0;  // the sender's CLOCK_MONOTONIC ...
  uint64_t real_ns = 0;  // ... and CLOCK_REALTIME, read together (each <= INT64_MAX)
  bool operator==(const TraceJsonHeader&) const = default;
};
// The line, '\n' included.
std::string FormatTraceJsonHeader(const TraceJsonHeader& h);
// True when text (without its '\n') is such a line, exactly as Format writes
// it (decimal numbers without leading zeros, one space between).
bool ParseTraceJsonHeader(std::string_view text, TraceJsonHeader* h);

}  // namespace dsm::jobstatus
