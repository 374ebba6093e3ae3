/* multigrid.c: the ocean program's communication (halo exchanges,
 * reductions) and its red-black Gauss-Seidel multigrid solver on the
 * threads' partitioned subgrids (see ocean.h and README.md).
 *
 * Every function here is called by every thread of the team in the same
 * order (they contain barriers), except where a comment says otherwise.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ocean.h"
#include "splash2_common.h"

/* Read by other threads: export buffers (two halves), reduction slots, and
 * the thread's part of the first whole-grid level's right-hand side. */
double *export_buf[MAX_THREADS][2];
double *red_buf[MAX_THREADS];
double *gather_buf[MAX_THREADS];

static double wall_factor(int l) {
  /* At level l the wall lies d = 1/2 + 1/2^(l+1) grid spacings outside the
   * first point; the ghost point takes -k times that point's value, so that
   * the linear interpolation between them vanishes at the wall. */
  double d = 0.5 + 0.5 / (double)(1L << l);
  return (1.0 - d) / d;
}

void timed_barrier(ctx_t *c) { splash2_timed_barrier(&c->st.wait); }

/* ---- halo exchange and reductions */

/* Reductions: each thread publishes its values in its slot (double
 * buffered), and after a barrier every thread combines all slots in thread
 * order (sums, or maxima), so all get the same result. */
static int publish(ctx_t *c, const double *v, int n) {
  int parity = (int)(c->reds++ & 1);
  memcpy(red_buf[c->t] + parity * RED_SLOTS, v, (size_t)n * sizeof *v);
  return parity;
}

static void collect(int parity, double *v, int n, int max) {
  for (int i = 0; i < n; ++i) v[i] = max ? -INFINITY : 0.0;
  for (int s = 0; s < cfg.threads; ++s) {
    const double *in = red_buf[s] + parity * RED_SLOTS;
    for (int i = 0; i < n; ++i) v[i] = max ? (in[i] > v[i] ? in[i] : v[i]) : v[i] + in[i];
  }
}

/* Combines v[0..n) over the team; one barrier. */
void reduce(ctx_t *c, double *v, int n, int max) {
  int parity = publish(c, v, n);
  timed_barrier(c);
  collect(parity, v, n, max);
}

/* Publishes bands `width` deep along the edges of the nf fields g[] (one
 * level; same shape on every thread), waits for every thread, and copies the
 * neighbours' bands into the halos (corners from the diagonal neighbours).
 * One barrier, which also serves a max-reduction of the nmax values vmax. */
void exchange(ctx_t *c, grid_t **g, int nf, int width, double *vmax, int nmax) {
  int nx = g[0]->nx, ny = g[0]->ny, w = width, per = w * (2 * nx + 2 * ny);
  int parity = (int)(c->exch++ & 1);
  double *out = export_buf[c->t][parity];
  /* Per field: north band (w rows, top row last), south band (w rows),
   * west band (ny rows of w), east band (ny rows of w). */
  for (int k = 0; k < nf; ++k) {
    double *o = out + k * per;
    for (int r = 0; r < w; ++r) {
      memcpy(o + r * nx, row(g[k], ny - w + r), (size_t)nx * sizeof *o);
      memcpy(o + (w + r) * nx, row(g[k], r), (size_t)nx * sizeof *o);
    }
    for (int j = 0; j < ny; ++j) {
      memcpy(o + 2 * w * nx + j * w, row(g[k], j), (size_t)w * sizeof *o);
      memcpy(o + 2 * w * nx + (ny + j) * w, row(g[k], j) + nx - w, (size_t)w * sizeof *o);
    }
  }
  int parity_max = nmax > 0 ? publish(c, vmax, nmax) : 0;
  timed_barrier(c);
  if (nmax > 0) collect(parity_max, vmax, nmax, 1);
  int walls = g[0]->walls, px = cfg.px;
  int has_w = !(walls & WALL_W), has_e = !(walls & WALL_E);
  int has_s = !(walls & WALL_S), has_n = !(walls & WALL_N);
  size_t row_bytes = (size_t)nx * sizeof(double), corner = (size_t)w * sizeof(double);
  for (int k = 0; k < nf; ++k) {
    grid_t *gk = g[k];
    int off = k * per;
    for (int j = 0; j < ny; ++j) {
      if (has_w) {
        memcpy(row(gk, j) - w, export_buf[c->t - 1][parity] + off + 2 * w * nx + (ny + j) * w,
               corner);
      }
      if (has_e) {
        memcpy(row(gk, j) + nx, export_buf[c->t + 1][parity] + off + 2 * w * nx + j * w, corner);
      }
    }
    for (int r = 0; r < w; ++r) {
      if (has_s) {  /* the southern neighbours' north bands: rows -w .. -1 */
        const double *in = export_buf[c->t - px][parity] + off + r * nx;
        double *dst = row(gk, r - w);
        memcpy(dst, in, row_bytes);
        if (has_w) {
          memcpy(dst - w, export_buf[c->t - px - 1][parity] + off + r * nx + nx - w, corner);
        }
        if (has_e) memcpy(dst + nx, export_buf[c->t - px + 1][parity] + off + r * nx, corner);
      }
      if (has_n) {  /* the northern neighbours' south bands: rows ny .. ny+w-1 */
        const double *in = export_buf[c->t + px][parity] + off + (w + r) * nx;
        double *dst = row(gk, ny + r);
        memcpy(dst, in, row_bytes);
        if (has_w) {
          memcpy(dst - w, export_buf[c->t + px - 1][parity] + off + (w + r) * nx + nx - w, corner);
        }
        if (has_e) memcpy(dst + nx, export_buf[c->t + px + 1][parity] + off + (w + r) * nx, corner);
      }
    }
  }
  c->st.exchanges++;
}

/* ---- multigrid kernels; level l has spacing h 2^l and wall factor k */

/* The points a thread computes: its interior and `ext` halo rings on the
 * sides that are not walls. */
static void extent(const grid_t *g, int ext, int *i0, int *i1, int *j0, int *j1) {
  *i0 = g->walls & WALL_W ? 0 : -ext;
  *i1 = g->nx + (g->walls & WALL_E ? 0 : ext);
  *j0 = g->walls & WALL_S ? 0 : -ext;
  *j1 = g->ny + (g->walls & WALL_N ? 0 : ext);
}

/* One red (color 0) or black (color 1) Gauss-Seidel half-sweep of
 * lap(u) - kappa u = f, stored as (sum of neighbours - d u) / h^2 = f, over
 * the interior and `ext` halo rings (their neighbours must be current). */
static void relax(grid_t *u, const grid_t *f, double h2, double base, double k, int color,
                  int ext) {
  int nx = u->nx, ny = u->ny, w = u->walls, i0, i1, j0, j1;
  extent(u, ext, &i0, &i1, &j0, &j1);
  for (int j = j0; j < j1; ++j) {
    double *up = row(u, j);
    const double *dn = row(u, j - 1), *un = row(u, j + 1), *fr = row(f, j);
    double dj = base + k * ((j == 0 && (w & WALL_S)) + (j == ny - 1 && (w & WALL_N)));
    int first = i0 + ((color + u->gx + u->gy + j + i0) & 1);
    if (k == 0.0) {
      double inv = 1.0 / dj;
      for (int i = first; i < i1; i += 2) {
        up[i] = (up[i - 1] + up[i + 1] + dn[i] + un[i] - h2 * fr[i]) * inv;
      }
      continue;
    }
    for (int i = first; i < i1; i += 2) {
      double d = dj + k * ((i == 0 && (w & WALL_W)) + (i == nx - 1 && (w & WALL_E)));
      up[i] = (up[i - 1] + up[i + 1] + dn[i] + un[i] - h2 * fr[i]) / d;
    }
  }
}

/* The residual f - A u at interior point (i, j) of rows dn, up, un. */
static inline double resid(const grid_t *u, const double *dn, const double *up, const double *un,
                           const double *fr, int i, int j, double inv_h2, double base, double k) {
  int w = u->walls;
  double d = base + k * ((i == 0 && (w & WALL_W)) + (i == u->nx - 1 && (w & WALL_E)) +
                         (j == 0 && (w & WALL_S)) + (j == u->ny - 1 && (w & WALL_N)));
  return fr[i] - (up[i - 1] + up[i + 1] + dn[i] + un[i] - d * up[i]) * inv_h2;
}

/* max |f - A u| over the interior (u current on one ring); max |f| in *fmax. */
static double residual_norm(const grid_t *u, const grid_t *f, double h2, double base, double k,
                            double *fmax) {
  double rmax = 0.0, fm = 0.0, inv_h2 = 1.0 / h2;
  for (int j = 0; j < u->ny; ++j) {
    const double *up = row(u, j), *dn = row(u, j - 1), *un = row(u, j + 1), *fr = row(f, j);
    for (int i = 0; i < u->nx; ++i) {
      double v = fabs(resid(u, dn, up, un, fr, i, j, inv_h2, base, k));
      rmax = v > rmax ? v : rmax;
      fm = fabs(fr[i]) > fm ? fabs(fr[i]) : fm;
    }
  }
  *fmax = fm;
  return rmax;
}

/* Coarse f (at offset ox, oy of grid cf) = the residual f - A u averaged
 * over each 2x2 cell (u current on one ring). */
static void restrict_residual(const grid_t *u, const grid_t *f, double h2, double base, double k,
                              grid_t *cf, int ox, int oy) {
  double inv_h2 = 1.0 / h2;
  for (int J = 0; J < u->ny / 2; ++J) {
    double *o = row(cf, oy + J) + ox;
    for (int I = 0; I < u->nx / 2; ++I) o[I] = 0.0;
    for (int sj = 0; sj < 2; ++sj) {
      int j = 2 * J + sj;
      const double *up = row(u, j), *dn = row(u, j - 1), *un = row(u, j + 1), *fr = row(f, j);
      for (int i = 0; i < u->nx; ++i) {
        o[i / 2] += 0.25 * resid(u, dn, up, un, fr, i, j, inv_h2, base, k);
      }
    }
  }
}

/* Coarse value at (I,J), the walls' ghosts being -k times the first point. */
static inline double cval(const grid_t *g, int I, int J, double k) {
  double m = 1.0;
  if (I < 0 && (g->walls & WALL_W)) {
    I = 0;
    m = -k;
  } else if (I >= g->nx && (g->walls & WALL_E)) {
    I = g->nx - 1;
    m = -k;
  }
  if (J < 0 && (g->walls & WALL_S)) {
    J = 0;
    m *= -k;
  } else if (J >= g->ny && (g->walls & WALL_N)) {
    J = g->ny - 1;
    m *= -k;
  }
  return m * AT(g, I, J);
}

/* u += bilinear interpolation of the coarse correction cu (its part at
 * offset ox, oy, current far enough), over the interior and `ext` (even)
 * halo rings. */
static void prolong_add(grid_t *u, const grid_t *cu, int ox, int oy, double k, int ext) {
  int i0, i1, j0, j1;
  extent(u, ext, &i0, &i1, &j0, &j1);
  for (int J = j0 / 2; J < j1 / 2; ++J) {
    for (int I = i0 / 2; I < i1 / 2; ++I) {
      int CI = ox + I, CJ = oy + J;
      double c[3][3];
      for (int b = -1; b <= 1; ++b) {
        for (int a = -1; a <= 1; ++a) c[b + 1][a + 1] = cval(cu, CI + a, CJ + b, k);
      }
      for (int sj = 0; sj < 2; ++sj) {
        double *o = row(u, 2 * J + sj) + 2 * I;
        int b = sj ? 2 : 0;
        for (int si = 0; si < 2; ++si) {
          int a = si ? 2 : 0;
          o[si] += (9.0 * c[1][1] + 3.0 * (c[1][a] + c[b][1]) + c[b][a]) * (1.0 / 16.0);
        }
      }
    }
  }
}

static void zero(grid_t *g) {
  memset(g->a, 0, (size_t)g->stride * (size_t)(g->ny + 2 * g->halo) * sizeof(double));
}

/* ---- the solver */

static void level_params(int l, double kappa, double *h2, double *base, double *k) {
  double hl = cfg.h * (double)(1L << l);
  *h2 = hl * hl;
  *base = 4.0 + kappa * hl * hl;
  *k = wall_factor(l);
}

/* `sweeps` red-black sweeps from `ext` valid halo rings down to ext - 2 sweeps
 * (on whole-grid levels the rings do not exist and do not matter). */
static void smooth(grid_t *u, const grid_t *f, int sweeps, int ext, double h2, double base,
                   double k) {
  for (int half = 0; half < 2 * sweeps; ++half) {
    relax(u, f, h2, base, k, half & 1, ext - 1 - half);
  }
}

/* The first whole-grid level's right-hand side: every thread restricts its
 * part into its own copy and publishes it; after a barrier it copies the
 * others' parts in. */
static void gather(ctx_t *c, int l, const grid_t *u, const grid_t *f, double h2, double base,
                   double k) {
  grid_t *cf = &c->sf[l + 1];
  int cnx = u->nx / 2, cny = u->ny / 2;
  restrict_residual(u, f, h2, base, k, cf, u->gx / 2, u->gy / 2);
  double *out = gather_buf[c->t];
  for (int J = 0; J < cny; ++J) {
    memcpy(out + J * cnx, row(cf, u->gy / 2 + J) + u->gx / 2, (size_t)cnx * sizeof *out);
  }
  timed_barrier(c);
  for (int s = 0; s < cfg.threads; ++s) {
    if (s == c->t) continue;
    const double *in = gather_buf[s];
    int ox = (s % cfg.px) * cnx, oy = (s / cfg.px) * cny;
    for (int J = 0; J < cny; ++J) {
      memcpy(row(cf, oy + J) + ox, in + J * cnx, (size_t)cnx * sizeof *in);
    }
  }
}

/* A V-cycle from level l, on entry u and f current on HALO rings; on return
 * u is current on EXT_POST - 2 NU_POST rings. Every thread runs it; the
 * whole-grid levels (from part_levels on) every thread on its own copy, the
 * same way, which costs less than gathering and scattering around one. */
static void vcycle(ctx_t *c, int l, grid_t *u, grid_t *f, double kappa) {
  int serial = l >= cfg.part_levels;
  double h2, base, k;
  level_params(l, kappa, &h2, &base, &k);
  if (l == cfg.levels - 1) {  /* one point per side: solve */
    smooth(u, f, 4, 0, h2, base, k);
    return;
  }
  smooth(u, f, NU_PRE, HALO, h2, base, k);  /* leaves EXT_POST rings current */
  grid_t *cu, *cf;
  int ox = 0, oy = 0;
  if (l + 1 < cfg.part_levels) {
    cu = &c->u[l + 1];
    cf = &c->f[l + 1];
    restrict_residual(u, f, h2, base, k, cf, 0, 0);
    exchange(c, &cf, 1, HALO, NULL, 0);
  } else {
    cu = &c->su[l + 1];
    cf = &c->sf[l + 1];
    if (serial) {
      restrict_residual(u, f, h2, base, k, cf, 0, 0);
    } else {
      gather(c, l, u, f, h2, base, k);
      ox = u->gx / 2;
      oy = u->gy / 2;
    }
  }
  zero(cu);
  vcycle(c, l + 1, cu, cf, kappa);
  if (l + 1 < cfg.part_levels) exchange(c, &cu, 1, EXT_POST / 2 + 1, NULL, 0);
  prolong_add(u, cu, ox, oy, wall_factor(l + 1), serial ? 0 : EXT_POST);
  smooth(u, f, NU_POST, EXT_POST, h2, base, k);
}

static double relative(double r, double f) { return f > 0.0 ? r / f : r == 0.0 ? 0.0 : INFINITY; }

/* Solves lap(u) - kappa u = f to the tolerance, starting from u. Each cycle
 * ends with the residual's norm, reduced in the barrier of the exchange that
 * the next cycle needs anyway. */
void solve(ctx_t *c, grid_t *u, grid_t *f, double kappa) {
  double t0 = omp_get_wtime(), h2, base, k, v[2];
  level_params(0, kappa, &h2, &base, &k);
  grid_t *both[2] = {u, f};
  exchange(c, both, 2, HALO, NULL, 0);
  v[0] = residual_norm(u, f, h2, base, k, &v[1]);
  reduce(c, v, 2, 1);
  double fmax = v[1], rel = relative(v[0], fmax);
  int cycles = 0;
  while (!(rel <= cfg.tol) && cycles < MAX_CYCLES) {
    vcycle(c, 0, u, f, kappa);
    ++cycles;
    v[0] = residual_norm(u, f, h2, base, k, &v[1]);
    exchange(c, &u, 1, HALO, v, 1);
    rel = relative(v[0], fmax);
  }
  c->st.cycles += cycles;
  c->st.solve += omp_get_wtime() - t0;
  struct results *r = &c->res;
  r->solves++;
  r->cycles_total += cycles;
  if (r->solves == 1 || cycles < r->cycles_min) r->cycles_min = cycles;
  if (cycles > r->cycles_max) r->cycles_max = cycles;
  if (!(rel <= cfg.tol)) r->unconverged++;
  if (!(rel <= r->worst_rel)) r->worst_rel = rel;
}

/* Relative residual ||f - A u|| / ||f|| over the whole grid, from scratch
 * (every thread gets it). */
double relative_residual(ctx_t *c, grid_t *u, grid_t *f, double kappa) {
  double h2, base, k, v[2];
  level_params(0, kappa, &h2, &base, &k);
  exchange(c, &u, 1, 1, NULL, 0);
  v[0] = residual_norm(u, f, h2, base, k, &v[1]);
  reduce(c, v, 2, 1);
  return relative(v[0], v[1]);
}
