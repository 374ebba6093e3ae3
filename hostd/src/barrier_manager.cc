#include "dsm/hostd/barrier_manager.h"

namespace dsm::hostd {

BarrierManager::BarrierManager(uint32_t participants)
    : participants_(participants), here_(participants, false) {
  waiting_.reserve(participants);
}

device::StatusCode BarrierManager::Arrive(uint32_t node, std::vector<uint32_t>* release) {
  release->clear();
  if (node >= participants_ || here_[node]) return device::kBadArgument;
  here_[node] = true;
  waiting_.push_back(node);
  if (waiting_.size() < participants_) return device::kOk;
  release->swap(waiting_);
  waiting_.clear();
  here_.assign(participants_, false);
  ++generation_;
  return device::kOk;
}

}  // namespace dsm::hostd
