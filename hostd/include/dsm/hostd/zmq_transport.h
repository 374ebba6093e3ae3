// ZmqTransport: the PeerTransport between the daemons of a job over ZeroMQ
// (TCP), library dsm_hostd_zmq. Only the dsm-hostd program links it: the
// rest of hostd (and libdsm) stays free of ZeroMQ.
//
// Pattern: one ROUTER bound at the listen endpoint receives everything (an
// identity frame + one message frame); one DEALER per peer, with routing id
// "h<host id>-<random nonce>" (the nonce keeps a stray or duplicate daemon
// from colliding with a real host's identity at a ROUTER), sends to it. A
// joining host's DEALER to host 0 also receives host 0's refusal, sent back
// over the ROUTER. Membership, heartbeats and checks are PeerMesh's.
//
// Sockets: ZMQ_LINGER 0 (after Leave(): kByeLingerMs, so the byes go out when
// the transport is destroyed), send and receive high-water marks 0
// (unlimited: a message is never dropped; a lost host's queue is freed when
// its DEALER is closed), ZMQ_IMMEDIATE off (messages to a host queue until
// it is connected), ZMQ_MAXMSGSIZE header + peer::kMaxMessageBytes. Each
// socket's ZMQ_FD is watched by the EventLoop; since it is edge-triggered,
// every wake-up drains the socket while ZMQ_EVENTS says POLLIN (at most
// kDrainBudget messages, then the rest in a posted task), and every send
// re-checks ZMQ_EVENTS of the socket it used.
//
// Authentication (CURVE, RFC 26), when the configuration has the job's key
// pair: the ROUTER is a CURVE server with the job's secret key, and every
// DEALER a CURVE client that uses the job's key pair as its own and expects
// the job's public key from the server, so a DEALER completes a handshake
// only with a holder of the job's secret. The ROUTER accepts a client only
// if its public key is the job's: the transport answers ZeroMQ's ZAP
// requests (RFC 27, a REP socket on inproc://zeromq.zap.01 of its own
// context, bound before the ROUTER and closed after it, so no connection is
// ever handshaken without it) on the event loop, and logs every refusal
// with the client's address. A monitor of the ROUTER counts and logs the
// handshakes that fail otherwise (a client without CURVE or expecting
// another server key, a ZMTP greeting followed by garbage), without an
// address (libzmq 4.3's monitor gives only the listening endpoint). Bytes
// that do not even begin a ZMTP 3 greeting make libzmq close the connection
// without any event. Refused connections never deliver a frame, so PeerMesh
// never sees them; every message is encrypted and authenticated with the
// connection's session key.
// Logging is bounded: the first kLoggedRefusals refusals of each kind, then
// every kRefusalLogEvery-th, with the count.
//
// Ownership and thread safety: as PeerTransport. The transport owns its
// ZeroMQ context (one I/O thread) and sockets.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dsm/common/job_keys.h"
#include "dsm/common/status.h"
#include "dsm/hostd/peer_mesh.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace dsm::hostd {

struct ZmqTransportConfig {
  uint32_t host_id = 0;
  uint32_t num_hosts = 1;
  uint64_t job_id = 0;
  // Where to bind the ROUTER, "tcp://ADDR:PORT"; PORT 0 binds any free port.
  // ADDR is used exactly as given (a wildcard address needs `advertise`).
  std::string listen;
  // Host 0's endpoint; empty on host 0.
  std::string join;
  // What the other hosts connect to; empty: the bound endpoint.
  std::string advertise;
  PeerTiming timing;
  uint16_t protocol_version = peer::kPeerVersion;  // tests only
  // The job's CURVE key pair (jobkeys::Keys: Z85 text; Create checks that
  // the public key is the secret key's). None: no authentication, any
  // client that reaches the port is served (dsm-hostd --insecure, tests).
  std::optional<jobkeys::Keys> curve;
};

class ZmqTransport final : public PeerMesh {
 public:
  static constexpr int kByeLingerMs = 1000;
  static constexpr int kDrainBudget = 256;
  static constexpr uint64_t kLoggedRefusals = 10;
  static constexpr uint64_t kRefusalLogEvery = 100;
  // ZAP domain of the ROUTER (RFC 27).
  static constexpr const char* kZapDomain = "dsm-job";

  // What the authentication saw (all 0 without CURVE).
  struct SecurityStats {
    uint64_t clients_accepted = 0;   // ZAP: the job's key
    uint64_t clients_refused = 0;    // ZAP: another key (or mechanism)
    uint64_t handshakes_failed = 0;  // handshakes that failed (those refused by ZAP included)
  };

  // Validates the configuration, creates the context and binds the ROUTER
  // (so endpoint() is known before Start()).
  static Result<std::unique_ptr<ZmqTransport>> Create(const ZmqTransportConfig& config);
  ~ZmqTransport() override;

  [[nodiscard]] std::string endpoint() const override { return advertised_; }
  [[nodiscard]] bool authenticated() const { return curve_.has_value(); }
  [[nodiscard]] const SecurityStats& security_stats() const { return security_; }

 protected:
  [[nodiscard]] std::string WireAddress() const override { return advertised_; }
  Status StartWire() override;
  Status Connect(uint32_t host, const std::string& endpoint) override;
  bool SendFrame(uint32_t host, const peer::PeerHeader& header, std::string_view body) override;
  void Reply(std::string_view origin, const peer::PeerHeader& header, std::string_view body) override;
  void Disconnect(uint32_t host) override;
  void OnLeave() override;

 private:
  // Host h's DEALER is slot h, the ROUTER slot num_hosts; with CURVE the
  // ZAP handler and the ROUTER's monitor follow.
  struct Slot {
    std::unique_ptr<zmq::socket_t> socket;
    int fd = -1;                 // its ZMQ_FD, watched by the loop
    bool drain_posted = false;
  };

  // The job's keys, decoded.
  struct CurveKeys {
    std::string public_key;  // 32 bytes
    std::string secret_key;  // 32 bytes
    ~CurveKeys() { jobkeys::Wipe(secret_key); }
  };

  ZmqTransport(const ZmqTransportConfig& config, const PeerMeshConfig& mesh);
  Status DecodeKeys();
  Status Bind();
  Status BindSecurity();
  Status Watch(size_t slot);
  void Drain(size_t slot);
  void DrainSoon(size_t slot);
  void CheckAfterSend(size_t slot);
  bool SendOn(size_t slot, const peer::PeerHeader& header, std::string_view body, bool with_identity,
              std::string_view identity);
  // The ZAP handler's and the monitor's messages.
  void DrainSecurity(size_t slot);
  void AnswerZap(const std::vector<std::string>& request);
  void OnMonitorEvent(const std::vector<std::string>& event);
  [[nodiscard]] size_t router_slot() const { return config_.num_hosts; }
  [[nodiscard]] size_t zap_slot() const { return config_.num_hosts + 1; }
  [[nodiscard]] size_t monitor_slot() const { return config_.num_hosts + 2; }

  ZmqTransportConfig config_;
  std::string identity_;    // our DEALERs' routing id
  std::string bound_;       // ZMQ_LAST_ENDPOINT of the ROUTER
  std::string advertised_;  // what we tell the others
  std::optional<CurveKeys> curve_;
  std::unique_ptr<zmq::context_t> context_;
  std::vector<Slot> slots_;
  SecurityStats security_;
};

}  // namespace dsm::hostd
