// FIFO lock manager: who holds each lock id and who waits for it.
//
// Pure bookkeeping, no I/O: the host core asks it what to grant, and it
// answers with node ids. Used for locks whose word lives in the host lock
// table (the manager is authoritative only while waiters are queued, see
// device/protocol.h) and for locks without a table entry (always
// authoritative). Cost: O(1) per operation amortised (hash map + deque).
//
// Thread safety: none; the daemon's event loop owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>

#include "dsm/device/protocol.h"

namespace dsm::hostd {

class LockManager {
 public:
  // node asks for lock id. *granted tells whether it holds it now (else it
  // is queued behind the holder and earlier requests). kAlreadyHeld when the
  // node holds it, kBadArgument when it is already queued for it.
  device::StatusCode Acquire(uint32_t id, uint32_t node, bool* granted);

  // The holder releases id; *next is the node the lock passes to, if any.
  // kNotHeld when node is not the holder (nothing changes then).
  device::StatusCode Release(uint32_t id, uint32_t node, std::optional<uint32_t>* next);

  // Records that node holds id (taken on the fast path, unknown to the
  // manager until now). Only valid while nobody holds it in the manager.
  void SetHolder(uint32_t id, uint32_t node);

  // Forgets a lock nobody waits for (its word is authoritative again).
  void Forget(uint32_t id);

  [[nodiscard]] std::optional<uint32_t> Holder(uint32_t id) const;
  [[nodiscard]] size_t Waiters(uint32_t id) const;
  [[nodiscard]] size_t size() const { return locks_.size(); }

 private:
  struct Lock {
    std::optional<uint32_t> holder;
    std::deque<uint32_t> queue;
  };
  std::unordered_map<uint32_t, Lock> locks_;
};

}  // namespace dsm::hostd
