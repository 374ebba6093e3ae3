/* barnes.h: what the two parts of the barnes program share: bodies, tree
 * nodes, the run's configuration, a thread's context, and the entry points of
 * the tree code (tree.c). Initial conditions, integration, checks and main
 * are in barnes.c.
 *
 * Thread safety: `cfg` is written before the parallel work and only read
 * during it; everything in a ctx_t is its thread's own.
 */
#ifndef BARNES_H
#define BARNES_H

#include <stdint.h>

#define PAGE 4096
#define MAX_THREADS 1024
#define LEAF_MAX 8          /* bodies per leaf */
#define MAX_DEPTH 64
#define MAX_SUB 4096        /* subcubes, 8^K for K <= 4 */
#define RED_SLOTS (2 * MAX_SUB)
#define SAMPLES 256         /* bodies checked against direct summation */

typedef struct {
  double pos[3], vel[3], acc[3], phi, mass;
  int64_t cost;  /* interactions of the last force computation */
  int64_t id;    /* index at creation */
} body_t;

/* A cell (8 children) or a leaf (up to LEAF_MAX bodies of the body array). */
typedef struct node {
  double mass, com[3], quad[6];  /* quadrupole xx, xy, xz, yy, yz, zz about com */
  double size, delta;            /* edge; distance of com from the geometric centre */
  int64_t cost;                  /* sum of the bodies' costs */
  int32_t nbodies, leaf;
  union {
    struct node *child[8];
    struct {
      int32_t count;
      int32_t idx[LEAF_MAX];
    } b;
  } u;
} node_t;

/* The run's parameters and the team's sizes; set before the parallel work,
 * then only read. */
struct barnes_config {
  int nbody;
  unsigned long seed;
  double dtime, eps, theta, fcells, fleaves, tstop, dtout;
  int nsteps, threads, levels_top, nsub;
  int corrupt, print_stats;
};
extern struct barnes_config cfg;


struct thread_stats {
  double tree, partition, force, update, wait;
  double pad[3];
};
/* A thread's private context. */
typedef struct {
  int t;
  int lo, hi;            /* its zone [lo, hi) of the current body array */
  int cur;               /* which of bodies[] is current */
  node_t *cells, *leaves;
  int ncells, nleaves, cap_cells, cap_leaves;
  long reds;
  struct thread_stats st;
} ctx_t;

/* Shared state (tree.c: the tree; barnes.c: the rest). */
extern body_t *bodies[2];           /* current and next body arrays */
extern double *red_buf[MAX_THREADS];  /* per-thread reduction slots, two halves */
extern node_t *pool_base[MAX_THREADS][2];  /* each thread's cells and leaves */

/* barnes.c */

/* A barrier, its waiting time counted. */
void timed_barrier(ctx_t *c);
/* Combines v[0..n) over the team in thread order (the first `mins` values
 * by minimum, the rest summed); one barrier; every thread gets the same. */
void reduce(ctx_t *c, double *v, int n, int mins);

/* tree.c */

/* Every thread: builds the tree of the current bodies, moves each thread's
 * new zone into the other array and computes its accelerations there; the
 * other array becomes the current one. Returns -1 (on every thread) when a
 * pool ran out. */
int compute_forces(ctx_t *c);

#endif
