/* ocean: wind-driven eddies and boundary currents in a closed, square ocean
 * basin, after the SPLASH-2 "Ocean, contiguous partitions" program.
 *
 * Model: two-layer quasi-geostrophic flow on a beta plane, double-gyre wind on
 * the upper layer, bottom drag on the lower, lateral friction, free-slip
 * walls. The potential-vorticity anomalies zt_k = lap(psi_k) + F_k (psi_other
 * - psi_k) are advanced by leapfrog (the first step a midpoint step) with
 * Arakawa's Jacobian. Every stage inverts them for the streamfunctions by two
 * elliptic equations on the (n+2) x (n+2) grid, each solved by a red-black
 * Gauss-Seidel multigrid V-cycle solver:
 *   barotropic  lap(psib)                = (H1 zt_1 + H2 zt_2) / H
 *   baroclinic  lap(psic) - (F1+F2) psic = zt_1 - zt_2
 * with psi_1 = psib + H2/H psic, psi_2 = psib - H1/H psic.
 *
 * Parallel structure: the threads form a px x py grid; each owns a contiguous
 * square (or 1:2) subgrid of every field at every partitioned level, with a
 * deep halo, in a page-aligned region it allocates and writes alone.
 * Neighbours exchange edge bands through per-thread export buffers (double
 * buffered, one barrier per exchange): no thread writes another's pages. The
 * smoother also works on the valid halo rings, so a V-cycle needs one
 * exchange per coarse-grid step rather than one per half-sweep. Levels at
 * most SERIAL_SIZE points wide are solved by every thread on its own copy.
 * Reductions are summed in thread order, so every thread takes the same
 * decisions; the fields do not depend on the number of threads.
 *
 * Checks (README.md): every solve's relative residual, the last two solves
 * again from scratch, the advection's energy conservation, and the energy
 * budget of the run.
 *
 * This file: the model, the setup, the run and the output; the exchanges,
 * reductions and the solver are in multigrid.c, what both share in ocean.h.
 *
 * Plain OpenMP C: built with clang -fopenmp (reference) and with dsm-clang.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocean.h"
#include "splash2_common.h"

/* Physical constants (SI). */
#define F0 1.0e-4          /* Coriolis parameter */
#define BETA 2.0e-11       /* its northward gradient (at most; see main) */
#define GPRIME 0.02        /* reduced gravity at the interface */
#define DEPTH1 500.0
#define DEPTH2 4500.0
#define RHO0 1000.0
#define TAU0 0.1           /* wind stress amplitude, N/m^2 */
#define DRAG 1.0e-7        /* bottom drag, 1/s */

struct ocean_config cfg;

/* Each thread's final psi_1, psi_2 for -o. */
static grid_t out_psi[MAX_THREADS][2];

static struct thread_stats stats[MAX_THREADS];

/* Thread 0's results, published at the end. */
static struct results res;

/* ---- setup */

/* One thread: the team's geometry. Returns an error message or NULL. */
static const char *set_up(int threads) {
  if (threads > MAX_THREADS || (threads & (threads - 1)) != 0) {
    return "the number of threads must be a power of two (at most 1024)";
  }
  cfg.threads = threads;
  int lg = 0;
  while ((1 << (lg + 1)) <= threads) ++lg;
  cfg.px = 1 << (lg / 2);
  cfg.py = threads / cfg.px;
  if (cfg.n / cfg.py < HALO) return "the grid is too small for that many threads";
  cfg.levels = 0;
  while ((cfg.n >> cfg.levels) >= 1) ++cfg.levels;
  cfg.part_levels = 1;
  while (cfg.part_levels < cfg.levels - 1 && (cfg.n >> cfg.part_levels) > SERIAL_SIZE &&
         (cfg.n >> cfg.part_levels) / cfg.py >= HALO) {
    ++cfg.part_levels;
  }
  return NULL;
}

static size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

/* Doubles of a grid of that shape, halo included, rounded to a cache line. */
static size_t grid_doubles(const grid_t *g) {
  return round_up((size_t)g->stride * (size_t)(g->ny + 2 * g->halo), 8);
}

/* Every thread: its own page-aligned region with all its grids (its parts
 * of the partitioned levels, its copy of the whole-grid levels), its export
 * buffers, its reduction slots and its gather buffer, zeroed by itself (so on
 * dsmkit their pages are homed where it runs). Returns 0 or -1. */
static int allocate_own(ctx_t *c) {
  int t = c->t;
  c->tx = t % cfg.px;
  c->ty = t / cfg.px;
  grid_t *top[] = {&c->psi1, &c->psi2, &c->zt1, &c->zt2, &c->zo1, &c->zo2, &c->xi1,
                   &c->xi2, &c->xo1, &c->xo2, &c->psib, &c->psic, &c->f0};
  int ntop = (int)(sizeof top / sizeof top[0]);
  grid_t shapes[MAX_LEVELS];
  int walls = (c->tx == 0 ? WALL_W : 0) | (c->tx == cfg.px - 1 ? WALL_E : 0) |
              (c->ty == 0 ? WALL_S : 0) | (c->ty == cfg.py - 1 ? WALL_N : 0);
  size_t total = 0;
  for (int l = 0; l < cfg.levels; ++l) {
    int g = cfg.n >> l;
    if (l < cfg.part_levels) {
      int nx = g / cfg.px, ny = g / cfg.py;
      shapes[l] = (grid_t){NULL, nx, ny, nx + 2 * HALO, HALO, c->tx * nx, c->ty * ny, walls};
    } else {
      shapes[l] = (grid_t){NULL, g, g, g + 2, 1, 0, 0, WALL_W | WALL_E | WALL_S | WALL_N};
    }
    total += grid_doubles(&shapes[l]) * (size_t)(l == 0 ? ntop : 2);
  }
  size_t nx0 = (size_t)cfg.n / (size_t)cfg.px, ny0 = (size_t)cfg.n / (size_t)cfg.py;
  /* Most fields x depth exchanged at once: the model's fields, one deep, or
   * a solve's u and f, HALO deep. */
  size_t most = MAX_EXCHANGED > 2 * HALO ? MAX_EXCHANGED : 2 * HALO;
  size_t half = round_up(most * (2 * nx0 + 2 * ny0) * sizeof(double), PAGE);
  size_t grids = round_up(total * sizeof(double), PAGE);
  size_t part = (size_t)shapes[cfg.part_levels - 1].nx * (size_t)shapes[cfg.part_levels - 1].ny / 4;
  size_t bytes = grids + 2 * half + PAGE + round_up(part * sizeof(double), PAGE);
  char *base = omp_aligned_alloc(PAGE, bytes, omp_default_mem_alloc);
  if (base == NULL) return -1;
  memset(base, 0, bytes);
  double *next = (double *)base;
  for (int l = 0; l < cfg.levels; ++l) {
    size_t one = grid_doubles(&shapes[l]);
    grid_t *partitioned[] = {&c->u[l], &c->f[l]}, *whole[] = {&c->su[l], &c->sf[l]};
    grid_t **list = l == 0 ? top : l < cfg.part_levels ? partitioned : whole;
    for (int k = 0; k < (l == 0 ? ntop : 2); ++k) {
      *list[k] = shapes[l];
      list[k]->a = next;
      next += one;
    }
  }
  export_buf[t][0] = (double *)(base + grids);
  export_buf[t][1] = (double *)(base + grids + half);
  red_buf[t] = (double *)(base + grids + 2 * half);
  gather_buf[t] = (double *)(base + grids + 2 * half + PAGE);
  out_psi[t][0] = c->psi1;
  out_psi[t][1] = c->psi2;
  return 0;
}

/* ---- the model */

static double basin(void) { return (double)(cfg.n + 1) * cfg.h; }

/* Wind forcing of the upper layer's vorticity: curl(tau) / (rho0 H1). */
static double wind(double y) {
  double L = basin();
  return -TAU0 / (RHO0 * DEPTH1) * (2.0 * M_PI / L) * sin(2.0 * M_PI * y / L);
}

/* Initial streamfunction of layer k: a few Gaussian eddies, tapered to zero
 * at the walls. Deterministic. */
static double eddies(int layer, double x, double y) {
  static const double e[][4] = {
      {0.30, 0.30, 0.060, 1.0},  {0.70, 0.35, 0.050, -1.0}, {0.45, 0.70, 0.070, 1.0},
      {0.20, 0.75, 0.050, -1.0}, {0.80, 0.75, 0.060, 1.0},  {0.55, 0.45, 0.040, -1.0},
  };
  double L = basin(), speed = fmin(0.3, 0.3 * cfg.h / cfg.dt);
  double shift = layer == 0 ? 0.0 : 0.02, scale = layer == 0 ? 1.0 : 0.4, psi = 0.0;
  for (size_t k = 0; k < sizeof e / sizeof e[0]; ++k) {
    double R = e[k][2] * L, dx = x - (e[k][0] + shift) * L, dy = y - (e[k][1] - shift) * L;
    psi += e[k][3] * scale * speed * R * exp(-(dx * dx + dy * dy) / (R * R));
  }
  return psi * sin(M_PI * x / L) * sin(M_PI * y / L);
}

/* -1/2 h^2 sum(H1 psi1 zt1 + H2 psi2 zt2): the kinetic plus available
 * potential energy (per unit density) of this thread's points. */
static double energy_part(const ctx_t *c) {
  double e = 0.0;
  for (int j = 0; j < c->psi1.ny; ++j) {
    const double *p1 = row(&c->psi1, j), *p2 = row(&c->psi2, j);
    const double *z1 = row(&c->zt1, j), *z2 = row(&c->zt2, j);
    for (int i = 0; i < c->psi1.nx; ++i) e += DEPTH1 * p1[i] * z1[i] + DEPTH2 * p2[i] * z2[i];
  }
  return -0.5 * cfg.h * cfg.h * e;
}

/* psi_k from the modes. */
static void from_modes(ctx_t *c) {
  const double H = DEPTH1 + DEPTH2;
  for (int j = 0; j < c->psi1.ny; ++j) {
    double *p1 = row(&c->psi1, j), *p2 = row(&c->psi2, j);
    const double *b = row(&c->psib, j), *k = row(&c->psic, j);
    for (int i = 0; i < c->psi1.nx; ++i) {
      p1[i] = b[i] + DEPTH2 / H * k[i];
      p2[i] = b[i] - DEPTH1 / H * k[i];
    }
  }
}

/* x_k = the relative vorticity lap(psi_k) of the anomalies z_k and psi_k;
 * with copy, x_k = z_k instead. */
static void pointwise(ctx_t *c, grid_t *z[2], grid_t *x[2], int copy) {
  for (int j = 0; j < c->psi1.ny; ++j) {
    const double *p1 = row(&c->psi1, j), *p2 = row(&c->psi2, j);
    const double *z1 = row(z[0], j), *z2 = row(z[1], j);
    double *x1 = row(x[0], j), *x2 = row(x[1], j);
    for (int i = 0; i < c->psi1.nx; ++i) {
      x1[i] = copy ? z1[i] : z1[i] - cfg.f1 * (p2[i] - p1[i]);
      x2[i] = copy ? z2[i] : z2[i] - cfg.f2 * (p1[i] - p2[i]);
    }
  }
}

/* f0 = the right-hand side of the barotropic (mode 0) or baroclinic (mode 1)
 * equation from the anomalies zo (the next step's). */
static void mode_rhs(ctx_t *c, const grid_t *z1g, const grid_t *z2g, int mode) {
  const double H = DEPTH1 + DEPTH2;
  for (int j = 0; j < c->f0.ny; ++j) {
    const double *z1 = row(z1g, j), *z2 = row(z2g, j);
    double *f = row(&c->f0, j);
    for (int i = 0; i < c->f0.nx; ++i) {
      f[i] = mode == 0 ? (DEPTH1 * z1[i] + DEPTH2 * z2[i]) / H : z1[i] - z2[i];
    }
  }
}

/* Initial state: eddies, their vorticity and anomalies, and the modes. */
static void initialise(ctx_t *c) {
  double h = cfg.h, inv_h2 = 1.0 / (h * h);
  for (int j = 0; j < c->psi1.ny; ++j) {
    for (int i = 0; i < c->psi1.nx; ++i) {
      double x = (c->psi1.gx + i + 1) * h, y = (c->psi1.gy + j + 1) * h;
      AT(&c->psi1, i, j) = eddies(0, x, y);
      AT(&c->psi2, i, j) = eddies(1, x, y);
    }
  }
  grid_t *g[2] = {&c->psi1, &c->psi2};
  exchange(c, g, 2, 1, NULL, 0);
  const double H = DEPTH1 + DEPTH2;
  for (int j = 0; j < c->psi1.ny; ++j) {
    for (int i = 0; i < c->psi1.nx; ++i) {
      for (int k = 0; k < 2; ++k) {
        grid_t *p = g[k];
        double lap = (AT(p, i - 1, j) + AT(p, i + 1, j) + AT(p, i, j - 1) + AT(p, i, j + 1) -
                      4.0 * AT(p, i, j)) * inv_h2;
        double other = AT(g[1 - k], i, j), own = AT(p, i, j);
        double zt = lap + (k == 0 ? cfg.f1 : cfg.f2) * (other - own);
        AT(k == 0 ? &c->xi1 : &c->xi2, i, j) = lap;
        AT(k == 0 ? &c->xo1 : &c->xo2, i, j) = lap;
        AT(k == 0 ? &c->zt1 : &c->zt2, i, j) = zt;
        AT(k == 0 ? &c->zo1 : &c->zo2, i, j) = zt;
      }
      double p1 = AT(&c->psi1, i, j), p2 = AT(&c->psi2, i, j);
      AT(&c->psib, i, j) = (DEPTH1 * p1 + DEPTH2 * p2) / H;
      AT(&c->psic, i, j) = p1 - p2;
    }
  }
}

/* Arakawa's Jacobian J(p, q) at (i, j) of rows m (j-1), o (j), n (j+1),
 * times 12 h^2. */
static inline double arakawa12(const double *pm, const double *po, const double *pn,
                               const double *qm, const double *qo, const double *qn, int i) {
  double j1 = (po[i + 1] - po[i - 1]) * (qn[i] - qm[i]) - (pn[i] - pm[i]) * (qo[i + 1] - qo[i - 1]);
  double j2 = po[i + 1] * (qn[i + 1] - qm[i + 1]) - po[i - 1] * (qn[i - 1] - qm[i - 1]) -
              pn[i] * (qn[i + 1] - qn[i - 1]) + pm[i] * (qm[i + 1] - qm[i - 1]);
  double j3 = qn[i] * (pn[i + 1] - pn[i - 1]) - qm[i] * (pm[i + 1] - pm[i - 1]) -
              qo[i + 1] * (pn[i + 1] - pm[i + 1]) + qo[i - 1] * (pn[i - 1] - pm[i - 1]);
  return j1 + j2 + j3;
}

/* Sums of one step, reduced over the team. */
enum { S_WORK, S_PJ, S_PJA, S_COUNT };

/* out_k += dtm * tendency for this thread's points: advection of
 * q_k = zq_k + beta y by psi_k, wind, and friction of the lagged relative
 * vorticity xo_k. Adds the stage's sums into s (per layer s[k * S_COUNT + ..],
 * the work of wind and friction in s[S_WORK]). */
static void tendency(ctx_t *c, grid_t *zq[2], grid_t *out[2], double dtm, double *s) {
  double h = cfg.h, inv_h2 = 1.0 / (h * h), inv12 = 1.0 / (12.0 * h * h);
  int nx = c->psi1.nx, gy = c->psi1.gy;
  double q[2][3][nx + 2];  /* rows j-1, j, j+1 of q, halo included */
  const grid_t *psi[2] = {&c->psi1, &c->psi2}, *xo[2] = {&c->xo1, &c->xo2};
  const double depth[2] = {DEPTH1, DEPTH2};
  double work = 0.0;
  for (int j = 0; j < c->psi1.ny; ++j) {
    double y = (gy + j + 1) * h, w = wind(y);
    for (int k = 0; k < 2; ++k) {
      for (int r = 0; r < 3; ++r) {
        const double *z = row(zq[k], j - 1 + r) - 1;
        double by = cfg.beta * (y + (r - 1) * h);
        for (int i = 0; i < nx + 2; ++i) q[k][r][i] = z[i] + by;
      }
    }
    for (int k = 0; k < 2; ++k) {
      const double *pm = row(psi[k], j - 1), *po = row(psi[k], j), *pn = row(psi[k], j + 1);
      const double *xm = row(xo[k], j - 1), *xc = row(xo[k], j), *xn = row(xo[k], j + 1);
      const double *qm = q[k][0] + 1, *qo = q[k][1] + 1, *qn = q[k][2] + 1;
      double *o = row(out[k], j), *sk = s + k * S_COUNT;
      for (int i = 0; i < nx; ++i) {
        double jac = arakawa12(pm, po, pn, qm, qo, qn, i) * inv12;
        double lap = (xc[i - 1] + xc[i + 1] + xm[i] + xn[i] - 4.0 * xc[i]) * inv_h2;
        double src = cfg.visc * lap + (k == 0 ? w : -DRAG * xc[i]);
        o[i] += dtm * (src - jac);
        work += depth[k] * po[i] * src;
        sk[S_PJ] += po[i] * jac;
        sk[S_PJA] += fabs(po[i] * jac);
      }
    }
  }
  s[S_WORK] += -h * h * work;
}

static void swap_grids(grid_t *a, grid_t *b) {
  grid_t t = *a;
  *a = *b;
  *b = t;
}

/* One stage: out += dtm * tendency(psi, zq, xo), then psi from out by the
 * two solves. */
static void advance(ctx_t *c, grid_t *zq[2], grid_t *out[2], double dtm, double *s) {
  double t0 = omp_get_wtime();
  grid_t *g[6] = {&c->psi1, &c->psi2, zq[0], zq[1], &c->xo1, &c->xo2};
  exchange(c, g, 6, 1, NULL, 0);
  memset(s, 0, 2 * S_COUNT * sizeof *s);
  tendency(c, zq, out, dtm, s);
  reduce(c, s, 2 * S_COUNT, 0);
  c->st.model += omp_get_wtime() - t0;
  mode_rhs(c, out[0], out[1], 0);
  solve(c, &c->psib, &c->f0, 0.0);
  mode_rhs(c, out[0], out[1], 1);
  solve(c, &c->psic, &c->f0, cfg.f1 + cfg.f2);
  from_modes(c);
  for (int k = 0; k < 2; ++k) {
    const double *sk = s + k * S_COUNT;
    double ratio = fabs(sk[S_PJ]) / (sk[S_PJA] + 1e-300);
    if (!(ratio <= c->res.arakawa_worst)) c->res.arakawa_worst = ratio;
  }
}

/* One time step (every thread): leapfrog, the first a midpoint (second
 * order Runge-Kutta) step. Friction is always that of the step's start (the
 * leapfrog's n-1), for stability. e_hist holds E(n-1), E(n). */
static void time_step(ctx_t *c, int first, double *e_hist) {
  grid_t *zt[2] = {&c->zt1, &c->zt2}, *zo[2] = {&c->zo1, &c->zo2};
  grid_t *xi[2] = {&c->xi1, &c->xi2}, *xo[2] = {&c->xo1, &c->xo2};
  double s[2 * S_COUNT], dtm;
  if (first) {
    /* zo = xi = zt = zeta(0), xo = relative vorticity (0). Midpoint state
     * into xi, then zo = zeta(0) + dt * tendency(midpoint). */
    pointwise(c, zt, xi, 1);
    advance(c, zt, xi, 0.5 * cfg.dt, s);
    dtm = cfg.dt;
    advance(c, xi, zo, dtm, s);
    pointwise(c, zo, xi, 0);
  } else {
    dtm = 2.0 * cfg.dt;
    advance(c, zt, zo, dtm, s);
    pointwise(c, zo, xo, 0);
    swap_grids(&c->xi1, &c->xo1);
    swap_grids(&c->xi2, &c->xo2);
  }
  swap_grids(&c->zt1, &c->zo1);
  swap_grids(&c->zt2, &c->zo2);
  double t0 = omp_get_wtime();
  double e = energy_part(c);
  reduce(c, &e, 1, 0);
  c->st.model += omp_get_wtime() - t0;
  /* Energy budget: E(n+1) - E(n-1) ~ 2 dt P(n), P the work of wind and
   * friction (the advection does none); the first step E(1) - E(0) ~ dt
   * P(1/2). Summed over the steps the left side telescopes to
   * E(N) + E(N-1) - 2 E(0). */
  struct results *r = &c->res;
  r->budget_lhs += e - (first ? e_hist[1] : e_hist[0]);
  r->budget_rhs += dtm * s[S_WORK];
  double moved = cfg.h * cfg.h * (DEPTH1 * s[S_PJA] + DEPTH2 * s[S_COUNT + S_PJA]);
  r->budget_abs += dtm * (fabs(s[S_WORK]) + moved);
  e_hist[0] = e_hist[1];
  e_hist[1] = e;
}

/* ---- the run (every thread) */

static void run(int *failed) {
  ctx_t c;
  memset(&c, 0, sizeof c);
  c.t = omp_get_thread_num();
  if (splash2_any_failed(allocate_own(&c) != 0, failed)) return;
  initialise(&c);
  double e = energy_part(&c);
  reduce(&c, &e, 1, 0);
  double e_hist[2] = {e, e};
  c.res.e0 = e;
  if (c.t == 0) c.res.t_init = omp_get_wtime();
  for (int step = 0; step < cfg.steps; ++step) time_step(&c, step == 0, e_hist);
  timed_barrier(&c);
  if (c.t == 0) c.res.t_end = omp_get_wtime();
  c.res.e_end = e_hist[1];

  /* Verify the last two solves from scratch (after -X corrupt's change). */
  if (cfg.corrupt && c.t == 0) AT(&c.psib, c.psib.nx / 2, c.psib.ny / 2) += 1.0;
  mode_rhs(&c, &c.zt1, &c.zt2, 0);
  c.res.verify_rel[0] = relative_residual(&c, &c.psib, &c.f0, 0.0);
  mode_rhs(&c, &c.zt1, &c.zt2, 1);
  c.res.verify_rel[1] = relative_residual(&c, &c.psic, &c.f0, cfg.f1 + cfg.f2);
  if (c.t == 0) res = c.res;
  stats[c.t] = c.st;
}

/* ---- output and checks */

static void print_field(const char *name, int k) {
  printf("%s (%d x %d interior points, m^2/s)\n", name, cfg.n, cfg.n);
  for (int gj = cfg.n - 1; gj >= 0; --gj) {
    for (int gi = 0; gi < cfg.n; ++gi) {
      int ny = cfg.n / cfg.py, nx = cfg.n / cfg.px;
      const grid_t *g = &out_psi[(gj / ny) * cfg.px + gi / nx][k];
      printf("%s%.6e", gi ? " " : "", AT(g, gi % nx, gj % ny));
    }
    printf("\n");
  }
}

static int report(double total, double phase) {
  int ok = 1;
  printf("  %ld multigrid solves, %d to %d V-cycles each (%.1f on average)\n", res.solves,
         res.cycles_min, res.cycles_max, res.solves ? (double)res.cycles_total / res.solves : 0.0);
  splash2_print_times("time steps", phase, total);
  printf("  check: worst relative residual of a solve %.3e (limit %.0e)\n", res.worst_rel,
         cfg.tol);
  ok &= splash2_check(!res.unconverged && res.worst_rel <= cfg.tol,
                      "%d solves did not reach the tolerance", res.unconverged);
  printf("  check: last solves verified again: relative residual %.3e and %.3e\n",
         res.verify_rel[0], res.verify_rel[1]);
  ok &= splash2_check(res.verify_rel[0] <= cfg.tol && res.verify_rel[1] <= cfg.tol,
                      "the final streamfunction does not solve its equation");
  const double jac_limit = 1e-10;
  printf("  check: energy conservation of the advection, |sum psi J| / sum |psi J| %.3e "
         "(limit %.0e)\n", res.arakawa_worst, jac_limit);
  ok &= splash2_check(res.arakawa_worst <= jac_limit, "the Jacobian does not conserve");
  double mismatch = fabs(res.budget_lhs - res.budget_rhs) / (res.budget_abs + 1e-300);
  const double budget_limit = 2e-2;
  printf("  check: energy %.6e -> %.6e; budget: change %.6e, work of wind and friction "
         "%.6e, mismatch %.3e of the energy moved (limit %.0e)\n", res.e0, res.e_end,
         res.budget_lhs, res.budget_rhs, mismatch, budget_limit);
  ok &= splash2_check(mismatch <= budget_limit, "the energy budget does not close");
  return ok;
}

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [-n N] [-p P] [-e E] [-r R] [-t T] [-T steps] [-o] [-s] [-h]\n"
          "  -n N  grid points per side including the walls, 2^k + 2 (default 258)\n"
          "  -p P  threads, a power of two (default omp_get_max_threads())\n"
          "  -e E  relative error tolerance of the multigrid solver (default 1e-7)\n"
          "  -r R  distance between grid points, m (default 20000)\n"
          "  -t T  time step, s (default 28800)\n"
          "  -T S  time steps (default 6)\n"
          "  -o    print the final streamfunctions\n"
          "  -s    print per-thread statistics\n"
          "  -X corrupt  (for tests) change one value of the result before the check\n",
          prog);
}

static int whole(double v) { return v == floor(v); }

int main(int argc, char **argv) {
  double n = 258, p = omp_get_max_threads(), steps = 6;
  int print_out = 0;
  cfg.tol = 1e-7;
  cfg.h = 20000.0;
  cfg.dt = 28800.0;
  const struct splash2_option options[] = {
      {.letter = 'n', .number = &n, .lo = 4, .hi = 65538},
      {.letter = 'p', .number = &p, .lo = 1, .hi = MAX_THREADS, .also = whole},
      {.letter = 'e', .number = &cfg.tol, .lo = 1e-15, .hi = 1.0},
      {.letter = 'r', .number = &cfg.h, .lo = 1.0, .hi = 1e7},
      {.letter = 't', .number = &cfg.dt, .lo = 1.0, .hi = 1e7},
      {.letter = 'T', .number = &steps, .lo = 1, .hi = 100000, .also = whole},
      {.letter = 'o', .flag = &print_out},
      {.letter = 's', .flag = &cfg.print_stats},
      {.letter = 'X', .test_hook = &cfg.corrupt},
  };
  int status = splash2_parse_options(argc, argv, options, SPLASH2_COUNT(options), 0, usage);
  if (status >= 0) return status;
  if (n != floor(n)) goto bad;
  cfg.n = (int)n - 2;
  if ((cfg.n & (cfg.n - 1)) != 0) goto bad;
  cfg.steps = (int)steps;
  cfg.f1 = F0 * F0 / (GPRIME * DEPTH1);
  cfg.f2 = F0 * F0 / (GPRIME * DEPTH2);
  /* Friction lagged over 2 dt stays stable while 2 dt A 8/h^2 < 2. */
  cfg.visc = fmin(1000.0, cfg.h * cfg.h / (16.0 * cfg.dt));
  /* The basin's largest Rossby mode has frequency beta L / (2 pi); leapfrog
   * needs its omega dt well below 1, so beta is lowered for large basins. */
  cfg.beta = fmin(BETA, M_PI / (basin() * cfg.dt));

  double t_start = omp_get_wtime();
  const char *error = NULL;
  int failed = 0;
#pragma omp parallel num_threads((int)p)
  {
#pragma omp single
    error = set_up(omp_get_num_threads());
    if (error == NULL) run(&failed);
  }
  if (error != NULL || failed) {
    fprintf(stderr, "ocean: %s\n", error ? error : "out of memory");
    return 1;
  }
  printf("Ocean simulation (two-layer quasi-geostrophic basin, contiguous partitions)\n");
  printf("  grid %d x %d, spacing %.0f m, time step %.0f s, %d steps, tolerance %.1e\n",
         cfg.n + 2, cfg.n + 2, cfg.h, cfg.dt, cfg.steps, cfg.tol);
  printf("  %d threads (grid %d x %d), %d multigrid levels (%d partitioned)\n", cfg.threads,
         cfg.px, cfg.py, cfg.levels, cfg.part_levels);
  if (cfg.print_stats) {
    printf("  %6s %10s %10s %10s %10s %8s\n", "thread", "model", "solve", "waits", "exchanges",
           "cycles");
    for (int t = 0; t < cfg.threads; ++t) {
      printf("  %6d %10.4f %10.4f %10.4f %10ld %8ld\n", t, stats[t].model, stats[t].solve,
             stats[t].wait, stats[t].exchanges, stats[t].cycles);
    }
  }
  if (print_out) {
    print_field("psi1 (upper layer)", 0);
    print_field("psi2 (lower layer)", 1);
  }
  double total = res.t_end - t_start, phase = res.t_end - res.t_init;
  int ok = report(total, phase);
  return splash2_finish("ocean", cfg.threads, phase, total, ok);

bad:
  usage(argv[0]);
  return 2;
}
