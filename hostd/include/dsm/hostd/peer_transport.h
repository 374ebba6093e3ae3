// How a host daemon talks to the daemons of the other hosts of its job: an
// interface with two implementations, ZmqTransport (zmq_transport.h, the
// real one, ZeroMQ over TCP; its own library so that nothing else links
// ZeroMQ) and InProcTransport (inproc_transport.h, several hosts in one
// process, with fault injection for tests). Both share the membership and
// liveness protocol of PeerMesh (peer_mesh.h): hello / welcome / refuse,
// heartbeats, bye; see peer_protocol.h for the bytes.
//
// A transport carries engine messages (type >= peer::kJobEnd) between hosts:
// whole messages, in order per (sender, receiver) pair, never dropped or
// duplicated while both ends live. PeerMesh checks these promises with a
// number per message and link: a duplicate is dropped, and a message lost
// or overtaken loses its sender (on_host_lost), so the job ends instead of
// waiting forever. (The in-process transport can be told to break them.)
//
// Ownership: the caller owns the transport and the EventLoop, which must
// outlive it. Destroy the transport on the loop's thread (or while the loop
// does not run), and never from inside one of its own callbacks.
//
// Thread safety: everything, callbacks included, runs on the loop thread;
// Start() is called before the loop runs or on its thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "dsm/common/status.h"
#include "dsm/hostd/event_loop.h"

namespace dsm::hostd {

class PeerTransport {
 public:
  struct Events {
    // An engine message (type >= peer::kJobEnd) from host `from`, already
    // checked: magic, version, job id, from/to host ids, body length. `body`
    // is valid only during the call. Messages that arrive before on_ready are
    // held and delivered right after it.
    std::function<void(uint32_t from, uint16_t type, uint64_t request_id, std::string_view body)> on_message;
    // Every host joined (host 0: all hellos in and welcomes sent; others:
    // welcomed). Called once.
    std::function<void()> on_ready;
    // A peer is gone: silent for the peer timeout (peer::kPeerTimeoutMs), it
    // refused us, or it did not join in time. A peer that said bye is not
    // lost. Called at most once per host; after it, Send() to that host
    // returns false. reason is a sentence for the log ("host 2
    // (tcp://10.0.0.2:7000) silent for 2.0 s").
    std::function<void(uint32_t host, const std::string& reason)> on_host_lost;
  };

  virtual ~PeerTransport() = default;
  [[nodiscard]] virtual uint32_t host_id() const = 0;
  [[nodiscard]] virtual uint32_t num_hosts() const = 0;

  // Registers fds and timers with the loop, connects, and begins joining.
  virtual Status Start(EventLoop* loop, Events events) = 0;

  // Queues an engine message (type >= peer::kJobEnd); never blocks.
  // to == host_id() is delivered to ourselves through loop->Post (so engine
  // code can treat host 0's manager like a remote one). False when `to` is
  // out of range, not connected yet (before the welcome, a host reaches only
  // host 0), lost or gone (bye), when the type is not an engine type, or the
  // body is larger than peer::kMaxMessageBytes.
  virtual bool Send(uint32_t to, uint16_t type, uint64_t request_id, std::string_view body) = 0;

  // Clean exit: a bye to every peer. After this, Send() returns false and no
  // on_host_lost is reported (in particular for peers that also leave).
  virtual void Leave() = 0;

  // What we are reachable at ("" for the in-process transport).
  [[nodiscard]] virtual std::string endpoint() const = 0;
};

}  // namespace dsm::hostd
