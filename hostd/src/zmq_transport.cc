#include "dsm/hostd/zmq_transport.h"

#include <cstdio>
#include <cstring>
#include <random>
#include <zmq.hpp>

#include "dsm/common/log.h"

namespace dsm::hostd {

namespace {

constexpr std::string_view kTcp = "tcp://";

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
  if (Status s = t->Bind(); !s.ok()) return s;
  return t;
}

ZmqTransport::ZmqTransport(const ZmqTransportConfig& config, const PeerMeshConfig& mesh)
    : PeerMesh(mesh), config_(config), slots_(config.num_hosts + 1) {
  std::random_device rd;
  char nonce[32];
  std::snprintf(nonce, sizeof nonce, "%08x%08x", rd(), rd());
  identity_ = "h" + std::to_string(config.host_id) + "-" + nonce;
}

ZmqTransport::~ZmqTransport() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.fd >= 0 && loop() != nullptr) loop()->RemoveFd(s.fd);
    s.socket.reset();  // closes; lingers only after Leave()
  }
  context_.reset();  // waits for the lingering byes, at most kByeLingerMs
}

Status ZmqTransport::Bind() {
  try {
    context_ = std::make_unique<zmq::context_t>(1);
    auto router = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::router);
    const std::string& listen = config_.listen;
    SetCommonOptions(*router, listen.find('[') != std::string::npos);
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

Status ZmqTransport::StartWire() { return Watch(router_slot()); }

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

}  // namespace dsm::hostd
