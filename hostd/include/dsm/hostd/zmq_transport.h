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
// Ownership and thread safety: as PeerTransport. The transport owns its
// ZeroMQ context (one I/O thread) and sockets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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
};

class ZmqTransport final : public PeerMesh {
 public:
  static constexpr int kByeLingerMs = 1000;
  static constexpr int kDrainBudget = 256;

  // Validates the configuration, creates the context and binds the ROUTER
  // (so endpoint() is known before Start()).
  static Result<std::unique_ptr<ZmqTransport>> Create(const ZmqTransportConfig& config);
  ~ZmqTransport() override;

  [[nodiscard]] std::string endpoint() const override { return advertised_; }

 protected:
  [[nodiscard]] std::string WireAddress() const override { return advertised_; }
  Status StartWire() override;
  Status Connect(uint32_t host, const std::string& endpoint) override;
  bool SendFrame(uint32_t host, const peer::PeerHeader& header, std::string_view body) override;
  void Reply(std::string_view origin, const peer::PeerHeader& header, std::string_view body) override;
  void Disconnect(uint32_t host) override;
  void OnLeave() override;

 private:
  // The ROUTER is slot num_hosts; host h's DEALER is slot h.
  struct Slot {
    std::unique_ptr<zmq::socket_t> socket;
    int fd = -1;                 // its ZMQ_FD, watched by the loop
    bool drain_posted = false;
  };

  ZmqTransport(const ZmqTransportConfig& config, const PeerMeshConfig& mesh);
  Status Bind();
  Status Watch(size_t slot);
  void Drain(size_t slot);
  void DrainSoon(size_t slot);
  void CheckAfterSend(size_t slot);
  bool SendOn(size_t slot, const peer::PeerHeader& header, std::string_view body, bool with_identity,
              std::string_view identity);
  [[nodiscard]] size_t router_slot() const { return slots_.size() - 1; }

  ZmqTransportConfig config_;
  std::string identity_;    // our DEALERs' routing id
  std::string bound_;       // ZMQ_LAST_ENDPOINT of the ROUTER
  std::string advertised_;  // what we tell the others
  std::unique_ptr<zmq::context_t> context_;
  std::vector<Slot> slots_;
};

}  // namespace dsm::hostd
