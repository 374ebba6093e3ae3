// InProcTransport: the PeerTransport of several hosts inside one process, for
// tests of everything above the transport (a whole multi-host job in one
// binary). An InProcNetwork of K hosts hands out one transport per host;
// a frame sent to host h is posted onto h's EventLoop (the hosts' loops may
// run on different threads). Membership, heartbeats and checks are
// PeerMesh's, exactly as over ZeroMQ: the frames are the same bytes.
//
// Fault injection: a hook sees every frame between two different hosts
// (membership frames included; a host's messages to itself never reach the
// network) and decides to deliver it, drop it, deliver it twice, delay it, or
// hold it back until the next frame on the same link (sender, receiver) has
// been sent (so the two swap places) or ReleaseHeld() is called. A delay is
// latency, as on a TCP connection: the link keeps its order, and every later
// frame on it waits behind the delayed one; reordering is what hold does.
// (PeerMesh numbers the engine messages of every link, so that it drops a
// duplicate and loses the sender on a gap: see peer_mesh.h.)
// KillHost(h) stops all delivery to and from h: the others notice through the
// heartbeat timeout, as they would a dead daemon.
//
// Ownership: the network must outlive its transports; each transport must
// outlive nothing but is destroyed on its loop's thread (see
// PeerTransport). Frames for a host whose transport is gone are dropped.
//
// Thread safety: InProcNetwork's methods are thread-safe. The fault hook is
// called on the sending host's loop thread, without the network's lock held
// (it may call KillHost or ReleaseHeld); with loops on several threads it
// must be thread-safe itself.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dsm/common/thread_annotations.h"
#include "dsm/hostd/peer_mesh.h"

namespace dsm::hostd {

class InProcTransport;

struct InProcFrame {
  uint32_t from;
  uint32_t to;
  uint16_t type;  // peer::MsgType
  uint64_t request_id;
  uint64_t body_len;
};

struct InProcFault {
  enum Action { kDeliver, kDrop, kDuplicate, kDelay, kHold };
  Action action = kDeliver;
  int delay_ms = 0;  // kDelay

  static InProcFault Deliver() { return {}; }
  static InProcFault Drop() { return {kDrop, 0}; }
  static InProcFault Duplicate() { return {kDuplicate, 0}; }
  static InProcFault Delay(int ms) { return {kDelay, ms}; }
  static InProcFault Hold() { return {kHold, 0}; }
};

class InProcNetwork {
 public:
  using FaultHook = std::function<InProcFault(const InProcFrame&)>;
  struct Counters {
    uint64_t delivered = 0;   // frames posted to a receiver (a duplicate counts twice)
    uint64_t dropped = 0;     // by the hook
    uint64_t duplicated = 0;
    uint64_t delayed = 0;
    uint64_t held = 0;
    uint64_t lost = 0;        // to or from a killed host, or to a host without a transport
  };

  InProcNetwork(uint32_t num_hosts, uint64_t job_id, PeerTiming timing = {});
  ~InProcNetwork();
  InProcNetwork(const InProcNetwork&) = delete;
  InProcNetwork& operator=(const InProcNetwork&) = delete;

  // The transport of host `host_id`; at most one live transport per host.
  Result<std::unique_ptr<InProcTransport>> CreateTransport(uint32_t host_id) EXCLUDES(mu_);

  // Replaces the hook (nullptr: deliver everything).
  void SetFaultHook(FaultHook hook) EXCLUDES(mu_);
  // From now on nothing reaches host h or leaves it; frames held for or from
  // it are discarded. Cannot be undone.
  void KillHost(uint32_t host) EXCLUDES(mu_);
  // Sends every held frame now, oldest first (behind the frames a delay
  // holds up on its link). Returns how many.
  size_t ReleaseHeld() EXCLUDES(mu_);

  [[nodiscard]] uint32_t num_hosts() const { return num_hosts_; }
  [[nodiscard]] Counters counters() const EXCLUDES(mu_);

 private:
  friend class InProcTransport;
  struct Frame {
    uint32_t from;
    uint32_t to;
    std::shared_ptr<const std::string> bytes;
  };
  struct Delayed {
    Frame frame;
    uint64_t due_ns;  // CLOCK_MONOTONIC
  };
  struct Host {
    InProcTransport* transport = nullptr;  // null: none, or destroyed
    EventLoop* loop = nullptr;             // null until the transport starts
    std::weak_ptr<int> alive;
    bool killed = false;
    std::vector<Frame> waiting;            // arrived before the transport started
  };

  // Called by the transports.
  void Attach(uint32_t host, EventLoop* loop, std::weak_ptr<int> alive) EXCLUDES(mu_);
  void Detach(uint32_t host, InProcTransport* transport) EXCLUDES(mu_);
  void Transmit(uint32_t from, uint32_t to, std::string bytes) EXCLUDES(mu_);
  // Sends a frame on its link after delay_ms, and after every frame already
  // waiting on that link.
  void EnqueueLocked(const Frame& frame, int delay_ms) REQUIRES(mu_);
  // Arms a timer on the receiver's loop for the link's first waiting frame.
  void ScheduleFlushLocked(uint32_t from, uint32_t to) REQUIRES(mu_);
  // On the receiver's loop: posts the link's frames that are due.
  void FlushLink(uint32_t from, uint32_t to) EXCLUDES(mu_);
  // Forgets (counting them lost) the frames waiting on links to host, and
  // from it if `outgoing`.
  void DiscardLinksLocked(uint32_t host, bool outgoing) REQUIRES(mu_);
  // Posts a frame to its receiver's loop now (or to its waiting list).
  void PostLocked(const Frame& frame) REQUIRES(mu_);
  std::deque<Delayed>& LinkLocked(uint32_t from, uint32_t to) REQUIRES(mu_) {
    return links_[static_cast<size_t>(from) * num_hosts_ + to];
  }

  const uint32_t num_hosts_;
  const uint64_t job_id_;
  const PeerTiming timing_;
  mutable Mutex mu_;
  std::vector<Host> hosts_ GUARDED_BY(mu_);
  std::shared_ptr<FaultHook> hook_ GUARDED_BY(mu_);
  std::deque<Frame> held_ GUARDED_BY(mu_);
  // Per link (from * num_hosts + to): frames waiting behind a delayed one.
  std::vector<std::deque<Delayed>> links_ GUARDED_BY(mu_);
  Counters counters_ GUARDED_BY(mu_);
};

class InProcTransport final : public PeerMesh {
 public:
  ~InProcTransport() override;
  // In-process: nothing to reach over a network.
  [[nodiscard]] std::string endpoint() const override { return ""; }

 protected:
  [[nodiscard]] std::string WireAddress() const override;
  Status StartWire() override;
  Status Connect(uint32_t host, const std::string& endpoint) override;
  bool SendFrame(uint32_t host, const peer::PeerHeader& header, std::string_view body) override;
  void Reply(std::string_view origin, const peer::PeerHeader& header, std::string_view body) override;
  void Disconnect(uint32_t host) override {}

 private:
  friend class InProcNetwork;
  InProcTransport(InProcNetwork* network, const PeerMeshConfig& config);
  void Receive(uint32_t from, const std::string& bytes);

  InProcNetwork* const network_;
};

}  // namespace dsm::hostd
