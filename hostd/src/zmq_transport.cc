#include "dsm/hostd/zmq_transport.h"

#include <cstdio>
#include <cstring>
#include <random>
#include <zmq.hpp>

#include "dsm/common/log.h"

namespace dsm::hostd {

namespace {

constexpr std::string_view kTcp = "tcp://";
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";  // RFC 27: fixed
constexpr const char* kMonitorEndpoint = "inproc://dsm-router-monitor";
constexpr int kMonitorEvents =
    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
constexpr size_t kCurveKeyBytes = 32;
constexpr size_t kMaxSecurityFrames = 8;  // a ZAP request has 7 with CURVE, a monitor event 2

// The host part of "tcp://HOST:PORT" ("" if there is no port).
std::string_view HostPart(std::string_view endpoint) {
  if (endpoint.substr(0, kTcp.size()) == kTcp) endpoint.remove_prefix(kTcp.size());
  size_t colon = endpoint.rfind(':');
  return colon == std::string_view::npos ? std::string_view() : endpoint.substr(0, colon);
}

bool IsWildcard(std::string_view host) {
  return host == "*" || host == "0.0.0.0" || host == "[::]" || host == "::" || host == "[*]";
}

Status ZmqError(const std::string& what, const zmq::error_t& e) { return Status(e.num(), what + ": " + e.what()); }

// Options every socket gets; see the header for why.
void SetCommonOptions(zmq::socket_t& s, bool ipv6) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::sndhwm, 0);
  s.set(zmq::sockopt::rcvhwm, 0);
  s.set(zmq::sockopt::immediate, 0);
  s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(sizeof(peer::PeerHeader) + peer::kMaxMessageBytes));
  if (ipv6) s.set(zmq::sockopt::ipv6, 1);
}

// Only printable ASCII of an untrusted string, for the log.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

// The first kLoggedRefusals, then every kRefusalLogEvery-th.
bool ShouldLog(uint64_t count) {
  return count <= ZmqTransport::kLoggedRefusals || count % ZmqTransport::kRefusalLogEvery == 0;
}

// " (the 300th; after the first 10 only every 100th is logged)" once the
// log is thinned out.
std::string CountNote(uint64_t count) {
  if (count <= ZmqTransport::kLoggedRefusals) return "";
  return " (refusal " + std::to_string(count) + "; after the first " + std::to_string(ZmqTransport::kLoggedRefusals) +
         " only every " + std::to_string(ZmqTransport::kRefusalLogEvery) + "th is logged)";
}

}  // namespace

Result<std::unique_ptr<ZmqTransport>> ZmqTransport::Create(const ZmqTransportConfig& config) {
  PeerMeshConfig mesh;
  mesh.host_id = config.host_id;
  mesh.num_hosts = config.num_hosts;
  mesh.job_id = config.job_id;
  mesh.join_endpoint = config.join;
  mesh.timing = config.timing;
  mesh.protocol_version = config.protocol_version;
  if (Status s = ValidateMeshConfig(mesh); !s.ok()) return s;
  if (config.listen.empty()) return Status(EINVAL, "no listen endpoint");
  if (config.host_id == 0 && !config.join.empty()) {
    return Status(EINVAL, "host 0 joins nobody (join endpoint '" + config.join + "' given)");
  }
  if (config.host_id != 0 && config.join.empty()) {
    return Status(EINVAL, "host " + std::to_string(config.host_id) + " needs host 0's endpoint to join");
  }
  if (config.advertise.empty() && IsWildcard(HostPart(config.listen))) {
    return Status(EINVAL, "listening on the wildcard address of " + config.listen +
                              " needs an advertised endpoint the other hosts can connect to");
  }
  std::unique_ptr<ZmqTransport> t(new ZmqTransport(config, mesh));
  if (Status s = t->DecodeKeys(); !s.ok()) return s;
  if (Status s = t->Bind(); !s.ok()) return s;
  return t;
}

ZmqTransport::ZmqTransport(const ZmqTransportConfig& config, const PeerMeshConfig& mesh)
    : PeerMesh(mesh), config_(config), slots_(config.num_hosts + (config.curve ? 3 : 1)) {
  std::random_device rd;
  char nonce[32];
  std::snprintf(nonce, sizeof nonce, "%08x%08x", rd(), rd());
  identity_ = "h" + std::to_string(config.host_id) + "-" + nonce;
}

ZmqTransport::~ZmqTransport() {
  // In slot order: the DEALERs, the ROUTER, and only then its ZAP handler
  // and monitor.
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.fd >= 0 && loop() != nullptr) loop()->RemoveFd(s.fd);
    s.socket.reset();  // closes; lingers only after Leave()
  }
  context_.reset();  // waits for the lingering byes, at most kByeLingerMs
}

Status ZmqTransport::DecodeKeys() {
  if (!config_.curve) return Status::Ok();
  if (!zmq_has("curve")) return Status(ENOTSUP, "this libzmq has no CURVE support");
  const jobkeys::Keys& k = *config_.curve;
  if (!jobkeys::ValidZ85Key(k.public_z85) || !jobkeys::ValidZ85Key(k.secret_z85)) {
    return Status(EINVAL, "a CURVE key is not 40 characters of Z85");
  }
  CurveKeys& keys = curve_.emplace();
  keys.public_key.assign(kCurveKeyBytes, '\0');
  keys.secret_key.assign(kCurveKeyBytes, '\0');
  char derived[jobkeys::kZ85KeyLength + 1];
  bool decoded = zmq_z85_decode(reinterpret_cast<uint8_t*>(keys.public_key.data()), k.public_z85.c_str()) &&
                 zmq_z85_decode(reinterpret_cast<uint8_t*>(keys.secret_key.data()), k.secret_z85.c_str());
  bool matches = decoded && zmq_curve_public(derived, k.secret_z85.c_str()) == 0 && k.public_z85 == derived;
  config_.curve.reset();  // the decoded keys are all we keep (Keys overwrites its secret)
  if (!decoded) return Status(EINVAL, "a CURVE key is not valid Z85");
  if (!matches) return Status(EINVAL, "the CURVE public key is not the secret key's");
  return Status::Ok();
}

Status ZmqTransport::Bind() {
  try {
    context_ = std::make_unique<zmq::context_t>(1);
    // The ZAP handler exists before the ROUTER: libzmq accepts every CURVE
    // client of a server that has none.
    if (Status s = BindSecurity(); !s.ok()) return s;
    auto router = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::router);
    const std::string& listen = config_.listen;
    SetCommonOptions(*router, listen.find('[') != std::string::npos);
    if (curve_) {
      router->set(zmq::sockopt::curve_server, 1);
      router->set(zmq::sockopt::curve_secretkey, zmq::buffer(curve_->secret_key.data(), kCurveKeyBytes));
      router->set(zmq::sockopt::zap_domain, kZapDomain);
      if (zmq_socket_monitor(router->handle(), kMonitorEndpoint, kMonitorEvents) != 0) {
        throw zmq::error_t();
      }
      auto monitor = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::pair);
      monitor->set(zmq::sockopt::linger, 0);
      monitor->connect(kMonitorEndpoint);
      slots_[monitor_slot()].socket = std::move(monitor);
    }
    std::string addr = listen;
    if (addr.size() > 2 && addr.compare(addr.size() - 2, 2, ":0") == 0) addr.replace(addr.size() - 1, 1, "*");
    router->bind(addr);
    bound_ = router->get(zmq::sockopt::last_endpoint);
    advertised_ = config_.advertise.empty() ? bound_ : config_.advertise;
    slots_[router_slot()].socket = std::move(router);
  } catch (const zmq::error_t& e) {
    return ZmqError("cannot listen on " + config_.listen, e);
  }
  return Status::Ok();
}

Status ZmqTransport::BindSecurity() {
  if (!curve_) return Status::Ok();
  try {
    auto zap = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::rep);
    zap->set(zmq::sockopt::linger, 0);
    zap->bind(kZapEndpoint);
    slots_[zap_slot()].socket = std::move(zap);
  } catch (const zmq::error_t& e) {
    return ZmqError("cannot start the ZAP handler", e);
  }
  return Status::Ok();
}

Status ZmqTransport::StartWire() {
  if (curve_) {
    // Before the ROUTER: handshakes already waiting get their answers.
    if (Status s = Watch(zap_slot()); !s.ok()) return s;
    if (Status s = Watch(monitor_slot()); !s.ok()) return s;
  }
  return Watch(router_slot());
}

Status ZmqTransport::Watch(size_t slot) {
  Slot& s = slots_[slot];
  try {
    s.fd = s.socket->get(zmq::sockopt::fd);
  } catch (const zmq::error_t& e) {
    return ZmqError("ZMQ_FD", e);
  }
  if (Status st = loop()->AddFd(s.fd, [this, slot] { Drain(slot); }); !st.ok()) {
    s.fd = -1;
    return st;
  }
  // Anything that arrived before we watched has already been signalled.
  DrainSoon(slot);
  return Status::Ok();
}

Status ZmqTransport::Connect(uint32_t host, const std::string& endpoint) {
  Slot& s = slots_[host];
  if (s.socket) return Status::Ok();
  try {
    auto dealer = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::dealer);
    SetCommonOptions(*dealer, endpoint.find('[') != std::string::npos);
    dealer->set(zmq::sockopt::routing_id, identity_);
    if (curve_) {
      // The job's key pair is every daemon's, and the only server key we accept.
      dealer->set(zmq::sockopt::curve_serverkey, zmq::buffer(curve_->public_key.data(), kCurveKeyBytes));
      dealer->set(zmq::sockopt::curve_publickey, zmq::buffer(curve_->public_key.data(), kCurveKeyBytes));
      dealer->set(zmq::sockopt::curve_secretkey, zmq::buffer(curve_->secret_key.data(), kCurveKeyBytes));
    }
    dealer->connect(endpoint);
    s.socket = std::move(dealer);
  } catch (const zmq::error_t& e) {
    return ZmqError("connect to " + endpoint, e);
  }
  return Watch(host);
}

void ZmqTransport::Disconnect(uint32_t host) {
  Slot& s = slots_[host];
  if (s.fd >= 0) loop()->RemoveFd(s.fd);
  s.fd = -1;
  s.socket.reset();  // linger 0: whatever was queued for it is freed
}

void ZmqTransport::OnLeave() {
  for (uint32_t h = 0; h < config_.num_hosts; ++h) {
    Slot& s = slots_[h];
    if (!s.socket) continue;
    try {
      s.socket->set(zmq::sockopt::linger, kByeLingerMs);
    } catch (const zmq::error_t& e) {
      DSM_LOG_WARN("host %u: ZMQ_LINGER: %s", config_.host_id, e.what());
    }
  }
}

bool ZmqTransport::SendFrame(uint32_t host, const peer::PeerHeader& header, std::string_view body) {
  if (!slots_[host].socket) return false;
  return SendOn(host, header, body, false, {});
}

void ZmqTransport::Reply(std::string_view origin, const peer::PeerHeader& header, std::string_view body) {
  SendOn(router_slot(), header, body, true, origin);
}

bool ZmqTransport::SendOn(size_t slot, const peer::PeerHeader& header, std::string_view body, bool with_identity,
                          std::string_view identity) {
  zmq::socket_t& sock = *slots_[slot].socket;
  bool sent = false;
  try {
    // One copy of the body, into the message ZeroMQ will send.
    zmq::message_t msg(sizeof header + body.size());
    std::memcpy(msg.data(), &header, sizeof header);
    if (!body.empty()) std::memcpy(static_cast<char*>(msg.data()) + sizeof header, body.data(), body.size());
    if (with_identity) {
      if (!sock.send(zmq::buffer(identity.data(), identity.size()), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        DSM_LOG_WARN("host %u: cannot reply to connection %.*s: would block", config_.host_id,
                     static_cast<int>(identity.size()), identity.data());
      } else {
        sent = sock.send(msg, zmq::send_flags::dontwait).has_value();
      }
    } else {
      sent = sock.send(msg, zmq::send_flags::dontwait).has_value();
    }
    if (!sent) DSM_LOG_WARN("host %u: a %s to host %u would block: not sent", config_.host_id,
                            peer::MsgTypeName(header.type), header.to_host);
  } catch (const zmq::error_t& e) {
    DSM_LOG_WARN("host %u: sending a %s to host %u: %s", config_.host_id, peer::MsgTypeName(header.type),
                 header.to_host, e.what());
  }
  CheckAfterSend(slot);
  return sent;
}

void ZmqTransport::CheckAfterSend(size_t slot) {
  // A send may have consumed the socket's pending commands, including the
  // one that would have made its ZMQ_FD readable for an arrived message.
  Slot& s = slots_[slot];
  if (!s.socket || s.drain_posted) return;
  try {
    if (s.socket->get(zmq::sockopt::events) & ZMQ_POLLIN) DrainSoon(slot);
  } catch (const zmq::error_t& e) {
    DSM_LOG_WARN("host %u: ZMQ_EVENTS: %s", config_.host_id, e.what());
  }
}

void ZmqTransport::DrainSoon(size_t slot) {
  Slot& s = slots_[slot];
  if (s.drain_posted) return;
  s.drain_posted = true;
  loop()->Post([this, slot, token = alive_token()] {
    if (token.expired()) return;
    slots_[slot].drain_posted = false;
    Drain(slot);
  });
}

void ZmqTransport::Drain(size_t slot) {
  if (slot > router_slot()) return DrainSecurity(slot);
  const bool router = slot == router_slot();
  auto token = alive_token();
  for (int n = 0; n < kDrainBudget; ++n) {
    // Re-read every time: a callback may have disconnected this socket.
    zmq::socket_t* sock = slots_[slot].socket.get();
    if (sock == nullptr) return;
    try {
      if (!(sock->get(zmq::sockopt::events) & ZMQ_POLLIN)) return;
      zmq::message_t first;
      if (!sock->recv(first, zmq::recv_flags::dontwait)) return;
      zmq::message_t frame;
      bool bad_parts = false;
      if (router) {
        // Identity, then exactly one message frame.
        if (!first.more() || !sock->recv(frame, zmq::recv_flags::dontwait)) {
          Drop("a message without a body from connection %s", first.to_string().c_str());
          continue;
        }
        bad_parts = frame.more();
      } else {
        frame.swap(first);
        bad_parts = frame.more();
      }
      if (bad_parts) {
        zmq::message_t rest;
        while (frame.more() && sock->recv(rest, zmq::recv_flags::dontwait) && rest.more()) {
        }
        Drop("a multi-part message on %s", router ? "the ROUTER" : "a DEALER");
        continue;
      }
      std::string_view origin = router ? std::string_view(static_cast<const char*>(first.data()), first.size())
                                       : std::string_view();
      OnFrame(origin, std::string_view(static_cast<const char*>(frame.data()), frame.size()));
      if (token.expired()) return;
    } catch (const zmq::error_t& e) {
      DSM_LOG_WARN("host %u: receiving: %s", config_.host_id, e.what());
      return;
    }
  }
  DrainSoon(slot);  // budget used up: let the rest of the loop run first
}

void ZmqTransport::DrainSecurity(size_t slot) {
  auto token = alive_token();
  for (int n = 0; n < kDrainBudget; ++n) {
    zmq::socket_t* sock = slots_[slot].socket.get();
    if (sock == nullptr) return;
    std::vector<std::string> frames;
    try {
      if (!(sock->get(zmq::sockopt::events) & ZMQ_POLLIN)) return;
      zmq::message_t part;
      do {
        if (!sock->recv(part, zmq::recv_flags::dontwait)) break;
        if (frames.size() < kMaxSecurityFrames) frames.push_back(part.to_string());
      } while (part.more());
    } catch (const zmq::error_t& e) {
      DSM_LOG_WARN("host %u: receiving from the %s: %s", config_.host_id,
                   slot == zap_slot() ? "ZAP handler" : "monitor", e.what());
      return;
    }
    if (frames.empty()) return;
    if (slot == zap_slot()) {
      AnswerZap(frames);
    } else {
      OnMonitorEvent(frames);
    }
    if (token.expired()) return;
  }
  DrainSoon(slot);
}

// RFC 27: version, request id, domain, address, identity, mechanism, then
// the mechanism's credentials (CURVE: the client's 32-byte public key). The
// reply: version, request id, status code, status text, user id, metadata.
void ZmqTransport::AnswerZap(const std::vector<std::string>& request) {
  const bool well_formed = request.size() >= 6 && request[0] == "1.0";
  const std::string address = request.size() > 3 ? Printable(request[3]) : "an unknown address";
  std::string why;
  if (!well_formed) {
    why = "a malformed ZAP request";
  } else if (request[5] != "CURVE") {
    why = "mechanism " + Printable(request[5]) + " instead of CURVE";
  } else if (request.size() != 7 || request[6].size() != kCurveKeyBytes) {
    why = "a CURVE request without a 32-byte key";
  } else if (request[6] != curve_->public_key) {
    char z85[jobkeys::kZ85KeyLength + 1] = "?";
    zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(request[6].data()), kCurveKeyBytes);
    why = std::string("its key ") + z85 + " is not this job's";
  }
  const bool accept = why.empty();
  if (accept) {
    ++security_.clients_accepted;
    DSM_LOG_DEBUG("host %u: a daemon of this job connected from %s", config_.host_id, address.c_str());
  } else {
    ++security_.clients_refused;
    if (ShouldLog(security_.clients_refused)) {
      DSM_LOG_WARN("host %u: refused a connection from %s to %s: %s%s", config_.host_id, address.c_str(),
                   bound_.c_str(), why.c_str(), CountNote(security_.clients_refused).c_str());
    }
  }
  zmq::socket_t& zap = *slots_[zap_slot()].socket;
  const std::string request_id = request.size() > 1 ? request[1] : "";
  const std::string_view reply[] = {"1.0", request_id, accept ? "200" : "400",
                                    accept ? "OK" : "not a daemon of this job", "", ""};
  try {
    for (size_t i = 0; i < std::size(reply); ++i) {
      auto more = i + 1 < std::size(reply) ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (!zap.send(zmq::buffer(reply[i].data(), reply[i].size()), more | zmq::send_flags::dontwait)) {
        DSM_LOG_WARN("host %u: the ZAP reply would block", config_.host_id);
        break;
      }
    }
  } catch (const zmq::error_t& e) {
    DSM_LOG_WARN("host %u: answering a ZAP request: %s", config_.host_id, e.what());
  }
  CheckAfterSend(zap_slot());
}

// A monitor event: 6 bytes (event u16, value u32; host order), then the
// listening endpoint. The value of a failed handshake is the ZMTP protocol
// error (RFC 23 / zmq.h ZMQ_PROTOCOL_ERROR_*), or the ZAP status code.
void ZmqTransport::OnMonitorEvent(const std::vector<std::string>& event) {
  if (event.size() != 2 || event[0].size() != 6) {
    DSM_LOG_WARN("host %u: a malformed monitor event", config_.host_id);
    return;
  }
  uint16_t what = 0;
  uint32_t value = 0;
  std::memcpy(&what, event[0].data(), sizeof what);
  std::memcpy(&value, event[0].data() + sizeof what, sizeof value);
  ++security_.handshakes_failed;
  if (what == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) return;  // ZAP said no, and logged it with the address
  if (!ShouldLog(security_.handshakes_failed)) return;
  char detail[64];
  if (what == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
    std::snprintf(detail, sizeof detail, "the client does not use CURVE");
  } else if (what == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
    std::snprintf(detail, sizeof detail, "the client expects another server key");
  } else if (what == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
    std::snprintf(detail, sizeof detail, "ZMTP error 0x%x", value);
  } else {
    std::snprintf(detail, sizeof detail, "%s", std::strerror(static_cast<int>(value)));  // an errno
  }
  DSM_LOG_WARN("host %u: refused a connection to %s: its handshake failed (%s): not a daemon of this job%s",
               config_.host_id, bound_.c_str(), detail, CountNote(security_.handshakes_failed).c_str());
}

}  // namespace dsm::hostd
