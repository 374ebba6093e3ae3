// The omp_* user API (include/dsm/omp.h, binary compatible with libomp's
// omp.h): team queries, internal control variables, wall clock, and locks.
//
// Locks: an omp_lock_t / omp_nest_lock_t is shared data (main's locals or
// dsm_malloc'd memory). omp_init_*lock points it at a small state block in
// shared memory (owner node + nesting count); every operation reads and
// writes that state under a job-wide guard lock whose id is derived from the
// block's address (the same on every node). omp_set_*lock waits by polling
// the state under the guard; the guard is never held while user code runs,
// so two locks whose guard ids collide never deadlock.
#include <sched.h>
#include <time.h>

#include "omp_internal.h"
#include "runtime.h"

using dsm::runtime::Runtime;
using namespace dsm::runtime::omp;

namespace {

struct LockState {
  int32_t owner;  // node id + 1; 0: free
  int32_t count;  // nesting depth (nest locks)
};

struct OmpLock {
  LockState* state;  // in shared memory
};

uint32_t GuardId(const LockState* s) {
  uint64_t h = reinterpret_cast<uintptr_t>(s) * 0x9e3779b97f4a7c15ull;
  return kLockGuardBase | (static_cast<uint32_t>(h >> 40) & kLockGuardMask);
}

LockState* StateOf(void* lock, const char* fn) {
  auto* l = static_cast<OmpLock*>(lock);
  if (l == nullptr || l->state == nullptr) {
    Runtime::Get().Fatal("%s: the lock was not initialised (omp_init_lock)", fn);
  }
  return l->state;
}

void InitLock(void* lock) {
  Runtime& rt = Runtime::Get();
  auto* s = static_cast<LockState*>(rt.Calloc(1, sizeof(LockState)));
  if (s == nullptr) rt.Fatal("omp_init_lock: no shared memory");
  static_cast<OmpLock*>(lock)->state = s;
}

void DestroyLock(void* lock) {
  auto* l = static_cast<OmpLock*>(lock);
  if (l->state == nullptr) return;
  Runtime::Get().Free(l->state);
  l->state = nullptr;
}

// One attempt: takes the lock (or nests) if possible; returns the new
// nesting count, 0 if another node holds it.
int TryLock(LockState* s, bool nest, const char* fn) {
  Runtime& rt = Runtime::Get();
  const int32_t me = rt.node_id() + 1;
  uint32_t g = GuardId(s);
  rt.Lock(g);
  int result = 0;
  if (s->owner == 0) {
    s->owner = me;
    s->count = 1;
    result = 1;
  } else if (s->owner == me) {
    if (!nest) {
      rt.Unlock(g);
      rt.Fatal("%s: this node already holds the lock (omp_lock_t is not recursive)", fn);
    }
    result = ++s->count;
  }
  rt.Unlock(g);
  return result;
}

void SetLock(void* lock, bool nest, const char* fn) {
  LockState* s = StateOf(lock, fn);
  while (TryLock(s, nest, fn) == 0) sched_yield();
}

int UnsetLock(void* lock, bool nest, const char* fn) {
  Runtime& rt = Runtime::Get();
  LockState* s = StateOf(lock, fn);
  uint32_t g = GuardId(s);
  rt.Lock(g);
  if (s->owner != rt.node_id() + 1) {
    rt.Unlock(g);
    rt.Fatal("%s: this node does not hold the lock", fn);
  }
  int left = nest ? --s->count : 0;
  if (left == 0) {
    s->owner = 0;
    s->count = 0;
  }
  rt.Unlock(g);
  return left;
}

}  // namespace

extern "C" {

typedef enum omp_sched_t {
  omp_sched_static = 1,
  omp_sched_dynamic = 2,
  omp_sched_guided = 3,
  omp_sched_auto = 4,
} omp_sched_t;

int omp_get_thread_num(void) { return frame().thread_num; }
int omp_get_num_threads(void) { return frame().team; }
int omp_get_max_threads(void) {
  ReadEnvironment();
  return icvs().max_threads;
}
int omp_get_num_procs(void) { return Runtime::Get().num_nodes(); }
int omp_get_thread_limit(void) { return Runtime::Get().num_nodes(); }
void omp_set_num_threads(int n) {
  ReadEnvironment();
  Runtime& rt = Runtime::Get();
  if (n <= 0) return;
  if (n > rt.num_nodes()) {
    rt.Fatal("omp_set_num_threads(%d) but the job has %d nodes (one OpenMP thread per node): start "
             "it with dsm-run -n %d", n, rt.num_nodes(), n);
  }
  icvs().max_threads = n;
}
int omp_in_parallel(void) { return frame().active > 0; }
int omp_get_level(void) { return frame().level; }
int omp_get_active_level(void) { return frame().active; }
// Levels with no frame on this node are regions of one thread that node 0
// entered before starting this node's team.
int omp_get_ancestor_thread_num(int level) {
  if (level < 0 || level > frame().level) return -1;
  const Frame* f = AncestorFrame(level);
  return f != nullptr ? f->thread_num : 0;
}
int omp_get_team_size(int level) {
  if (level < 0 || level > frame().level) return -1;
  const Frame* f = AncestorFrame(level);
  return f != nullptr ? f->team : 1;
}
int omp_get_dynamic(void) {
  ReadEnvironment();
  return icvs().dynamic;
}
void omp_set_dynamic(int on) {
  ReadEnvironment();
  icvs().dynamic = on != 0;
}
int omp_get_nested(void) { return 0; }
void omp_set_nested(int) {}
int omp_get_max_active_levels(void) { return 1; }
void omp_set_max_active_levels(int) {}
int omp_get_supported_active_levels(void) { return 1; }
int omp_get_cancellation(void) { return 0; }
int omp_in_final(void) { return InFinalTask(); }
int omp_get_max_task_priority(void) { return 0; }
// No teams construct: the initial team (one team, number 0).
int omp_get_num_teams(void) { return 1; }
int omp_get_team_num(void) { return 0; }
// No thread affinity: proc_bind is false and there are no places.
int omp_get_proc_bind(void) { return 0; }
int omp_get_num_places(void) { return 0; }
int omp_get_place_num_procs(int) { return 0; }
void omp_get_place_proc_ids(int, int*) {}
int omp_get_place_num(void) { return -1; }
int omp_get_partition_num_places(void) { return 0; }
void omp_get_partition_place_nums(int*) {}
int omp_get_num_devices(void) { return 0; }
int omp_get_default_device(void) { return 0; }
int omp_is_initial_device(void) { return 1; }

void omp_get_schedule(omp_sched_t* kind, int* chunk) {
  ReadEnvironment();
  *kind = static_cast<omp_sched_t>(icvs().sched_kind);
  *chunk = icvs().sched_chunk;
}
void omp_set_schedule(omp_sched_t kind, int chunk) {
  ReadEnvironment();
  int k = static_cast<int>(kind) & 0xff;  // drop the monotonic modifier
  if (k < omp_sched_static || k > omp_sched_auto) return;
  icvs().sched_kind = k;
  icvs().sched_chunk = chunk > 0 ? chunk : 0;
}

double omp_get_wtime(void) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double omp_get_wtick(void) {
  timespec ts;
  clock_getres(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void omp_init_lock(void* lock) { InitLock(lock); }
void omp_init_lock_with_hint(void* lock, int) { InitLock(lock); }
void omp_destroy_lock(void* lock) { DestroyLock(lock); }
void omp_set_lock(void* lock) { SetLock(lock, false, "omp_set_lock"); }
void omp_unset_lock(void* lock) { UnsetLock(lock, false, "omp_unset_lock"); }
int omp_test_lock(void* lock) { return TryLock(StateOf(lock, "omp_test_lock"), false, "omp_test_lock") != 0; }

void omp_init_nest_lock(void* lock) { InitLock(lock); }
void omp_init_nest_lock_with_hint(void* lock, int) { InitLock(lock); }
void omp_destroy_nest_lock(void* lock) { DestroyLock(lock); }
void omp_set_nest_lock(void* lock) { SetLock(lock, true, "omp_set_nest_lock"); }
void omp_unset_nest_lock(void* lock) { UnsetLock(lock, true, "omp_unset_nest_lock"); }
int omp_test_nest_lock(void* lock) {
  return TryLock(StateOf(lock, "omp_test_nest_lock"), true, "omp_test_nest_lock");
}

}  // extern "C"
