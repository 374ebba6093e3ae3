// OpenMP runtime ABI, part 2: worksharing loops. Static schedules are
// computed by each node alone; dynamic and guided schedules hand out chunks
// from a counter in shared memory (OmpShared::slots) advanced under one
// job-wide lock; `ordered` regions take turns by iteration number. Bounds
// are inclusive ([lb, ub] with stride st) as Clang passes them; iteration
// indices 0..trip-1 are used inside. `loc` and `gtid` are unused.
#include <sched.h>

#include <algorithm>
#include <type_traits>

#include "omp_internal.h"
#include "runtime.h"

using dsm::runtime::Runtime;

namespace dsm::runtime::omp {
namespace {

// libomp's sched_type values (the subset Clang 14 emits).
enum : int32_t {
  kStaticChunked = 33,
  kStatic = 34,
  kDynamicChunked = 35,
  kGuidedChunked = 36,
  kRuntime = 37,
  kAuto = 38,
  kStaticBalancedChunked = 45,
  kGuidedSimd = 46,
  kRuntimeSimd = 47,
  kOrderedOffset = 32,  // kmp_ord_* = kmp_sch_* + 32
  kDistributeStaticChunked = 91,
  kDistributeStatic = 92,
  kModifierMask = (1 << 29) | (1 << 30) | (1 << 31),
};

template <typename T>
using Unsigned = std::make_unsigned_t<T>;

template <typename T, typename ST>
uint64_t TripCount(T lb, T ub, ST st) {
  if (st > 0) {
    if (ub < lb) return 0;
    return static_cast<uint64_t>(static_cast<Unsigned<T>>(ub) - static_cast<Unsigned<T>>(lb)) /
               static_cast<uint64_t>(st) + 1;
  }
  if (st == 0) Runtime::Get().Fatal("OpenMP loop with a zero increment");
  if (lb < ub) return 0;
  return static_cast<uint64_t>(static_cast<Unsigned<T>>(lb) - static_cast<Unsigned<T>>(ub)) /
             (static_cast<uint64_t>(-(st + 1)) + 1) + 1;
}

template <typename T, typename ST>
T At(T lb, ST st, uint64_t i) {
  return static_cast<T>(static_cast<Unsigned<T>>(lb) +
                        static_cast<Unsigned<T>>(static_cast<uint64_t>(static_cast<int64_t>(st)) * i));
}

// The loop this node is working on (dispatch_*): one at a time per node.
struct Loop {
  int64_t seq = 0;  // the slot's sequence number; 0: none
  int32_t kind = 0;  // kSchedStatic .. kSchedGuided after resolving runtime/auto
  bool ordered = false;
  bool exhausted = true;
  uint64_t trip = 0;
  uint64_t chunk = 1;
  uint64_t static_next = 0;  // static: the next chunk number of this node
  uint64_t ordered_cur = 0;  // ordered: the current iteration
  bool ordered_done = false;  // its ordered region ran
  // Bounds as 64-bit values; converted per entry point.
  int64_t lb = 0;
  int64_t st = 1;
};
Loop g_loop;

DispatchSlot& Slot(int64_t seq) { return shared()->slots[seq % kDispatchSlots]; }

// Static division of [0, trip) among `team` threads: this thread's range
// [*first, *last) when unchunked; whether it gets the last iteration.
void StaticBlock(uint64_t trip, uint64_t team, uint64_t tid, uint64_t* first, uint64_t* end) {
  uint64_t small = trip / team, extra = trip % team;
  *first = tid * small + std::min(tid, extra);
  *end = *first + small + (tid < extra ? 1 : 0);
}

template <typename T, typename ST>
void StaticInit(int32_t schedtype, int32_t* plastiter, T* plower, T* pupper, ST* pstride, ST incr,
                ST chunk) {
  Frame& f = frame();
  const T lb = *plower, ub = *pupper;
  const uint64_t trip = TripCount<T, ST>(lb, ub, incr);
  const uint64_t team = static_cast<uint64_t>(f.team), tid = static_cast<uint64_t>(f.thread_num);
  int32_t kind = schedtype & ~kModifierMask;
  if (kind > kOrderedOffset + 32 && kind < kDistributeStaticChunked) kind -= kOrderedOffset;
  const bool chunked = (kind == kStaticChunked || kind == kDistributeStaticChunked) && chunk > 0;
  if (trip == 0) {
    if (plastiter != nullptr) *plastiter = 0;
    *pstride = incr;
    return;
  }
  if (!chunked) {
    uint64_t first, end;
    StaticBlock(trip, team, tid, &first, &end);
    if (plastiter != nullptr) *plastiter = end == trip && first < end;
    if (first < end) {
      *plower = At<T, ST>(lb, incr, first);
      *pupper = At<T, ST>(lb, incr, end - 1);
    } else {
      // Nothing for this thread: an empty range (lower past upper).
      *plower = At<T, ST>(ub, incr, 1);
      *pupper = ub;
    }
    *pstride = static_cast<ST>(static_cast<uint64_t>(static_cast<int64_t>(incr)) * trip);
    if (*pstride == 0) *pstride = incr;
    return;
  }
  const uint64_t c = static_cast<uint64_t>(chunk);
  const uint64_t first = tid * c;
  *plower = At<T, ST>(lb, incr, first);
  *pupper = At<T, ST>(lb, incr, first + c - 1);
  *pstride = static_cast<ST>(static_cast<uint64_t>(static_cast<int64_t>(incr)) * c * team);
  if (plastiter != nullptr) *plastiter = ((trip - 1) / c) % team == tid;
}

template <typename T, typename ST>
void DispatchInit(int32_t schedule, T lb, T ub, ST st, ST chunk) {
  Frame& f = frame();
  ReadEnvironment();
  Loop& l = g_loop;
  l = Loop{};
  int32_t kind = schedule & ~kModifierMask;
  if (kind >= kStaticChunked + kOrderedOffset && kind <= kStaticChunked + kOrderedOffset + 14) {
    l.ordered = true;
    kind -= kOrderedOffset;
  }
  int64_t c = static_cast<int64_t>(chunk);
  switch (kind) {
    case kStaticChunked: case kStaticBalancedChunked: l.kind = kSchedStatic; break;
    case kStatic: l.kind = kSchedStatic; c = 0; break;
    case kDynamicChunked: l.kind = kSchedDynamic; break;
    case kGuidedChunked: case kGuidedSimd: case 42: case 43: l.kind = kSchedGuided; break;
    case kAuto: l.kind = kSchedStatic; c = 0; break;
    case kRuntime: case kRuntimeSimd:
      l.kind = icvs().sched_kind == kSchedAuto ? kSchedStatic : icvs().sched_kind;
      c = icvs().sched_chunk;
      break;
    default: l.kind = kSchedDynamic; break;
  }
  if (c <= 0) c = l.kind == kSchedStatic ? 0 : 1;
  l.chunk = static_cast<uint64_t>(c);
  l.trip = TripCount<T, ST>(lb, ub, st);
  l.lb = static_cast<int64_t>(lb);
  l.st = static_cast<int64_t>(st);
  l.exhausted = l.trip == 0;
  if (f.team <= 1 && !l.ordered) {
    l.kind = kSchedStatic;
    l.chunk = 0;
  }
  if (l.kind == kSchedStatic && !l.ordered) return;
  if (f.team <= 1) {
    l.kind = kSchedStatic;  // ordered in a team of one: in order already
    l.chunk = 0;
    l.ordered = false;
    return;
  }
  // Shared progress for dynamic, guided and ordered loops.
  l.seq = ++f.loops_seen;
  DispatchSlot& s = Slot(l.seq);
  Runtime& rt = Runtime::Get();
  for (;;) {
    rt.Lock(kDispatchLock);
    // An ordered loop kDispatchSlots loops back (all nowait) may still have
    // iterations waiting for their turn: its slot is reused only after them.
    bool busy = s.seq < l.seq && s.ordered != 0 && s.ordered_next < s.trip;
    if (!busy) {
      if (s.seq < l.seq) s = DispatchSlot{l.seq, 0, l.trip, 0, l.ordered ? 1u : 0u};
      else if (s.seq > l.seq) l.exhausted = true;  // a later loop took the slot: all handed out
    }
    rt.Unlock(kDispatchLock);
    if (!busy) return;
    sched_yield();
  }
}

// The next chunk as iteration indices [first, end); false when none is left.
bool NextChunk(uint64_t* first, uint64_t* end) {
  Loop& l = g_loop;
  Frame& f = frame();
  if (l.exhausted) return false;
  const uint64_t team = static_cast<uint64_t>(f.team), tid = static_cast<uint64_t>(f.thread_num);
  if (l.kind == kSchedStatic && !l.ordered) {
    if (l.chunk == 0) {
      l.exhausted = true;
      StaticBlock(l.trip, team, tid, first, end);
      return *first < *end;
    }
    uint64_t k = tid + l.static_next * team;
    ++l.static_next;
    if (k >= (l.trip + l.chunk - 1) / l.chunk) {
      l.exhausted = true;
      return false;
    }
    *first = k * l.chunk;
    *end = std::min(l.trip, *first + l.chunk);
    return true;
  }
  Runtime& rt = Runtime::Get();
  rt.Lock(kDispatchLock);
  DispatchSlot& s = Slot(l.seq);
  bool got = false;
  if (s.seq == l.seq && s.next < s.trip) {
    uint64_t remaining = s.trip - s.next;
    uint64_t n = l.chunk == 0 ? 1 : l.chunk;
    if (l.kind == kSchedGuided) n = std::max(n, (remaining + 2 * team - 1) / (2 * team));
    if (l.kind == kSchedStatic) {  // ordered static: blocks of the static size, in turn
      n = l.chunk != 0 ? l.chunk : (l.trip + team - 1) / team;
    }
    n = std::min(n, remaining);
    *first = s.next;
    *end = s.next + n;
    s.next += n;
    got = true;
  }
  rt.Unlock(kDispatchLock);
  if (!got) l.exhausted = true;
  return got;
}

template <typename T, typename ST>
int32_t DispatchNext(int32_t* p_last, T* p_lb, T* p_ub, ST* p_st) {
  Loop& l = g_loop;
  uint64_t first, end;
  if (!NextChunk(&first, &end)) return 0;
  const T lb = static_cast<T>(l.lb);
  const ST st = static_cast<ST>(l.st);
  *p_lb = At<T, ST>(lb, st, first);
  *p_ub = At<T, ST>(lb, st, end - 1);
  if (p_st != nullptr) *p_st = st;
  if (p_last != nullptr) *p_last = end == l.trip;
  l.ordered_cur = first;
  l.ordered_done = false;
  return 1;
}

// Waits until iteration l.ordered_cur may run its ordered region.
void WaitOrderedTurn() {
  Loop& l = g_loop;
  Runtime& rt = Runtime::Get();
  for (;;) {
    rt.Lock(kDispatchLock);
    DispatchSlot& s = Slot(l.seq);
    bool turn = s.seq != l.seq || s.ordered_next == l.ordered_cur;
    rt.Unlock(kDispatchLock);
    if (turn) return;
    sched_yield();
  }
}

void PassOrderedTurn() {
  Loop& l = g_loop;
  Runtime& rt = Runtime::Get();
  rt.Lock(kDispatchLock);
  DispatchSlot& s = Slot(l.seq);
  if (s.seq == l.seq) s.ordered_next = l.ordered_cur + 1;
  rt.Unlock(kDispatchLock);
}

}  // namespace
}  // namespace dsm::runtime::omp

using namespace dsm::runtime::omp;

extern "C" {

// __kmpc_for_static_init_{4,4u,8,8u}(loc, gtid, schedtype, plastiter, plower,
// pupper, pstride, incr, chunk): start of a statically scheduled loop, on
// every team member. In: *plower/*pupper the loop's inclusive bounds, incr
// its step, chunk the schedule's chunk (schedule(static) without a chunk:
// kmp_sch_static, one balanced block per thread). Out: this thread's first
// chunk in *plower/*pupper, *pstride the distance to its next chunk, and
// *plastiter 1 on the thread that runs the last iteration.
void __kmpc_for_static_init_4(ident_t*, int32_t, int32_t sched, int32_t* last, int32_t* lo,
                              int32_t* hi, int32_t* stride, int32_t incr, int32_t chunk) {
  StaticInit<int32_t, int32_t>(sched, last, lo, hi, stride, incr, chunk);
}
void __kmpc_for_static_init_4u(ident_t*, int32_t, int32_t sched, int32_t* last, uint32_t* lo,
                               uint32_t* hi, int32_t* stride, int32_t incr, int32_t chunk) {
  StaticInit<uint32_t, int32_t>(sched, last, lo, hi, stride, incr, chunk);
}
void __kmpc_for_static_init_8(ident_t*, int32_t, int32_t sched, int32_t* last, int64_t* lo,
                              int64_t* hi, int64_t* stride, int64_t incr, int64_t chunk) {
  StaticInit<int64_t, int64_t>(sched, last, lo, hi, stride, incr, chunk);
}
void __kmpc_for_static_init_8u(ident_t*, int32_t, int32_t sched, int32_t* last, uint64_t* lo,
                               uint64_t* hi, int64_t* stride, int64_t incr, int64_t chunk) {
  StaticInit<uint64_t, int64_t>(sched, last, lo, hi, stride, incr, chunk);
}
// __kmpc_for_static_fini: end of a statically scheduled loop (nothing to do).
void __kmpc_for_static_fini(ident_t*, int32_t) {}

// __kmpc_dispatch_init_{4,4u,8,8u}(loc, gtid, schedule, lb, ub, st, chunk):
// start of a loop with schedule dynamic, guided, runtime (OMP_SCHEDULE or
// omp_set_schedule) or auto, or with an ordered clause; on every team
// member. The first member to arrive initialises the loop's shared counter.
void __kmpc_dispatch_init_4(ident_t*, int32_t, int32_t sched, int32_t lb, int32_t ub, int32_t st,
                            int32_t chunk) {
  DispatchInit<int32_t, int32_t>(sched, lb, ub, st, chunk);
}
void __kmpc_dispatch_init_4u(ident_t*, int32_t, int32_t sched, uint32_t lb, uint32_t ub,
                             int32_t st, int32_t chunk) {
  DispatchInit<uint32_t, int32_t>(sched, lb, ub, st, chunk);
}
void __kmpc_dispatch_init_8(ident_t*, int32_t, int32_t sched, int64_t lb, int64_t ub, int64_t st,
                            int64_t chunk) {
  DispatchInit<int64_t, int64_t>(sched, lb, ub, st, chunk);
}
void __kmpc_dispatch_init_8u(ident_t*, int32_t, int32_t sched, uint64_t lb, uint64_t ub,
                             int64_t st, int64_t chunk) {
  DispatchInit<uint64_t, int64_t>(sched, lb, ub, st, chunk);
}

// __kmpc_dispatch_next_{4,4u,8,8u}(loc, gtid, p_last, p_lb, p_ub, p_st): the
// next chunk of the current dispatched loop: 1 with its inclusive bounds in
// *p_lb/*p_ub, the step in *p_st and *p_last 1 if it holds the last
// iteration; 0 when the loop is done for this thread.
int32_t __kmpc_dispatch_next_4(ident_t*, int32_t, int32_t* last, int32_t* lb, int32_t* ub,
                               int32_t* st) {
  return DispatchNext<int32_t, int32_t>(last, lb, ub, st);
}
int32_t __kmpc_dispatch_next_4u(ident_t*, int32_t, int32_t* last, uint32_t* lb, uint32_t* ub,
                                int32_t* st) {
  return DispatchNext<uint32_t, int32_t>(last, lb, ub, st);
}
int32_t __kmpc_dispatch_next_8(ident_t*, int32_t, int32_t* last, int64_t* lb, int64_t* ub,
                               int64_t* st) {
  return DispatchNext<int64_t, int64_t>(last, lb, ub, st);
}
int32_t __kmpc_dispatch_next_8u(ident_t*, int32_t, int32_t* last, uint64_t* lb, uint64_t* ub,
                                int64_t* st) {
  return DispatchNext<uint64_t, int64_t>(last, lb, ub, st);
}

// __kmpc_dispatch_fini_{4,4u,8,8u}: the end of one iteration of an ordered
// dispatched loop. An iteration that skipped its ordered region still takes
// its turn, so that the next one can run.
static void DispatchFini() {
  Loop& l = g_loop;
  if (!l.ordered || l.seq == 0) return;
  if (!l.ordered_done) {
    WaitOrderedTurn();
    PassOrderedTurn();
  }
  ++l.ordered_cur;
  l.ordered_done = false;
}
void __kmpc_dispatch_fini_4(ident_t*, int32_t) { DispatchFini(); }
void __kmpc_dispatch_fini_4u(ident_t*, int32_t) { DispatchFini(); }
void __kmpc_dispatch_fini_8(ident_t*, int32_t) { DispatchFini(); }
void __kmpc_dispatch_fini_8u(ident_t*, int32_t) { DispatchFini(); }

// __kmpc_ordered / __kmpc_end_ordered: an ordered region inside an iteration
// of an ordered loop: waits until every earlier iteration passed its own.
// Outside a shared ordered loop (team of one) they do nothing.
void __kmpc_ordered(ident_t*, int32_t) {
  Loop& l = g_loop;
  if (!l.ordered || l.seq == 0) return;
  WaitOrderedTurn();
}
void __kmpc_end_ordered(ident_t*, int32_t) {
  Loop& l = g_loop;
  if (!l.ordered || l.seq == 0) return;
  PassOrderedTurn();
  l.ordered_done = true;
}

}  // extern "C"
