// libdsm's side of the atomics ABI (atomics.h): the slow path that dsm-clang's
// atomics pass calls in jobs of several hosts, and the replacements of
// libatomic's entry points.
//
// Every operation picks one of three ways to run:
//  - hardware: a sequentially consistent hardware atomic (16 bytes through
//    cmpxchg16b: this file is compiled with -mcx16), for a naturally aligned
//    address that is private to the node, or shared in a one-host job;
//  - the line lock: plain accesses between dsm_lock and dsm_unlock of a lock
//    id derived from the address's 64-byte line, for shared memory in a job
//    of several hosts (the acquire brings the line up to date, the release
//    publishes it) and for shared memory without a hardware atomic (odd
//    sizes, misaligned) in any job;
//  - a process-local spin lock, for private memory without a hardware atomic
//    (what libatomic does, minus its dependency).
// One object is always reached the same way on every node of a job (the way
// depends only on the address, its size and the job), so the three never mix.
//
// Cost: hardware, as the instruction; the line lock on one host, two CASes;
// across hosts, a lock acquire (nothing if the lock's token is on this host,
// two to four messages otherwise) and a release (a diff message to the page's
// home when the page is homed elsewhere).
#include "atomics.h"

#include <sched.h>

#include <atomic>
#include <cstring>
#include <type_traits>

#include "runtime.h"

extern "C" {
int32_t __dsm_atomics_remote = 0;
}

namespace dsm::runtime {
namespace {

using u128 = unsigned __int128;

// The shared ranges: written by ConfigureAtomics / AddAtomicsAlias before
// main (no other thread runs then), only read afterwards.
struct SharedRanges {
  uintptr_t begin[2] = {0, 0};
  uintptr_t end[2] = {0, 0};
};
SharedRanges g_ranges;

bool InShared(const volatile void* p) {
  auto a = reinterpret_cast<uintptr_t>(p);
  return (a >= g_ranges.begin[0] && a < g_ranges.end[0]) ||
         (a >= g_ranges.begin[1] && a < g_ranges.end[1]);
}

uint32_t LineLockId(const volatile void* p) {
  uint64_t line = reinterpret_cast<uintptr_t>(p) >> kAtomicLineShift;
  uint64_t h = line * 0x9e3779b97f4a7c15ull;  // the top bits mix every bit of the line
  return kAtomicLockBase | (static_cast<uint32_t>(h >> 52) & kAtomicLockMask);
}

// Locks of private memory without a hardware atomic, striped by line.
constexpr int kPrivateLocks = 64;
std::atomic<bool> g_private_locks[kPrivateLocks];

enum class Way { kHardware, kLineLock, kPrivateLock };

template <class T>
Way Choose(const volatile void* p) {
  const bool shared = InShared(p);
  const bool aligned = (reinterpret_cast<uintptr_t>(p) & (sizeof(T) - 1)) == 0;
  if (aligned && !(shared && __dsm_atomics_remote != 0)) return Way::kHardware;
  return shared ? Way::kLineLock : Way::kPrivateLock;
}

// Holds the line lock or the private lock of p for its lifetime.
class Locked {
 public:
  Locked(const volatile void* p, Way way) : way_(way) {
    if (way_ == Way::kLineLock) {
      id_ = LineLockId(p);
      Runtime::Get().Lock(id_);
      return;
    }
    id_ = static_cast<uint32_t>((reinterpret_cast<uintptr_t>(p) >> kAtomicLineShift) % kPrivateLocks);
    std::atomic<bool>& l = g_private_locks[id_];
    while (l.exchange(true, std::memory_order_acquire)) {
      while (l.load(std::memory_order_relaxed)) sched_yield();
    }
  }
  ~Locked() {
    if (way_ == Way::kLineLock) Runtime::Get().Unlock(id_);
    else g_private_locks[id_].store(false, std::memory_order_release);
  }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  Way way_;
  uint32_t id_ = 0;
};

template <class T> struct Signed;
template <> struct Signed<uint8_t> { using type = int8_t; };
template <> struct Signed<uint16_t> { using type = int16_t; };
template <> struct Signed<uint32_t> { using type = int32_t; };
template <> struct Signed<uint64_t> { using type = int64_t; };
template <> struct Signed<u128> { using type = __int128; };

// old `op` v, as the atomicrmw operation defines it.
template <class T>
T Apply(int32_t op, T old, T v) {
  using S = typename Signed<T>::type;
  switch (op) {
    case kAtomicXchg: return v;
    case kAtomicAdd: return static_cast<T>(old + v);
    case kAtomicSub: return static_cast<T>(old - v);
    case kAtomicAnd: return static_cast<T>(old & v);
    case kAtomicNand: return static_cast<T>(~(old & v));
    case kAtomicOr: return static_cast<T>(old | v);
    case kAtomicXor: return static_cast<T>(old ^ v);
    case kAtomicMax: return static_cast<S>(old) > static_cast<S>(v) ? old : v;
    case kAtomicMin: return static_cast<S>(old) < static_cast<S>(v) ? old : v;
    case kAtomicUMax: return old > v ? old : v;
    case kAtomicUMin: return old < v ? old : v;
    case kAtomicFAdd:
    case kAtomicFSub:
      if constexpr (sizeof(T) == 4 || sizeof(T) == 8) {
        using F = std::conditional_t<sizeof(T) == 4, float, double>;
        F a, b;
        std::memcpy(&a, &old, sizeof a);
        std::memcpy(&b, &v, sizeof b);
        F r = op == kAtomicFAdd ? a + b : a - b;
        T out;
        std::memcpy(&out, &r, sizeof out);
        return out;
      }
      break;
    default:
      break;
  }
  Runtime::Get().Fatal("atomic operation %d on %zu bytes: not an operation of this libdsm", op,
                       sizeof(T));
}

template <class T>
T HardwareLoad(const volatile void* p) {
  return __atomic_load_n(static_cast<const volatile T*>(p), __ATOMIC_SEQ_CST);
}

template <class T>
T HardwareRmw(volatile void* p, T v, int32_t op) {
  auto* q = static_cast<volatile T*>(p);
  switch (op) {
    case kAtomicXchg: return __atomic_exchange_n(q, v, __ATOMIC_SEQ_CST);
    case kAtomicAdd: return __atomic_fetch_add(q, v, __ATOMIC_SEQ_CST);
    case kAtomicSub: return __atomic_fetch_sub(q, v, __ATOMIC_SEQ_CST);
    case kAtomicAnd: return __atomic_fetch_and(q, v, __ATOMIC_SEQ_CST);
    case kAtomicOr: return __atomic_fetch_or(q, v, __ATOMIC_SEQ_CST);
    case kAtomicXor: return __atomic_fetch_xor(q, v, __ATOMIC_SEQ_CST);
    default: {
      T old = __atomic_load_n(q, __ATOMIC_RELAXED);
      while (!__atomic_compare_exchange_n(q, &old, Apply(op, old, v), false, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED)) {
      }
      return old;
    }
  }
}

// Under a lock: plain accesses (any alignment).
template <class T>
T PlainLoad(const volatile void* p) {
  T v;
  std::memcpy(&v, const_cast<const void*>(p), sizeof v);
  return v;
}
template <class T>
void PlainStore(volatile void* p, T v) {
  std::memcpy(const_cast<void*>(p), &v, sizeof v);
}

template <class T>
T Load(const volatile void* p) {
  Way way = Choose<T>(p);
  if (way == Way::kHardware) return HardwareLoad<T>(p);
  Locked l(p, way);
  return PlainLoad<T>(p);
}

template <class T>
void Store(volatile void* p, T v) {
  Way way = Choose<T>(p);
  if (way == Way::kHardware) {
    __atomic_store_n(static_cast<volatile T*>(p), v, __ATOMIC_SEQ_CST);
    return;
  }
  Locked l(p, way);
  PlainStore<T>(p, v);
}

template <class T>
T Rmw(volatile void* p, T v, int32_t op) {
  Way way = Choose<T>(p);
  if (way == Way::kHardware) return HardwareRmw<T>(p, v, op);
  Locked l(p, way);
  T old = PlainLoad<T>(p);
  PlainStore<T>(p, Apply(op, old, v));
  return old;
}

// Returns the old value; stored desired if it equalled expected.
template <class T>
T Cas(volatile void* p, T expected, T desired) {
  Way way = Choose<T>(p);
  if (way == Way::kHardware) {
    __atomic_compare_exchange_n(static_cast<volatile T*>(p), &expected, desired, false,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;  // on failure the builtin wrote the old value here
  }
  Locked l(p, way);
  T old = PlainLoad<T>(p);
  if (old == expected) PlainStore<T>(p, desired);
  return old;
}

// Calls f(T{}) with the unsigned type of `size` bytes if there is one and p
// is aligned to it; false otherwise.
template <class F>
bool WithNaturalType(size_t size, const void* p, F f) {
  if ((reinterpret_cast<uintptr_t>(p) & (size - 1)) != 0) return false;
  switch (size) {
    case 1: f(uint8_t{}); return true;
    case 2: f(uint16_t{}); return true;
    case 4: f(uint32_t{}); return true;
    case 8: f(uint64_t{}); return true;
    case 16: f(u128{}); return true;
    default: return false;
  }
}

Way LockFor(const void* p) { return InShared(p) ? Way::kLineLock : Way::kPrivateLock; }

}  // namespace

void ConfigureAtomics(const void* begin, const void* end, bool remote) {
  g_ranges.begin[0] = reinterpret_cast<uintptr_t>(begin);
  g_ranges.end[0] = reinterpret_cast<uintptr_t>(end);
  __dsm_atomics_remote = remote ? 1 : 0;
}

void AddAtomicsAlias(const void* begin, const void* end) {
  g_ranges.begin[1] = reinterpret_cast<uintptr_t>(begin);
  g_ranges.end[1] = reinterpret_cast<uintptr_t>(end);
}

}  // namespace dsm::runtime

using namespace dsm::runtime;

extern "C" {

#define DSM_ATOMIC_DEFINE(N, T)                                                              \
  T __dsm_atomic_load_##N(const volatile void* p) { return Load<T>(p); }                     \
  void __dsm_atomic_store_##N(volatile void* p, T v) { Store<T>(p, v); }                     \
  T __dsm_atomic_rmw_##N(volatile void* p, T v, int32_t op) { return Rmw<T>(p, v, op); }     \
  T __dsm_atomic_cas_##N(volatile void* p, T expected, T desired) {                          \
    return Cas<T>(p, expected, desired);                                                     \
  }
DSM_ATOMIC_DEFINE(1, uint8_t)
DSM_ATOMIC_DEFINE(2, uint16_t)
DSM_ATOMIC_DEFINE(4, uint32_t)
DSM_ATOMIC_DEFINE(8, uint64_t)
DSM_ATOMIC_DEFINE(16, u128)
#undef DSM_ATOMIC_DEFINE

#define DSM_ATOMIC_LIB_OP(N, T, NAME, OP)                                                    \
  T __dsm_atomic_lib_fetch_##NAME##_##N(void* p, T v, int) { return Rmw<T>(p, v, OP); }      \
  T __dsm_atomic_lib_##NAME##_fetch_##N(void* p, T v, int) {                                 \
    return Apply<T>(OP, Rmw<T>(p, v, OP), v);                                                \
  }
#define DSM_ATOMIC_LIB_DEFINE(N, T)                                                          \
  T __dsm_atomic_lib_load_##N(void* p, int) { return Load<T>(p); }                           \
  void __dsm_atomic_lib_store_##N(void* p, T v, int) { Store<T>(p, v); }                     \
  T __dsm_atomic_lib_exchange_##N(void* p, T v, int) { return Rmw<T>(p, v, kAtomicXchg); }   \
  bool __dsm_atomic_lib_compare_exchange_##N(void* p, T* expected, T desired, int, int) {    \
    T old = Cas<T>(p, *expected, desired);                                                   \
    if (old == *expected) return true;                                                       \
    *expected = old;                                                                         \
    return false;                                                                            \
  }                                                                                          \
  DSM_ATOMIC_LIB_OP(N, T, add, kAtomicAdd)                                                   \
  DSM_ATOMIC_LIB_OP(N, T, sub, kAtomicSub)                                                   \
  DSM_ATOMIC_LIB_OP(N, T, and, kAtomicAnd)                                                   \
  DSM_ATOMIC_LIB_OP(N, T, or, kAtomicOr)                                                     \
  DSM_ATOMIC_LIB_OP(N, T, xor, kAtomicXor)                                                   \
  DSM_ATOMIC_LIB_OP(N, T, nand, kAtomicNand)
DSM_ATOMIC_LIB_DEFINE(1, uint8_t)
DSM_ATOMIC_LIB_DEFINE(2, uint16_t)
DSM_ATOMIC_LIB_DEFINE(4, uint32_t)
DSM_ATOMIC_LIB_DEFINE(8, uint64_t)
DSM_ATOMIC_LIB_DEFINE(16, u128)
#undef DSM_ATOMIC_LIB_DEFINE
#undef DSM_ATOMIC_LIB_OP

// The generic entry points: a natural size and alignment goes the way of the
// sized operations, anything else under a lock.
void __dsm_atomic_lib_load(size_t size, void* p, void* ret, int) {
  if (WithNaturalType(size, p, [&](auto t) {
        auto v = Load<decltype(t)>(p);
        std::memcpy(ret, &v, sizeof v);
      })) {
    return;
  }
  Locked l(p, LockFor(p));
  std::memcpy(ret, p, size);
}

void __dsm_atomic_lib_store(size_t size, void* p, void* val, int) {
  if (WithNaturalType(size, p, [&](auto t) {
        decltype(t) v;
        std::memcpy(&v, val, sizeof v);
        Store(p, v);
      })) {
    return;
  }
  Locked l(p, LockFor(p));
  std::memcpy(p, val, size);
}

void __dsm_atomic_lib_exchange(size_t size, void* p, void* val, void* ret, int) {
  if (WithNaturalType(size, p, [&](auto t) {
        decltype(t) v;
        std::memcpy(&v, val, sizeof v);
        v = Rmw(p, v, kAtomicXchg);
        std::memcpy(ret, &v, sizeof v);
      })) {
    return;
  }
  Locked l(p, LockFor(p));
  // ret may be val itself: each chunk of val is read before ret's is written.
  auto* obj = static_cast<unsigned char*>(p);
  auto* in = static_cast<const unsigned char*>(val);
  auto* out = static_cast<unsigned char*>(ret);
  unsigned char old[64];
  for (size_t at = 0; at < size; at += sizeof old) {
    size_t n = size - at < sizeof old ? size - at : sizeof old;
    std::memcpy(old, obj + at, n);
    std::memcpy(obj + at, in + at, n);
    std::memcpy(out + at, old, n);
  }
}

bool __dsm_atomic_lib_compare_exchange(size_t size, void* p, void* expected, void* desired, int,
                                       int) {
  bool ok = false;
  if (WithNaturalType(size, p, [&](auto t) {
        decltype(t) e, d;
        std::memcpy(&e, expected, sizeof e);
        std::memcpy(&d, desired, sizeof d);
        decltype(t) old = Cas(p, e, d);
        ok = old == e;
        if (!ok) std::memcpy(expected, &old, sizeof old);
      })) {
    return ok;
  }
  Locked l(p, LockFor(p));
  if (std::memcmp(p, expected, size) == 0) {
    std::memcpy(p, desired, size);
    return true;
  }
  std::memcpy(expected, p, size);
  return false;
}

}  // extern "C"
