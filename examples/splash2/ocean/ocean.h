/* ocean.h: what the two parts of the ocean program share: the grids, the
 * team's configuration, a thread's context, and the multigrid solver's entry
 * points (multigrid.c). The model, the setup and main are in ocean.c.
 *
 * Thread safety: `cfg` is written by one thread before the parallel work and
 * only read during it; everything in a ctx_t is its thread's own.
 */
#ifndef OCEAN_H
#define OCEAN_H

#include <omp.h>

#define PAGE 4096
#define MAX_THREADS 1024
#define MAX_LEVELS 24
#define MAX_EXCHANGED 6    /* fields exchanged at once (one-point halos) */
#define SERIAL_SIZE 64     /* levels this wide or less are whole-grid levels */
#define NU_PRE 2           /* red-black sweeps before and after the coarse correction */
#define NU_POST 2
/* Halo depths of the partitioned multigrid levels. Each red-black half-sweep
 * is also computed on the halo rings that stay valid, so a halo of HALO
 * points serves all the pre-smoothing and the residual, and the prolongation
 * onto EXT_POST rings serves all the post-smoothing and the next residual:
 * two exchanges per coarse level and one on the finest per cycle, instead of
 * one per half-sweep. */
#define EXT_POST (2 * NU_POST + 2)
#define HALO (2 * NU_PRE + EXT_POST)
#define MAX_CYCLES 60
#define RED_SLOTS 16       /* values per reduction */

#define WALL_W 1
#define WALL_E 2
#define WALL_S 4
#define WALL_N 8

/* A thread's part of one field at one level: (nx+2h) x (ny+2h) doubles, rows
 * by j (northward), h halo rings included; (i,j) is at
 * a[(j+h)*stride+i+h]. At a wall the first halo ring holds the boundary. */
typedef struct {
  double *a;
  int nx, ny, stride, halo;
  int gx, gy;   /* global index of interior point (0,0) */
  int walls;    /* WALL_* sides that are the basin's walls */
} grid_t;

static inline double *row(const grid_t *g, int j) {
  return g->a + (j + g->halo) * g->stride + g->halo;
}
#define AT(g, i, j) (row((g), (j))[(i)])

/* Everything the team agrees on; set by one thread before the work. */
struct ocean_config {
  int n;            /* interior points per side (the -n value minus 2) */
  int threads, px, py;
  int levels;       /* multigrid levels; level l has n >> l points per side */
  int part_levels;  /* levels 0 .. part_levels-1 are partitioned */
  int steps;
  double h, dt, tol;
  double visc;      /* lateral friction coefficient A, m^2/s */
  double beta;      /* gradient of the Coriolis parameter, 1/(m s) */
  double f1, f2;    /* stretching coefficients F1, F2 */
  int corrupt, print_stats;
};
extern struct ocean_config cfg;

/* Read by other threads: export buffers (two halves), reduction slots, and
 * the thread's part of the first whole-grid level's right-hand side. */
extern double *export_buf[MAX_THREADS][2];
extern double *red_buf[MAX_THREADS];
extern double *gather_buf[MAX_THREADS];

struct thread_stats {
  double model, solve, wait;
  long exchanges, cycles;
  double pad[3];
};
/* Results; every thread keeps the same (they come from reductions). */
struct results {
  long solves, cycles_total;
  int cycles_min, cycles_max, unconverged;
  double worst_rel;         /* worst final relative residual of any solve */
  double verify_rel[2];     /* the final solves verified again */
  double arakawa_worst;     /* worst relative energy non-conservation of the advection */
  double e0, e_end, budget_lhs, budget_rhs, budget_abs;
  double t_init, t_end;
};
/* A thread's private context. */
typedef struct {
  int t, tx, ty;
  long exch, reds;                  /* exchanges and reductions so far (same on all) */
  grid_t psi1, psi2, zt1, zt2, zo1, zo2, xi1, xi2, xo1, xo2, psib, psic, f0;
  grid_t u[MAX_LEVELS], f[MAX_LEVELS];  /* partitioned levels; u[0], f[0] unused */
  grid_t su[MAX_LEVELS], sf[MAX_LEVELS];  /* whole-grid levels: its own copy */
  struct thread_stats st;
  struct results res;
} ctx_t;

/* multigrid.c */

/* A barrier, its waiting time counted. */
void timed_barrier(ctx_t *c);
/* Combines v[0..n) over the team, sums or maxima, in thread order; one
 * barrier; every thread gets the same result. */
void reduce(ctx_t *c, double *v, int n, int max);
/* Fills the halos of the nf fields g[] `width` deep from the neighbours; one
 * barrier, which also serves a max-reduction of vmax[0..nmax). */
void exchange(ctx_t *c, grid_t **g, int nf, int width, double *vmax, int nmax);
/* Every thread: solves lap(u) - kappa u = f on the finest level to the
 * tolerance, starting from u. */
void solve(ctx_t *c, grid_t *u, grid_t *f, double kappa);
/* Every thread: ||f - A u||_inf / ||f||_inf from scratch. */
double relative_residual(ctx_t *c, grid_t *u, grid_t *f, double kappa);

#endif
