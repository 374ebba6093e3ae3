// Bodies of the engine messages between daemons (peer_protocol.h): a writer
// that appends plain structs, a bounds-checked reader, and the codec of the
// write-notice block that lock and barrier messages carry.
//
// A reader never reads past its input: every Get returns false instead, and
// the caller drops the message as malformed. Nothing here trusts a count
// before checking it against the bytes that remain.
//
// Thread safety: plain values; no shared state.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dsm/hostd/peer_protocol.h"

namespace dsm::hostd::peer {

class BodyWriter {
 public:
  template <typename T>
  void Put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void PutBytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  void Reserve(size_t n) { out_.reserve(out_.size() + n); }
  [[nodiscard]] size_t size() const { return out_.size(); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class BodyReader {
 public:
  explicit BodyReader(std::string_view in) : in_(in) {}
  template <typename T>
  [[nodiscard]] bool Get(T* v) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  [[nodiscard]] bool GetBytes(size_t n, std::string_view* out) {
    if (in_.size() < n) return false;
    *out = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  [[nodiscard]] size_t remaining() const { return in_.size(); }
  [[nodiscard]] bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

// A notice block: NoticeHeader, the vector timestamp, the notices.
void PutNotices(BodyWriter* w, const std::vector<uint64_t>& vt, const std::vector<Notice>& notices);

// Reads a notice block, checking the vector's length against num_hosts,
// the count against the bytes left, every page against data_pages and every
// writer against num_hosts. False (and nothing promised about *vt and
// *notices) when anything is off.
[[nodiscard]] bool GetNotices(BodyReader* r, uint32_t num_hosts, uint64_t data_pages,
                              std::vector<uint64_t>* vt, std::vector<Notice>* notices);

// A home-move block (kBarrierDepart): MoveHeader, the moves.
void PutMoves(BodyWriter* w, const std::vector<HomeMove>& moves);
// Reads a home-move block, checking the count against the bytes left, every
// page against data_pages and every home against num_hosts. False when
// anything is off.
[[nodiscard]] bool GetMoves(BodyReader* r, uint32_t num_hosts, uint64_t data_pages,
                            std::vector<HomeMove>* moves);

// Sorts by page and keeps one notice per page: the highest version (ties:
// any). O(n log n).
void CompactNotices(std::vector<Notice>* notices);

}  // namespace dsm::hostd::peer
