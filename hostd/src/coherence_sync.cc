// The host engine's locks (tokens cached per host) and barriers
// (hierarchical). See coherence.h and docs/design.md, "Locks across hosts".
//
// The host lock table's word is shared with the nodes' fast path:
//   word == 0              free, token here, nothing pending: a node may CAS
//                          it to (node + 1)
//   word == node + 1       held by that node, same conditions: it may CAS it
//                          back to 0
//   word has kLockWaiters  the daemon manages the lock (token away, a recall
//                          pending, or local waiters): nodes ask the daemon
//                          to lock and to unlock; the owner bits say who
//                          holds it
// Only the daemon sets or clears kLockWaiters, and while it is set no node
// changes the word, so the daemon stores it; making an unmanaged word
// managed is a CAS (a node may be racing on the fast path).
#include <cinttypes>

#include "dsm/common/log.h"
#include "dsm/hostd/coherence.h"
#include "dsm/hostd/peer_codec.h"

namespace dsm::hostd {

using namespace dsm::device;
using namespace dsm::hostd::peer;

namespace {

uint64_t OwnerOf(uint64_t word) { return word & kLockOwnerMask; }

}  // namespace

Coherence::HostLock& Coherence::LockFor(uint32_t id, LockEntry* entry) {
  HostLock& lock = locks_[id];
  if (entry != nullptr && lock.entry == nullptr) lock.entry = entry;
  return lock;
}

void Coherence::Publish(HostLock& lock) {
  if (lock.entry == nullptr) return;
  uint64_t owner = lock.holder >= 0 ? static_cast<uint64_t>(lock.holder) + 1 : 0;
  if (lock.token && !lock.recall && lock.waiters.empty()) {
    // Hand the word back to the fast path; from now on it is the truth.
    lock.managed = false;
    lock.holder = -1;
    StoreRelease(&lock.entry->word, owner);
  } else {
    lock.managed = true;
    StoreRelease(&lock.entry->word, owner | kLockWaiters);
  }
}

// Takes a word that the fast path owns into the daemon's hands. Returns
// false if the lock turned out free with the token here and was taken for
// `node` (node >= 0) on the way.
static bool Manage(LockEntry* e, int64_t* holder, int64_t node) {
  uint64_t w = LoadAcquire(&e->word);
  for (;;) {
    uint64_t owner = OwnerOf(w);
    if (owner == 0 && node >= 0) {
      if (CompareExchange(&e->word, &w, static_cast<uint64_t>(node) + 1)) return false;
      continue;
    }
    if (CompareExchange(&e->word, &w, w | kLockWaiters)) {
      *holder = owner == 0 ? -1 : static_cast<int64_t>(owner) - 1;
      return true;
    }
  }
}

bool Coherence::Lock(uint32_t slot, uint32_t node, uint32_t id, LockEntry* entry, NodeReply* reply) {
  HostLock& lock = LockFor(id, entry);
  if (lock.entry != nullptr && !lock.managed) {
    if (OwnerOf(LoadAcquire(&lock.entry->word)) == uint64_t{node} + 1) {
      reply->status = kAlreadyHeld;
      return true;
    }
    if (!Manage(lock.entry, &lock.holder, node)) {
      ++stats_.lock_local;
      return true;  // it was free: taken for the node
    }
    lock.managed = true;
  }
  if (lock.holder == static_cast<int64_t>(node)) {
    reply->status = kAlreadyHeld;
    return true;
  }
  for (const auto& [n, s] : lock.waiters) {
    if (n == node) {
      reply->status = kAlreadyHeld;
      return true;
    }
  }
  if (lock.token && lock.holder < 0 && !lock.recall && lock.waiters.empty()) {
    lock.holder = node;
    ++stats_.lock_local;
    Publish(lock);
    return true;
  }
  lock.waiters.emplace_back(node, slot);
  if (!lock.token && !lock.requested) {
    lock.requested = true;
    BodyWriter w;
    w.Put(LockBody{id, 0});
    Send(0, kLockRequest, w.Take());
  }
  Publish(lock);
  return false;
}

bool Coherence::Unlock(uint32_t slot, uint32_t node, uint32_t id, LockEntry* entry, NodeReply* reply) {
  HostLock& lock = LockFor(id, entry);
  if (lock.entry != nullptr && !lock.managed) {
    // The node's release CAS failed while the daemon managed the word, and
    // the daemon has handed it back since: release it here.
    uint64_t w = LoadAcquire(&lock.entry->word);
    if (OwnerOf(w) != uint64_t{node} + 1 || !CompareExchange(&lock.entry->word, &w, uint64_t{0})) {
      reply->status = kNotHeld;
    }
    return true;
  }
  if (lock.holder != static_cast<int64_t>(node)) {
    reply->status = kNotHeld;
    return true;
  }
  lock.holder = -1;
  if (lock.recall) {
    ReturnToken(id, lock);
    Publish(lock);
  } else if (!lock.waiters.empty()) {
    GrantLocal(id, lock, /*from_other_host=*/false);
  } else {
    Publish(lock);
  }
  return true;
}

// The word is published before the node is answered: once answered, the
// node may unlock at once, and its unlock reads the word.
void Coherence::GrantLocal(uint32_t id, HostLock& lock, bool from_other_host) {
  auto [node, slot] = lock.waiters.front();
  lock.waiters.pop_front();
  lock.holder = node;
  ++(from_other_host ? stats_.lock_remote : stats_.lock_local);
  DSM_LOG_DEBUG("lock %u granted to node %u", id, node);
  Publish(lock);
  Complete(slot, NodeReply{});
}

void Coherence::ReturnToken(uint32_t id, HostLock& lock) {
  std::vector<Notice> notices = TakeOwnNotices();
  DSM_LOG_DEBUG("lock %u returned with %zu notices%s", id, notices.size(),
                lock.waiters.empty() ? "" : " (wanted again)");
  BodyWriter w;
  w.Put(LockBody{id, lock.waiters.empty() ? 0u : kLockWantAgain});
  PutNotices(&w, std::vector<uint64_t>(config_.num_hosts, 0), notices);
  Send(0, kLockReturn, w.Take());
  lock.token = false;
  lock.recall = false;
  lock.requested = !lock.waiters.empty();
  ++stats_.token_returns;
}

bool Coherence::OnLockGrant(std::string_view body) {
  BodyReader r(body);
  LockBody b;
  std::vector<uint64_t> vt;
  std::vector<Notice> notices;
  if (!r.Get(&b) || !GetNotices(&r, config_.num_hosts, data_pages_, &vt, &notices) || !r.done()) {
    return false;
  }
  auto it = locks_.find(b.lock_id);
  if (it == locks_.end() || it->second.token || !it->second.requested) {
    DSM_LOG_WARN("lock %u granted to host %u, which did not ask for it", b.lock_id, config_.host_id);
    return false;
  }
  HostLock& lock = it->second;
  DSM_LOG_DEBUG("lock %u granted by the manager with %zu notices%s", b.lock_id, notices.size(),
                (b.flags & kLockRecallAfter) ? " (return after one use)" : "");
  // Acquire: everything that happened before the grant becomes visible
  // here before any node gets the lock.
  ApplyNotices(notices);
  lock.token = true;
  lock.requested = false;
  lock.recall = (b.flags & kLockRecallAfter) != 0;
  if (!lock.waiters.empty()) {
    GrantLocal(b.lock_id, lock, /*from_other_host=*/true);
  } else {
    if (lock.recall) ReturnToken(b.lock_id, lock);
    Publish(lock);
  }
  return true;
}

bool Coherence::OnLockRecall(std::string_view body) {
  BodyReader r(body);
  LockBody b;
  if (!r.Get(&b) || !r.done()) return false;
  auto it = locks_.find(b.lock_id);
  if (it == locks_.end() || !it->second.token) {
    DSM_LOG_WARN("recall of lock %u, whose token host %u does not hold", b.lock_id, config_.host_id);
    return false;
  }
  HostLock& lock = it->second;
  if (lock.entry != nullptr && !lock.managed) {
    Manage(lock.entry, &lock.holder, -1);
    lock.managed = true;
  }
  if (lock.holder < 0) {
    ReturnToken(b.lock_id, lock);
  } else {
    lock.recall = true;
  }
  Publish(lock);
  return true;
}

// ---------------------------------------------------------------------------
// Barriers: the nodes of this host gather here; the host arrives at the
// manager once, with its notices, and every node departs with the union.

bool Coherence::Barrier(uint32_t slot, uint32_t node, NodeReply* reply) {
  barrier_slots_.push_back(slot);
  if (barrier_slots_.size() < config_.local_nodes) return false;
  BodyWriter w;
  w.Put(BarrierBody{barrier_epoch_});
  PutNotices(&w, std::vector<uint64_t>(config_.num_hosts, 0), TakeOwnNotices());
  Send(0, kBarrierArrive, w.Take());
  return false;
}

bool Coherence::OnBarrierDepart(std::string_view body) {
  BodyReader r(body);
  BarrierBody b;
  std::vector<uint64_t> vt;
  std::vector<Notice> notices;
  std::vector<HomeMove> moves;
  if (!r.Get(&b) || !GetNotices(&r, config_.num_hosts, data_pages_, &vt, &notices) ||
      !GetMoves(&r, config_.num_hosts, data_pages_, &moves) || !r.done()) {
    return false;
  }
  if (!moves.empty() && config_.home_mode != kHomeMigrate) {
    DSM_LOG_WARN("home moves at barrier %" PRIu64 " in a job whose homes do not migrate", b.epoch);
    return false;
  }
  if (b.epoch != barrier_epoch_ || barrier_slots_.size() != config_.local_nodes) {
    DSM_LOG_WARN("departure from barrier %" PRIu64 " while host %u is at barrier %" PRIu64
                 " with %zu of %u nodes",
                 b.epoch, config_.host_id, barrier_epoch_, barrier_slots_.size(), config_.local_nodes);
    return false;
  }
  ApplyNotices(notices);
  if (!ApplyMoves(moves)) return true;  // the job is ending
  ++barrier_epoch_;
  ++stats_.barriers;
  std::vector<uint32_t> slots = std::move(barrier_slots_);
  barrier_slots_.clear();
  for (uint32_t slot : slots) Complete(slot, NodeReply{});
  // Requests of hosts that departed first, which may be for pages homed
  // here since this barrier.
  std::vector<Deferred> ready;
  for (size_t i = 0; i < deferred_.size();) {
    if (RequestEpoch(deferred_[i].body) <= barrier_epoch_) {
      ready.push_back(std::move(deferred_[i]));
      deferred_.erase(deferred_.begin() + static_cast<ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  for (const Deferred& d : ready) OnMessage(d.from, d.type, d.request_id, d.body);
  return true;
}

// Every node of every host is in the barrier, every diff of the interval
// has been applied at its home, and this host applied the barrier's
// notices. A moved page was written by its new home alone in the interval,
// so that host's copy is the old home's, version for version (its own
// diffs' acknowledgements carried it there); the old home keeps its copy as
// a valid one, so the new home marks the page copied (its next write is
// logged and makes that copy stale).
bool Coherence::ApplyMoves(const std::vector<HomeMove>& moves) {
  for (const HomeMove& mv : moves) {
    PageMeta& m = meta_[mv.page];
    const uint32_t state = LoadAcquire(&m.state);
    if (mv.home == config_.host_id) {
      if (state != kPageValid || m.version != mv.version || busy_.count(mv.page)) {
        fail_("page " + std::to_string(mv.page) + " was to move its home to host " +
              std::to_string(config_.host_id) + " at version " + std::to_string(mv.version) +
              ", but this host's copy is " +
              (state == kPageValid ? "at version " + std::to_string(m.version) : "not valid"));
        return false;
      }
      twins_.erase(mv.page);
      wanted_version_.erase(mv.page);
      m.home = static_cast<uint16_t>(mv.home);
      __atomic_store_n(&m.copied, uint16_t{1}, __ATOMIC_RELAXED);
      StoreRelease(&m.state, uint32_t{kPageHome});
      ++stats_.homes_gained;
      DSM_LOG_DEBUG("page %u homed here from now on (version %" PRIu64 ")", mv.page, mv.version);
    } else if (state == kPageHome) {
      if (m.version != mv.version) {
        fail_("page " + std::to_string(mv.page) + " was to move its home away from host " +
              std::to_string(config_.host_id) + " at version " + std::to_string(mv.version) +
              ", but its version here is " + std::to_string(m.version));
        return false;
      }
      m.home = static_cast<uint16_t>(mv.home);
      __atomic_store_n(&m.copied, uint16_t{0}, __ATOMIC_RELAXED);
      StoreRelease(&m.state, uint32_t{kPageValid});
      // Into the ring: a local node that still holds the page untracked
      // (its last release came before the new home's copy left, so that
      // copy has all its writes) drops it at its acquire after this barrier
      // and faults again, now on a page homed elsewhere.
      fresh_invalid_.push_back(mv.page);
      ++stats_.homes_lost;
    } else if (state != kPageUntouched) {
      m.home = static_cast<uint16_t>(mv.home);
    }
  }
  PublishInvalidations();
  return true;
}

}  // namespace dsm::hostd
