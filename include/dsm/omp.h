/* dsmkit's omp.h: the OpenMP user API as libdsm implements it, for programs
 * compiled for dsmkit (dsm-clang puts include/dsm first on the include path
 * so that `#include <omp.h>` finds this file). Binary compatible with
 * libomp's omp.h (same types and sizes), so objects compiled against either
 * header link against libdsm.
 *
 * Model: one OpenMP thread per node. A parallel region's team is the job's
 * nodes (or fewer: num_threads, omp_set_num_threads, OMP_NUM_THREADS); asking
 * for more threads than the job has nodes ends the job with a message naming
 * both numbers. Nested regions run with a team of one; tasks run at once on
 * the node that creates them.
 *
 * Shared data: a variable is shared between nodes only if it lives in shared
 * memory: main's locals (node 0's stack is in the shared space) or memory
 * from dsm_malloc. Global variables are each node's own until the compiler
 * places them in the shared space.
 *
 * Locks: an omp_lock_t / omp_nest_lock_t must itself be shared (a local of
 * main or in dsm_malloc'd memory); omp_init_*lock gives it state in shared
 * memory, so the lock is the same on every node. Waiting polls a job-wide
 * lock: cheap on one host, a daemon round trip per attempt across hosts.
 *
 * Thread safety: the node's main thread only (one OpenMP thread per node). */
#ifndef DSM_OMP_H_
#define DSM_OMP_H_

#ifdef __cplusplus
extern "C" {
#endif

typedef struct omp_lock_t {
  void *_lk;
} omp_lock_t;

typedef struct omp_nest_lock_t {
  void *_lk;
} omp_nest_lock_t;

typedef enum omp_sched_t {
  omp_sched_static = 1,
  omp_sched_dynamic = 2,
  omp_sched_guided = 3,
  omp_sched_auto = 4,
  omp_sched_monotonic = (int)0x80000000
} omp_sched_t;

typedef enum omp_lock_hint_t {
  omp_lock_hint_none = 0,
  omp_lock_hint_uncontended = 1,
  omp_lock_hint_contended = 2,
  omp_lock_hint_nonspeculative = 4,
  omp_lock_hint_speculative = 8
} omp_lock_hint_t;

/* Team: this node's number in the current team, the team's size, the size
 * the next region will have (nthreads-var), the job's nodes. */
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_get_max_threads(void);
int omp_get_num_procs(void);
int omp_get_thread_limit(void);
/* Team size of the next regions started by this node (more than the job's
 * nodes ends the job). */
void omp_set_num_threads(int num_threads);
/* 1 inside a region whose team has more than one thread. */
int omp_in_parallel(void);
/* Nesting: regions enclosing the caller (all), and the active ones. */
int omp_get_level(void);
int omp_get_active_level(void);
int omp_get_ancestor_thread_num(int level);
int omp_get_team_size(int level);
/* Dynamic adjustment is never done; the setting is only recorded. */
int omp_get_dynamic(void);
void omp_set_dynamic(int dynamic_threads);
int omp_get_nested(void);
void omp_set_nested(int nested);
int omp_get_max_active_levels(void);
void omp_set_max_active_levels(int max_levels);
int omp_get_cancellation(void);
int omp_in_final(void);
int omp_get_num_devices(void);
int omp_get_default_device(void);
int omp_is_initial_device(void);
/* run-sched-var: schedule(runtime) loops (OMP_SCHEDULE at start). Set on
 * node 0, it reaches the team of the next region. */
void omp_get_schedule(omp_sched_t *kind, int *chunk_size);
void omp_set_schedule(omp_sched_t kind, int chunk_size);

/* Wall clock (seconds from a fixed point) and its resolution. */
double omp_get_wtime(void);
double omp_get_wtick(void);

/* Locks (see above). Not recursive: setting a held omp_lock_t again on the
 * same node ends the job; unsetting a lock this node does not hold too. */
void omp_init_lock(omp_lock_t *lock);
void omp_init_lock_with_hint(omp_lock_t *lock, omp_lock_hint_t hint);
void omp_destroy_lock(omp_lock_t *lock);
void omp_set_lock(omp_lock_t *lock);
void omp_unset_lock(omp_lock_t *lock);
int omp_test_lock(omp_lock_t *lock);
/* Nested locks: the holding node may set them again; test returns the new
 * nesting count (0: held by another node). */
void omp_init_nest_lock(omp_nest_lock_t *lock);
void omp_init_nest_lock_with_hint(omp_nest_lock_t *lock, omp_lock_hint_t hint);
void omp_destroy_nest_lock(omp_nest_lock_t *lock);
void omp_set_nest_lock(omp_nest_lock_t *lock);
void omp_unset_nest_lock(omp_nest_lock_t *lock);
int omp_test_nest_lock(omp_nest_lock_t *lock);

#ifdef __cplusplus
}
#endif

#endif /* DSM_OMP_H_ */
