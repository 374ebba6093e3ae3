// Reads the device state described in device_probe.h. Offsets and flags come
// from device/include/dsm/device/protocol.h only: nothing about the layout is
// restated here.
#include "device_probe.h"

#include <cstdint>

#include "dsm/device/protocol.h"

namespace {

using namespace dsm::device;

// The shared space as this node maps it, or nullptr before the runtime
// mapped a complete header of this protocol version.
void* Space() {
  auto* h = reinterpret_cast<SpaceHeader*>(kFixedBase);
  // Probing an unmapped address would fault: the runtime maps the space
  // before the program's main runs, and this is only called from a program.
  if (LoadAcquire(&h->magic) != kMagic || h->version != kVersion) return nullptr;
  return h;
}

}  // namespace

extern "C" int dsm_probe_lock_requests_waiting(unsigned id) {
  void* space = Space();
  if (space == nullptr) return -1;
  int waiting = 0;
  for (uint32_t slot = 1; slot < kMaxSlots; ++slot) {
    RegisterFile* r = RegisterPage(space, slot);
    // seq is stored (release) after command and args: read it first.
    uint64_t seq = LoadAcquire(&r->seq);
    uint32_t command = __atomic_load_n(&r->command, __ATOMIC_RELAXED);
    uint64_t lock_id = __atomic_load_n(&r->args[0], __ATOMIC_RELAXED);
    uint64_t done = LoadAcquire(&r->done_seq);
    if (seq != done && command == kLock && lock_id == id) ++waiting;
  }
  return waiting;
}

extern "C" int dsm_probe_lock_has_waiters(unsigned id) {
  void* space = Space();
  if (space == nullptr) return -1;
  auto* h = static_cast<SpaceHeader*>(space);
  LockEntry* table = LockTable(space);
  const uint64_t key = kLockKeyUsed | id;
  for (uint64_t i = 0; i < h->lock_table_entries; ++i) {
    if (LoadAcquire(&table[i].key) != key) continue;
    return (LoadAcquire(&table[i].word) & kLockWaiters) ? 1 : 0;
  }
  return -1;
}
