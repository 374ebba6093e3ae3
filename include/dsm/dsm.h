/* dsmkit public C API.
 *
 * A program linked with libdsm runs as one node of a distributed shared
 * memory job: `dsm-run -n N ./prog` starts N nodes; started on its own, the
 * program is a one-node job with its daemon inside the process. Node 0 runs
 * main(); the other nodes wait for parallel regions and end when node 0's
 * main returns (its exit status is the job's).
 *
 * Shared data: memory from dsm_malloc/dsm_calloc, node 0's main stack
 * (locals of main may be handed to dsm_parallel), and globals marked
 * DSM_SHARED (below; a program built by dsm-clang shares all its writable
 * globals by itself). A pointer into shared memory means the same on every
 * node.
 *
 * Consistency: release consistency. Writes by one node are guaranteed visible
 * to another after a synchronisation that orders them: dsm_unlock followed by
 * dsm_lock of the same id, dsm_barrier, or the boundaries of dsm_parallel.
 *
 * Threads: every call is made from the node's main thread. None of these
 * functions is async-signal-safe.
 *
 * Misuse (unlock of a lock not held, dsm_parallel from a worker or nested)
 * prints a message naming the node and the call, and ends the job.
 */
#ifndef DSM_DSM_H_
#define DSM_DSM_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSM_VERSION_MAJOR 0
#define DSM_VERSION_MINOR 1

/* Puts a global or static variable in the shared space:
 *     DSM_SHARED long hits[64];
 *     DSM_SHARED int limit = 10;
 * Every node sees one copy; its initial value is node 0's (what node 0's
 * constructors left in it, if any). The program must be linked through
 * dsm-clang, the CMake target dsm::dsm / dsmkit::dsm or pkg-config dsm,
 * which add the linker script (dsm_globals.ld) that gathers these
 * variables. Large zero-initialised arrays are better dsm_malloc'd: this
 * section keeps its bytes in the executable file. */
#define DSM_SHARED __attribute__((section("dsm_shared_data")))

/* This node's id, 0 .. dsm_num_nodes()-1. */
int dsm_node_id(void);
/* Nodes in the job. */
int dsm_num_nodes(void);

/* Shared memory: valid on every node. NULL and errno = ENOMEM when the shared
 * space is exhausted. Any node may free what any node allocated. */
void *dsm_malloc(size_t size);
void *dsm_calloc(size_t n, size_t size);
void dsm_free(void *p);

/* Cluster-wide mutual exclusion on any 32-bit id; FIFO under contention.
 * Not recursive. */
void dsm_lock(unsigned id);
void dsm_unlock(unsigned id);

/* All nodes. Outside a parallel region (on node 0) it is a no-op. */
void dsm_barrier(void);

/* Runs fn(arg) on every node, then an implicit barrier. Called by node 0
 * outside any parallel region. fn must be a function of the program (it is
 * found by its place in the binary on every node); arg should point to shared
 * memory (or be a plain value). */
void dsm_parallel(void (*fn)(void *), void *arg);

/* Wall-clock seconds from a fixed point. */
double dsm_wtime(void);

#ifdef __cplusplus
}
#endif

#endif /* DSM_DSM_H_ */
