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

/* A depobj dependence object (the runtime allocates what it points to). */
typedef void *omp_depend_t;

typedef enum omp_sched_t {
  omp_sched_static = 1,
  omp_sched_dynamic = 2,
  omp_sched_guided = 3,
  omp_sched_auto = 4,
  omp_sched_monotonic = (int)0x80000000
} omp_sched_t;

typedef enum omp_proc_bind_t {
  omp_proc_bind_false = 0,
  omp_proc_bind_true = 1,
  omp_proc_bind_master = 2,
  omp_proc_bind_close = 3,
  omp_proc_bind_spread = 4
} omp_proc_bind_t;

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
/* One active level: a region nested in an active region has one thread. */
int omp_get_max_active_levels(void);
void omp_set_max_active_levels(int max_levels);
int omp_get_supported_active_levels(void);
int omp_get_cancellation(void);
/* 1 inside a final task (tasks run at once; final only changes this). */
int omp_in_final(void);
int omp_get_max_task_priority(void);
/* No teams construct: one team, number 0. */
int omp_get_num_teams(void);
int omp_get_team_num(void);
/* No thread affinity: proc_bind false, no places. */
omp_proc_bind_t omp_get_proc_bind(void);
int omp_get_num_places(void);
int omp_get_place_num_procs(int place_num);
void omp_get_place_proc_ids(int place_num, int *ids);
int omp_get_place_num(void);
int omp_get_partition_num_places(void);
void omp_get_partition_place_nums(int *place_nums);
/* No devices: the host is the only one. */
int omp_get_num_devices(void);
int omp_get_default_device(void);
int omp_is_initial_device(void);
/* run-sched-var: schedule(runtime) loops (OMP_SCHEDULE at start). Set on
 * node 0, it reaches the team of the next region. */
void omp_get_schedule(omp_sched_t *kind, int *chunk_size);
void omp_set_schedule(omp_sched_t kind, int chunk_size);

/* Memory allocators. Every block comes from the job's shared heap
 * (dsm_malloc), so it is valid on every node, as OpenMP memory is for every
 * thread. The predefined allocators are all the same; omp_init_allocator
 * honours the alignment trait and ignores the others; device allocators end
 * the job. */
typedef __UINTPTR_TYPE__ omp_uintptr_t;
#if defined(__cplusplus) && __cplusplus >= 201103L
typedef enum omp_allocator_handle_t : omp_uintptr_t
#else
typedef enum omp_allocator_handle_t
#endif
{
  omp_null_allocator = 0,
  omp_default_mem_alloc = 1,
  omp_large_cap_mem_alloc = 2,
  omp_const_mem_alloc = 3,
  omp_high_bw_mem_alloc = 4,
  omp_low_lat_mem_alloc = 5,
  omp_cgroup_mem_alloc = 6,
  omp_pteam_mem_alloc = 7,
  omp_thread_mem_alloc = 8,
  KMP_ALLOCATOR_MAX_HANDLE = __UINTPTR_MAX__
} omp_allocator_handle_t;
#if defined(__cplusplus) && __cplusplus >= 201103L
typedef enum omp_memspace_handle_t : omp_uintptr_t
#else
typedef enum omp_memspace_handle_t
#endif
{
  omp_default_mem_space = 0,
  omp_large_cap_mem_space = 1,
  omp_const_mem_space = 2,
  omp_high_bw_mem_space = 3,
  omp_low_lat_mem_space = 4,
  KMP_MEMSPACE_MAX_HANDLE = __UINTPTR_MAX__
} omp_memspace_handle_t;
typedef enum omp_alloctrait_key_t {
  omp_atk_sync_hint = 1,
  omp_atk_alignment = 2,
  omp_atk_access = 3,
  omp_atk_pool_size = 4,
  omp_atk_fallback = 5,
  omp_atk_fb_data = 6,
  omp_atk_pinned = 7,
  omp_atk_partition = 8
} omp_alloctrait_key_t;
typedef struct omp_alloctrait_t {
  omp_alloctrait_key_t key;
  omp_uintptr_t value;
} omp_alloctrait_t;
#define omp_atv_default ((omp_uintptr_t)-1)

omp_allocator_handle_t omp_init_allocator(omp_memspace_handle_t m, int ntraits,
                                          omp_alloctrait_t traits[]);
void omp_destroy_allocator(omp_allocator_handle_t allocator);
/* The calling node's default allocator (omp_null_allocator arguments). */
void omp_set_default_allocator(omp_allocator_handle_t a);
omp_allocator_handle_t omp_get_default_allocator(void);
#ifdef __cplusplus
void *omp_alloc(__SIZE_TYPE__ size, omp_allocator_handle_t a = omp_null_allocator);
void *omp_aligned_alloc(__SIZE_TYPE__ align, __SIZE_TYPE__ size,
                        omp_allocator_handle_t a = omp_null_allocator);
void *omp_calloc(__SIZE_TYPE__ nmemb, __SIZE_TYPE__ size,
                 omp_allocator_handle_t a = omp_null_allocator);
void *omp_aligned_calloc(__SIZE_TYPE__ align, __SIZE_TYPE__ nmemb, __SIZE_TYPE__ size,
                         omp_allocator_handle_t a = omp_null_allocator);
void *omp_realloc(void *ptr, __SIZE_TYPE__ size,
                  omp_allocator_handle_t allocator = omp_null_allocator,
                  omp_allocator_handle_t free_allocator = omp_null_allocator);
void omp_free(void *ptr, omp_allocator_handle_t a = omp_null_allocator);
#else
void *omp_alloc(__SIZE_TYPE__ size, omp_allocator_handle_t a);
void *omp_aligned_alloc(__SIZE_TYPE__ align, __SIZE_TYPE__ size, omp_allocator_handle_t a);
void *omp_calloc(__SIZE_TYPE__ nmemb, __SIZE_TYPE__ size, omp_allocator_handle_t a);
void *omp_aligned_calloc(__SIZE_TYPE__ align, __SIZE_TYPE__ nmemb, __SIZE_TYPE__ size,
                         omp_allocator_handle_t a);
void *omp_realloc(void *ptr, __SIZE_TYPE__ size, omp_allocator_handle_t allocator,
                  omp_allocator_handle_t free_allocator);
void omp_free(void *ptr, omp_allocator_handle_t a);
#endif

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
