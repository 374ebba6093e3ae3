// Page-level data operations of the coherence engine (home-based lazy release
// consistency, docs/design.md): making a diff of a page against its twin,
// applying a diff at the page's home, applying a fetched copy in place with
// two-way diffing, and copying a page without tearing a word.
//
// Every page argument points to kPageSize bytes, 8-byte aligned, that other
// threads and processes may be writing at the same time (the host daemon maps
// the whole shared space read-write while the node processes of its host keep
// writing). Such memory is only ever accessed with 8-byte relaxed atomic
// loads, stores and compare-and-swaps, never memcpy or memcmp, so that
//  - a reader never sees a torn 8-byte word written by these functions, and
//  - a concurrent write to any byte these functions do not mean to change is
//    never lost, even when it hits the same 8-byte word (false sharing):
//    partial words are merged with a CAS loop, new = (cur & ~mask) | (v & mask).
// A twin, and a fetched copy, belong to the caller for the duration of a call
// (nobody else writes a twin: the host serialises operations per page), so
// they are also read and written with vector accesses and memcpy. The
// ordering with the program's own synchronisation (lock grants, barrier
// departures, messages) is the caller's: everything here is relaxed.
//
// Diff encoding (docs/wire-format.md, "Page diffs"), in one of two forms.
// Runs: a sequence of
//
//   offset  u16 little-endian   first byte of the run in the page
//   length  u16 little-endian   1 .. kPageSize - offset
//   bytes   length bytes        the page's new bytes
//
// with offset >= the end of the previous run (increasing, not overlapping)
// and nothing after the last run. Bitmask: the u16 0xffff (never a run's
// offset), 512 bytes of mask (bit b % 8 of byte b / 8 set: byte b of the
// page changed), then the changed bytes in page order, nothing else. The
// empty string is the diff of an unchanged page. MakeDiffAndUpdateTwin
// emits exact maximal runs of differing bytes (two of its runs are always
// separated by at least one equal byte), in the bitmask form when that is
// shorter (more than 128 runs: many small changes, as when two hosts write
// interleaved bytes or most bytes of every word change but one), so a diff
// never carries a byte that did not change: applying it at the home cannot
// overwrite another host's bytes of the same word. Its output is at most
// kMaxDiffBytes long.
//
// Cost (benchmarks/micro/diff_bench.cc measures it): pages are scanned
// four words at a time; an unchanged block costs eight loads, a block where
// every byte changed two 16-byte compares and stores, only other blocks are
// looked at byte by byte.
//
// Thread safety: all functions are reentrant. Two calls on the same twin
// must not overlap (the host serialises operations per page); the pages
// themselves may be written by anyone at any time. Not async-signal-safe
// (MakeDiffAndUpdateTwin appends to a std::string).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dsm/device/protocol.h"

namespace dsm::hostd {

constexpr size_t kDiffPageSize = device::kPageSize;
// Size of a run's header (offset and length).
constexpr size_t kDiffRunHeader = 4;
// The bitmask form: its marker, and marker and mask together.
constexpr uint16_t kDiffBitmaskMarker = 0xffff;
constexpr size_t kDiffBitmaskHeader = 2 + kDiffPageSize / 8;
// The longest diff MakeDiffAndUpdateTwin emits: 129 runs (the fewest the
// bitmask form is chosen for) separated by one equal byte each, in the
// bitmask form (514 + 4096 - 128); 128 runs in the run form are at most
// 4481.
constexpr size_t kMaxDiffBytes = kDiffBitmaskHeader + kDiffPageSize - 128;

// Appends to *out the diff of page against twin and, in the same pass, makes
// the twin equal to what the diff says the page holds: each 8-byte word of the
// page is read exactly once, and the value read is both sent and recorded, so
// a local write racing with the call is either in this diff or different from
// the twin afterwards (and then in the next one). Words that did not change
// cost two loads and a compare; bytes are looked at only in words that differ.
// Returns the number of bytes appended (0: page and twin are equal).
// Uses about 10 KiB of stack.
size_t MakeDiffAndUpdateTwin(const void* page, void* twin, std::string* out);

// True when diff follows the encoding above (every run inside the page,
// length > 0, runs increasing and not overlapping, no truncated header or
// bytes, nothing after the last run). Touches no page.
[[nodiscard]] bool DiffIsWellFormed(std::string_view diff);

// At the home: writes exactly the diff's bytes into page. Concurrent writes
// to every other byte of the page survive, including other bytes of the same
// words. Validates the whole diff first: returns false, having written
// nothing, when it is malformed.
[[nodiscard]] bool ApplyDiff(void* page, std::string_view diff);

// Two-way diffing: applies a copy of the page fetched from its home in place.
// For every word where fetched differs from twin, the differing bytes are
// merged into page (CAS loop: local writes to the other bytes survive) and
// into twin. Bytes where fetched equals twin are not touched, so local writes
// to them survive and will be in the next diff. Afterwards twin == fetched.
// fetched must not change during the call.
void TwoWayApply(void* page, void* twin, const void* fetched);

// Copies src to dst word by word (relaxed 8-byte loads and stores): a reader
// of dst sees each word either old or new, never torn.
void CopyPage(void* dst, const void* src);

// True when the two pages hold the same bytes (read word by word; a
// snapshot of neither when others write them).
[[nodiscard]] bool PagesEqual(const void* a, const void* b);

// One run of a diff; bytes points into the diff's storage.
struct DiffRun {
  uint32_t offset = 0;
  uint32_t length = 0;
  const uint8_t* bytes = nullptr;
};

// Walks the runs of a diff (in either form: a bitmask diff's maximal runs of
// set bits, each with its bytes, which lie together in the diff), checking
// each as it goes:
//   DiffReader r(diff);
//   DiffRun run;
//   while (r.Next(&run)) { ... }
//   if (r.malformed()) { ... }
// Runs returned before a malformed one are well-formed themselves; check the
// whole diff with DiffIsWellFormed before acting on any of them when all or
// nothing matters. Does not own the diff's storage.
class DiffReader {
 public:
  explicit DiffReader(std::string_view diff) : diff_(diff) {}

  // Reads the next run into *run. False at the end of the diff and at the
  // first malformed run (then malformed() is true and Next stays false).
  bool Next(DiffRun* run);

  [[nodiscard]] bool malformed() const { return malformed_; }
  // Bytes of the diff consumed so far.
  [[nodiscard]] size_t position() const { return pos_; }

 private:
  bool NextOfBitmask(DiffRun* run);

  std::string_view diff_;
  size_t pos_ = 0;
  uint32_t end_of_last_run_ = 0;
  bool malformed_ = false;
  bool started_ = false;
  bool bitmask_ = false;  // the bitmask form: end_of_last_run_ is the next bit to look at
};

}  // namespace dsm::hostd
