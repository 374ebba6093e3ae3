// The host daemon's core: serves the register files of the nodes on this
// host. It validates and executes requests (attach, locks, barriers, shared
// heap, statistics, job end) and completes them in the register page,
// ringing the node when it waits on its doorbell.
//
// The core knows nothing of sockets or event loops: the daemon (daemon.h)
// tells it when peers join and leave and when its doorbell rang, and gives it
// a function to ring a peer. That seam lets a test drive a core directly, and
// later lets requests arrive from other hosts' daemons.
//
// Lifecycle of a job: running -> finished (node 0 sent kFinish with its exit
// status) or failed (a node left before that). In both end states pending and
// later requests of other nodes complete with kJobFinished / kNodeLost, so no
// node waits forever.
//
// Thread safety: none; one event loop thread drives it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <optional>
#include <string>
#include <vector>

#include "dsm/device/protocol.h"
#include "dsm/hostd/barrier_manager.h"
#include "dsm/hostd/coherence.h"
#include "dsm/hostd/lock_manager.h"
#include "dsm/hostd/shared_space.h"
#include "dsm/hostd/shm_heap.h"

namespace dsm::hostd {

enum class JobState { kRunning, kFinished, kFailed };

// The largest jump of a node's sequence number that the daemon takes as the
// new count (see ServeSlot).
inline constexpr uint64_t kMaxSequenceJump = 1ULL << 32;

class HostCore {
 public:
  using RingFn = std::function<void(uint32_t slot)>;

  HostCore(const SharedSpace* space, uint32_t num_nodes, RingFn ring);
  ~HostCore();

  // Makes this core one host of a job of several: only the nodes in
  // `local` (indexed by node id) may attach here, and locks, barriers, the
  // heap and page faults go through the coherence engine, which talks to
  // the other daemons through `send`. Call before any peer joins.
  void EnableCluster(const Coherence::Config& config, std::vector<bool> local,
                     Coherence::SendFn send);
  // A message from another daemon (job control, or for the engine).
  void OnPeerMessage(uint32_t from, uint16_t type, uint64_t request_id, std::string_view body);
  // Another host's daemon is gone: the job fails.
  void OnHostLost(uint32_t host, const std::string& why);

  // A peer connected on slot (its ivshmem peer id).
  void OnPeerJoined(uint32_t slot);
  // A peer's connection closed. Losing an attached node that had not
  // finished fails the job.
  void OnPeerLeft(uint32_t slot);
  // The daemon's doorbell rang: serve every slot with a new request.
  // O(joined slots).
  void OnDoorbell();

  [[nodiscard]] JobState state() const { return state_; }
  [[nodiscard]] int exit_status() const { return exit_status_; }
  [[nodiscard]] std::optional<uint32_t> lost_node() const { return lost_node_; }
  [[nodiscard]] std::optional<uint32_t> lost_host() const { return lost_host_; }
  [[nodiscard]] const Coherence* cluster() const { return cluster_.get(); }
  [[nodiscard]] uint32_t joined_peers() const { return joined_; }
  [[nodiscard]] uint32_t attached_nodes() const { return attached_; }
  // The job has ended and every peer has gone.
  [[nodiscard]] bool done() const { return state_ != JobState::kRunning && joined_ == 0; }

  // Called once when the job ends, before any node is told (so an observer
  // learns how the job ended before any node can exit because of it).
  void set_on_job_end(std::function<void(JobState)> f) { on_job_end_ = std::move(f); }
  // Called when a node attaches, before it is answered.
  void set_on_attach(std::function<void(uint32_t node)> f) { on_attach_ = std::move(f); }

  // A table of per-node statistics (one line per node of this host), and in
  // a job of several hosts this host's coherence statistics, for --stats.
  [[nodiscard]] std::string StatsTable() const;
  // The same as one JSON object, for --stats-json (host_stats.cc).
  [[nodiscard]] std::string StatsJson() const;

 private:
  struct Slot {
    bool joined = false;
    bool attached = false;
    uint32_t node = 0;
    uint64_t last_seq = 0;
    bool pending = false;
    uint32_t pending_command = 0;
    uint64_t pending_seq = 0;
    uint64_t pending_since_ns = 0;
    uint64_t sleep_generation = 0;  // pending kBarrierSleep: the generation it sleeps in
    uint64_t bad_sequences = 0;  // jumps answered kBadSequence (logged sparingly)
  };
  struct Node {
    int32_t slot = -1;
    bool attached_once = false;
    bool detached = false;
    uint64_t pid = 0;
    device::DaemonNodeStats stats{};
    device::NodeCounters counters{};  // snapshot taken when the node left
  };
  struct Request {
    uint32_t command;
    uint64_t seq;
    uint64_t args[6];
  };
  using Reply = NodeReply;

  void ServeSlot(uint32_t slot);
  // A node's counters: live from its register page, or as it left them.
  device::NodeCounters CountersOf(uint32_t node) const;
  bool IsLocal(uint32_t node) const { return local_.empty() || local_[node]; }
  // Returns true when the request completed now (reply filled), false when
  // it was deferred (the slot is marked pending).
  bool Execute(uint32_t slot, const Request& req, Reply* reply);
  bool DoAttach(Slot& s, uint32_t slot, const Request& req, Reply* reply);
  bool DoLock(Slot& s, const Request& req, Reply* reply);
  bool DoUnlock(Slot& s, const Request& req, Reply* reply);
  bool DoBarrier(Slot& s, Reply* reply);
  // The host barrier (one host): nodes sleep in it and are woken.
  bool DoBarrierSleep(Slot& s, const Request& req);
  void DoBarrierWake();
  void DoFinish(Slot& s, const Request& req, Reply* reply);
  void Grant(uint32_t node);
  void Complete(uint32_t slot, uint64_t seq, const Reply& reply);
  void CompletePending(uint32_t slot, const Reply& reply);
  // Ends the job here; `tell_peers`: the end started on this host, so the
  // other daemons are told.
  void EndJob(JobState state, bool tell_peers = true);
  device::LockEntry* ValidLockEntry(uint64_t index, uint32_t id) const;
  // Decodes kLock/kUnlock arguments: the id, and the table entry (nullptr
  // for a daemon-only lock). False when either is invalid.
  bool LockArguments(const Request& req, uint32_t* id, device::LockEntry** entry) const;
  Reply EndedReply() const;

  const SharedSpace* space_;
  uint32_t num_nodes_;
  RingFn ring_;
  std::function<void(JobState)> on_job_end_;
  std::function<void(uint32_t)> on_attach_;
  std::vector<Slot> slots_;
  std::vector<Node> nodes_;
  LockManager locks_;
  BarrierManager barrier_;
  ShmHeap heap_;
  JobState state_ = JobState::kRunning;
  int exit_status_ = 0;
  std::optional<uint32_t> lost_node_;
  std::optional<uint32_t> lost_host_;
  std::unique_ptr<Coherence> cluster_;
  Coherence::SendFn cluster_send_;
  std::vector<bool> local_;  // empty: every node is local
  uint32_t num_hosts_ = 1;
  uint32_t host_id_ = 0;
  uint32_t joined_ = 0;
  uint32_t attached_ = 0;
};

}  // namespace dsm::hostd
