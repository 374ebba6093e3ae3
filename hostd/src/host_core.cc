#include "dsm/hostd/host_core.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "dsm/common/clock.h"
#include "dsm/common/log.h"
#include "dsm/hostd/peer_codec.h"

namespace dsm::hostd {

using namespace dsm::device;

namespace {

uint32_t OwnerOf(uint64_t word) { return static_cast<uint32_t>(word & kLockOwnerMask); }

}  // namespace

HostCore::HostCore(const SharedSpace* space, uint32_t num_nodes, RingFn ring)
    : space_(space),
      num_nodes_(num_nodes),
      ring_(std::move(ring)),
      slots_(kMaxSlots),
      nodes_(num_nodes),
      barrier_(num_nodes),
      heap_(space->header()->heap_offset, space->header()->heap_size) {}

HostCore::~HostCore() = default;

void HostCore::EnableCluster(const Coherence::Config& config, std::vector<bool> local,
                             Coherence::SendFn send) {
  local_ = std::move(local);
  local_.resize(num_nodes_, false);
  num_hosts_ = config.num_hosts;
  host_id_ = config.host_id;
  cluster_send_ = send;
  cluster_ = std::make_unique<Coherence>(
      space_, config, &heap_, std::move(send),
      [this](uint32_t slot, const Reply& reply) { CompletePending(slot, reply); },
      [this](const std::string& why) {
        DSM_LOG_ERROR("%s; ending the job", why.c_str());
        lost_host_ = host_id_;
        EndJob(JobState::kFailed);
      });
}

void HostCore::OnPeerMessage(uint32_t from, uint16_t type, uint64_t request_id, std::string_view body) {
  if (!cluster_) return;
  if (type != peer::kJobEnd) {
    if (state_ == JobState::kRunning) cluster_->OnMessage(from, type, request_id, body);
    return;
  }
  peer::BodyReader r(body);
  peer::JobEndBody b;
  if (!r.Get(&b) || !r.done()) {
    DSM_LOG_WARN("dropped a malformed job end from host %u", from);
    return;
  }
  switch (b.kind) {
    case peer::kFinished:
      exit_status_ = static_cast<int>(b.value & 0xff);
      EndJob(JobState::kFinished, false);
      return;
    case peer::kNodeLost:
      if (b.value >= num_nodes_) break;
      lost_node_ = b.value;
      EndJob(JobState::kFailed, false);
      return;
    case peer::kHostLost:
      if (b.value >= num_hosts_) break;
      lost_host_ = b.value;
      EndJob(JobState::kFailed, false);
      return;
    default:
      break;
  }
  DSM_LOG_WARN("dropped a job end of unknown kind %u from host %u", b.kind, from);
}

void HostCore::OnHostLost(uint32_t host, const std::string& why) {
  if (state_ != JobState::kRunning) return;
  DSM_LOG_ERROR("%s", why.c_str());
  lost_host_ = host;
  EndJob(JobState::kFailed);
}

void HostCore::OnPeerJoined(uint32_t slot) {
  if (slot == 0 || slot >= kMaxSlots) return;
  Slot& s = slots_[slot];
  if (s.joined) return;
  s = Slot{};
  s.joined = true;
  ++joined_;
  // The page was zeroed when its previous peer left; a request written
  // before this point (the peer is fast) is served by the next scan.
}

void HostCore::OnPeerLeft(uint32_t slot) {
  if (slot == 0 || slot >= kMaxSlots || !slots_[slot].joined) return;
  Slot& s = slots_[slot];
  RegisterFile* regs = space_->regs(slot);
  if (s.attached) {
    Node& n = nodes_[s.node];
    std::memcpy(&n.counters, &regs->counters, sizeof n.counters);
    n.slot = -1;
    --attached_;
    if (state_ == JobState::kRunning) {
      DSM_LOG_ERROR("node %u (peer %u, pid %" PRIu64 ") left the job before it finished", s.node,
                    slot, n.pid);
      lost_node_ = s.node;
      EndJob(JobState::kFailed);
    }
  }
  s = Slot{};
  --joined_;
  std::memset(regs, 0, sizeof *regs);
}

void HostCore::OnDoorbell() {
  for (uint32_t slot = 1; slot < kMaxSlots; ++slot) {
    if (slots_[slot].joined && !slots_[slot].pending) ServeSlot(slot);
  }
}

void HostCore::ServeSlot(uint32_t slot) {
  Slot& s = slots_[slot];
  RegisterFile* regs = space_->regs(slot);
  uint64_t seq = LoadAcquire(&regs->seq);
  if (seq == s.last_seq) return;
  if (seq < s.last_seq) {
    DSM_LOG_DEBUG("peer %u: stale sequence %" PRIu64 " (last %" PRIu64 ") ignored", slot, seq,
                  s.last_seq);
    return;
  }
  // Copy the request out of shared memory once; validate the copy only.
  Request req;
  req.seq = seq;
  req.command = __atomic_load_n(&regs->command, __ATOMIC_RELAXED);
  for (int i = 0; i < 6; ++i) req.args[i] = __atomic_load_n(&regs->args[i], __ATOMIC_RELAXED);
  uint64_t expected = s.last_seq + 1;
  // A jump within kMaxSequenceJump becomes the new count (the node's
  // counter and ours disagree; it goes on from there). A larger one is
  // answered but not taken: a jump to 2^64-1 would make every later number
  // stale and leave the node unable to ever be served again.
  if (seq - expected <= kMaxSequenceJump) s.last_seq = seq;
  Reply reply;
  if (seq != expected) {
    // A guest controls how often this happens: log the first few, then one
    // in a thousand, with the count.
    if (++s.bad_sequences <= 10 || s.bad_sequences % 1000 == 0) {
      DSM_LOG_WARN("peer %u: sequence jumped from %" PRIu64 " to %" PRIu64 "%s (%" PRIu64 " so far)", slot,
                   expected - 1, seq, s.last_seq == seq ? "" : ", not taken", s.bad_sequences);
    }
    reply.status = kBadSequence;
    Complete(slot, seq, reply);
    return;
  }
  if (Execute(slot, req, &reply)) {
    Complete(slot, seq, reply);
  } else if (state_ != JobState::kRunning) {
    // The request itself ended the job (the engine found this node's shared
    // state corrupt, say): EndJob completed the requests pending before it.
    Complete(slot, seq, EndedReply());
  } else {
    s.pending = true;
    s.pending_command = req.command;
    s.pending_seq = seq;
    s.pending_since_ns = MonotonicNs();
  }
}

HostCore::Reply HostCore::EndedReply() const {
  Reply r;
  if (state_ == JobState::kFinished) {
    r.status = kJobFinished;
  } else if (lost_host_ && !lost_node_) {
    r.status = kHostLost;
    r.results[0] = *lost_host_;
  } else {
    r.status = kNodeLost;
    r.results[0] = lost_node_.value_or(~0u);
  }
  return r;
}

bool HostCore::Execute(uint32_t slot, const Request& req, Reply* reply) {
  Slot& s = slots_[slot];
  if (req.command == kNone || req.command >= kCommandCount) {
    reply->status = kBadCommand;
    return true;
  }
  if (req.command == kNop) return true;
  if (req.command == kAttach) return DoAttach(s, slot, req, reply);
  if (!s.attached) {
    reply->status = kNotAttached;
    return true;
  }
  Node& node = nodes_[s.node];
  ++node.stats.requests[req.command];
  if (req.command == kStats) {
    RegisterFile* regs = space_->regs(slot);
    std::memcpy(regs->bulk, &node.stats, sizeof node.stats);
    __atomic_store_n(&regs->bulk_len, static_cast<uint32_t>(sizeof node.stats), __ATOMIC_RELAXED);
    return true;
  }
  if (req.command == kDetach) {
    node.detached = true;
    if (state_ == JobState::kRunning) {
      DSM_LOG_ERROR("node %u detached before the job finished", s.node);
      lost_node_ = s.node;
      EndJob(JobState::kFailed);
    }
    return true;
  }
  if (state_ != JobState::kRunning) {
    *reply = EndedReply();
    return true;
  }
  if (cluster_) {
    uint32_t id;
    LockEntry* e;
    switch (req.command) {
      case kFault: return cluster_->Fault(slot, s.node, req.args[0], req.args[1] != 0, reply);
      case kRelease: return cluster_->Release(slot, s.node, req.args[0], reply);
      case kLock:
      case kUnlock:
        if (!LockArguments(req, &id, &e)) {
          reply->status = kBadArgument;
          return true;
        }
        return req.command == kLock ? cluster_->Lock(slot, s.node, id, e, reply)
                                    : cluster_->Unlock(slot, s.node, id, e, reply);
      case kBarrier: return cluster_->Barrier(slot, s.node, reply);
      case kBarrierSleep:
      case kBarrierWake:
        // The host barrier is for jobs on one host; these nodes use kBarrier.
        reply->status = kNotPermitted;
        return true;
      case kAlloc:
        if (host_id_ != 0) return cluster_->Alloc(slot, req.args[0], req.args[1], reply);
        break;
      case kFree:
        if (host_id_ != 0) return cluster_->Free(slot, req.args[0], reply);
        break;
      default:
        break;
    }
  }
  switch (req.command) {
    case kLock: return DoLock(s, req, reply);
    case kUnlock: return DoUnlock(s, req, reply);
    case kBarrier: return DoBarrier(s, reply);
    case kBarrierSleep: return DoBarrierSleep(s, req);
    case kBarrierWake:
      DoBarrierWake();
      return true;
    case kAlloc: {
      uint64_t offset = 0;
      reply->status = heap_.Allocate(req.args[0], req.args[1], &offset);
      reply->results[0] = offset;
      return true;
    }
    case kFree:
      reply->status = heap_.Free(req.args[0]);
      return true;
    case kFinish:
      DoFinish(s, req, reply);
      return true;
    default:
      reply->status = kBadCommand;
      return true;
  }
}

bool HostCore::DoAttach(Slot& s, uint32_t slot, const Request& req, Reply* reply) {
  if (req.args[0] != kVersion) {
    DSM_LOG_ERROR("peer %u speaks protocol version %" PRIu64 ", this daemon version %u", slot,
                  req.args[0], kVersion);
    reply->status = kVersionMismatch;
    return true;
  }
  if (s.attached) {
    reply->status = kAttachRefused;
    return true;
  }
  if (state_ != JobState::kRunning) {
    *reply = EndedReply();
    return true;
  }
  uint64_t wanted = req.args[1];
  uint32_t node = 0;
  auto here = [this](uint64_t n) { return local_.empty() || local_[n]; };
  if (wanted == kAnyNode) {
    while (node < num_nodes_ && (nodes_[node].attached_once || !here(node))) ++node;
    if (node == num_nodes_) {
      reply->status = kAttachRefused;
      return true;
    }
  } else {
    if (wanted >= num_nodes_ || nodes_[wanted].attached_once || !here(wanted)) {
      DSM_LOG_ERROR("peer %u asked for node id %" PRIu64 ", which is %s", slot, wanted,
                    wanted >= num_nodes_ ? "out of range"
                    : !here(wanted)      ? "placed on another host"
                                         : "taken");
      reply->status = kAttachRefused;
      return true;
    }
    node = static_cast<uint32_t>(wanted);
  }
  s.attached = true;
  s.node = node;
  Node& n = nodes_[node];
  n.slot = static_cast<int32_t>(slot);
  n.attached_once = true;
  n.pid = req.args[2];
  ++attached_;
  ++n.stats.requests[kAttach];
  const SpaceHeader* h = space_->header();
  reply->results[0] = node;
  reply->results[1] = num_nodes_;
  reply->results[2] = h->host_id;
  reply->results[3] = h->num_hosts;
  DSM_LOG_INFO("peer %u attached as node %u (pid %" PRIu64 ")", slot, node, n.pid);
  if (on_attach_) on_attach_(node);
  return true;
}

LockEntry* HostCore::ValidLockEntry(uint64_t index, uint32_t id) const {
  if (index >= space_->header()->lock_table_entries) return nullptr;
  LockEntry* e = space_->lock_table() + index;
  if (LoadAcquire(&e->key) != (kLockKeyUsed | id)) return nullptr;
  return e;
}

bool HostCore::LockArguments(const Request& req, uint32_t* id, LockEntry** entry) const {
  if (req.args[0] > UINT32_MAX) return false;
  *id = static_cast<uint32_t>(req.args[0]);
  *entry = nullptr;
  if (req.args[1] == kNoLockEntry) return true;
  *entry = ValidLockEntry(req.args[1], *id);
  return *entry != nullptr;
}

bool HostCore::DoLock(Slot& s, const Request& req, Reply* reply) {
  uint32_t id;
  LockEntry* e;
  if (!LockArguments(req, &id, &e)) {
    reply->status = kBadArgument;
    return true;
  }
  bool granted = false;
  if (e == nullptr) {
    reply->status = locks_.Acquire(id, s.node, &granted);
    return reply->status != kOk || granted;
  }
  const uint64_t me = s.node + 1;
  uint64_t w = LoadAcquire(&e->word);
  for (;;) {
    uint32_t owner = OwnerOf(w);
    if (owner == 0) {
      // Free: take it for the requester (a fast-path node may win the race).
      if (CompareExchange(&e->word, &w, me)) return true;
      continue;
    }
    if (owner == me) {
      reply->status = kAlreadyHeld;
      return true;
    }
    if (owner > num_nodes_) {
      DSM_LOG_ERROR("lock %u: corrupted lock word 0x%" PRIx64 " names no node", id, w);
      reply->status = kBadArgument;
      return true;
    }
    if (w & kLockWaiters) break;
    // Held on the fast path: mark waiters so that the holder's release comes
    // here, and learn who holds it.
    if (CompareExchange(&e->word, &w, w | kLockWaiters)) {
      locks_.SetHolder(id, owner - 1);
      break;
    }
  }
  reply->status = locks_.Acquire(id, s.node, &granted);
  if (reply->status != kOk) return true;
  return granted;  // granted cannot happen while a holder is recorded
}

bool HostCore::DoUnlock(Slot& s, const Request& req, Reply* reply) {
  uint32_t id;
  LockEntry* e;
  if (!LockArguments(req, &id, &e)) {
    reply->status = kBadArgument;
    return true;
  }
  std::optional<uint32_t> next;
  if (e == nullptr) {
    reply->status = locks_.Release(id, s.node, &next);
    if (reply->status == kOk && next) Grant(*next);
    return true;
  }
  const uint64_t me = s.node + 1;
  uint64_t w = LoadAcquire(&e->word);
  if (OwnerOf(w) != me) {
    reply->status = kNotHeld;
    return true;
  }
  if (!(w & kLockWaiters)) {
    // Nobody queued: plain release (the node's own CAS would have done).
    uint64_t expected = w;
    if (!CompareExchange(&e->word, &expected, uint64_t{0})) reply->status = kBadArgument;
    return true;
  }
  reply->status = locks_.Release(id, s.node, &next);
  if (reply->status != kOk) return true;
  if (!next) {
    StoreRelease(&e->word, uint64_t{0});
    return true;
  }
  bool more = locks_.Waiters(id) > 0;
  StoreRelease(&e->word, (uint64_t{*next} + 1) | (more ? kLockWaiters : 0));
  if (!more) locks_.Forget(id);
  Grant(*next);
  return true;
}

void HostCore::Grant(uint32_t node) {
  if (node >= num_nodes_ || nodes_[node].slot < 0) return;
  auto slot = static_cast<uint32_t>(nodes_[node].slot);
  CompletePending(slot, Reply{});
}

bool HostCore::DoBarrier(Slot& s, Reply* reply) {
  std::vector<uint32_t> release;
  reply->status = barrier_.Arrive(s.node, &release);
  if (reply->status != kOk) return true;
  if (release.empty()) return false;
  for (uint32_t node : release) {
    if (node == s.node) continue;
    Node& n = nodes_[node];
    if (n.slot < 0) continue;
    CompletePending(static_cast<uint32_t>(n.slot), Reply{});
  }
  return true;
}

bool HostCore::DoBarrierSleep(Slot& s, const Request& req) {
  const uint64_t state = LoadAcquire(&HostBarrierOf(space_->base())->state);
  if ((state >> 1) != req.args[0]) return true;  // completed before we looked
  s.sleep_generation = req.args[0];
  return false;
}

void HostCore::DoBarrierWake() {
  const uint64_t generation = LoadAcquire(&HostBarrierOf(space_->base())->state) >> 1;
  for (uint32_t slot = 1; slot < kMaxSlots; ++slot) {
    const Slot& s = slots_[slot];
    if (s.pending && s.pending_command == kBarrierSleep && s.sleep_generation != generation) {
      CompletePending(slot, Reply{});
    }
  }
}

void HostCore::DoFinish(Slot& s, const Request& req, Reply* reply) {
  if (s.node != 0) {
    reply->status = kNotPermitted;
    return;
  }
  exit_status_ = static_cast<int>(req.args[0] & 0xff);
  DSM_LOG_INFO("node 0 finished the job with status %d", exit_status_);
  EndJob(JobState::kFinished);
}

void HostCore::EndJob(JobState state, bool tell_peers) {
  if (state_ != JobState::kRunning) return;
  state_ = state;
  if (on_job_end_) on_job_end_(state);
  if (cluster_) {
    cluster_->OnJobEnded();
    if (tell_peers) {
      peer::JobEndBody b{};
      if (state == JobState::kFinished) {
        b = {peer::kFinished, static_cast<uint32_t>(exit_status_)};
      } else if (lost_node_) {
        b = {peer::kNodeLost, *lost_node_};
      } else {
        b = {peer::kHostLost, lost_host_.value_or(host_id_)};
      }
      peer::BodyWriter w;
      w.Put(b);
      std::string body = w.Take();
      for (uint32_t h = 0; h < num_hosts_; ++h) {
        if (h != host_id_) cluster_send_(h, peer::kJobEnd, 0, body);
      }
    }
  }
  Reply ended = EndedReply();
  for (uint32_t slot = 1; slot < kMaxSlots; ++slot) {
    if (slots_[slot].pending) CompletePending(slot, ended);
  }
}

void HostCore::CompletePending(uint32_t slot, const Reply& reply) {
  Slot& s = slots_[slot];
  if (!s.pending) return;
  s.pending = false;
  // A granted lock or a departed barrier: the node's waiting time.
  if (reply.status == kOk && s.attached && (s.pending_command == kLock || s.pending_command == kBarrier)) {
    Node& n = nodes_[s.node];
    (s.pending_command == kLock ? n.stats.lock_wait_ns : n.stats.barrier_wait_ns) +=
        MonotonicNs() - s.pending_since_ns;
  }
  Complete(slot, s.pending_seq, reply);
}

void HostCore::Complete(uint32_t slot, uint64_t seq, const Reply& reply) {
  RegisterFile* regs = space_->regs(slot);
  __atomic_store_n(&regs->status, reply.status, __ATOMIC_RELAXED);
  for (int i = 0; i < 4; ++i) __atomic_store_n(&regs->results[i], reply.results[i], __ATOMIC_RELAXED);
  // Publish, then look at the node's flag: with both seq_cst, either the
  // node sees done_seq before blocking or we see its waiting flag.
  StoreSeqCst(&regs->done_seq, seq);
  if (LoadSeqCst(&regs->node_flags) & kNodeWaiting) ring_(slot);
}

}  // namespace dsm::hostd
