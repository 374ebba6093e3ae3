// The atomic-operation ABI between dsm-clang's atomics pass
// (compiler-plugin/pass/atomics_pass.cc) and libdsm (atomics.cc).
//
// Within one host every node maps the same shared memory, so a hardware
// atomic is correct; between hosts each host has its own copy of a page until
// a release/acquire, so it is not. The pass therefore turns every atomic
// instruction on possibly-shared memory into
//
//   if (__dsm_atomics_remote == 0) <the original instruction>
//   else                           __dsm_atomic_<op>_<N>(...)
//
// and every call of a libatomic entry point (__atomic_load, __atomic_fetch_add_8,
// ..., which clang emits for sizes or alignments it cannot do inline) into a
// call of the libdsm entry point of the same signature, __dsm_atomic_lib_<rest
// of the name>. This header is the single definition of those names and of
// the operation codes; it is plain declarations, so the pass includes it too.
//
// The runtime side: an address outside the shared space gets a hardware
// atomic (or, for sizes and alignments with none, a process-local lock). An
// address inside it, in a job of several hosts, is operated on with plain
// accesses under a job-wide DSM lock whose id comes from the address's 64-byte
// line (kAtomicLockBase | hash): the lock's acquire invalidates stale pages
// and its release sends the diffs, so the lock makes the operation both atomic
// and coherent. Shared objects with no hardware atomic (odd sizes, misaligned)
// take that lock on one host too.
//
// Every operation is sequentially consistent whatever order the program asked
// for (the lock is a full acquire and release). Thread safety: an operation on
// shared memory of a several-host job runs on the node's main thread (the
// runtime's rule), any other on any thread. Not async-signal-safe; never called
// from inside the runtime's request path (libdsm is not compiled by dsm-clang).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsm::runtime {

// Lock ids of atomics: the top byte 0xFD, 12 bits of a hash of the 64-byte
// line (4096 locks: distinct lines may share one, which only serialises them).
// Disjoint from the OpenMP layer's 0xFE...... ids (omp/omp_internal.h); user
// code must not use dsm_lock ids 0xFD000000..0xFDFFFFFF.
inline constexpr uint32_t kAtomicLockBase = 0xFD000000u;
inline constexpr uint32_t kAtomicLockMask = 0x00000FFFu;
inline constexpr unsigned kAtomicLineShift = 6;  // 64-byte lines

// The `op` argument of __dsm_atomic_rmw_N: LLVM's atomicrmw operations.
enum AtomicOp : int32_t {
  kAtomicXchg = 0,
  kAtomicAdd = 1,
  kAtomicSub = 2,
  kAtomicAnd = 3,
  kAtomicNand = 4,
  kAtomicOr = 5,
  kAtomicXor = 6,
  kAtomicMax = 7,   // signed
  kAtomicMin = 8,   // signed
  kAtomicUMax = 9,
  kAtomicUMin = 10,
  kAtomicFAdd = 11,  // N = 4: float, N = 8: double
  kAtomicFSub = 12,
  kAtomicOpCount = 13,
};

// The names the pass emits.
inline constexpr const char* kAtomicsRemoteFlag = "__dsm_atomics_remote";
inline constexpr const char* kAtomicPrefix = "__dsm_atomic_";          // + load_4, rmw_8, ...
inline constexpr const char* kAtomicLibPrefix = "__dsm_atomic_lib_";   // + what follows __atomic_

// Called once by the runtime's start, before main, when the shared space is
// mapped: [begin, end) is the data area; remote: the job spans several hosts.
void ConfigureAtomics(const void* begin, const void* end, bool remote);
// A second range that is shared memory too (the shared globals' alias).
void AddAtomicsAlias(const void* begin, const void* end);

}  // namespace dsm::runtime

extern "C" {

// 0 unless the job spans several hosts; written once before main.
extern int32_t __dsm_atomics_remote;

// Entry points of the pass's slow path, N = 1, 2, 4, 8, 16 bytes (the
// integer of that size; floats and pointers travel as their bits). Called
// when __dsm_atomics_remote is set, and unconditionally for 16-byte or
// under-aligned operations (the runtime then picks the hardware itself).
//   load_N(p)                 the value at p
//   store_N(p, v)             stores v
//   rmw_N(p, v, op)           applies op (AtomicOp) with v; returns the old value
//   cas_N(p, expected, desired)  stores desired if *p == expected (bitwise);
//                             returns the old value (success: old == expected)
#define DSM_ATOMIC_DECLARE(N, T)                                       \
  T __dsm_atomic_load_##N(const volatile void* p);                     \
  void __dsm_atomic_store_##N(volatile void* p, T v);                  \
  T __dsm_atomic_rmw_##N(volatile void* p, T v, int32_t op);           \
  T __dsm_atomic_cas_##N(volatile void* p, T expected, T desired);
DSM_ATOMIC_DECLARE(1, uint8_t)
DSM_ATOMIC_DECLARE(2, uint16_t)
DSM_ATOMIC_DECLARE(4, uint32_t)
DSM_ATOMIC_DECLARE(8, uint64_t)
DSM_ATOMIC_DECLARE(16, unsigned __int128)
#undef DSM_ATOMIC_DECLARE

// libatomic's entry points (GCC's libatomic ABI), renamed: the generic ones
// for any size, and the sized ones. `order` arguments are accepted and
// ignored (every operation is sequentially consistent).
void __dsm_atomic_lib_load(size_t size, void* p, void* ret, int order);
void __dsm_atomic_lib_store(size_t size, void* p, void* val, int order);
void __dsm_atomic_lib_exchange(size_t size, void* p, void* val, void* ret, int order);
bool __dsm_atomic_lib_compare_exchange(size_t size, void* p, void* expected, void* desired,
                                       int success, int failure);
#define DSM_ATOMIC_LIB_DECLARE(N, T)                                                      \
  T __dsm_atomic_lib_load_##N(void* p, int order);                                        \
  void __dsm_atomic_lib_store_##N(void* p, T v, int order);                               \
  T __dsm_atomic_lib_exchange_##N(void* p, T v, int order);                               \
  bool __dsm_atomic_lib_compare_exchange_##N(void* p, T* expected, T desired, int success, \
                                             int failure);                                \
  T __dsm_atomic_lib_fetch_add_##N(void* p, T v, int order);                              \
  T __dsm_atomic_lib_fetch_sub_##N(void* p, T v, int order);                              \
  T __dsm_atomic_lib_fetch_and_##N(void* p, T v, int order);                              \
  T __dsm_atomic_lib_fetch_or_##N(void* p, T v, int order);                               \
  T __dsm_atomic_lib_fetch_xor_##N(void* p, T v, int order);                              \
  T __dsm_atomic_lib_fetch_nand_##N(void* p, T v, int order);                             \
  T __dsm_atomic_lib_add_fetch_##N(void* p, T v, int order);                              \
  T __dsm_atomic_lib_sub_fetch_##N(void* p, T v, int order);                              \
  T __dsm_atomic_lib_and_fetch_##N(void* p, T v, int order);                              \
  T __dsm_atomic_lib_or_fetch_##N(void* p, T v, int order);                               \
  T __dsm_atomic_lib_xor_fetch_##N(void* p, T v, int order);                              \
  T __dsm_atomic_lib_nand_fetch_##N(void* p, T v, int order);
DSM_ATOMIC_LIB_DECLARE(1, uint8_t)
DSM_ATOMIC_LIB_DECLARE(2, uint16_t)
DSM_ATOMIC_LIB_DECLARE(4, uint32_t)
DSM_ATOMIC_LIB_DECLARE(8, uint64_t)
DSM_ATOMIC_LIB_DECLARE(16, unsigned __int128)
#undef DSM_ATOMIC_LIB_DECLARE

}  // extern "C"
