// The host engine of a job of several hosts: two-level home-based lazy
// release consistency at page granularity (docs/design.md, "Coherence").
// One per daemon; host 0's daemon also runs the Manager (manager.h), which
// this engine reaches through messages like every other host does.
//
// What it keeps, per data page of this host's shared space:
// - PageMeta in the shared space (state, home, version, copied), which nodes
//   read in their fault handler to map valid pages without asking and to
//   write pages homed here untracked while no other host has a copy;
// - a twin (a copy taken when a node of this host first wrote a page homed
//   elsewhere) and the local nodes that wrote it since their last release;
// - the newest version an acquire said this host must see (for pages
//   invalidated while a fetch was already on its way);
// - the operations waiting for a fetch or a home lookup: one at a time per
//   page, so that no local writer appears while a page is copied in whole.
// And per lock id: whether this host holds the token, the local holder and
// FIFO of local waiters, and whether the manager wants the token back (the
// host lock table's word mirrors this for the nodes' fast path; see Lock()).
//
// Requests from local nodes arrive as calls (Fault, Release, Lock, ...) that
// either complete at once (return true, *reply filled) or later through the
// CompleteFn; messages from daemons arrive through OnMessage. Everything is
// validated: a malformed message is logged and dropped.
//
// Thread safety: none; the daemon's event loop owns it. Not used at all in
// single-host jobs.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dsm/device/protocol.h"
#include "dsm/hostd/manager.h"
#include "dsm/hostd/peer_protocol.h"
#include "dsm/hostd/shared_space.h"
#include "dsm/hostd/shm_heap.h"

namespace dsm::hostd {

// A reply to a node's request.
struct NodeReply {
  int32_t status = device::kOk;
  uint64_t results[4] = {0, 0, 0, 0};
};

// Statistics of one host (several-host jobs).
struct HostStats {
  uint64_t faults_read = 0, faults_write = 0;
  uint64_t pages_fetched = 0, fetch_messages = 0, prefetched = 0;
  uint64_t twins = 0, diffs = 0, diff_bytes = 0;
  uint64_t notices_sent = 0, notices_received = 0, invalidations = 0;
  uint64_t lock_local = 0, lock_remote = 0, token_returns = 0;
  uint64_t barriers = 0;
  uint64_t homes_gained = 0, homes_lost = 0;  // home migration
  uint64_t deferred = 0;  // requests from a host that had departed a barrier this one had not
  uint64_t msgs_sent[peer::kMsgTypeEnd] = {};
  uint64_t bytes_sent[peer::kMsgTypeEnd] = {};
};

class Coherence {
 public:
  using SendFn = std::function<bool(uint32_t to, uint16_t type, uint64_t request_id, std::string body)>;
  using CompleteFn = std::function<void(uint32_t slot, const NodeReply& reply)>;
  // A message broke the protocol in a way that cannot be dropped safely
  // (the job must end): the text says what.
  using FailFn = std::function<void(const std::string& why)>;

  struct Config {
    uint32_t host_id = 0;
    uint32_t num_hosts = 2;
    uint32_t local_nodes = 1;   // nodes on this host (for the barrier)
    device::HomeMode home_mode = device::kHomeFirstTouch;
  };

  // heap: the job-wide heap on host 0 (used by its Manager); nullptr elsewhere.
  Coherence(const SharedSpace* space, const Config& config, ShmHeap* heap, SendFn send,
            CompleteFn complete, FailFn fail);
  ~Coherence();

  // Node requests. True: done, *reply filled. False: the reply comes later.
  bool Fault(uint32_t slot, uint32_t node, uint64_t page, bool write, NodeReply* reply);
  bool Release(uint32_t slot, uint32_t node, uint64_t count, NodeReply* reply);
  bool Lock(uint32_t slot, uint32_t node, uint32_t id, device::LockEntry* entry, NodeReply* reply);
  bool Unlock(uint32_t slot, uint32_t node, uint32_t id, device::LockEntry* entry, NodeReply* reply);
  bool Barrier(uint32_t slot, uint32_t node, NodeReply* reply);
  bool Alloc(uint32_t slot, uint64_t bytes, uint64_t alignment, NodeReply* reply);
  bool Free(uint32_t slot, uint64_t offset, NodeReply* reply);

  // A message from a daemon (or from this one to itself). Types the engine
  // does not know are the caller's (job control).
  void OnMessage(uint32_t from, uint16_t type, uint64_t request_id, std::string_view body);

  // The job ended: forget every operation in flight (their nodes are
  // answered by the caller).
  void OnJobEnded();

  [[nodiscard]] const HostStats& stats() const { return stats_; }
  [[nodiscard]] Manager* manager() { return manager_.get(); }

 private:
  struct PageOp {
    uint32_t slot;
    uint32_t node;
    bool write;
  };
  struct Twin {
    std::unique_ptr<uint64_t[]> data;  // one page
    std::vector<uint32_t> writers;     // local nodes with unreleased writes
  };
  struct HostLock {
    bool token = false;         // this host holds the lock's token
    bool requested = false;     // asked the manager for it (or will get it back)
    bool recall = false;        // the manager wants it back once free
    int64_t holder = -1;        // local node holding it (when the daemon manages it)
    std::deque<std::pair<uint32_t, uint32_t>> waiters;  // (node, slot), FIFO
    device::LockEntry* entry = nullptr;
    // The word has kLockWaiters: nodes ask the daemon, whose fields above
    // are the truth. Otherwise the word is (token here, nothing pending) and
    // the nodes' fast path owns it. Lock words start managed (the token is
    // with the manager).
    bool managed = true;
  };
  struct ReleaseOp {
    uint32_t slot;
    uint32_t outstanding;  // diff messages not yet acknowledged
  };
  struct Awaited {
    uint16_t reply_type;
    std::function<bool(std::string_view body)> on_reply;  // false: malformed
  };

  // Pages.
  bool Serve(uint32_t page, const PageOp& op, NodeReply* reply);
  void Resume(uint32_t page);
  void SetHome(uint32_t page, uint32_t home);
  void QueryHomes(uint32_t page, uint32_t node);
  void FetchPages(uint32_t page);
  void SendFetch(uint32_t home, const std::vector<uint32_t>& pages);
  bool OnHomeReply(std::string_view body);
  bool OnFetchReply(uint32_t from, std::string_view body);
  bool OnFetch(uint32_t from, uint64_t request_id, std::string_view body);
  // A page homed here is about to be copied to another host: sets its
  // PageMeta::copied and, if it was clear, queues it for the invalidation
  // ring (PublishInvalidations), where the local nodes' releases find it.
  void MarkCopied(uint32_t page);
  // A release of a page homed here: a new version, a write notice, and
  // PageMeta::copied cleared (the notice makes every copy sent so far stale).
  void RecordHomeNotice(uint32_t page);
  bool OnDiff(uint32_t from, uint64_t request_id, std::string_view body);
  bool OnDiffAck(uint64_t release_id, std::string_view body);
  void AckedDiff(uint32_t page);
  void FinishReleasePart(uint64_t release_id);
  bool BecomeHomeIfUntouched(uint32_t page);
  uint32_t RoundRobinHome(uint32_t page) const;
  Twin& EnsureTwin(uint32_t page);
  void ApplyNotices(const std::vector<peer::Notice>& notices);
  void Invalidate(uint32_t page);
  void PublishInvalidations();
  // Drains the home-release logs first (see device::HomeLog).
  std::vector<peer::Notice> TakeOwnNotices();
  void DrainHomeLogs();

  // Locks.
  HostLock& LockFor(uint32_t id, device::LockEntry* entry);
  void Publish(HostLock& lock);
  void ReturnToken(uint32_t id, HostLock& lock);
  // Gives the lock to the first local waiter; from_other_host: the token
  // just arrived for it (counted as a remote acquire).
  void GrantLocal(uint32_t id, HostLock& lock, bool from_other_host);
  bool OnLockGrant(std::string_view body);
  bool OnLockRecall(std::string_view body);
  bool OnBarrierDepart(std::string_view body);
  // The barrier's home moves (kHomeMigrate; design.md, "Home migration").
  // False: this host's copy of a page it is to be the home of is not the
  // old home's version (the job must end).
  bool ApplyMoves(const std::vector<peer::HomeMove>& moves);

  uint64_t Send(uint32_t to, uint16_t type, std::string body, Awaited* awaited = nullptr);
  bool Reply(uint32_t to, uint16_t type, uint64_t request_id, std::string body);
  void Complete(uint32_t slot, const NodeReply& reply);

  const SharedSpace* space_;
  Config config_;
  SendFn send_;
  CompleteFn complete_;
  FailFn fail_;
  std::unique_ptr<Manager> manager_;
  device::PageMeta* meta_;
  uint64_t data_pages_;
  device::PinnedPages pinned_{};  // homed on host 0 in every mode
  HostStats stats_;

  std::unordered_map<uint32_t, Twin> twins_;
  std::unordered_map<uint32_t, uint64_t> wanted_version_;
  std::unordered_map<uint32_t, std::vector<PageOp>> busy_;  // fetch or lookup in flight
  uint32_t last_fetch_end_ = ~0u;                           // read-ahead
  uint32_t readahead_ = 1;
  // Per node, the runs of first touches in order it is making (a loop that
  // initialises several arrays at once makes one per array): where each
  // run's claim ended, and how many pages it claims next. Least recently
  // extended first out.
  struct ClaimRun {
    uint32_t end = ~0u;
    uint32_t window = 1;
  };
  static constexpr size_t kClaimRuns = 8;
  std::unordered_map<uint32_t, std::deque<ClaimRun>> claim_runs_;
  std::vector<uint32_t> fresh_invalid_;                     // to append to the ring
  // Diffs sent and acknowledged, per page with some in flight. A fetch reply
  // for such a page left the home before our diff arrived there (one
  // connection keeps order), so it lacks our own writes, which the twin
  // already holds: it is dropped and the page fetched again. And a release
  // whose diff of a page is empty because another local node's diff, still
  // in flight, carried its writes waits for that diff's acknowledgement:
  // until then the home lacks them and no notice names them.
  struct PageDiffs {
    uint64_t sent = 0;
    uint64_t acked = 0;
    std::vector<std::pair<uint64_t, uint64_t>> waiters;  // (acked needed, release id)
  };
  std::unordered_map<uint32_t, PageDiffs> diffs_;

  std::vector<peer::Notice> own_notices_;  // this host's writes, not yet sent to the manager
  // Per slot: home-log entries drained (the daemon's own count; the shared
  // tail is only told to the node).
  std::vector<uint64_t> home_log_drained_ = std::vector<uint64_t>(device::kMaxSlots, 0);

  std::unordered_map<uint32_t, HostLock> locks_;

  std::vector<uint32_t> barrier_slots_;  // local nodes waiting at the barrier
  uint64_t barrier_epoch_ = 0;
  // Fetches and diffs from hosts that had departed a barrier this host had
  // not yet (their epoch is ahead of barrier_epoch_): handled once it has.
  struct Deferred {
    uint32_t from;
    uint16_t type;
    uint64_t request_id;
    std::string body;
  };
  std::vector<Deferred> deferred_;
  // The barrier epoch a kFetch or kDiff body carries (0 when it is too short
  // to carry one: its handler refuses it).
  static uint64_t RequestEpoch(std::string_view body);

  std::unordered_map<uint64_t, ReleaseOp> releases_;
  uint64_t next_release_ = 1;
  std::unordered_map<uint64_t, Awaited> awaited_;
  uint64_t next_request_ = 1;
};

}  // namespace dsm::hostd
