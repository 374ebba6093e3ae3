// The C++ ABI's guards of dynamically initialised statics (__cxa_guard_*),
// replacing the C++ library's: a static of a dsm-clang program is shared, and
// so is its guard (compiler-plugin/pass/guards_pass.cc), so the guard must
// work between nodes, and between hosts. libstdc++'s own waits on a futex, or
// (when it believes the process single-threaded) takes "in progress" for a
// recursive initialisation and throws.
//
// The guard is 64 bits: byte 0 is 1 once the object is constructed (the
// compiler's inline check reads it with an acquire load), byte 1 is 1 while
// some thread of some node constructs it. Every access goes through the
// atomics ABI (atomics.h), which takes a job-wide lock for shared memory of a
// several-host job (making the constructed object visible with the flag) and
// uses the hardware elsewhere. A waiter yields between looks.
//
// Thread-safe (any thread of any node); not async-signal-safe.
#include <sched.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "atomics.h"

namespace {

uint8_t Load(volatile uint8_t* p) {
  if (__dsm_atomics_remote != 0) return __dsm_atomic_load_1(p);
  return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

void Store(volatile uint8_t* p, uint8_t v) {
  if (__dsm_atomics_remote != 0) return __dsm_atomic_store_1(p, v);
  __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

uint8_t Cas(volatile uint8_t* p, uint8_t expected, uint8_t desired) {
  if (__dsm_atomics_remote != 0) return __dsm_atomic_cas_1(p, expected, desired);
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;
}

// Guards this thread is constructing under (a static whose initialiser
// reaches its own initialisation again would otherwise wait for ever).
constexpr int kNested = 32;
thread_local const void* t_owned[kNested];
thread_local int t_owned_count = 0;

bool OwnedHere(const void* g) {
  for (int i = 0; i < t_owned_count; ++i) {
    if (t_owned[i] == g) return true;
  }
  return false;
}

void Forget(const void* g) {
  for (int i = 0; i < t_owned_count; ++i) {
    if (t_owned[i] == g) {
      t_owned[i] = t_owned[--t_owned_count];
      return;
    }
  }
}

}  // namespace

extern "C" {

// Returns 1 when the caller must construct the object (then calls release or
// abort), 0 when it is constructed.
__attribute__((visibility("default"))) int __cxa_guard_acquire(uint64_t* guard) {
  auto* b = reinterpret_cast<volatile uint8_t*>(guard);
  if (OwnedHere(guard)) {
    std::fputs("dsm: error: a static's initialisation reached itself again (recursive "
               "initialisation); ending\n", stderr);
    std::abort();
  }
  for (;;) {
    if (Load(b) == 1) return 0;
    if (Cas(b + 1, 0, 1) == 0) {
      if (Load(b) == 1) {  // another finished between the two looks
        Store(b + 1, 0);
        return 0;
      }
      if (t_owned_count < kNested) t_owned[t_owned_count++] = guard;
      return 1;
    }
    sched_yield();
  }
}

__attribute__((visibility("default"))) void __cxa_guard_release(uint64_t* guard) {
  auto* b = reinterpret_cast<volatile uint8_t*>(guard);
  Forget(guard);
  Store(b, 1);
  Store(b + 1, 0);
}

__attribute__((visibility("default"))) void __cxa_guard_abort(uint64_t* guard) {
  Forget(guard);
  Store(reinterpret_cast<volatile uint8_t*>(guard) + 1, 0);
}

}  // extern "C"
