#include "dsm/hostd/inproc_transport.h"

#include <algorithm>
#include <cstring>

#include "dsm/common/clock.h"
#include "dsm/common/parse.h"

namespace dsm::hostd {

namespace {

constexpr uint64_t kNsPerMs = 1000000;

std::string Address(uint32_t host) { return "inproc:" + std::to_string(host); }

InProcFrame Describe(uint32_t from, uint32_t to, const std::string& bytes) {
  InProcFrame f{from, to, peer::kInvalid, 0, 0};
  if (bytes.size() >= sizeof(peer::PeerHeader)) {
    peer::PeerHeader h;
    std::memcpy(&h, bytes.data(), sizeof h);
    f.type = h.type;
    f.request_id = h.request_id;
    f.body_len = h.body_len;
  }
  return f;
}

}  // namespace

InProcNetwork::InProcNetwork(uint32_t num_hosts, uint64_t job_id, PeerTiming timing)
    : num_hosts_(num_hosts),
      job_id_(job_id),
      timing_(timing),
      hosts_(num_hosts),
      links_(static_cast<size_t>(num_hosts) * num_hosts) {}

InProcNetwork::~InProcNetwork() = default;

Result<std::unique_ptr<InProcTransport>> InProcNetwork::CreateTransport(uint32_t host_id) {
  PeerMeshConfig config;
  config.host_id = host_id;
  config.num_hosts = num_hosts_;
  config.job_id = job_id_;
  config.join_endpoint = Address(0);
  config.timing = timing_;
  if (Status s = ValidateMeshConfig(config); !s.ok()) return s;
  MutexLock lock(&mu_);
  Host& h = hosts_[host_id];
  if (h.transport != nullptr) return Status(EEXIST, "host " + std::to_string(host_id) + " has a transport already");
  std::unique_ptr<InProcTransport> t(new InProcTransport(this, config));
  h.transport = t.get();
  h.loop = nullptr;
  h.waiting.clear();
  return t;
}

void InProcNetwork::SetFaultHook(FaultHook hook) {
  auto shared = hook ? std::make_shared<FaultHook>(std::move(hook)) : nullptr;
  MutexLock lock(&mu_);
  hook_ = std::move(shared);
}

void InProcNetwork::KillHost(uint32_t host) {
  MutexLock lock(&mu_);
  if (host >= num_hosts_) return;
  hosts_[host].killed = true;
  counters_.lost += hosts_[host].waiting.size();
  hosts_[host].waiting.clear();
  DiscardLinksLocked(host, true);
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->from == host || it->to == host) {
      ++counters_.lost;
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t InProcNetwork::ReleaseHeld() {
  MutexLock lock(&mu_);
  std::deque<Frame> held;
  held.swap(held_);
  for (const Frame& f : held) EnqueueLocked(f, 0);
  return held.size();
}

InProcNetwork::Counters InProcNetwork::counters() const {
  MutexLock lock(&mu_);
  return counters_;
}

void InProcNetwork::Attach(uint32_t host, EventLoop* loop, std::weak_ptr<int> alive) {
  MutexLock lock(&mu_);
  Host& h = hosts_[host];
  h.loop = loop;
  h.alive = std::move(alive);
  std::vector<Frame> waiting;
  waiting.swap(h.waiting);
  for (const Frame& f : waiting) PostLocked(f);
}

void InProcNetwork::Detach(uint32_t host, InProcTransport* transport) {
  MutexLock lock(&mu_);
  Host& h = hosts_[host];
  if (h.transport != transport) return;
  h.transport = nullptr;
  h.loop = nullptr;
  h.alive.reset();
  counters_.lost += h.waiting.size();
  h.waiting.clear();
  DiscardLinksLocked(host, false);
}

void InProcNetwork::Transmit(uint32_t from, uint32_t to, std::string bytes) {
  if (from >= num_hosts_ || to >= num_hosts_) return;
  Frame frame{from, to, std::make_shared<const std::string>(std::move(bytes))};
  std::shared_ptr<FaultHook> hook;
  {
    MutexLock lock(&mu_);
    hook = hook_;
  }
  // The hook runs unlocked: it may call back into the network.
  InProcFault fault = hook ? (*hook)(Describe(from, to, *frame.bytes)) : InProcFault::Deliver();
  MutexLock lock(&mu_);
  if (hosts_[from].killed || hosts_[to].killed) {
    ++counters_.lost;
    return;
  }
  switch (fault.action) {
    case InProcFault::kDrop:
      ++counters_.dropped;
      return;
    case InProcFault::kHold:
      ++counters_.held;
      held_.push_back(frame);
      return;
    case InProcFault::kDelay:
      ++counters_.delayed;
      EnqueueLocked(frame, fault.delay_ms);
      break;
    case InProcFault::kDuplicate:
      ++counters_.duplicated;
      EnqueueLocked(frame, 0);
      EnqueueLocked(frame, 0);
      break;
    case InProcFault::kDeliver:
      EnqueueLocked(frame, 0);
      break;
  }
  // Frames held on this link follow the one just sent.
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->from == from && it->to == to) {
      EnqueueLocked(*it, 0);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

void InProcNetwork::EnqueueLocked(const Frame& frame, int delay_ms) {
  std::deque<Delayed>& queue = LinkLocked(frame.from, frame.to);
  if (delay_ms <= 0 && queue.empty()) {
    PostLocked(frame);
    return;
  }
  // Behind a delayed frame, every later frame of the link waits its turn.
  uint64_t due = MonotonicNs() + static_cast<uint64_t>(std::max(delay_ms, 0)) * kNsPerMs;
  if (!queue.empty()) due = std::max(due, queue.back().due_ns);
  queue.push_back({frame, due});
  if (queue.size() == 1) ScheduleFlushLocked(frame.from, frame.to);
}

void InProcNetwork::ScheduleFlushLocked(uint32_t from, uint32_t to) {
  std::deque<Delayed>& queue = LinkLocked(from, to);
  const Host& h = hosts_[to];
  if (h.loop == nullptr || h.transport == nullptr) {
    // Nothing to time it with: on to the receiver's waiting list, or lost.
    for (const Delayed& d : queue) PostLocked(d.frame);
    queue.clear();
    return;
  }
  const uint64_t now = MonotonicNs();
  const uint64_t due = queue.front().due_ns;
  const auto ms = static_cast<int64_t>(due > now ? (due - now + kNsPerMs - 1) / kNsPerMs : 0);
  // Timers belong to the receiver's loop thread: add it from there.
  EventLoop* loop = h.loop;
  loop->Post([this, loop, alive = h.alive, from, to, ms] {
    if (alive.expired()) return;
    loop->AddTimer(ms, 0, [this, alive, from, to] {
      if (!alive.expired()) FlushLink(from, to);
    });
  });
}

void InProcNetwork::FlushLink(uint32_t from, uint32_t to) {
  MutexLock lock(&mu_);
  std::deque<Delayed>& queue = LinkLocked(from, to);
  const uint64_t now = MonotonicNs();
  while (!queue.empty() && queue.front().due_ns <= now) {
    PostLocked(queue.front().frame);
    queue.pop_front();
  }
  if (!queue.empty()) ScheduleFlushLocked(from, to);
}

void InProcNetwork::DiscardLinksLocked(uint32_t host, bool outgoing) {
  for (uint32_t other = 0; other < num_hosts_; ++other) {
    std::deque<Delayed>& in = LinkLocked(other, host);
    counters_.lost += in.size();
    in.clear();
    if (!outgoing) continue;
    std::deque<Delayed>& out = LinkLocked(host, other);
    counters_.lost += out.size();
    out.clear();
  }
}

void InProcNetwork::PostLocked(const Frame& frame) {
  Host& h = hosts_[frame.to];
  if (h.killed || hosts_[frame.from].killed || h.transport == nullptr) {
    ++counters_.lost;
    return;
  }
  if (h.loop == nullptr) {  // not started yet: delivered when it starts
    h.waiting.push_back(frame);
    return;
  }
  ++counters_.delivered;
  h.loop->Post([t = h.transport, alive = h.alive, from = frame.from, bytes = frame.bytes] {
    if (!alive.expired()) t->Receive(from, *bytes);
  });
}

InProcTransport::InProcTransport(InProcNetwork* network, const PeerMeshConfig& config)
    : PeerMesh(config), network_(network) {}

InProcTransport::~InProcTransport() { network_->Detach(host_id(), this); }

std::string InProcTransport::WireAddress() const { return Address(host_id()); }

Status InProcTransport::StartWire() {
  network_->Attach(host_id(), loop(), alive_token());
  return Status::Ok();
}

Status InProcTransport::Connect(uint32_t host, const std::string& endpoint) {
  if (endpoint != Address(host)) {
    return Status(EINVAL, "host " + std::to_string(host) + " is " + Address(host) + ", not '" + endpoint + "'");
  }
  return Status::Ok();
}

bool InProcTransport::SendFrame(uint32_t host, const peer::PeerHeader& header, std::string_view body) {
  network_->Transmit(host_id(), host, peer::EncodeMessage(header, body));
  return true;
}

void InProcTransport::Reply(std::string_view origin, const peer::PeerHeader& header, std::string_view body) {
  auto host = ParseUint(origin);
  if (!host || *host >= num_hosts()) return;
  network_->Transmit(host_id(), static_cast<uint32_t>(*host), peer::EncodeMessage(header, body));
}

void InProcTransport::Receive(uint32_t from, const std::string& bytes) { OnFrame(std::to_string(from), bytes); }

}  // namespace dsm::hostd
