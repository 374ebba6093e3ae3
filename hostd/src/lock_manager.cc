#include "dsm/hostd/lock_manager.h"

#include <algorithm>

namespace dsm::hostd {

device::StatusCode LockManager::Acquire(uint32_t id, uint32_t node, bool* granted) {
  Lock& lock = locks_[id];
  if (lock.holder == node) return device::kAlreadyHeld;
  if (std::find(lock.queue.begin(), lock.queue.end(), node) != lock.queue.end()) {
    return device::kBadArgument;
  }
  if (!lock.holder) {
    lock.holder = node;
    *granted = true;
    return device::kOk;
  }
  lock.queue.push_back(node);
  *granted = false;
  return device::kOk;
}

device::StatusCode LockManager::Release(uint32_t id, uint32_t node, std::optional<uint32_t>* next) {
  next->reset();
  auto it = locks_.find(id);
  if (it == locks_.end() || it->second.holder != node) return device::kNotHeld;
  Lock& lock = it->second;
  if (lock.queue.empty()) {
    locks_.erase(it);
    return device::kOk;
  }
  lock.holder = lock.queue.front();
  lock.queue.pop_front();
  *next = lock.holder;
  return device::kOk;
}

void LockManager::SetHolder(uint32_t id, uint32_t node) { locks_[id].holder = node; }

void LockManager::Forget(uint32_t id) {
  auto it = locks_.find(id);
  if (it != locks_.end() && it->second.queue.empty()) locks_.erase(it);
}

std::optional<uint32_t> LockManager::Holder(uint32_t id) const {
  auto it = locks_.find(id);
  if (it == locks_.end()) return std::nullopt;
  return it->second.holder;
}

size_t LockManager::Waiters(uint32_t id) const {
  auto it = locks_.find(id);
  return it == locks_.end() ? 0 : it->second.queue.size();
}

}  // namespace dsm::hostd
