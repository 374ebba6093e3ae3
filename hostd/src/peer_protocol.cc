// Names of the peer message types, and the codec of whole messages and of the
// membership bodies (see peer_protocol.h).
#include "dsm/hostd/peer_protocol.h"

#include <cstdio>
#include <cstring>
#include <type_traits>

namespace dsm::hostd::peer {

namespace {

template <typename T>
void Append(std::string* out, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Reads a T from the front of *in; false (and *in untouched) if too short.
template <typename T>
bool Take(std::string_view* in, T* v) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (in->size() < sizeof(T)) return false;
  std::memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

bool TakeBytes(std::string_view* in, size_t n, std::string_view* out) {
  if (in->size() < n) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

Status Malformed(const std::string& what) { return Status(kDecodeMalformed, "malformed message: " + what); }

}  // namespace

const char* MsgTypeName(uint16_t type) {
  switch (type) {
    case kInvalid: return "invalid";
    case kHello: return "hello";
    case kWelcome: return "welcome";
    case kRefuse: return "refuse";
    case kHeartbeat: return "heartbeat";
    case kBye: return "bye";
    case kJobEnd: return "job-end";
    case kLockRequest: return "lock-request";
    case kLockRecall: return "lock-recall";
    case kLockReturn: return "lock-return";
    case kLockGrant: return "lock-grant";
    case kBarrierArrive: return "barrier-arrive";
    case kBarrierDepart: return "barrier-depart";
    case kHomeQuery: return "home-query";
    case kHomeReply: return "home-reply";
    case kFetch: return "fetch";
    case kFetchReply: return "fetch-reply";
    case kDiff: return "diff";
    case kDiffAck: return "diff-ack";
    case kAlloc: return "alloc";
    case kAllocReply: return "alloc-reply";
    case kFree: return "free";
    case kFreeReply: return "free-reply";
    default: return "unknown";
  }
}

const char* RefuseReasonName(uint32_t reason) {
  switch (reason) {
    case kWrongJob: return "wrong job";
    case kWrongVersion: return "wrong version";
    case kBadHostId: return "bad host id";
    case kDuplicateHost: return "duplicate host";
    case kWrongNumHosts: return "wrong number of hosts";
    default: return "unknown reason";
  }
}

PeerHeader MakeHeader(uint16_t type, uint32_t from_host, uint32_t to_host, uint64_t job_id,
                      uint64_t request_id) {
  PeerHeader h{};
  h.magic = kPeerMagic;
  h.version = kPeerVersion;
  h.type = type;
  h.from_host = from_host;
  h.to_host = to_host;
  h.job_id = job_id;
  h.request_id = request_id;
  h.body_len = 0;
  return h;
}

std::string EncodeMessage(const PeerHeader& header, std::string_view body) {
  PeerHeader h = header;
  h.body_len = body.size();
  std::string out;
  out.reserve(sizeof h + body.size());
  Append(&out, h);
  out.append(body);
  return out;
}

Result<DecodedMessage> DecodeMessage(std::string_view frame, uint64_t job_id, uint32_t num_hosts) {
  if (frame.size() < sizeof(PeerHeader)) {
    return Malformed("truncated: " + std::to_string(frame.size()) + " bytes, a header has " +
                     std::to_string(sizeof(PeerHeader)));
  }
  DecodedMessage m;
  std::memcpy(&m.header, frame.data(), sizeof m.header);
  const PeerHeader& h = m.header;
  if (h.magic != kPeerMagic) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "bad magic 0x%08x", h.magic);
    return Malformed(buf);
  }
  if (h.version != kPeerVersion) {
    return Status(kDecodeWrongVersion, "peer protocol version " + std::to_string(h.version) +
                                           ", this daemon speaks version " + std::to_string(kPeerVersion));
  }
  if (h.type == kInvalid || h.type >= kMsgTypeEnd || std::strcmp(MsgTypeName(h.type), "unknown") == 0) {
    return Malformed("unknown type " + std::to_string(h.type));
  }
  if (h.job_id != job_id) {
    return Status(kDecodeWrongJob, std::string(MsgTypeName(h.type)) + " of job " + std::to_string(h.job_id) +
                                       ", this is job " + std::to_string(job_id));
  }
  if (h.from_host >= num_hosts || h.to_host >= num_hosts) {
    return Status(kDecodeBadHost, std::string(MsgTypeName(h.type)) + " from host " + std::to_string(h.from_host) +
                                      " to host " + std::to_string(h.to_host) + " in a job of " +
                                      std::to_string(num_hosts) + " hosts");
  }
  if (h.body_len > kMaxMessageBytes) {
    return Malformed(std::string(MsgTypeName(h.type)) + " body of " + std::to_string(h.body_len) +
                     " bytes, the limit is " + std::to_string(kMaxMessageBytes));
  }
  size_t have = frame.size() - sizeof(PeerHeader);
  if (h.body_len != have) {
    return Malformed(std::string(MsgTypeName(h.type)) + " says " + std::to_string(h.body_len) +
                     " body bytes, the frame has " + std::to_string(have));
  }
  m.body = frame.substr(sizeof(PeerHeader));
  return m;
}

std::string EncodeHello(const Hello& hello) {
  HelloBody b{};
  b.host_id = hello.host_id;
  b.num_hosts = hello.num_hosts;
  b.endpoint_len = static_cast<uint32_t>(hello.endpoint.size());
  std::string out;
  Append(&out, b);
  out.append(hello.endpoint);
  return out;
}

Result<Hello> DecodeHello(std::string_view body) {
  HelloBody b;
  if (!Take(&body, &b)) return Malformed("hello shorter than its fixed part");
  if (b.endpoint_len > kMaxEndpoint) {
    return Malformed("hello endpoint of " + std::to_string(b.endpoint_len) + " bytes (at most " +
                     std::to_string(kMaxEndpoint) + ")");
  }
  std::string_view ep;
  if (!TakeBytes(&body, b.endpoint_len, &ep)) return Malformed("hello endpoint cut short");
  if (!body.empty()) return Malformed("hello with " + std::to_string(body.size()) + " trailing bytes");
  return Hello{b.host_id, b.num_hosts, std::string(ep)};
}

std::string EncodeWelcome(const std::vector<std::string>& endpoints) {
  WelcomeBody b{};
  b.num_hosts = static_cast<uint32_t>(endpoints.size());
  std::string out;
  Append(&out, b);
  for (const std::string& e : endpoints) {
    Append(&out, static_cast<uint32_t>(e.size()));
    out.append(e);
  }
  return out;
}

Result<std::vector<std::string>> DecodeWelcome(std::string_view body, uint32_t num_hosts) {
  WelcomeBody b;
  if (!Take(&body, &b)) return Malformed("welcome shorter than its fixed part");
  if (b.num_hosts != num_hosts) {
    return Malformed("welcome for " + std::to_string(b.num_hosts) + " hosts, this job has " +
                     std::to_string(num_hosts));
  }
  std::vector<std::string> endpoints;
  endpoints.reserve(num_hosts);
  for (uint32_t h = 0; h < num_hosts; ++h) {
    uint32_t len;
    std::string_view ep;
    if (!Take(&body, &len)) return Malformed("welcome cut short at host " + std::to_string(h));
    if (len > kMaxEndpoint) return Malformed("welcome endpoint of " + std::to_string(len) + " bytes");
    if (!TakeBytes(&body, len, &ep)) return Malformed("welcome endpoint cut short at host " + std::to_string(h));
    endpoints.emplace_back(ep);
  }
  if (!body.empty()) return Malformed("welcome with " + std::to_string(body.size()) + " trailing bytes");
  return endpoints;
}

std::string EncodeRefuse(const Refusal& refusal) {
  RefuseBody b{};
  b.reason = refusal.reason;
  std::string_view text(refusal.text);
  if (text.size() > kMaxRefuseText) text = text.substr(0, kMaxRefuseText);
  b.reason_len = static_cast<uint32_t>(text.size());
  std::string out;
  Append(&out, b);
  out.append(text);
  return out;
}

Result<Refusal> DecodeRefuse(std::string_view body) {
  RefuseBody b;
  if (!Take(&body, &b)) return Malformed("refuse shorter than its fixed part");
  if (b.reason_len > kMaxRefuseText) return Malformed("refuse text of " + std::to_string(b.reason_len) + " bytes");
  std::string_view text;
  if (!TakeBytes(&body, b.reason_len, &text)) return Malformed("refuse text cut short");
  if (!body.empty()) return Malformed("refuse with " + std::to_string(body.size()) + " trailing bytes");
  return Refusal{b.reason, std::string(text)};
}

}  // namespace dsm::hostd::peer
