// --trace: merging the nodes' timelines into one Chrome trace file.
//
// With DSM_TRACE=<prefix> each node writes its events to
// "<prefix>.node<K>.json", one JSON object per line, each followed by a comma
// (see runtime/src/trace.cc). MergeTraces copies them into one document
// ({"traceEvents":[...]}) with one named track per node, skipping torn or
// foreign lines, and removes the node files. The timelines of nodes on other
// machines come as text (their host's agent sent them, job_status.h
// "trace-json") with a shift that puts their times on this machine's
// monotonic clock. Single thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

namespace dsm::launcher {

// The file node `node` writes with DSM_TRACE=prefix.
std::string NodeTracePath(const std::string& prefix, uint32_t node);

// A node's timeline from another machine, and the nanoseconds to add to its
// times ("ts") to put them on this machine's clock.
struct SentTrace {
  std::string text;
  int64_t shift_ns = 0;
};

// The shift for times read on a machine whose CLOCK_MONOTONIC and
// CLOCK_REALTIME were their_mono_ns and their_real_ns at one moment: through
// the real-time clocks, which NTP keeps together across machines (as close
// as they are; exact on this machine).
int64_t ClockShiftNs(uint64_t their_mono_ns, uint64_t their_real_ns);

// One line of a node's file (an event object) with its "ts" (microseconds,
// three decimals, as trace.cc writes them) moved by shift_ns, not below 0;
// empty when the line has no such "ts".
std::string ShiftLine(const std::string& line, int64_t shift_ns);

// True when the line is one JSON object as far as its brackets, strings and
// escapes go (what a line from another machine must be to be copied).
bool OneObject(const std::string& line);

// Writes the merged trace of nodes 0..nodes-1 to out (which stays open): a
// node's timeline from `sent` if it is there (only its lines that are one
// object, carry its "tid" and a "ts"), else from its file under prefix (an
// empty prefix: no files, the job never got that far).
void MergeTraces(std::FILE* out, const std::string& prefix, uint32_t nodes,
                 const std::map<uint32_t, SentTrace>& sent = {});

}  // namespace dsm::launcher
