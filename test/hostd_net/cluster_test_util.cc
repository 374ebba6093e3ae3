#include "cluster_test_util.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>

#include "dsm/common/clock.h"
#include "dsm/common/thread_annotations.h"

namespace dsm::hostd::testing {

using namespace dsm::device;
using runtime::DeviceClient;

namespace {

std::string UniqueSocket(uint32_t host) {
  static std::atomic<int> n{0};
  return "@dsm-cluster-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-h" +
         std::to_string(host);
}

int RemainingMs(uint64_t deadline_ns) {
  uint64_t now = MonotonicNs();
  return now >= deadline_ns ? 0 : static_cast<int>((deadline_ns - now + 999999) / 1000000);
}

}  // namespace

// ---------------------------------------------------------------------------
// Cluster

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {
  for (const auto& nodes : options_.placement) num_nodes_ += static_cast<uint32_t>(nodes.size());
  host_of_.assign(num_nodes_, 0);
  for (uint32_t h = 0; h < hosts(); ++h) {
    for (uint32_t n : options_.placement[h]) {
      if (n < num_nodes_) host_of_[n] = h;
    }
  }
}

Cluster::~Cluster() { Stop(); }

Result<std::unique_ptr<PeerMesh>> Cluster::CreateTransport(uint32_t h) {
  if (!options_.zmq) {
    auto t = net_->CreateTransport(h);
    if (!t.ok()) return t.status();
    return std::unique_ptr<PeerMesh>(std::move(t).value());
  }
  ZmqTransportConfig c;
  c.host_id = h;
  c.num_hosts = hosts();
  c.job_id = options_.job_id;
  c.listen = "tcp://127.0.0.1:0";
  if (h != 0) c.join = hosts_.at(0)->endpoint;
  c.timing = options_.timing;
  c.curve = options_.curve;
  auto t = ZmqTransport::Create(c);
  if (!t.ok()) return t.status();
  return std::unique_ptr<PeerMesh>(std::move(t).value());
}

Status Cluster::Start() {
  if (!options_.zmq) net_ = std::make_unique<InProcNetwork>(hosts(), options_.job_id, options_.timing);
  for (uint32_t h = 0; h < hosts(); ++h) {
    auto host = std::make_unique<Host>();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return Status::FromErrno("pipe");
    host->status_read = UniqueFd(fds[0]);
    host->status_write = UniqueFd(fds[1]);
    auto t = CreateTransport(h);
    if (!t.ok()) return Status(t.status().code(), "host " + std::to_string(h) + ": " + t.status().message());
    host->transport = t.value().get();
    host->zmq = dynamic_cast<ZmqTransport*>(host->transport);
    host->endpoint = t.value()->endpoint();
    DaemonConfig cfg;
    cfg.socket_path = UniqueSocket(h);
    cfg.space.size = kMinSpaceSize;
    cfg.space.num_nodes = num_nodes_;
    cfg.space.host_id = h;
    cfg.space.num_hosts = hosts();
    cfg.space.job_id = options_.job_id;
    cfg.space.home_mode = options_.home_mode;
    cfg.status_fd = host->status_write.get();
    cfg.local_nodes = options_.placement[h];
    cfg.transport = std::shared_ptr<PeerTransport>(std::move(t).value());
    host->socket = cfg.socket_path;
    auto d = Daemon::Create(cfg);
    if (!d.ok()) return Status(d.status().code(), "host " + std::to_string(h) + ": " + d.status().message());
    host->daemon = std::move(d).value();
    hosts_.push_back(std::move(host));
  }
  for (auto& host : hosts_) {
    Daemon* d = host->daemon.get();
    host->thread = std::thread([d] { d->Run(); });
  }
  const uint64_t deadline = MonotonicNs() + 10'000'000'000ULL;
  for (uint32_t h = 0; h < hosts(); ++h) {
    if (WaitStatus(h, "ready", RemainingMs(deadline)).empty()) {
      return Status(ETIMEDOUT, "host " + std::to_string(h) + " did not become ready within 10 s");
    }
  }
  return Status::Ok();
}

void Cluster::Stop() {
  for (auto& host : hosts_) {
    if (host->daemon) host->daemon->RequestStop();
  }
  for (auto& host : hosts_) {
    if (host->thread.joinable()) host->thread.join();
  }
  // Destroying a daemon closes its nodes' sockets: a node waiting on it
  // returns kDaemonGone.
  for (auto& host : hosts_) {
    host->transport = nullptr;
    host->zmq = nullptr;
    host->daemon.reset();
  }
}

void Cluster::ReadStatus(Host& h, int timeout_ms) {
  pollfd pfd{h.status_read.get(), POLLIN, 0};
  if (::poll(&pfd, 1, timeout_ms) <= 0) return;
  char buf[512];
  ssize_t n;
  while ((n = ::read(h.status_read.get(), buf, sizeof buf)) > 0) {
    h.pending.append(buf, static_cast<size_t>(n));
    size_t eol;
    while ((eol = h.pending.find('\n')) != std::string::npos) {
      h.lines.push_back(h.pending.substr(0, eol));
      h.pending.erase(0, eol + 1);
    }
  }
}

std::string Cluster::WaitStatus(uint32_t host, const std::string& prefix, int timeout_ms) {
  Host& h = *hosts_.at(host);
  const uint64_t deadline = MonotonicNs() + static_cast<uint64_t>(timeout_ms) * 1000000;
  size_t seen = 0;
  for (;;) {
    for (; seen < h.lines.size(); ++seen) {
      if (h.lines[seen].rfind(prefix, 0) == 0) return h.lines[seen];
    }
    int left = RemainingMs(deadline);
    if (left == 0) return "";
    ReadStatus(h, left);
  }
}

std::vector<std::string> Cluster::StatusLines(uint32_t host) {
  Host& h = *hosts_.at(host);
  ReadStatus(h, 0);
  return h.lines;
}

std::optional<HostView> Cluster::View(uint32_t host, int timeout_ms) {
  Host& h = *hosts_.at(host);
  if (!h.daemon) return std::nullopt;
  auto promise = std::make_shared<std::promise<HostView>>();
  std::future<HostView> future = promise->get_future();
  Daemon* d = h.daemon.get();
  PeerMesh* t = h.transport;
  ZmqTransport* zmq = h.zmq;
  const uint32_t n = hosts();
  d->loop().Post([promise, d, t, zmq, n] {
    HostView v;
    v.state = d->core().state();
    v.lost_host = d->core().lost_host();
    v.lost_node = d->core().lost_node();
    v.mesh = t->stats();
    if (zmq != nullptr) v.security = zmq->security_stats();
    if (const Coherence* c = d->core().cluster()) v.coherence = c->stats();
    for (uint32_t p = 0; p < n; ++p) {
      if (t->peer_state(p) == PeerMesh::PeerState::kLost) v.lost_reasons.push_back(t->lost_reason(p));
    }
    promise->set_value(std::move(v));
  });
  if (future.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) return std::nullopt;
  return future.get();
}

// ---------------------------------------------------------------------------
// TestNode

Result<std::unique_ptr<TestNode>> TestNode::Attach(const std::string& socket, uint32_t id, Locks locks) {
  auto client = DeviceClient::Connect(socket, 5000, DeviceClient::Placement::kAnywhere);
  if (!client.ok()) return client.status();
  std::unique_ptr<TestNode> node(new TestNode());
  node->client_ = std::move(client).value();
  node->locks_ = locks;
  auto r = node->client_->Call(kAttach, {kVersion, id, static_cast<uint64_t>(::getpid())});
  if (r.status != kOk) return Status(EPROTO, std::string("attach: ") + StatusName(r.status));
  node->id_ = static_cast<uint32_t>(r.results[0]);
  node->num_nodes_ = static_cast<uint32_t>(r.results[1]);
  node->host_ = static_cast<uint32_t>(r.results[2]);
  const SpaceHeader& h = node->header();
  node->pages_ = h.data_pages;
  node->mine_.assign(node->pages_, 0);
  node->cursor_ = LoadAcquire(&h.inval_head);
  node->release_cursor_ = node->cursor_;
  return node;
}

uint64_t TestNode::page_offset(uint64_t data_page) const {
  return header().data_offset + data_page * kPageSize;
}

DeviceClient::Reply TestNode::Call(uint32_t command, std::initializer_list<uint64_t> args) {
  doing_.store(CommandName(command), std::memory_order_relaxed);
  auto r = client_->Call(command, args);
  doing_.store("", std::memory_order_relaxed);
  return r;
}

bool TestNode::Fail(uint32_t command, const DeviceClient::Reply& r) {
  if (status_ == kOk) {
    status_ = r.status;
    status_value_ = r.results[0];
    failure_ = std::string(CommandName(command)) + ": " +
               (r.status == runtime::kDaemonGone ? "daemon gone" : StatusName(r.status));
    if (r.status == kHostLost) failure_ += " (host " + std::to_string(r.results[0]) + ")";
    if (r.status == kNodeLost) failure_ += " (node " + std::to_string(r.results[0]) + ")";
  }
  return false;
}

bool TestNode::Stopped() {
  if (stop_ != nullptr && stop_->load(std::memory_order_relaxed) && status_ == kOk) {
    status_ = runtime::kDaemonGone;
    failure_ = "stopped at the deadline";
  }
  return failed();
}

bool TestNode::Ok(uint32_t command, const DeviceClient::Reply& r) {
  return r.status == kOk ? true : Fail(command, r);
}

bool TestNode::Check(bool ok, const std::string& what) {
  if (!ok && wrong_.size() < 20) wrong_.push_back("node " + std::to_string(id_) + ": " + what);
  return ok;
}

bool TestNode::PagesOf(uint64_t offset, size_t n, uint64_t* first, uint64_t* last) {
  const uint64_t lo = header().data_offset;
  if (n == 0 || offset < lo || offset + n > lo + pages_ * kPageSize) {
    DeviceClient::Reply r;
    r.status = kBadArgument;
    return Fail(kNone, r);
  }
  *first = (offset - lo) / kPageSize;
  *last = (offset + n - 1 - lo) / kPageSize;
  return true;
}

bool TestNode::MapRead(uint64_t page) {
  uint8_t& m = mine_[page];
  if (m & kReadable) return true;
  uint32_t st = LoadAcquire(&PageMetaTable(client_->base())[page].state);
  if (st != kPageHome && st != kPageValid && !Ok(kFault, Call(kFault, {page, 0}))) return false;
  m |= (m & (kDirty | kUntracked)) ? kReadable | kWritable : kReadable;
  return true;
}

bool TestNode::MapWrite(uint64_t page) {
  uint8_t& m = mine_[page];
  if (m & kWritable) return true;
  PageMeta& meta = PageMetaTable(client_->base())[page];
  uint32_t st = LoadAcquire(&meta.state);
  if (st != kPageHome) {
    auto r = Call(kFault, {page, 1});
    if (!Ok(kFault, r)) return false;
    st = static_cast<uint32_t>(r.results[0]);
  }
  // As the runtime does: a page homed here that no other host has a copy
  // of is written untracked (never logged) until a copy leaves.
  if ((m & kUntracked) || (st == kPageHome && !(m & kDirty) && __atomic_load_n(&meta.copied, __ATOMIC_ACQUIRE) == 0)) {
    if (!(m & kUntracked)) ++untracked_count_;
    m = kReadable | kWritable | kUntracked;
    ++untracked_faults_;
    return true;
  }
  if (!(m & kDirty)) dirty_.push_back(static_cast<uint32_t>(page));
  m = kReadable | kWritable | kDirty;
  return true;
}

void TestNode::Track(uint64_t page) {
  mine_[page] = static_cast<uint8_t>((mine_[page] & ~kUntracked) | kDirty);
  dirty_.push_back(static_cast<uint32_t>(page));
  --untracked_count_;
  ++untracked_shared_;
}

void TestNode::TrackAll() {
  for (uint64_t p = 0; p < pages_ && untracked_count_ > 0; ++p) {
    if (mine_[p] & kUntracked) Track(p);
  }
}

void TestNode::TrackCopied() {
  const SpaceHeader& h = header();
  if (untracked_count_ == 0) {
    release_cursor_ = LoadAcquire(&h.inval_head);
    return;
  }
  // The runtime's Dekker with the daemon's copy (CoherenceClient::TrackCopied).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint64_t head = LoadAcquire(&h.inval_head);
  if (head - release_cursor_ > h.inval_entries) {
    TrackAll();
  } else {
    const uint32_t* ring = InvalRing(client_->base());
    for (uint64_t i = release_cursor_; i < head && untracked_count_ > 0; ++i) {
      uint32_t p = __atomic_load_n(&ring[i & (h.inval_entries - 1)], __ATOMIC_RELAXED);
      if (p < pages_ && (mine_[p] & kUntracked)) Track(p);
    }
    if (LoadAcquire(&h.inval_head) - release_cursor_ > h.inval_entries) TrackAll();
  }
  release_cursor_ = head;
}

bool TestNode::Read(uint64_t offset, void* out, size_t n) {
  uint64_t first, last;
  if (Stopped() || !PagesOf(offset, n, &first, &last)) return false;
  for (uint64_t p = first; p <= last; ++p) {
    if (!MapRead(p)) return false;
  }
  const char* src = client_->base() + offset;
  auto* dst = static_cast<char*>(out);
  for (size_t i = 0; i < n; ++i) dst[i] = __atomic_load_n(src + i, __ATOMIC_RELAXED);
  return true;
}

bool TestNode::Write(uint64_t offset, const void* in, size_t n) {
  uint64_t first, last;
  if (Stopped() || !PagesOf(offset, n, &first, &last)) return false;
  for (uint64_t p = first; p <= last; ++p) {
    if (!MapWrite(p)) return false;
  }
  char* dst = client_->base() + offset;
  const auto* src = static_cast<const char*>(in);
  for (size_t i = 0; i < n; ++i) __atomic_store_n(dst + i, src[i], __ATOMIC_RELAXED);
  return true;
}

bool TestNode::Release() {
  TrackCopied();
  if (dirty_.empty()) return true;
  std::sort(dirty_.begin(), dirty_.end());
  // As the runtime does: pages homed here go to the home-release log, the
  // rest (and what does not fit) to the daemon.
  const uint32_t slot = static_cast<uint32_t>(client_->peer_id());
  HomeLog* log = HomeLogOf(client_->base(), slot);
  const PageMeta* meta = PageMetaTable(client_->base());
  uint64_t head = log->head;
  const uint64_t limit = LoadAcquire(&log->tail) + kHomeLogEntries;
  std::vector<uint32_t> rest;
  for (uint32_t p : dirty_) {
    if (head < limit && LoadAcquire(&meta[p].state) == kPageHome) {
      __atomic_store_n(&log->pages[head++ % kHomeLogEntries], p, __ATOMIC_RELAXED);
    } else {
      rest.push_back(p);
    }
  }
  StoreRelease(&log->head, head);
  uint32_t* list = PageList(client_->base(), slot);
  for (size_t done = 0; done < rest.size();) {
    size_t n = std::min<size_t>(kListEntries, rest.size() - done);
    for (size_t i = 0; i < n; ++i) __atomic_store_n(&list[i], rest[done + i], __ATOMIC_RELAXED);
    if (!Ok(kRelease, Call(kRelease, {n}))) return false;
    done += n;
  }
  // Written pages become read-only; those an acquire dropped stay unmapped.
  for (uint32_t p : dirty_) mine_[p] = (mine_[p] & kWritable) ? kReadable : 0;
  dirty_.clear();
  return true;
}

void TestNode::CorruptHomeLog(uint64_t extra) {
  HomeLog* log = HomeLogOf(client_->base(), static_cast<uint32_t>(client_->peer_id()));
  StoreRelease(&log->head, log->head + extra);
}

void TestNode::Acquire() {
  const SpaceHeader& h = header();
  const uint64_t head = LoadAcquire(&h.inval_head);
  if (head - cursor_ > h.inval_entries) {
    TrackAll();  // as the runtime's DropAll
    for (uint8_t& m : mine_) m &= kDirty;
  } else {
    const uint32_t* ring = InvalRing(client_->base());
    const PageMeta* meta = PageMetaTable(client_->base());
    for (uint64_t i = cursor_; i < head; ++i) {
      uint32_t p = __atomic_load_n(&ring[i & (h.inval_entries - 1)], __ATOMIC_RELAXED);
      if (p >= pages_ || LoadAcquire(&meta[p].state) == kPageHome) continue;
      if (mine_[p] & kUntracked) {
        // Its home moved away at this barrier (home migration): dropped,
        // as the runtime drops it.
        mine_[p] = 0;
        --untracked_count_;
        continue;
      }
      mine_[p] &= kDirty;
    }
  }
  cursor_ = head;
}

LockEntry* TestNode::FindLock(uint32_t id, uint64_t* index) {
  return FindLockEntry(client_->base(), id, index);
}

bool TestNode::Lock(uint32_t lock) {
  if (Stopped()) return false;
  uint64_t index = kNoLockEntry;
  if (locks_ == Locks::kTable) {
    LockEntry* e = FindLock(lock, &index);
    const uint64_t me = uint64_t{id_} + 1;
    for (int i = 0; e != nullptr && i < 100; ++i) {
      uint64_t w = LoadAcquire(&e->word);
      if (w == 0 && CompareExchange(&e->word, &w, me)) {
        Acquire();
        return true;
      }
      if (w & kLockWaiters) break;
      if (i % 16 == 15) sched_yield();
    }
  }
  if (!Ok(kLock, Call(kLock, {lock, index}))) return false;
  Acquire();
  return true;
}

bool TestNode::Unlock(uint32_t lock) {
  if (Stopped() || !Release()) return false;
  uint64_t index = kNoLockEntry;
  if (locks_ == Locks::kTable) {
    LockEntry* e = FindLock(lock, &index);
    if (e != nullptr) {
      uint64_t w = LoadAcquire(&e->word);
      if (!(w & kLockWaiters) && (w & kLockOwnerMask) == uint64_t{id_} + 1 &&
          CompareExchange(&e->word, &w, uint64_t{0})) {
        return true;
      }
    }
  }
  return Ok(kUnlock, Call(kUnlock, {lock, index}));
}

bool TestNode::Barrier() {
  if (Stopped() || !Release()) return false;
  if (!Ok(kBarrier, Call(kBarrier, {}))) return false;
  Acquire();
  return true;
}

bool TestNode::FinalBarrier(bool* finished) {
  *finished = false;
  if (Stopped() || !Release()) return false;
  auto r = Call(kBarrier, {});
  if (r.status == kJobFinished) {
    *finished = true;
    return true;
  }
  if (!Ok(kBarrier, r)) return false;
  Acquire();
  return true;
}

bool TestNode::Alloc(uint64_t bytes, uint64_t* offset) {
  if (Stopped()) return false;
  auto r = Call(kAlloc, {bytes, kPageSize});
  if (!Ok(kAlloc, r)) return false;
  *offset = r.results[0];
  return true;
}

bool TestNode::Free(uint64_t offset) { return !Stopped() && Ok(kFree, Call(kFree, {offset})); }

bool TestNode::Finish(int exit_status) {
  if (Stopped() || !Release()) return false;
  return Ok(kFinish, Call(kFinish, {static_cast<uint64_t>(exit_status)}));
}

bool TestNode::Expect(uint32_t command, std::initializer_list<uint64_t> args, int32_t status) {
  if (Stopped()) return false;
  // A request expected to hear that the job finished publishes nothing
  // first: its release would hear it instead (a node tracking pages copied
  // out since its last release has some to log or send).
  if ((command == kBarrier || command == kUnlock) && status != kJobFinished && !Release()) return false;
  auto r = Call(command, args);
  if (r.status == status) return true;
  if (r.status == kOk) r.status = kBadCommand;  // succeeded where it should not have
  return Fail(command, r);
}

// ---------------------------------------------------------------------------
// RunNodes

std::string RunOutcome::Describe() const {
  std::string out = hung ? "HANG after " + std::to_string(seconds) + " s\n" : "";
  for (size_t i = 0; i < nodes.size(); ++i) {
    const NodeOutcome& n = nodes[i];
    out += "node " + std::to_string(i) + ": ";
    if (!n.attached) out += "did not attach; ";
    if (!n.returned) out += "did not return; ";
    if (hung) out += "at the deadline " + (n.doing.empty() ? std::string("not in a request") : "waiting in " + n.doing) + "; ";
    if (!(hung && n.status == runtime::kDaemonGone)) out += n.failure.empty() ? "no failed request" : n.failure;
    for (const std::string& w : n.wrong_data) out += "; WRONG DATA " + w;
    out += "\n";
  }
  return out;
}

bool RunOutcome::any_wrong_data() const {
  for (const NodeOutcome& n : nodes) {
    if (!n.wrong_data.empty()) return true;
  }
  return false;
}

RunOutcome RunNodes(Cluster& cluster, const std::function<void(TestNode&)>& program, int timeout_ms,
                    TestNode::Locks locks) {
  const uint32_t n = cluster.nodes();
  RunOutcome out;
  out.nodes.resize(n);
  std::vector<std::atomic<TestNode*>> live(n);
  std::atomic<bool> stop{false};
  Mutex mu;
  CondVar cv;
  uint32_t returned = 0;  // guarded by mu
  const uint64_t start = MonotonicNs();
  std::vector<std::thread> threads;
  for (uint32_t id = 0; id < n; ++id) {
    threads.emplace_back([&, id] {
      NodeOutcome& o = out.nodes[id];
      auto node = TestNode::Attach(cluster.socket(cluster.host_of(id)), id, locks);
      if (!node.ok()) {
        o.failure = node.status().message();
      } else {
        o.attached = true;
        live[id] = node.value().get();
        node.value()->set_stop_flag(&stop);
        program(*node.value());
        TestNode& t = *node.value();
        o.status = t.status();
        o.status_value = t.status_value();
        o.failure = t.failure();
        o.wrong_data = t.wrong_data();
      }
      MutexLock lock(&mu);
      live[id] = nullptr;  // the node goes when the thread ends
      o.returned = true;
      ++returned;
      cv.SignalAll();
    });
  }
  bool all;
  {
    MutexLock lock(&mu);
    all = cv.WaitFor(&mu, std::chrono::milliseconds(timeout_ms), [&]() REQUIRES(mu) { return returned == n; });
    if (!all) {
      // Name what each stuck node waits for before unblocking it.
      for (uint32_t id = 0; id < n; ++id) {
        TestNode* t = live[id].load();
        if (t != nullptr) out.nodes[id].doing = t->doing();
      else if (!out.nodes[id].returned) out.nodes[id].doing = "(attaching)";
      }
    }
  }
  out.hung = !all;
  out.seconds = static_cast<double>(MonotonicNs() - start) / 1e9;
  if (out.hung) {
    stop = true;
    cluster.Stop();
  }
  for (auto& t : threads) t.join();
  return out;
}

void FinishJob(TestNode& n) {
  if (n.id() == 0) {
    if (n.Barrier()) n.Finish(0);
    return;
  }
  bool finished = false;
  if (n.FinalBarrier(&finished) && !finished) n.Expect(kBarrier, {}, kJobFinished);
}

void ExpectFinished(Cluster& cluster, const RunOutcome& run) {
  ASSERT_FALSE(run.hung) << run.Describe();
  EXPECT_FALSE(run.any_wrong_data()) << run.Describe();
  bool ok = !run.any_wrong_data();
  for (const auto& node : run.nodes) {
    EXPECT_EQ(node.status, kOk) << run.Describe();
    ok = ok && node.status == kOk;
  }
  if (!ok) return;  // the job did not finish: no status to wait for
  for (uint32_t h = 0; h < cluster.hosts(); ++h) {
    EXPECT_EQ(cluster.WaitStatus(h, "finished", 5000), "finished 0") << "host " << h;
  }
}

namespace {
bool JobEndedStatus(int32_t status) { return status == kHostLost || status == kNodeLost; }
}  // namespace

std::string SurvivedOrFailedLoudly(Cluster& cluster, const RunOutcome& run, bool* survived) {
  if (run.hung) return "the job hung (neither finished nor failed):\n" + run.Describe();
  if (run.any_wrong_data()) return "wrong data:\n" + run.Describe();
  *survived = true;
  std::vector<bool> told(cluster.hosts(), false);
  for (uint32_t id = 0; id < run.nodes.size(); ++id) {
    const auto& n = run.nodes[id];
    if (n.status == kOk) continue;
    *survived = false;
    if (!JobEndedStatus(n.status)) return "a request failed without ending the job:\n" + run.Describe();
    told[cluster.host_of(id)] = true;
  }
  if (*survived) {
    for (uint32_t h = 0; h < cluster.hosts(); ++h) {
      std::string line = cluster.WaitStatus(h, "finished", 3000);
      if (line != "finished 0") return "host " + std::to_string(h) + " did not report the job finished";
    }
    return "";
  }
  for (uint32_t h = 0; h < cluster.hosts(); ++h) {
    if (told[h] && cluster.WaitStatus(h, "lost", 3000).empty()) {
      return "host " + std::to_string(h) + " told its nodes the job failed but reported no loss";
    }
  }
  return "";
}

}  // namespace dsm::hostd::testing
