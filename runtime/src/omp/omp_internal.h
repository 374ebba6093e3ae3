// libdsm's implementation of the OpenMP runtime ABI (the __kmpc_* entry points
// that Clang 14 emits for -fopenmp, and the omp_* API): internal state shared
// by omp_parallel.cc, omp_loop.cc and omp_api.cc.
//
// Model: one OpenMP thread per node. A parallel region's team is the job's
// nodes 0..team-1 (node 0 is the master); nested regions and `if(0)` regions
// run with a team of one. Per-node state (Icvs, Frame) is ordinary process
// memory, so it is private to the node by construction; everything that the
// team must agree on (the outlined function's arguments, single and dynamic
// loop counters, the team barrier of a partial team) lives in one block of
// shared memory (OmpShared) that node 0 allocates with dsm_malloc on first use
// and hands to every region.
//
// Job-wide lock ids used by this layer (dsm_lock's id space, which user code
// shares): every id has the top byte 0xFE.
//   0xFE000000 | 23-bit hash    named and unnamed critical sections
//   0xFE800000 | 22-bit hash    guards of omp_lock_t / omp_nest_lock_t objects
//   0xFEFFFE00 + k (k < 256)    flags of doacross loops (omp_doacross.cc)
//   0xFEFFFF00 + k              the fixed locks below
//
// Limits: global variables are not shared between nodes (each node has its
// own copy) until the compiler places them in the shared space; programs keep
// shared data in main's locals or in dsm_malloc'd memory.
//
// Thread safety: node's main thread only (like the rest of libdsm). Nothing
// here runs inside the SIGSEGV handler.
#pragma once

#include <cstddef>
#include <cstdint>

#include "func_ref.h"

namespace dsm::runtime::omp {

inline constexpr uint32_t kCriticalBase = 0xFE000000u;
inline constexpr uint32_t kCriticalMask = 0x007FFFFFu;
inline constexpr uint32_t kLockGuardBase = 0xFE800000u;
inline constexpr uint32_t kLockGuardMask = 0x003FFFFFu;
inline constexpr uint32_t kSingleLock = 0xFEFFFF01u;
inline constexpr uint32_t kDispatchLock = 0xFEFFFF02u;
inline constexpr uint32_t kTeamBarrierLock = 0xFEFFFF03u;
inline constexpr uint32_t kReduceLock = 0xFEFFFF04u;
inline constexpr uint32_t kFlushLock = 0xFEFFFF05u;
inline constexpr uint32_t kCopyLock = 0xFEFFFF06u;
inline constexpr uint32_t kDoacrossLock = 0xFEFFFF07u;
// Doacross loops: the lock of iteration k's flag is kDoacrossFlagBase + k % 256.
inline constexpr uint32_t kDoacrossFlagBase = 0xFEFFFE00u;
inline constexpr uint32_t kDoacrossFlagLocks = 256;

// Most arguments an outlined function may take (shared variables plus
// firstprivate scalars of one parallel construct).
inline constexpr int kMaxArgs = 32;
// Dynamic loops in flight at once (nowait loops one after the other).
inline constexpr int kDispatchSlots = 8;

// omp_sched_t values.
enum Sched : int32_t { kSchedStatic = 1, kSchedDynamic = 2, kSchedGuided = 3, kSchedAuto = 4 };

// One dynamic loop's shared progress; `seq` numbers the loops of a region
// (1, 2, ...) so that a slot reused by a later loop is recognised.
struct DispatchSlot {
  int64_t seq;
  uint64_t next;          // first iteration index not yet handed out
  uint64_t trip;          // iterations of the loop
  uint64_t ordered_next;  // iteration whose ordered region may run next
  uint64_t ordered;       // 1: an ordered loop (the slot is not reused before
                          //    its last iteration passed its turn)
};

// The doacross loop in progress (ordered(n) with depend(sink/source)):
// `seq` numbers the region's doacross loops, `flags` holds a byte per
// iteration (1: its depend(source) ran), freed by the last member to finish.
struct DoacrossSlot {
  int64_t seq;
  unsigned char* flags;  // nullptr: no loop in progress
  uint64_t finished;     // members past __kmpc_doacross_fini
};

// The team's shared state (shared memory, allocated once by node 0).
struct OmpShared {
  FuncRef microtask;  // the outlined function
  int32_t argc;
  int32_t team;            // nodes 0..team-1 run the region
  int32_t sched_kind;      // node 0's run-sched-var, adopted by the team
  int32_t sched_chunk;
  int32_t max_threads;     // node 0's nthreads-var
  int32_t level;           // the region's nesting level (1, or more inside
                           // regions of one thread on node 0)
  int32_t active_level;    // active regions including this one
  int32_t dynamic;         // node 0's dyn-var, adopted by the team
  uint64_t args[kMaxArgs];
  // Written under kSingleLock: single constructs claimed in this region.
  uint64_t singles_claimed;
  // Written under kTeamBarrierLock: the barrier of a partial team.
  uint64_t barrier_arrived;
  uint64_t barrier_generation;
  // Written under kCopyLock / published across the copyprivate barrier.
  void* copy_block;
  DispatchSlot slots[kDispatchSlots];  // under kDispatchLock
  DoacrossSlot doacross;               // under kDoacrossLock
};

// Internal control variables and the current frame of this node.
struct Icvs {
  int32_t max_threads = 0;   // nthreads-var (0: not yet read from OMP_NUM_THREADS)
  int32_t pushed_threads = 0;  // __kmpc_push_num_threads for the next region
  int32_t sched_kind = kSchedStatic;
  int32_t sched_chunk = 0;
  bool sched_read = false;
  bool dynamic = false;        // dyn-var (OMP_DYNAMIC, omp_set_dynamic): recorded only
};

struct Frame {
  int32_t level = 0;       // nesting depth of parallel regions (0: outside)
  int32_t active = 0;      // of which with a team larger than one
  int32_t team = 1;        // omp_get_num_threads
  int32_t thread_num = 0;  // omp_get_thread_num
  uint64_t singles_seen = 0;
  int64_t loops_seen = 0;  // dynamic loops begun in this region
  int64_t doacross_seen = 0;  // doacross loops begun in this region
};

Icvs& icvs();
Frame& frame();
// The shared block; allocates it on node 0 if needed (nullptr before the
// first region on a worker, which cannot happen).
OmpShared* shared();
// Reads OMP_NUM_THREADS, OMP_SCHEDULE and OMP_DYNAMIC once (errors end the
// job).
void ReadEnvironment();
// The barrier of the current team (no-op for a team of one).
void TeamBarrier();
// Called at a region's start on every team member: resets per-region state.
void ResetRegionCounters();
// True inside a final task (omp_in_final; omp_task.cc).
bool InFinalTask();
// The thread number and team size of this node's ancestor at nesting level
// `level` (1..frame().level), from the frames of the enclosing regions.
const Frame* AncestorFrame(int level);

}  // namespace dsm::runtime::omp

// Clang's source location descriptor (unused here except for messages).
struct ident_t {
  int32_t reserved_1;
  int32_t flags;
  int32_t reserved_2;
  int32_t reserved_3;
  const char* psource;
};
