// The host engine's pages: faults, fetches, twins, diffs, notices. Locks
// and barriers are in coherence_sync.cc.
#include "dsm/hostd/coherence.h"

#include <algorithm>
#include <atomic>
#include <cinttypes>

#include "dsm/common/log.h"
#include "dsm/hostd/page_diff.h"
#include "dsm/hostd/peer_codec.h"

namespace dsm::hostd {

using namespace dsm::device;
using namespace dsm::hostd::peer;

namespace {

constexpr uint32_t kMaxReadAhead = 64;

uint32_t StateOf(const PageMeta& m) { return LoadAcquire(&m.state); }

}  // namespace

Coherence::Coherence(const SharedSpace* space, const Config& config, ShmHeap* heap, SendFn send,
                     CompleteFn complete, FailFn fail)
    : space_(space),
      config_(config),
      send_(std::move(send)),
      complete_(std::move(complete)),
      fail_(std::move(fail)),
      meta_(space->page_meta()),
      data_pages_(space->header()->data_pages) {
  pinned_ = PinnedPagesOf(space->header());
  if (config_.host_id == 0) {
    manager_ = std::make_unique<Manager>(
        config_.num_hosts, data_pages_, config_.home_mode, heap,
        [this](uint32_t to, uint16_t type, uint64_t request_id, std::string body) {
          Reply(to, type, request_id, std::move(body));
        },
        pinned_);
    // Host 0 is the home of the pinned pages from the start: node 0's faults
    // there never need the daemon.
    pinned_.ForEach(data_pages_, [this](uint64_t p) {
      meta_[p].home = 0;
      StoreRelease(&meta_[p].state, uint32_t{kPageHome});
    });
  }
}

Coherence::~Coherence() = default;

uint64_t Coherence::RequestEpoch(std::string_view body) {
  PageRequestBody b;
  return BodyReader(body).Get(&b) ? b.epoch : 0;  // too short: handled (and refused) now
}

uint32_t Coherence::RoundRobinHome(uint32_t page) const {
  return pinned_.Contains(page) ? 0 : page % config_.num_hosts;
}

// ---------------------------------------------------------------------------
// Messages

uint64_t Coherence::Send(uint32_t to, uint16_t type, std::string body, Awaited* awaited) {
  uint64_t id = 0;
  if (awaited != nullptr) {
    id = next_request_++;
    awaited_.emplace(id, std::move(*awaited));
  }
  Reply(to, type, id, std::move(body));
  return id;
}

bool Coherence::Reply(uint32_t to, uint16_t type, uint64_t request_id, std::string body) {
  // Statistics count what crosses to other hosts, not host 0's messages to
  // its own manager.
  if (type < kMsgTypeEnd && to != config_.host_id) {
    ++stats_.msgs_sent[type];
    stats_.bytes_sent[type] += sizeof(PeerHeader) + body.size();
  }
  return send_(to, type, request_id, std::move(body));
}

void Coherence::Complete(uint32_t slot, const NodeReply& reply) { complete_(slot, reply); }

void Coherence::OnMessage(uint32_t from, uint16_t type, uint64_t request_id, std::string_view body) {
  if (from >= config_.num_hosts) return;
  bool ok = true;
  if (Manager::Handles(type)) {
    if (!manager_) {
      DSM_LOG_WARN("host %u sent a manager message (%s) to host %u, which is not the manager", from,
                   MsgTypeName(type), config_.host_id);
      return;
    }
    ok = manager_->OnMessage(from, type, request_id, body);
  } else {
    switch (type) {
      case kHomeReply:
      case kFetchReply:
      case kDiffAck:
      case kAllocReply:
      case kFreeReply: {
        auto it = awaited_.find(request_id);
        if (it == awaited_.end() || it->second.reply_type != type) {
          DSM_LOG_WARN("dropped a late or duplicate %s from host %u (request %" PRIu64 ")",
                       MsgTypeName(type), from, request_id);
          return;
        }
        Awaited awaited = std::move(it->second);
        awaited_.erase(it);
        ok = awaited.on_reply(body);
        break;
      }
      case kFetch:
      case kDiff: {
        // A barrier may have moved a page's home here, and the sender heard
        // of it first: its request waits until this host has departed too.
        if (RequestEpoch(body) > barrier_epoch_) {
          ++stats_.deferred;
          deferred_.push_back(Deferred{from, type, request_id, std::string(body)});
          return;
        }
        ok = type == kFetch ? OnFetch(from, request_id, body) : OnDiff(from, request_id, body);
        break;
      }
      case kLockGrant: ok = OnLockGrant(body); break;
      case kLockRecall: ok = OnLockRecall(body); break;
      case kBarrierDepart: ok = OnBarrierDepart(body); break;
      default:
        DSM_LOG_WARN("dropped a message of unknown type %u from host %u", type, from);
        return;
    }
  }
  // The protocol has no retransmission: a message dropped here would leave a
  // node of some host waiting for ever. A daemon of this job that sends a
  // malformed or out-of-turn message is broken, and the job ends naming it.
  if (!ok) {
    fail_("host " + std::to_string(from) + " sent a malformed or unexpected " + MsgTypeName(type) +
          " message");
  }
}

void Coherence::OnJobEnded() {
  busy_.clear();
  diffs_.clear();
  releases_.clear();
  awaited_.clear();
  barrier_slots_.clear();
  deferred_.clear();
  for (auto& [id, lock] : locks_) lock.waiters.clear();
}

// ---------------------------------------------------------------------------
// Faults

bool Coherence::Fault(uint32_t slot, uint32_t node, uint64_t page, bool write, NodeReply* reply) {
  if (page >= data_pages_) {
    reply->status = kBadArgument;
    return true;
  }
  ++(write ? stats_.faults_write : stats_.faults_read);
  return Serve(static_cast<uint32_t>(page), PageOp{slot, node, write}, reply);
}

bool Coherence::Serve(uint32_t page, const PageOp& op, NodeReply* reply) {
  if (auto it = busy_.find(page); it != busy_.end()) {
    it->second.push_back(op);
    return false;
  }
  PageMeta& m = meta_[page];
  uint32_t state = StateOf(m);
  if (state == kPageUntouched) {
    if (config_.home_mode == kHomeRoundRobin) {
      SetHome(page, RoundRobinHome(page));
      state = StateOf(m);
    } else {
      busy_[page].push_back(op);
      QueryHomes(page, op.node);
      return false;
    }
  }
  if (state == kPageInvalid) {
    busy_[page].push_back(op);
    FetchPages(page);
    return false;
  }
  if (state == kPageValid && op.write) {
    Twin& twin = EnsureTwin(page);
    if (std::find(twin.writers.begin(), twin.writers.end(), op.node) == twin.writers.end()) {
      twin.writers.push_back(op.node);
    }
  }
  reply->results[0] = state;
  return true;
}

void Coherence::Resume(uint32_t page) {
  auto it = busy_.find(page);
  if (it == busy_.end()) return;
  std::vector<PageOp> ops = std::move(it->second);
  busy_.erase(it);
  for (const PageOp& op : ops) {
    NodeReply reply;
    if (Serve(page, op, &reply)) Complete(op.slot, reply);
  }
}

void Coherence::SetHome(uint32_t page, uint32_t home) {
  PageMeta& m = meta_[page];
  if (StateOf(m) != kPageUntouched) return;
  m.home = static_cast<uint16_t>(home);
  StoreRelease(&m.state, home == config_.host_id ? uint32_t{kPageHome} : uint32_t{kPageInvalid});
}

bool Coherence::BecomeHomeIfUntouched(uint32_t page) {
  PageMeta& m = meta_[page];
  uint32_t state = StateOf(m);
  if (state == kPageHome) return true;
  if (state != kPageUntouched) return false;
  if (config_.home_mode == kHomeRoundRobin && RoundRobinHome(page) != config_.host_id) return false;
  SetHome(page, config_.host_id);
  return true;
}

Coherence::Twin& Coherence::EnsureTwin(uint32_t page) {
  auto [it, fresh] = twins_.try_emplace(page);
  if (fresh) {
    it->second.data.reset(new uint64_t[kPageSize / sizeof(uint64_t)]);
    CopyPage(it->second.data.get(), space_->page(page));
    ++stats_.twins;
  }
  return it->second;
}

void Coherence::QueryHomes(uint32_t page, uint32_t node) {
  // The faulting page is claimed; the pages after it that nobody here has
  // touched are looked up too, so that a sequential reader learns many
  // homes per round trip. When a node's first touches come in order (it
  // initialises its part of an array, or of several arrays in one loop:
  // each is a run of its own), the next untouched pages are
  // claimed too, twice as many each time up to kMaxReadAhead: one round
  // trip per 64 pages instead of one per page. A first touch out of order
  // claims only its own page again, so a claim reaches at most one window
  // into pages another host was going to touch first.
  std::deque<ClaimRun>& runs = claim_runs_[node];
  auto run = std::find_if(runs.begin(), runs.end(), [page](const ClaimRun& r) { return r.end == page; });
  ClaimRun ahead;
  if (run != runs.end()) {
    ahead.window = std::min(run->window * 2, kMaxReadAhead);
    runs.erase(run);
  } else if (runs.size() == kClaimRuns) {
    runs.pop_back();
  }
  std::vector<uint32_t> pages{page};
  for (uint32_t p = page + 1; p < data_pages_ && pages.size() < kMaxReadAhead; ++p) {
    if (StateOf(meta_[p]) != kPageUntouched || busy_.count(p)) break;
    pages.push_back(p);
  }
  const auto claim = std::min(ahead.window, static_cast<uint32_t>(pages.size()));
  ahead.end = page + claim;
  runs.push_front(ahead);
  BodyWriter w;
  w.Put(PageListBody{static_cast<uint32_t>(pages.size()), kClaimFirst | (claim << kClaimCountShift)});
  w.PutBytes(pages.data(), pages.size() * sizeof(uint32_t));
  Awaited awaited{kHomeReply, [this](std::string_view body) { return OnHomeReply(body); }};
  Send(0, kHomeQuery, w.Take(), &awaited);
}

bool Coherence::OnHomeReply(std::string_view body) {
  BodyReader r(body);
  PageListBody b;
  if (!r.Get(&b) || r.remaining() != uint64_t{b.count} * sizeof(HomeEntry)) return false;
  std::vector<HomeEntry> homes(b.count);
  for (auto& h : homes) {
    if (!r.Get(&h) || h.page >= data_pages_ || (h.home >= config_.num_hosts && h.home != kNoHome)) {
      return false;
    }
  }
  for (const HomeEntry& h : homes) {
    if (h.home != kNoHome) SetHome(h.page, h.home);
  }
  if (!homes.empty()) Resume(homes.front().page);
  return true;
}

void Coherence::FetchPages(uint32_t page) {
  const uint32_t home = meta_[page].home;
  readahead_ = page == last_fetch_end_ ? std::min(readahead_ * 2, kMaxReadAhead) : 1;
  // A writer going through a run of pages homed elsewhere (each one twinned
  // here as it starts writing it) is a sequential stream too, even when
  // other streams' faults come in between (Radix's permutation writes a
  // run per bucket, a thousand at a time): fetch twice as many pages as
  // the run has twins behind this page.
  uint32_t behind = 0;
  while (behind < kMaxReadAhead / 2 && behind < page && twins_.count(page - behind - 1)) ++behind;
  readahead_ = std::max(readahead_, std::min(2 * behind, kMaxReadAhead));
  std::vector<uint32_t> pages{page};
  for (uint32_t p = page + 1; p < data_pages_ && pages.size() < readahead_; ++p) {
    const PageMeta& m = meta_[p];
    if (StateOf(m) != kPageInvalid || m.home != home || busy_.count(p)) break;
    busy_[p];  // in flight, nobody waiting yet
    pages.push_back(p);
  }
  last_fetch_end_ = pages.back() + 1;
  stats_.prefetched += pages.size() - 1;
  SendFetch(home, pages);
}

void Coherence::SendFetch(uint32_t home, const std::vector<uint32_t>& pages) {
  ++stats_.fetch_messages;
  BodyWriter w;
  w.Put(PageRequestBody{static_cast<uint32_t>(pages.size()), 0, barrier_epoch_});
  w.PutBytes(pages.data(), pages.size() * sizeof(uint32_t));
  Awaited awaited{kFetchReply,
                  [this, home](std::string_view body) { return OnFetchReply(home, body); }};
  Send(home, kFetch, w.Take(), &awaited);
}

bool Coherence::OnFetch(uint32_t from, uint64_t request_id, std::string_view body) {
  BodyReader r(body);
  PageRequestBody b;
  if (!r.Get(&b) || r.remaining() != uint64_t{b.count} * sizeof(uint32_t)) return false;
  std::vector<uint32_t> pages(b.count);
  for (uint32_t& p : pages) {
    if (!r.Get(&p) || p >= data_pages_) return false;
  }
  // Local nodes may be writing these pages untracked (see
  // device::PageMeta::copied): mark each as copied and list the newly marked
  // ones in the invalidation ring, then a seq_cst fence, and only then copy.
  // A node's release starts with a seq_cst fence and reads the ring: either
  // its release sees the entry (and from then on logs its writes to the
  // page) or the copy below includes every write it made before that fence.
  std::vector<bool> ours(pages.size());
  for (size_t i = 0; i < pages.size(); ++i) {
    ours[i] = BecomeHomeIfUntouched(pages[i]);
    if (ours[i]) MarkCopied(pages[i]);
  }
  PublishInvalidations();
  std::atomic_thread_fence(std::memory_order_seq_cst);
  BodyWriter w;
  w.Reserve(sizeof(PageListBody) + pages.size() * (sizeof(FetchEntry) + kPageSize));
  w.Put(PageListBody{b.count, 0});
  alignas(8) uint64_t buffer[kPageSize / sizeof(uint64_t)];
  for (size_t i = 0; i < pages.size(); ++i) {
    const uint32_t p = pages[i];
    FetchEntry e{p, 0, 0};
    if (!ours[i]) {
      e.status = 1;
      std::memset(buffer, 0, sizeof buffer);
    } else {
      e.version = meta_[p].version;
      CopyPage(buffer, space_->page(p));
    }
    w.Put(e);
    w.PutBytes(buffer, kPageSize);
  }
  Reply(from, kFetchReply, request_id, w.Take());
  return true;
}

void Coherence::MarkCopied(uint32_t page) {
  PageMeta& m = meta_[page];
  if (__atomic_load_n(&m.copied, __ATOMIC_RELAXED) != 0) return;  // no notice since the last copy
  // Nodes read it in their fault handler; the ring's head (a release store)
  // is published after it.
  __atomic_store_n(&m.copied, uint16_t{1}, __ATOMIC_RELAXED);
  fresh_invalid_.push_back(page);
}

void Coherence::RecordHomeNotice(uint32_t page) {
  PageMeta& m = meta_[page];
  m.version = m.version + 1;
  own_notices_.push_back(Notice{page, config_.host_id, m.version});
  // Every copy sent so far has an older version: this notice will make it
  // stale wherever it is, so a write from now on needs no notice until the
  // page is copied again.
  __atomic_store_n(&m.copied, uint16_t{0}, __ATOMIC_RELEASE);
}

bool Coherence::OnFetchReply(uint32_t from, std::string_view body) {
  BodyReader r(body);
  PageListBody b;
  if (!r.Get(&b) || r.remaining() != uint64_t{b.count} * (sizeof(FetchEntry) + kPageSize)) return false;
  std::vector<uint32_t> done, again;
  alignas(8) uint64_t buffer[kPageSize / sizeof(uint64_t)];
  for (uint32_t i = 0; i < b.count; ++i) {
    FetchEntry e;
    std::string_view bytes;
    if (!r.Get(&e) || !r.GetBytes(kPageSize, &bytes) || e.page >= data_pages_) return false;
    if (e.status != 0) {
      fail_("host " + std::to_string(from) + " says it is not the home of page " +
            std::to_string(e.page) + ", which this host was told it is");
      return true;
    }
    PageMeta& m = meta_[e.page];
    if (!busy_.count(e.page)) continue;  // not asked for
    if (StateOf(m) != kPageInvalid) {
      done.push_back(e.page);
      continue;
    }
    if (diffs_.count(e.page)) {
      again.push_back(e.page);
      continue;
    }
    std::memcpy(buffer, bytes.data(), kPageSize);
    if (auto t = twins_.find(e.page); t != twins_.end()) {
      TwoWayApply(space_->page(e.page), t->second.data.get(), buffer);
    } else {
      CopyPage(space_->page(e.page), buffer);
    }
    ++stats_.pages_fetched;
    DSM_LOG_DEBUG("fetched page %u version %" PRIu64 " (twin: %d)", e.page, e.version,
                  twins_.count(e.page) ? 1 : 0);
    m.version = e.version;
    auto want = wanted_version_.find(e.page);
    if (want == wanted_version_.end() || want->second <= e.version) {
      if (want != wanted_version_.end()) wanted_version_.erase(want);
      StoreRelease(&m.state, uint32_t{kPageValid});
    }
    done.push_back(e.page);
  }
  if (!again.empty()) SendFetch(from, again);
  for (uint32_t p : done) Resume(p);
  return true;
}

// ---------------------------------------------------------------------------
// Releases

bool Coherence::Release(uint32_t slot, uint32_t node, uint64_t count, NodeReply* reply) {
  // A node whose home-release log filled up comes here: empty the logs.
  DrainHomeLogs();
  if (count > kListEntries) {
    reply->status = kBadArgument;
    return true;
  }
  // Copy the list out of shared memory once; use only the copy.
  const uint32_t* list = PageList(space_->base(), slot);
  std::vector<uint32_t> pages(count);
  for (uint64_t i = 0; i < count; ++i) {
    pages[i] = __atomic_load_n(&list[i], __ATOMIC_RELAXED);
    if (pages[i] >= data_pages_) {
      reply->status = kBadArgument;
      return true;
    }
  }
  std::unordered_map<uint32_t, std::pair<uint32_t, BodyWriter>> batches;  // home -> (count, body)
  std::vector<uint32_t> wait_for;  // pages whose in-flight diffs carry our writes
  std::string diff;
  for (uint32_t p : pages) {
    PageMeta& m = meta_[p];
    if (StateOf(m) == kPageHome) {
      RecordHomeNotice(p);
      DSM_LOG_DEBUG("release of home page %u by node %u: version %" PRIu64, p, node, m.version);
      continue;
    }
    auto t = twins_.find(p);
    if (t == twins_.end()) continue;
    auto& writers = t->second.writers;
    auto w = std::find(writers.begin(), writers.end(), node);
    if (w == writers.end()) continue;
    diff.clear();
    MakeDiffAndUpdateTwin(space_->page(p), t->second.data.get(), &diff);
    writers.erase(w);
    if (writers.empty()) twins_.erase(t);
    if (diff.empty()) {
      if (diffs_.count(p)) {
        wait_for.push_back(p);
      } else if (config_.home_mode == kHomeMigrate) {
        // Written, but to the values it had: nothing for the home. The
        // manager still hears that this host writes the page (a notice of
        // the version it already has, which makes no copy staler than it
        // is), so that a page only this host writes moves here even while
        // the values stay the same, and the writes stop costing twins.
        own_notices_.push_back(Notice{p, config_.host_id, m.version});
      }
      continue;
    }
    ++stats_.diffs;
    stats_.diff_bytes += diff.size();
    ++diffs_[p].sent;
    auto& [n, body] = batches[m.home];
    ++n;
    body.Put(DiffEntry{p, static_cast<uint32_t>(diff.size())});
    body.PutBytes(diff.data(), diff.size());
  }
  if (batches.empty() && wait_for.empty()) return true;
  uint64_t id = next_release_++;
  releases_[id] = ReleaseOp{slot, static_cast<uint32_t>(batches.size() + wait_for.size())};
  for (uint32_t p : wait_for) {
    PageDiffs& d = diffs_[p];
    d.waiters.emplace_back(d.sent, id);
  }
  for (auto& [home, batch] : batches) {
    BodyWriter w;
    w.Put(PageRequestBody{batch.first, 0, barrier_epoch_});
    std::string rest = batch.second.Take();
    w.PutBytes(rest.data(), rest.size());
    Awaited awaited{kDiffAck, [this, id](std::string_view body) { return OnDiffAck(id, body); }};
    Send(home, kDiff, w.Take(), &awaited);
  }
  return false;
}

bool Coherence::OnDiff(uint32_t from, uint64_t request_id, std::string_view body) {
  BodyReader r(body);
  PageRequestBody b;
  if (!r.Get(&b) || b.count > r.remaining() / sizeof(DiffEntry)) return false;
  std::vector<std::pair<DiffEntry, std::string_view>> entries(b.count);
  for (auto& [e, bytes] : entries) {
    if (!r.Get(&e) || e.page >= data_pages_ || !r.GetBytes(e.len, &bytes)) return false;
  }
  if (!r.done()) return false;
  BodyWriter w;
  w.Put(PageListBody{b.count, 0});
  for (auto& [e, bytes] : entries) {
    DiffAckEntry ack{e.page, 0, 0, 0};
    if (!BecomeHomeIfUntouched(e.page)) {
      ack.status = 1;
    } else if (!ApplyDiff(space_->page(e.page), bytes)) {
      ack.status = 2;
    } else {
      // No change to `copied`: the writer holds a copy, which this diff
      // does not bring up to date with this host's own writes.
      PageMeta& m = meta_[e.page];
      ack.old_version = m.version;
      m.version = m.version + 1;
      ack.new_version = m.version;
    }
    w.Put(ack);
  }
  Reply(from, kDiffAck, request_id, w.Take());
  return true;
}

bool Coherence::OnDiffAck(uint64_t release_id, std::string_view body) {
  BodyReader r(body);
  PageListBody b;
  if (!r.Get(&b) || r.remaining() != uint64_t{b.count} * sizeof(DiffAckEntry)) return false;
  auto op = releases_.find(release_id);
  if (op == releases_.end()) return true;  // the job ended meanwhile
  for (uint32_t i = 0; i < b.count; ++i) {
    DiffAckEntry a;
    if (!r.Get(&a) || a.page >= data_pages_) return false;
    if (a.status != 0) {
      fail_("the home of page " + std::to_string(a.page) + " refused a diff (" +
            (a.status == 1 ? "not the home" : "malformed") + ")");
      return true;
    }
    own_notices_.push_back(Notice{a.page, config_.host_id, a.new_version});
    AckedDiff(a.page);
    PageMeta& m = meta_[a.page];
    DSM_LOG_DEBUG("diff of page %u acknowledged: %" PRIu64 " -> %" PRIu64 " (had %" PRIu64 ")", a.page,
                  a.old_version, a.new_version, m.version);
    if (m.version == a.old_version) m.version = a.new_version;
  }
  FinishReleasePart(release_id);
  return true;
}

void Coherence::AckedDiff(uint32_t page) {
  auto it = diffs_.find(page);
  if (it == diffs_.end()) return;
  PageDiffs& d = it->second;
  ++d.acked;
  std::vector<uint64_t> ready;
  auto& w = d.waiters;
  for (size_t i = 0; i < w.size();) {
    if (w[i].first <= d.acked) {
      ready.push_back(w[i].second);
      w[i] = w.back();
      w.pop_back();
    } else {
      ++i;
    }
  }
  if (d.acked == d.sent) diffs_.erase(it);
  for (uint64_t id : ready) FinishReleasePart(id);
}

void Coherence::FinishReleasePart(uint64_t release_id) {
  auto op = releases_.find(release_id);
  if (op == releases_.end() || --op->second.outstanding != 0) return;
  uint32_t slot = op->second.slot;
  releases_.erase(op);
  Complete(slot, NodeReply{});
}

// ---------------------------------------------------------------------------
// Notices

void Coherence::DrainHomeLogs() {
  std::vector<uint32_t> pages;
  for (uint32_t slot = 1; slot < kMaxSlots; ++slot) {
    HomeLog* log = HomeLogOf(space_->base(), slot);
    const uint64_t head = LoadAcquire(&log->head);
    uint64_t& drained = home_log_drained_[slot];
    if (head == drained) continue;
    if (head - drained > kHomeLogEntries) {
      fail_("node in slot " + std::to_string(slot) + " corrupted its home-release log (head " +
            std::to_string(head) + ", drained " + std::to_string(drained) + ")");
      drained = head;
      return;
    }
    for (; drained < head; ++drained) {
      uint32_t p = __atomic_load_n(&log->pages[drained % kHomeLogEntries], __ATOMIC_RELAXED);
      if (p >= data_pages_ || StateOf(meta_[p]) != kPageHome) {
        fail_("node in slot " + std::to_string(slot) + " logged page " + std::to_string(p) +
              " as a release of a page homed here, which it is not");
        drained = head;
        return;
      }
      pages.push_back(p);
    }
    StoreRelease(&log->tail, drained);
  }
  // One version per page per drain: nothing here tells two logged releases
  // of a page apart (no notice left the host between them).
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  for (uint32_t p : pages) RecordHomeNotice(p);
}

std::vector<Notice> Coherence::TakeOwnNotices() {
  DrainHomeLogs();
  std::vector<Notice> out = std::move(own_notices_);
  own_notices_.clear();
  CompactNotices(&out);
  stats_.notices_sent += out.size();
  return out;
}

void Coherence::ApplyNotices(const std::vector<Notice>& notices) {
  stats_.notices_received += notices.size();
  for (const Notice& n : notices) {
    if (n.writer == config_.host_id) continue;
    PageMeta& m = meta_[n.page];
    uint32_t state = StateOf(m);
    DSM_LOG_DEBUG("notice page %u writer %u version %" PRIu64 ": state %u version %" PRIu64, n.page,
                  n.writer, n.version, state, m.version);
    if (state == kPageHome || state == kPageUntouched) continue;
    if (m.version >= n.version) continue;
    uint64_t& want = wanted_version_[n.page];
    want = std::max(want, n.version);
    if (state == kPageValid) Invalidate(n.page);
  }
  PublishInvalidations();
}

void Coherence::Invalidate(uint32_t page) {
  StoreRelease(&meta_[page].state, uint32_t{kPageInvalid});
  fresh_invalid_.push_back(page);
  ++stats_.invalidations;
}

void Coherence::PublishInvalidations() {
  if (fresh_invalid_.empty()) return;
  SpaceHeader* h = space_->header();
  uint32_t* ring = InvalRing(space_->base());
  const uint64_t mask = h->inval_entries - 1;
  uint64_t head = h->inval_head;
  for (uint32_t p : fresh_invalid_) __atomic_store_n(&ring[head++ & mask], p, __ATOMIC_RELAXED);
  StoreRelease(&h->inval_head, head);
  fresh_invalid_.clear();
}

// ---------------------------------------------------------------------------
// The job-wide heap lives on host 0.

bool Coherence::Alloc(uint32_t slot, uint64_t bytes, uint64_t alignment, NodeReply* reply) {
  BodyWriter w;
  w.Put(AllocBody{bytes, alignment});
  Awaited awaited{kAllocReply, [this, slot](std::string_view body) {
                    BodyReader r(body);
                    AllocReplyBody b;
                    if (!r.Get(&b) || !r.done()) return false;
                    NodeReply out;
                    out.status = b.status;
                    out.results[0] = b.offset;
                    Complete(slot, out);
                    return true;
                  }};
  Send(0, kAlloc, w.Take(), &awaited);
  return false;
}

bool Coherence::Free(uint32_t slot, uint64_t offset, NodeReply* reply) {
  BodyWriter w;
  w.Put(FreeBody{offset});
  Awaited awaited{kFreeReply, [this, slot](std::string_view body) {
                    BodyReader r(body);
                    FreeReplyBody b;
                    if (!r.Get(&b) || !r.done()) return false;
                    NodeReply out;
                    out.status = b.status;
                    Complete(slot, out);
                    return true;
                  }};
  Send(0, kFree, w.Take(), &awaited);
  return false;
}

}  // namespace dsm::hostd
