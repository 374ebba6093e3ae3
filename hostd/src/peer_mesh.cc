#include "dsm/hostd/peer_mesh.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "dsm/common/clock.h"
#include "dsm/common/log.h"

namespace dsm::hostd {

namespace {

using peer::PeerHeader;

constexpr uint64_t kNsPerMs = 1000000;

// "2.3 s", or "0.15 s" below a second.
std::string Seconds(uint64_t ns) {
  char buf[32];
  double s = static_cast<double>(ns) / 1e9;
  std::snprintf(buf, sizeof buf, s < 1.0 ? "%.2f s" : "%.1f s", s);
  return buf;
}

std::string SecondsMs(int ms) { return Seconds(static_cast<uint64_t>(ms) * kNsPerMs); }

// Only printable ASCII of an untrusted string, for the log.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

Status ValidateMeshConfig(const PeerMeshConfig& config) {
  if (config.num_hosts == 0 || config.num_hosts > peer::kMaxHosts) {
    return Status(EINVAL, "number of hosts " + std::to_string(config.num_hosts) + " is not in 1.." +
                              std::to_string(peer::kMaxHosts));
  }
  if (config.host_id >= config.num_hosts) {
    return Status(EINVAL, "host id " + std::to_string(config.host_id) + " is not below the number of hosts " +
                              std::to_string(config.num_hosts));
  }
  if (config.timing.heartbeat_ms <= 0 || config.timing.peer_timeout_ms <= config.timing.heartbeat_ms ||
      config.timing.join_timeout_ms <= 0) {
    return Status(EINVAL, "peer timings must be positive with the timeout above the heartbeat period");
  }
  return Status::Ok();
}

PeerMesh::PeerMesh(const PeerMeshConfig& config) : config_(config), peers_(config.num_hosts) {}

PeerMesh::~PeerMesh() {
  if (loop_ != nullptr) {
    loop_->CancelTimer(tick_timer_);
    loop_->CancelTimer(join_timer_);
  }
}

Status PeerMesh::Start(EventLoop* loop, Events events) {
  if (started_) return Status(EALREADY, "peer transport already started");
  loop_ = loop;
  events_ = std::move(events);
  if (Status s = StartWire(); !s.ok()) return s;
  started_ = true;
  const uint32_t self = config_.host_id;
  peers_[self].state = PeerState::kAlive;
  peers_[self].endpoint = WireAddress();
  if (config_.num_hosts == 1) {
    loop_->Post([this, token = alive_token()] {
      if (!token.expired() && !ready_ && !leaving_) BecomeReady();
    });
    return Status::Ok();
  }
  join_timer_ = loop_->AddTimer(config_.timing.join_timeout_ms, 0, [this] { JoinTimedOut(); });
  if (self == 0) {
    DSM_LOG_INFO("host 0 of job %llu at %s: waiting for %u hosts", static_cast<unsigned long long>(config_.job_id),
                 WireAddress().c_str(), config_.num_hosts - 1);
    return Status::Ok();
  }
  Peer& p0 = peers_[0];
  p0.endpoint = config_.join_endpoint;
  if (Status s = Connect(0, p0.endpoint); !s.ok()) {
    return Status(s.code(), "cannot reach host 0 at " + p0.endpoint + ": " + s.message());
  }
  p0.connected = true;
  std::string hello = peer::EncodeHello({self, config_.num_hosts, WireAddress()});
  if (!SendMembership(0, peer::kHello, hello)) return Status(EIO, "cannot send a hello to host 0 at " + p0.endpoint);
  DSM_LOG_INFO("host %u of job %llu at %s: hello sent to host 0 at %s", self,
               static_cast<unsigned long long>(config_.job_id), WireAddress().c_str(), p0.endpoint.c_str());
  return Status::Ok();
}

PeerHeader PeerMesh::Header(uint16_t type, uint32_t to, uint64_t request_id, size_t body_len) const {
  PeerHeader h = peer::MakeHeader(type, config_.host_id, to, config_.job_id, request_id);
  h.version = config_.protocol_version;
  h.body_len = body_len;
  // Membership frames announce how many engine messages went before them.
  h.link_seq = to < peers_.size() ? peers_[to].sent : 0;
  return h;
}

bool PeerMesh::SendMembership(uint32_t to, uint16_t type, std::string_view body) {
  return SendFrame(to, Header(type, to, 0, body.size()), body);
}

bool PeerMesh::Send(uint32_t to, uint16_t type, uint64_t request_id, std::string_view body) {
  if (!started_ || leaving_ || to >= config_.num_hosts) return false;
  if (type < peer::kJobEnd || type >= peer::kMsgTypeEnd) {
    DSM_LOG_ERROR("peer transport: %u is not an engine message type", type);
    return false;
  }
  if (body.size() > peer::kMaxMessageBytes) {
    DSM_LOG_ERROR("peer transport: a %s of %zu bytes exceeds the limit of %llu", peer::MsgTypeName(type),
                  body.size(), static_cast<unsigned long long>(peer::kMaxMessageBytes));
    return false;
  }
  if (to == config_.host_id) {
    loop_->Post([this, token = alive_token(), type, request_id, copy = std::string(body)] {
      if (!token.expired()) Deliver(config_.host_id, type, request_id, copy);
    });
    return true;
  }
  Peer& p = peers_[to];
  if (!p.connected || p.state == PeerState::kLost || p.state == PeerState::kLeft) return false;
  // The number is used even if the wire refuses the frame: the receiver
  // then sees a gap, as it should.
  PeerHeader h = Header(type, to, request_id, body.size());
  h.link_seq = ++p.sent;
  return SendFrame(to, h, body);
}

void PeerMesh::Leave() {
  if (leaving_) return;
  leaving_ = true;
  if (!started_) return;
  loop_->CancelTimer(tick_timer_);
  loop_->CancelTimer(join_timer_);
  tick_timer_ = join_timer_ = 0;
  for (uint32_t h = 0; h < config_.num_hosts; ++h) {
    Peer& p = peers_[h];
    if (h == config_.host_id || !p.connected) continue;
    if (p.state == PeerState::kAlive || p.state == PeerState::kJoining) SendMembership(h, peer::kBye, {});
  }
  OnLeave();
}

void PeerMesh::Drop(const char* fmt, ...) {
  ++stats_.frames_dropped;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  DSM_LOG_WARN("host %u: dropped %s", config_.host_id, buf);
}

std::string PeerMesh::Describe(uint32_t host) const {
  const std::string& ep = peers_[host].endpoint;
  return "host " + std::to_string(host) + (ep.empty() ? "" : " (" + ep + ")");
}

void PeerMesh::OnFrame(std::string_view origin, std::string_view frame) {
  ++stats_.frames_received;
  if (!started_) return Drop("a frame that arrived before the start");
  auto m = peer::DecodeMessage(frame, config_.job_id, config_.num_hosts);
  if (!m.ok()) return RefuseUndecodable(origin, frame, m.status());
  const PeerHeader& h = m->header;
  if (h.type == peer::kHello) return OnHello(origin, *m);
  const uint32_t from = h.from_host;
  if (h.to_host != config_.host_id || from == config_.host_id) {
    return Drop("a %s from host %u to host %u (this is host %u)", peer::MsgTypeName(h.type), from, h.to_host,
                config_.host_id);
  }
  Peer& p = peers_[from];
  if (p.state == PeerState::kLost || p.state == PeerState::kLeft) {
    return Drop("a %s from host %u, which is %s", peer::MsgTypeName(h.type), from,
                p.state == PeerState::kLost ? "lost" : "gone");
  }
  if (leaving_ && h.type < peer::kJobEnd) return;  // membership no longer matters
  p.last_heard_ns = MonotonicNs();
  switch (h.type) {
    case peer::kWelcome:
      if (from != 0 || config_.host_id == 0) return Drop("a welcome from host %u", from);
      return OnWelcome(*m);
    case peer::kRefuse: {
      if (from != 0 || config_.host_id == 0) return Drop("a refusal from host %u", from);
      if (ready_ || failed_) return Drop("a refusal after the join");
      auto r = peer::DecodeRefuse(m->body);
      if (!r.ok()) return Drop("a refusal from host 0: %s", r.status().message().c_str());
      return OnRefuse(r->text);
    }
    case peer::kHeartbeat:
      CheckAnnounced(from, h.link_seq);
      return;
    case peer::kBye:
      if (!CheckAnnounced(from, h.link_seq)) return;
      DSM_LOG_INFO("host %u: %s said bye", config_.host_id, Describe(from).c_str());
      p.state = PeerState::kLeft;
      if (p.connected) Disconnect(from);
      p.connected = false;
      return;
    default:
      break;
  }
  if (h.type < peer::kJobEnd) return Drop("a %s from host %u", peer::MsgTypeName(h.type), from);
  if (!AcceptInOrder(from, h)) return;
  if (ready_) return Deliver(from, h.type, h.request_id, m->body);
  if (failed_) return Drop("a %s from host %u: the join failed", peer::MsgTypeName(h.type), from);
  held_.push_back({from, h.type, h.request_id, std::string(m->body)});
}

void PeerMesh::Deliver(uint32_t from, uint16_t type, uint64_t request_id, std::string_view body) {
  ++stats_.messages_delivered;
  if (events_.on_message) events_.on_message(from, type, request_id, body);
}

void PeerMesh::Refuse(std::string_view origin, uint32_t to, uint64_t job_id, uint32_t reason,
                      const std::string& text) {
  ++stats_.hellos_refused;
  DSM_LOG_WARN("host 0: refused %s", text.c_str());
  PeerHeader h = Header(peer::kRefuse, to, 0, 0);
  h.job_id = job_id;  // the refused daemon's: it must be able to read this
  std::string body = peer::EncodeRefuse({reason, text});
  h.body_len = body.size();
  Reply(origin, h, body);
}

void PeerMesh::RefuseUndecodable(std::string_view origin, std::string_view frame, const Status& why) {
  // A hello of another job, version or host range gets a refusal on the
  // connection it came on; anything else undecodable is dropped.
  PeerHeader h{};
  bool looks_like_hello = frame.size() >= sizeof h && config_.host_id == 0;
  if (looks_like_hello) {
    std::memcpy(&h, frame.data(), sizeof h);
    looks_like_hello = h.magic == peer::kPeerMagic && h.type == peer::kHello;
  }
  uint32_t reason = why.code() == peer::kDecodeWrongVersion ? peer::kWrongVersion
                    : why.code() == peer::kDecodeWrongJob   ? peer::kWrongJob
                    : why.code() == peer::kDecodeBadHost    ? peer::kBadHostId
                                                            : 0;
  if (!looks_like_hello || reason == 0 || origin.empty()) {
    return Drop("a frame of %zu bytes: %s", frame.size(), why.message().c_str());
  }
  // Name it from the body if it has this version's layout (best effort: the
  // reason is in the header alone).
  std::string name = "a daemon on connection " + Printable(origin);
  if (frame.size() >= sizeof h + sizeof(peer::HelloBody)) {
    auto hello = peer::DecodeHello(frame.substr(sizeof h));
    if (hello.ok()) name = "host " + std::to_string(hello->host_id) + " (" + Printable(hello->endpoint) + ")";
  }
  Refuse(origin, h.from_host, h.job_id, reason, name + ": " + why.message());
}

void PeerMesh::OnHello(std::string_view origin, const peer::DecodedMessage& m) {
  const uint32_t from = m.header.from_host;
  if (config_.host_id != 0) return Drop("a hello from host %u (this is host %u)", from, config_.host_id);
  auto hello = peer::DecodeHello(m.body);
  if (!hello.ok()) return Drop("a hello from host %u: %s", from, hello.status().message().c_str());
  if (origin.empty()) return Drop("a hello from host %u that cannot be answered", from);
  const std::string name = "host " + std::to_string(from) + " (" + Printable(hello->endpoint) + ")";
  const uint64_t job = config_.job_id;
  if (from == 0 || hello->host_id != from) {
    return Refuse(origin, from, job, peer::kBadHostId,
                  name + ": claims host id " + std::to_string(hello->host_id) + "; hosts 1.." +
                      std::to_string(config_.num_hosts - 1) + " say hello");
  }
  if (hello->num_hosts != config_.num_hosts) {
    return Refuse(origin, from, job, peer::kWrongNumHosts,
                  name + ": was told the job has " + std::to_string(hello->num_hosts) + " hosts, it has " +
                      std::to_string(config_.num_hosts));
  }
  Peer& p = peers_[from];
  if (p.joined) {
    if (p.origin == origin) return;  // the same hello again
    return Refuse(origin, from, job, peer::kDuplicateHost,
                  name + ": host " + std::to_string(from) + " already joined from " + p.endpoint);
  }
  if (failed_ || leaving_) return Drop("a hello from %s after the join gave up", name.c_str());
  p.joined = true;
  p.origin = std::string(origin);
  p.endpoint = hello->endpoint;
  p.last_heard_ns = MonotonicNs();
  ++hellos_;
  DSM_LOG_INFO("host 0: %s joined (%u of %u)", name.c_str(), hellos_, config_.num_hosts - 1);
  if (hellos_ < config_.num_hosts - 1) return;
  // Everyone is in: connect to each and welcome it with every endpoint.
  std::vector<std::string> endpoints;
  for (const Peer& q : peers_) endpoints.push_back(q.endpoint);
  std::string welcome = peer::EncodeWelcome(endpoints);
  for (uint32_t h = 1; h < config_.num_hosts; ++h) {
    Peer& q = peers_[h];
    if (Status s = Connect(h, q.endpoint); !s.ok()) {
      Lose(h, "cannot connect to " + Describe(h) + ": " + s.message());
      continue;
    }
    q.connected = true;
    SendMembership(h, peer::kWelcome, welcome);
  }
  BecomeReady();
}

void PeerMesh::OnWelcome(const peer::DecodedMessage& m) {
  if (ready_ || failed_) return;  // a duplicate
  auto endpoints = peer::DecodeWelcome(m.body, config_.num_hosts);
  if (!endpoints.ok()) return Drop("a welcome: %s", endpoints.status().message().c_str());
  for (uint32_t h = 1; h < config_.num_hosts; ++h) {
    if (h == config_.host_id) continue;
    Peer& p = peers_[h];
    p.endpoint = (*endpoints)[h];
    if (Status s = Connect(h, p.endpoint); !s.ok()) {
      Lose(h, "cannot connect to " + Describe(h) + ": " + s.message());
      continue;
    }
    p.connected = true;
  }
  BecomeReady();
}

void PeerMesh::OnRefuse(std::string_view text) {
  failed_ = true;
  loop_->CancelTimer(join_timer_);
  join_timer_ = 0;
  Lose(0, "refused by host 0: " + std::string(text));
}

void PeerMesh::BecomeReady() {
  ready_ = true;
  loop_->CancelTimer(join_timer_);
  join_timer_ = 0;
  // Silence during the join does not count.
  uint64_t now = MonotonicNs();
  for (uint32_t h = 0; h < config_.num_hosts; ++h) {
    Peer& p = peers_[h];
    if (p.state == PeerState::kJoining) p.state = PeerState::kAlive;
    p.last_heard_ns = now;
  }
  if (config_.num_hosts > 1) tick_timer_ = loop_->AddTimer(0, config_.timing.heartbeat_ms, [this] { Tick(); });
  DSM_LOG_INFO("host %u: all %u hosts joined", config_.host_id, config_.num_hosts);
  auto token = alive_token();
  if (events_.on_ready) events_.on_ready();
  if (token.expired()) return;
  std::vector<Held> held;
  held.swap(held_);
  for (const Held& m : held) {
    if (peers_[m.from].state != PeerState::kAlive || leaving_) continue;
    Deliver(m.from, m.type, m.request_id, m.body);
  }
}

void PeerMesh::Tick() {
  const uint64_t now = MonotonicNs();
  const uint64_t timeout = static_cast<uint64_t>(config_.timing.peer_timeout_ms) * kNsPerMs;
  for (uint32_t h = 0; h < config_.num_hosts && !leaving_; ++h) {
    Peer& p = peers_[h];
    if (h == config_.host_id || p.state != PeerState::kAlive) continue;
    uint64_t silent = now - p.last_heard_ns;
    if (silent > timeout) {
      Lose(h, Describe(h) + " silent for " + Seconds(silent));
      continue;
    }
    if (p.connected) SendMembership(h, peer::kHeartbeat, {});
  }
}

void PeerMesh::JoinTimedOut() {
  join_timer_ = 0;
  if (ready_ || failed_) return;
  failed_ = true;
  const std::string after = " within " + SecondsMs(config_.timing.join_timeout_ms);
  if (config_.host_id != 0) return Lose(0, Describe(0) + " did not welcome host " +
                                               std::to_string(config_.host_id) + after);
  for (uint32_t h = 1; h < config_.num_hosts && !leaving_; ++h) {
    if (!peers_[h].joined) Lose(h, "host " + std::to_string(h) + " did not join" + after);
  }
}

bool PeerMesh::AcceptInOrder(uint32_t from, const PeerHeader& h) {
  Peer& p = peers_[from];
  if (h.link_seq == p.received + 1) {
    ++p.received;
    return true;
  }
  if (h.link_seq <= p.received) {
    ++stats_.duplicates;
    Drop("a duplicate %s from host %u (message %llu on its link, %llu arrived already)",
         peer::MsgTypeName(h.type), from, static_cast<unsigned long long>(h.link_seq),
         static_cast<unsigned long long>(p.received));
    return false;
  }
  BreakLink(from, "message " + std::to_string(h.link_seq) + " (" + peer::MsgTypeName(h.type) +
                      ") arrived when message " + std::to_string(p.received + 1) + " was due");
  return false;
}

bool PeerMesh::CheckAnnounced(uint32_t from, uint64_t sent) {
  const Peer& p = peers_[from];
  if (sent <= p.received) return true;  // a stale announcement is no news
  BreakLink(from, "it sent " + std::to_string(sent) + " messages, " + std::to_string(p.received) + " arrived");
  return false;
}

void PeerMesh::BreakLink(uint32_t from, const std::string& what) {
  ++stats_.links_broken;
  Lose(from, Describe(from) + ": message(s) lost or out of order on the link to host " +
                 std::to_string(config_.host_id) + ": " + what);
}

void PeerMesh::Lose(uint32_t host, const std::string& reason) {
  Peer& p = peers_[host];
  if (p.state == PeerState::kLost || p.state == PeerState::kLeft) return;
  p.state = PeerState::kLost;
  p.lost_reason = reason;
  if (p.connected) Disconnect(host);
  p.connected = false;
  DSM_LOG_WARN("host %u: peer lost: %s", config_.host_id, reason.c_str());
  if (events_.on_host_lost) events_.on_host_lost(host, reason);
}

}  // namespace dsm::hostd
