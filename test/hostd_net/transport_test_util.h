// Helpers for transport tests: a recorder of a transport's events, and
// running an EventLoop until a condition holds (checked after every round,
// so no polling and no sleeping) or a deadline passes.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dsm/common/clock.h"
#include "dsm/hostd/event_loop.h"
#include "dsm/hostd/peer_transport.h"

namespace dsm::hostd::testing {

struct Received {
  uint32_t from;
  uint16_t type;
  uint64_t request_id;
  std::string body;
};

struct Lost {
  uint32_t host;
  std::string reason;
};

// Records what one transport reports.
struct Recorder {
  bool ready = false;
  std::vector<Received> messages;
  std::vector<Lost> lost;

  PeerTransport::Events Events() {
    PeerTransport::Events e;
    e.on_message = [this](uint32_t from, uint16_t type, uint64_t id, std::string_view body) {
      messages.push_back({from, type, id, std::string(body)});
    };
    e.on_ready = [this] {
      EXPECT_FALSE(ready) << "on_ready twice";
      ready = true;
    };
    e.on_host_lost = [this](uint32_t host, const std::string& reason) { lost.push_back({host, reason}); };
    return e;
  }
  [[nodiscard]] bool LostHost(uint32_t host) const {
    for (const Lost& l : lost) {
      if (l.host == host) return true;
    }
    return false;
  }
  [[nodiscard]] std::string LostReason(uint32_t host) const {
    for (const Lost& l : lost) {
      if (l.host == host) return l.reason;
    }
    return "";
  }
  [[nodiscard]] size_t CountFrom(uint32_t from) const {
    size_t n = 0;
    for (const Received& m : messages) n += m.from == from;
    return n;
  }
};

// Runs `loop` on this thread until pred() holds (checked at the end of every
// round) or timeout_ms pass. Returns pred().
inline bool RunUntil(EventLoop* loop, const std::function<bool()>& pred, int64_t timeout_ms = 5000) {
  if (pred()) return true;
  bool timed_out = false;
  uint64_t timer = loop->AddTimer(timeout_ms, 0, [&] {
    timed_out = true;
    loop->RequestStop();
  });
  loop->SetIdleHook([&] {
    if (pred()) loop->RequestStop();
  });
  loop->Run();
  loop->SetIdleHook(nullptr);
  if (!timed_out) loop->CancelTimer(timer);
  return pred();
}

inline double SecondsSince(uint64_t start_ns) { return static_cast<double>(MonotonicNs() - start_ns) / 1e9; }

}  // namespace dsm::hostd::testing
