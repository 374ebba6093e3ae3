// PeerMesh: the part of a PeerTransport that does not depend on how bytes
// travel, shared by ZmqTransport and InProcTransport so that both join,
// watch liveness and leave by the same code.
//
//  * Joining: host 0 waits for a hello from every other host, checks each
//    (version, job id, host id range, number of hosts, duplicates) and
//    answers a bad one with a refusal on the connection it came in on; when
//    all K-1 are in it connects to every host and sends each a welcome with
//    every endpoint. A welcomed host connects to all the others. Either side
//    gives up after the join timeout (peer::kJoinTimeoutMs) and reports the
//    missing hosts (host 0) or host 0 (the others) lost.
//  * Liveness (Paranoid Pirate): once ready, a heartbeat to every peer every
//    heartbeat period; any message from a peer refreshes it; a peer silent
//    for the peer timeout is lost. A lost host stays lost.
//  * Leaving: bye to every peer; a peer that said bye is gone, not lost.
//  * Every received frame is checked with peer::DecodeMessage; bad ones are
//    logged, counted and dropped.
//  * Links (peer_protocol.h, PeerHeader.link_seq): engine messages to each
//    peer are numbered, and accepted from each peer only in order. A
//    duplicate is logged, counted and dropped; a gap (a lost message, or one
//    overtaken by a later one), seen on the next engine message or heartbeat
//    from that peer, loses the peer at once, with a reason naming the link.
//    ZeroMQ over TCP never reorders or duplicates, but may lose what was
//    queued when a connection breaks and is silently re-established; the
//    engine relies on every message arriving, in order, so a gap must end
//    the job rather than leave a node waiting forever.
//
// A subclass supplies the wire: bind/listen (in its factory), Connect to a
// host's endpoint, Send a frame to a connected host, Reply on the connection
// a frame came from (for refusals), Disconnect; and feeds every received
// frame to OnFrame().
//
// Ownership and thread safety: as PeerTransport (everything on the loop
// thread). The loop must outlive the mesh.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dsm/hostd/event_loop.h"
#include "dsm/hostd/peer_protocol.h"
#include "dsm/hostd/peer_transport.h"

namespace dsm::hostd {

// Protocol timings; tests shorten them.
struct PeerTiming {
  int heartbeat_ms = peer::kHeartbeatMs;
  int peer_timeout_ms = peer::kPeerTimeoutMs;
  int join_timeout_ms = peer::kJoinTimeoutMs;
};

struct PeerMeshConfig {
  uint32_t host_id = 0;
  uint32_t num_hosts = 1;
  uint64_t job_id = 0;
  // Host 0's address as the wire understands it; ignored on host 0.
  std::string join_endpoint;
  PeerTiming timing;
  // Tests only: the protocol version this host claims in what it sends.
  uint16_t protocol_version = peer::kPeerVersion;
};

// Checks host id / number of hosts; the subclasses' factories call it.
Status ValidateMeshConfig(const PeerMeshConfig& config);

class PeerMesh : public PeerTransport {
 public:
  struct Stats {
    uint64_t frames_received = 0;  // every frame handed to OnFrame
    uint64_t frames_dropped = 0;   // malformed, of another job/version, misaddressed, unexpected
    uint64_t hellos_refused = 0;   // host 0
    uint64_t messages_delivered = 0;  // on_message calls
    uint64_t duplicates = 0;       // engine messages seen before on their link (also in frames_dropped)
    uint64_t links_broken = 0;     // peers lost because messages went missing or out of order
  };
  enum class PeerState { kJoining, kAlive, kLeft, kLost };

  ~PeerMesh() override;

  [[nodiscard]] uint32_t host_id() const override { return config_.host_id; }
  [[nodiscard]] uint32_t num_hosts() const override { return config_.num_hosts; }
  Status Start(EventLoop* loop, Events events) override;
  bool Send(uint32_t to, uint16_t type, uint64_t request_id, std::string_view body) override;
  void Leave() override;

  [[nodiscard]] bool ready() const { return ready_; }
  [[nodiscard]] PeerState peer_state(uint32_t host) const { return peers_.at(host).state; }
  // Why a lost peer was lost (what on_host_lost said); "" otherwise.
  [[nodiscard]] const std::string& lost_reason(uint32_t host) const { return peers_.at(host).lost_reason; }
  [[nodiscard]] const Stats& stats() const { return stats_; }

 protected:
  explicit PeerMesh(const PeerMeshConfig& config);

  // The wire, implemented by the subclass. `host` is never our own id.
  // What we put in our hello (usually endpoint()).
  [[nodiscard]] virtual std::string WireAddress() const = 0;
  // Called from Start(), before anything is sent.
  virtual Status StartWire() = 0;
  // Makes `host` reachable at `endpoint`; messages sent before the connection
  // is up are queued.
  virtual Status Connect(uint32_t host, const std::string& endpoint) = 0;
  // Queues one frame (header, then body) to a connected host.
  virtual bool SendFrame(uint32_t host, const peer::PeerHeader& header, std::string_view body) = 0;
  // Sends one frame back on the connection identified by `origin` (as given
  // to OnFrame).
  virtual void Reply(std::string_view origin, const peer::PeerHeader& header, std::string_view body) = 0;
  // Drops the connection to `host` and whatever is queued for it.
  virtual void Disconnect(uint32_t host) = 0;
  // Called by Leave() after the byes were queued.
  virtual void OnLeave() {}

  // For the subclass: one received frame. `origin` identifies the
  // connection it came on, for Reply ("" when a reply is impossible).
  void OnFrame(std::string_view origin, std::string_view frame);

  // Counts a dropped frame and logs "host H: dropped <text>".
  void Drop(const char* fmt, ...) __attribute__((format(printf, 2, 3)));

  [[nodiscard]] EventLoop* loop() const { return loop_; }
  [[nodiscard]] const PeerMeshConfig& mesh_config() const { return config_; }
  // Expires when the mesh is destroyed: a task posted to the loop captures
  // it with `this` and does nothing if it expired.
  [[nodiscard]] std::weak_ptr<int> alive_token() const { return alive_; }

 private:
  struct Peer {
    PeerState state = PeerState::kJoining;
    bool joined = false;      // host 0: its hello was accepted
    std::string endpoint;     // as it said in its hello / our welcome
    std::string origin;       // host 0: the connection its hello came on
    bool connected = false;   // Connect() done
    uint64_t last_heard_ns = 0;
    std::string lost_reason;  // kLost: why
    uint64_t sent = 0;        // engine messages sent to it (the last link_seq used)
    uint64_t received = 0;    // engine messages accepted from it, in order
  };
  struct Held {
    uint32_t from;
    uint16_t type;
    uint64_t request_id;
    std::string body;
  };

  void OnHello(std::string_view origin, const peer::DecodedMessage& m);
  void RefuseUndecodable(std::string_view origin, std::string_view frame, const Status& why);
  void Refuse(std::string_view origin, uint32_t to, uint64_t job_id, uint32_t reason, const std::string& text);
  void OnWelcome(const peer::DecodedMessage& m);
  void OnRefuse(std::string_view text);
  void BecomeReady();
  void Tick();
  void JoinTimedOut();
  void Lose(uint32_t host, const std::string& reason);
  // Checks an engine message's number on its link: true to accept it;
  // false when it was dropped (duplicate) or broke the link (peer lost).
  bool AcceptInOrder(uint32_t from, const peer::PeerHeader& h);
  // A heartbeat or bye announced `sent` messages: false (peer lost) if some
  // never arrived.
  bool CheckAnnounced(uint32_t from, uint64_t sent);
  void BreakLink(uint32_t from, const std::string& what);
  bool SendMembership(uint32_t to, uint16_t type, std::string_view body);
  peer::PeerHeader Header(uint16_t type, uint32_t to, uint64_t request_id, size_t body_len) const;
  void Deliver(uint32_t from, uint16_t type, uint64_t request_id, std::string_view body);
  [[nodiscard]] std::string Describe(uint32_t host) const;

  PeerMeshConfig config_;
  EventLoop* loop_ = nullptr;
  Events events_;
  std::vector<Peer> peers_;
  bool started_ = false;
  bool ready_ = false;
  bool failed_ = false;   // refused, or the join timed out
  bool leaving_ = false;
  uint32_t hellos_ = 0;   // host 0: accepted hellos
  uint64_t tick_timer_ = 0;
  uint64_t join_timer_ = 0;
  std::vector<Held> held_;  // engine messages received before ready
  Stats stats_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace dsm::hostd
