// A job of several hosts inside one test process, for cluster_test.cc.
//
// Cluster: one real Daemon per host (space.num_hosts > 1, its local nodes,
// an InProcTransport from one InProcNetwork, or with ClusterOptions::zmq a
// ZmqTransport on 127.0.0.1 as in dsm-hostd, CURVE keys included), each
// serving on its own thread, with a pipe as its status fd ("ready",
// "lost-host 2", ...).
//
// TestNode: a node driven by a test thread through the real register
// protocol (DeviceClient over the daemon's socket, mapped anywhere). An
// in-process node has no page protection and no fault handler, so TestNode
// does by hand what libdsm's CoherenceClient does: kFault before the first
// write of a page not homed here and before the first read of a page that is
// neither home nor valid; pages homed here that no other host has a copy of
// (PageMeta::copied) written untracked; before every unlock and barrier the
// untracked pages listed in the invalidation ring since the last release
// tracked again (a seq_cst fence first) and the list of dirty pages
// released (home-release log, kRelease); and after every acquire the ring
// read and the listed pages forgotten (except pages homed here). Locks go to the daemon
// (kNoLockEntry) or, like dsm_lock, through the host lock table's fast path.
//
// RunNodes: one thread per node running a program, bounded by a deadline. A
// program that does not return in time is a hang: the cluster is stopped
// (its daemons destroyed, so every node waiting on one returns with
// kDaemonGone) and the hang reported with what each node was doing.
//
// Thread safety: a Cluster belongs to the test thread (View and the status
// waits post to the daemons' loops or poll pipes). A TestNode belongs to the
// thread running its program; doing() may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "device_client.h"
#include "dsm/common/fd.h"
#include "dsm/common/status.h"
#include "dsm/device/protocol.h"
#include "dsm/hostd/daemon.h"
#include "dsm/hostd/inproc_transport.h"
#include "dsm/hostd/zmq_transport.h"

namespace dsm::hostd::testing {

struct ClusterOptions {
  // placement[h]: the node ids on host h (every id of 0..N-1 exactly once).
  std::vector<std::vector<uint32_t>> placement;
  PeerTiming timing;
  uint32_t home_mode = device::kHomeFirstTouch;
  uint64_t job_id = 4242;
  // The daemons talk over ZeroMQ on 127.0.0.1 instead of an InProcNetwork
  // (network() is then unavailable), authenticated when `curve` is set.
  bool zmq = false;
  std::optional<jobkeys::Keys> curve;
};

// What a host's daemon says about itself, read on its loop thread.
struct HostView {
  JobState state = JobState::kRunning;
  std::optional<uint32_t> lost_host;
  std::optional<uint32_t> lost_node;
  PeerMesh::Stats mesh;
  std::vector<std::string> lost_reasons;  // the transport's, one per lost peer
  ZmqTransport::SecurityStats security;   // ClusterOptions::zmq only
  HostStats coherence;                     // the coherence engine's counters
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Creates the daemons, starts their threads and waits (10 s) until every
  // host wrote "ready".
  Status Start();
  // Stops every daemon, joins its thread and destroys it; nodes still
  // waiting on one return kDaemonGone. Idempotent.
  void Stop();

  [[nodiscard]] InProcNetwork& network() { return *net_; }
  [[nodiscard]] uint32_t hosts() const { return static_cast<uint32_t>(options_.placement.size()); }
  [[nodiscard]] uint32_t nodes() const { return num_nodes_; }
  [[nodiscard]] uint32_t host_of(uint32_t node) const { return host_of_[node]; }
  [[nodiscard]] const std::string& socket(uint32_t host) const { return hosts_[host]->socket; }
  // ClusterOptions::zmq: where host h's daemon listens.
  [[nodiscard]] const std::string& endpoint(uint32_t host) const { return hosts_[host]->endpoint; }

  // Waits up to timeout_ms for host h's daemon to write a status line that
  // starts with `prefix`; returns it, or "" on timeout.
  std::string WaitStatus(uint32_t host, const std::string& prefix, int timeout_ms);
  // Every status line host h wrote so far (reads what is pending).
  std::vector<std::string> StatusLines(uint32_t host);
  // The daemon's state, read on its loop thread; nullopt when the loop did
  // not answer within timeout_ms (stopped, or stuck).
  std::optional<HostView> View(uint32_t host, int timeout_ms = 2000);

 private:
  struct Host {
    std::string socket;
    std::unique_ptr<Daemon> daemon;
    PeerMesh* transport = nullptr;  // owned by the daemon
    ZmqTransport* zmq = nullptr;    // the same, ClusterOptions::zmq only
    std::string endpoint;
    std::thread thread;
    UniqueFd status_read, status_write;
    std::string pending;               // a partial status line
    std::vector<std::string> lines;    // complete ones
  };
  void ReadStatus(Host& h, int timeout_ms);
  Result<std::unique_ptr<PeerMesh>> CreateTransport(uint32_t host);

  ClusterOptions options_;
  uint32_t num_nodes_ = 0;
  std::vector<uint32_t> host_of_;
  std::unique_ptr<InProcNetwork> net_;
  std::vector<std::unique_ptr<Host>> hosts_;
};

class TestNode {
 public:
  enum class Locks { kDaemon, kTable };

  // Connects to a host's daemon and attaches as node `id`.
  static Result<std::unique_ptr<TestNode>> Attach(const std::string& socket, uint32_t id, Locks locks);

  [[nodiscard]] uint32_t id() const { return id_; }
  [[nodiscard]] uint32_t host() const { return host_; }
  [[nodiscard]] uint32_t num_nodes() const { return num_nodes_; }
  // Offsets in the shared space (the same on every host).
  [[nodiscard]] uint64_t page_offset(uint64_t data_page) const;
  [[nodiscard]] const device::SpaceHeader& header() const { return *client_->header(); }

  // Requests. Each returns false once the node failed: the first failed
  // request stays in status() / failure(), and every later call fails too.
  bool Lock(uint32_t lock);
  bool Unlock(uint32_t lock);   // releases first
  bool Barrier();               // releases first, acquires after
  // A worker's barrier at the end of the program: node 0 may finish the job
  // as soon as the barrier completed, and its job end may reach this host
  // first; then the barrier answers kJobFinished (*finished), which is no
  // failure.
  bool FinalBarrier(bool* finished);
  bool Alloc(uint64_t bytes, uint64_t* offset);
  bool Free(uint64_t offset);
  bool Finish(int exit_status);
  // Misbehaves: claims `extra` more home-release log entries than it wrote.
  void CorruptHomeLog(uint64_t extra);
  // A request that must fail with `status` (e.g. the last barrier of a
  // worker: kJobFinished). True when it did; a different answer fails the node.
  bool Expect(uint32_t command, std::initializer_list<uint64_t> args, int32_t status);

  // Shared data, byte by byte with relaxed atomics (nodes of one host share
  // the pages and the daemon reads them concurrently).
  bool Read(uint64_t offset, void* out, size_t n);
  bool Write(uint64_t offset, const void* in, size_t n);
  template <typename T>
  bool Get(uint64_t offset, T* v) { return Read(offset, v, sizeof *v); }
  template <typename T>
  bool Put(uint64_t offset, T v) { return Write(offset, &v, sizeof v); }

  // A data check of the program: false records "what" as wrong data (the
  // node goes on, so that the job still ends and every error is seen).
  bool Check(bool ok, const std::string& what);

  // Write faults that left a page homed here untracked, and such pages
  // tracked again because a copy left the host (as NodeCounters counts them).
  [[nodiscard]] uint64_t untracked_faults() const { return untracked_faults_; }
  [[nodiscard]] uint64_t untracked_shared() const { return untracked_shared_; }
  [[nodiscard]] bool untracked(uint64_t data_page) const { return (mine_[data_page] & kUntracked) != 0; }

  // A request failed (the job ended, or the daemon refused it).
  [[nodiscard]] bool failed() const { return status_ != device::kOk; }
  [[nodiscard]] int32_t status() const { return status_; }
  [[nodiscard]] uint64_t status_value() const { return status_value_; }
  [[nodiscard]] const std::string& failure() const { return failure_; }
  [[nodiscard]] const std::vector<std::string>& wrong_data() const { return wrong_; }
  // The request in progress ("" between requests); any thread.
  [[nodiscard]] const char* doing() const { return doing_.load(std::memory_order_relaxed); }
  // Once *flag is set, every operation fails (kDaemonGone): a program that
  // would go on without its daemon (lock-table fast paths, reads of pages
  // it has) stops. RunNodes sets it at the deadline.
  void set_stop_flag(const std::atomic<bool>* flag) { stop_ = flag; }

 private:
  enum : uint8_t { kReadable = 1, kWritable = 2, kDirty = 4, kUntracked = 8 };
  TestNode() = default;
  runtime::DeviceClient::Reply Call(uint32_t command, std::initializer_list<uint64_t> args);
  bool Fail(uint32_t command, const runtime::DeviceClient::Reply& r);
  // failed(), after failing the node if the stop flag is set.
  bool Stopped();
  bool Ok(uint32_t command, const runtime::DeviceClient::Reply& r);
  bool Release();
  void Acquire();
  bool MapRead(uint64_t page);
  bool MapWrite(uint64_t page);
  void Track(uint64_t page);
  void TrackAll();
  void TrackCopied();
  // The data page of a space offset; false (and a failed node) if outside.
  bool PagesOf(uint64_t offset, size_t n, uint64_t* first, uint64_t* last);
  device::LockEntry* FindLock(uint32_t id, uint64_t* index);

  std::unique_ptr<runtime::DeviceClient> client_;
  uint32_t id_ = 0, host_ = 0, num_nodes_ = 0;
  Locks locks_ = Locks::kDaemon;
  uint64_t pages_ = 0;
  std::vector<uint8_t> mine_;      // per data page: kReadable | kWritable | kDirty | kUntracked
  std::vector<uint32_t> dirty_;    // pages written since the last release
  uint64_t cursor_ = 0;            // invalidation ring entries seen by Acquire
  uint64_t release_cursor_ = 0;    // and by Release
  uint64_t untracked_count_ = 0;
  uint64_t untracked_faults_ = 0, untracked_shared_ = 0;
  int32_t status_ = device::kOk;
  uint64_t status_value_ = 0;
  std::string failure_;
  std::vector<std::string> wrong_;
  std::atomic<const char*> doing_{""};
  const std::atomic<bool>* stop_ = nullptr;
};

struct NodeOutcome {
  bool returned = false;     // the program returned before the deadline
  bool attached = false;
  int32_t status = device::kOk;  // of the first failed request
  uint64_t status_value = 0;     // results[0] of that reply (lost host or node)
  std::string failure;
  std::vector<std::string> wrong_data;
  std::string doing;         // at the deadline of a hang: the request it waited for
};

struct RunOutcome {
  bool hung = false;
  double seconds = 0;
  std::vector<NodeOutcome> nodes;
  // "node 2 (host 1): ..." lines for a failure message.
  [[nodiscard]] std::string Describe() const;
  [[nodiscard]] bool any_wrong_data() const;
};

// Runs program(node) for every node of the cluster, each on its own thread
// with its own TestNode attached to its host. Waits up to timeout_ms; on a
// hang, stops the cluster (see above) before joining the threads.
RunOutcome RunNodes(Cluster& cluster, const std::function<void(TestNode&)>& program, int timeout_ms,
                    TestNode::Locks locks = TestNode::Locks::kDaemon);

// How long a test's program may run before it counts as a hang.
constexpr int kRunTimeoutMs = 30000;

// Node 0 finishes the job after a last barrier; every other node's next
// request says so.
void FinishJob(TestNode& n);

// GoogleTest expectations: the run ended with the job finished everywhere
// and nothing wrong.
void ExpectFinished(Cluster& cluster, const RunOutcome& run);

// The run either finished everywhere with correct data (*survived) or failed
// loudly: every node returned, each told by its daemon that the job ended
// (or done before that), and every daemon whose nodes were told says which
// host or node was lost. "" when so; otherwise what went wrong.
std::string SurvivedOrFailedLoudly(Cluster& cluster, const RunOutcome& run, bool* survived);

}  // namespace dsm::hostd::testing
