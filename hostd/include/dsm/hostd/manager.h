// The job's manager, run by host 0's daemon beside its own host engine:
// lock tokens, barriers, the write-notice log, the directory of page homes
// and the job-wide shared heap. It only exchanges messages (peer_protocol.h)
// with the host engines, its own host's included, and never touches a
// shared space except through the heap.
//
// Locks: every lock has one token, at the manager or at one host. A host
// asks for it (kLockRequest); the manager grants it if it has it, otherwise
// queues the host (FIFO among hosts) and recalls the token from its holder
// once (kLockRecall). The holder returns it (kLockReturn) when the lock is
// free on that host, with the host's new write notices and whether it wants
// it again. A grant carries every notice the receiving host has not seen and
// kLockRecallAfter when other hosts wait, so the token never stays put while
// someone queues. O(1) messages per transfer.
//
// Notices: the manager keeps one log of every notice hosts sent it, in
// arrival order, and for every host the log position up to which that host
// has been sent everything. Because every transfer of causality between
// hosts (a lock grant, a barrier departure) passes through here, "every log
// entry before my position" is exactly what a host has seen: this is the
// vector timestamp of LRC, kept as one position per host. A grant or
// departure sends the entries after the receiver's position (other writers
// only; one notice per page, the newest). Entries every host has been sent
// are dropped: after a barrier the log is empty. Memory: O(notices between
// two barriers).
//
// Barriers: each host arrives once (its nodes combined locally) with its
// notices; when all have, every host departs with what it has not seen.
// O(hosts) messages per barrier.
//
// Home migration (kHomeMigrate): the manager keeps every notice recorded
// since the last barrier (the log itself is trimmed as hosts are sent its
// entries). When a barrier completes, a page whose notices all name one
// writer, which is not the page's home, and which is not pinned, gets that
// writer as its home: the directory changes at once, and every departure
// carries the list of moves. Memory: one entry per page written since the
// last barrier (the list is compacted whenever it doubles).
//
// Thread safety: none; the daemon's event loop owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dsm/device/protocol.h"
#include "dsm/hostd/peer_protocol.h"
#include "dsm/hostd/shm_heap.h"

namespace dsm::hostd {

class Manager {
 public:
  using SendFn = std::function<void(uint32_t to, uint16_t type, uint64_t request_id, std::string body)>;

  // `pinned` pages are homed on host 0 in every mode (see
  // device::PinnedPages).
  Manager(uint32_t num_hosts, uint64_t data_pages, device::HomeMode home_mode, ShmHeap* heap,
          SendFn send, device::PinnedPages pinned = {});

  // True when `type` is a message for the manager.
  static bool Handles(uint16_t type);
  // Handles one message. False when it is malformed or breaks the protocol
  // (the caller logs and drops it; the manager's state is unchanged).
  bool OnMessage(uint32_t from, uint16_t type, uint64_t request_id, std::string_view body);

  // For tests and statistics.
  [[nodiscard]] size_t log_size() const { return log_.size(); }
  [[nodiscard]] uint64_t barriers() const { return epoch_; }
  [[nodiscard]] uint64_t homes_moved() const { return homes_moved_; }

 private:
  struct LockState {
    int32_t token_at = -1;      // host holding the token, -1: here
    bool recall_sent = false;   // the holder has been asked to return it
    std::deque<uint32_t> queue; // hosts waiting, FIFO
  };

  bool OnLockRequest(uint32_t from, std::string_view body);
  bool OnLockReturn(uint32_t from, std::string_view body);
  bool OnBarrierArrive(uint32_t from, std::string_view body);
  bool OnHomeQuery(uint32_t from, uint64_t request_id, std::string_view body);
  bool OnAlloc(uint32_t from, uint64_t request_id, std::string_view body);
  bool OnFree(uint32_t from, uint64_t request_id, std::string_view body);

  void Grant(uint32_t lock_id, LockState& lock);
  // Appends a host's own notices to the log (after checking the writer).
  void Record(uint32_t from, const std::vector<peer::Notice>& notices);
  // Every notice host h has not been sent (other writers, newest per page),
  // and advances h's position. Then drops what every host has.
  std::vector<peer::Notice> TakeFor(uint32_t h);
  void Trim();
  // The home moves of the barrier that just completed (kHomeMigrate), with
  // the directory updated; forgets the interval's writes.
  std::vector<peer::HomeMove> MoveHomes();
  // Sorts the interval's writes and keeps one per page (writer
  // kManyWriters when several hosts wrote it; the highest version).
  void CompactIntervalWrites();
  static constexpr uint32_t kManyWriters = ~0u;

  uint32_t num_hosts_;
  uint64_t data_pages_;
  device::HomeMode home_mode_;
  ShmHeap* heap_;
  SendFn send_;

  std::unordered_map<uint32_t, LockState> locks_;

  std::deque<peer::Notice> log_;
  uint64_t log_base_ = 0;              // sequence number of log_.front()
  std::vector<uint64_t> sent_upto_;    // per host: log sequence sent
  std::vector<uint64_t> intervals_;    // per writer: notice batches received

  uint64_t epoch_ = 0;
  std::vector<bool> arrived_;
  uint32_t arrivals_ = 0;

  std::vector<uint8_t> directory_;  // first touch: home host + 1, 0 = none yet
  std::vector<peer::Notice> interval_writes_;  // kHomeMigrate: since the last barrier
  size_t interval_compacted_ = 0;              // its size after the last compaction
  uint64_t homes_moved_ = 0;
  device::PinnedPages pinned_;
};

}  // namespace dsm::hostd
