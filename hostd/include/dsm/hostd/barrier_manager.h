// Barrier manager: counts arrivals of a fixed set of nodes and releases them
// all when the last one arrives. Generations make it reusable at once.
// Pure bookkeeping; O(participants) per completed barrier.
//
// Thread safety: none; the daemon's event loop owns it.
#pragma once

#include <cstdint>
#include <vector>

#include "dsm/device/protocol.h"

namespace dsm::hostd {

class BarrierManager {
 public:
  explicit BarrierManager(uint32_t participants);

  // node arrives. When it is the last, *release receives every arrived node
  // (including this one) and the next generation starts. kBadArgument for a
  // node out of range or one that already arrived in this generation.
  device::StatusCode Arrive(uint32_t node, std::vector<uint32_t>* release);

  [[nodiscard]] uint64_t generation() const { return generation_; }
  [[nodiscard]] uint32_t arrived() const { return static_cast<uint32_t>(waiting_.size()); }
  [[nodiscard]] uint32_t participants() const { return participants_; }

 private:
  uint32_t participants_;
  uint64_t generation_ = 0;
  std::vector<bool> here_;
  std::vector<uint32_t> waiting_;
};

}  // namespace dsm::hostd
