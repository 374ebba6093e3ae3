#include "dsm/hostd/manager.h"

#include <algorithm>

#include "dsm/common/log.h"
#include "dsm/hostd/peer_codec.h"

namespace dsm::hostd {

using namespace dsm::hostd::peer;

Manager::Manager(uint32_t num_hosts, uint64_t data_pages, device::HomeMode home_mode, ShmHeap* heap,
                 SendFn send, device::PinnedPages pinned)
    : num_hosts_(num_hosts),
      data_pages_(data_pages),
      home_mode_(home_mode),
      heap_(heap),
      send_(std::move(send)),
      sent_upto_(num_hosts, 0),
      intervals_(num_hosts, 0),
      arrived_(num_hosts, false),
      pinned_(pinned) {
  if (home_mode_ != device::kHomeRoundRobin) {
    directory_.assign(data_pages, 0);
    pinned_.ForEach(data_pages, [this](uint64_t p) { directory_[p] = 1; });
  }
}

bool Manager::Handles(uint16_t type) {
  switch (type) {
    case kLockRequest:
    case kLockReturn:
    case kBarrierArrive:
    case kHomeQuery:
    case kAlloc:
    case kFree:
      return true;
    default:
      return false;
  }
}

bool Manager::OnMessage(uint32_t from, uint16_t type, uint64_t request_id, std::string_view body) {
  if (from >= num_hosts_) return false;
  switch (type) {
    case kLockRequest: return OnLockRequest(from, body);
    case kLockReturn: return OnLockReturn(from, body);
    case kBarrierArrive: return OnBarrierArrive(from, body);
    case kHomeQuery: return OnHomeQuery(from, request_id, body);
    case kAlloc: return OnAlloc(from, request_id, body);
    case kFree: return OnFree(from, request_id, body);
    default: return false;
  }
}

void Manager::Record(uint32_t from, const std::vector<Notice>& notices) {
  if (notices.empty()) return;
  ++intervals_[from];
  for (const Notice& n : notices) log_.push_back(n);
  if (home_mode_ == device::kHomeMigrate) {
    interval_writes_.insert(interval_writes_.end(), notices.begin(), notices.end());
    // A program that synchronises by locks alone may go long without a
    // barrier: keep the list at one entry per page written.
    if (interval_writes_.size() > 2 * interval_compacted_ + 65536) CompactIntervalWrites();
  }
}

void Manager::CompactIntervalWrites() {
  std::vector<Notice>& w = interval_writes_;
  std::sort(w.begin(), w.end(), [](const Notice& a, const Notice& b) { return a.page < b.page; });
  size_t out = 0;
  for (size_t i = 0; i < w.size();) {
    Notice merged = w[i];
    size_t j = i + 1;
    for (; j < w.size() && w[j].page == merged.page; ++j) {
      if (w[j].writer != merged.writer) merged.writer = kManyWriters;
      merged.version = std::max(merged.version, w[j].version);
    }
    w[out++] = merged;
    i = j;
  }
  w.resize(out);
  interval_compacted_ = out;
}

std::vector<HomeMove> Manager::MoveHomes() {
  std::vector<HomeMove> moves;
  CompactIntervalWrites();
  for (const Notice& n : interval_writes_) {
    const uint8_t home = directory_[n.page];
    if (n.writer == kManyWriters || home == 0 || home == n.writer + 1 || pinned_.Contains(n.page)) continue;
    directory_[n.page] = static_cast<uint8_t>(n.writer + 1);
    moves.push_back(HomeMove{n.page, n.writer, n.version});
  }
  interval_writes_.clear();
  interval_compacted_ = 0;
  homes_moved_ += moves.size();
  return moves;
}

std::vector<Notice> Manager::TakeFor(uint32_t h) {
  std::vector<Notice> out;
  uint64_t end = log_base_ + log_.size();
  for (uint64_t seq = std::max(sent_upto_[h], log_base_); seq < end; ++seq) {
    const Notice& n = log_[seq - log_base_];
    if (n.writer != h) out.push_back(n);
  }
  sent_upto_[h] = end;
  CompactNotices(&out);
  return out;
}

void Manager::Trim() {
  uint64_t low = *std::min_element(sent_upto_.begin(), sent_upto_.end());
  while (log_base_ < low && !log_.empty()) {
    log_.pop_front();
    ++log_base_;
  }
}

bool Manager::OnLockRequest(uint32_t from, std::string_view body) {
  BodyReader r(body);
  LockBody b;
  if (!r.Get(&b) || !r.done()) return false;
  LockState& lock = locks_[b.lock_id];
  if (lock.token_at == static_cast<int32_t>(from) ||
      std::find(lock.queue.begin(), lock.queue.end(), from) != lock.queue.end()) {
    DSM_LOG_WARN("host %u asked again for lock %u, which it holds or waits for", from, b.lock_id);
    return false;
  }
  lock.queue.push_back(from);
  if (lock.token_at < 0) {
    Grant(b.lock_id, lock);
  } else if (!lock.recall_sent) {
    BodyWriter w;
    w.Put(LockBody{b.lock_id, 0});
    send_(static_cast<uint32_t>(lock.token_at), kLockRecall, 0, w.Take());
    lock.recall_sent = true;
  }
  return true;
}

bool Manager::OnLockReturn(uint32_t from, std::string_view body) {
  BodyReader r(body);
  LockBody b;
  std::vector<uint64_t> vt;
  std::vector<Notice> notices;
  if (!r.Get(&b) || !GetNotices(&r, num_hosts_, data_pages_, &vt, &notices) || !r.done()) return false;
  auto it = locks_.find(b.lock_id);
  if (it == locks_.end() || it->second.token_at != static_cast<int32_t>(from)) {
    DSM_LOG_WARN("host %u returned lock %u, whose token it does not have", from, b.lock_id);
    return false;
  }
  for (const Notice& n : notices) {
    if (n.writer != from) return false;
  }
  Record(from, notices);
  LockState& lock = it->second;
  lock.token_at = -1;
  lock.recall_sent = false;
  if (b.flags & kLockWantAgain) lock.queue.push_back(from);
  if (!lock.queue.empty()) Grant(b.lock_id, lock);
  return true;
}

void Manager::Grant(uint32_t lock_id, LockState& lock) {
  uint32_t to = lock.queue.front();
  lock.queue.pop_front();
  lock.token_at = static_cast<int32_t>(to);
  lock.recall_sent = !lock.queue.empty();
  std::vector<Notice> notices = TakeFor(to);
  BodyWriter w;
  w.Put(LockBody{lock_id, lock.recall_sent ? kLockRecallAfter : 0u});
  PutNotices(&w, intervals_, notices);
  send_(to, kLockGrant, 0, w.Take());
  Trim();
}

bool Manager::OnBarrierArrive(uint32_t from, std::string_view body) {
  BodyReader r(body);
  BarrierBody b;
  std::vector<uint64_t> vt;
  std::vector<Notice> notices;
  if (!r.Get(&b) || !GetNotices(&r, num_hosts_, data_pages_, &vt, &notices) || !r.done()) return false;
  if (b.epoch != epoch_ || arrived_[from]) {
    DSM_LOG_WARN("host %u arrived at barrier %llu twice or out of turn (now %llu)", from,
                 static_cast<unsigned long long>(b.epoch), static_cast<unsigned long long>(epoch_));
    return false;
  }
  for (const Notice& n : notices) {
    if (n.writer != from) return false;
  }
  Record(from, notices);
  arrived_[from] = true;
  if (++arrivals_ < num_hosts_) return true;
  const std::vector<HomeMove> moves = MoveHomes();
  for (uint32_t h = 0; h < num_hosts_; ++h) {
    std::vector<Notice> out = TakeFor(h);
    BodyWriter w;
    w.Put(BarrierBody{epoch_});
    PutNotices(&w, intervals_, out);
    PutMoves(&w, moves);
    send_(h, kBarrierDepart, 0, w.Take());
  }
  Trim();
  ++epoch_;
  arrivals_ = 0;
  std::fill(arrived_.begin(), arrived_.end(), false);
  return true;
}

bool Manager::OnHomeQuery(uint32_t from, uint64_t request_id, std::string_view body) {
  BodyReader r(body);
  PageListBody b;
  if (!r.Get(&b) || b.count > r.remaining() / sizeof(uint32_t) ||
      r.remaining() != b.count * sizeof(uint32_t)) {
    return false;
  }
  std::vector<HomeEntry> homes(b.count);
  const uint32_t claimed = ClaimedPages(b.flags);
  for (uint32_t i = 0; i < b.count; ++i) {
    uint32_t page;
    if (!r.Get(&page) || page >= data_pages_) return false;
    uint32_t home;
    if (home_mode_ == device::kHomeRoundRobin) {
      home = pinned_.Contains(page) ? 0u : static_cast<uint32_t>(page % num_hosts_);
    } else {
      bool claim = i < claimed;
      if (directory_[page] == 0 && claim) directory_[page] = static_cast<uint8_t>(from + 1);
      home = directory_[page] == 0 ? kNoHome : directory_[page] - 1u;
    }
    homes[i] = HomeEntry{page, home};
  }
  BodyWriter w;
  w.Put(PageListBody{b.count, 0});
  if (!homes.empty()) w.PutBytes(homes.data(), homes.size() * sizeof(HomeEntry));
  send_(from, kHomeReply, request_id, w.Take());
  return true;
}

bool Manager::OnAlloc(uint32_t from, uint64_t request_id, std::string_view body) {
  BodyReader r(body);
  AllocBody b;
  if (!r.Get(&b) || !r.done()) return false;
  AllocReplyBody reply{};
  reply.status = heap_->Allocate(b.bytes, b.alignment, &reply.offset);
  BodyWriter w;
  w.Put(reply);
  send_(from, kAllocReply, request_id, w.Take());
  return true;
}

bool Manager::OnFree(uint32_t from, uint64_t request_id, std::string_view body) {
  BodyReader r(body);
  FreeBody b;
  if (!r.Get(&b) || !r.done()) return false;
  FreeReplyBody reply{};
  reply.status = heap_->Free(b.offset);
  BodyWriter w;
  w.Put(reply);
  send_(from, kFreeReply, request_id, w.Take());
  return true;
}

}  // namespace dsm::hostd
