/* water-nsquared: molecular dynamics of liquid water in a periodic box with
 * every pair of molecules considered (O(n^2)), after the SPLASH-2
 * "Water-nsquared" program.
 *
 * Model: a flexible three-site water (harmonic O-H bonds and H-O-H angle,
 * point charges on all sites, Lennard-Jones between oxygens; the constants of
 * the SPC/Fw model). Intermolecular interactions are taken whole per
 * molecule pair, within a spherical cutoff on the O-O distance (minimum
 * image), smoothly switched off over the last angstrom so that energy is
 * conserved. Integration: Gear's predictor-corrector on Nordsieck vectors of
 * order 4 to 6 (positions and scaled derivatives).
 *
 * Parallel structure: molecules are split into contiguous blocks, one per
 * thread, kept in page-aligned regions their thread allocates. Each step:
 * every thread predicts its molecules and publishes their positions; barrier;
 * every thread computes its molecules' intramolecular forces and, for each of
 * its molecules i, the interactions with the n/2 molecules after i (cyclic),
 * accumulating both sides into a force array of its own (no locks, no shared
 * writes); barrier; every thread sums the partial forces of its molecules
 * over all threads (in thread order, so results do not depend on timing),
 * corrects them and adds its energies to the reduction. See README.md for why
 * partial arrays instead of the original's per-molecule locks.
 *
 * Checks: total energy conserved within a tolerance, total momentum
 * conserved to rounding.
 *
 * Plain OpenMP C: built with clang -fopenmp (reference) and with dsm-clang.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splash2_common.h"

#define PAGE 4096
#define MAX_THREADS 1024
#define MAX_ORDER 6
#define DOF 9          /* 3 sites (O, H1, H2) x 3 coordinates per molecule */
#define RED_SLOTS 16
#define BOOTSTRAP 3     /* start-up steps estimating the higher derivatives */

/* Units: angstrom, femtosecond, atomic mass unit, kcal/mol, elementary charge. */
#define ACCEL 4.184e-4          /* (kcal/mol/A) / amu in A/fs^2 */
#define COULOMB 332.06371       /* kcal A / (mol e^2) */
#define BOLTZMANN 0.0019872041  /* kcal/(mol K) */
#define AVOGADRO 6.02214076e23
/* SPC/Fw constants. */
#define Q_O (-0.82)
#define Q_H 0.41
#define LJ_SIGMA 3.165492
#define LJ_EPS 0.1554253
#define K_BOND 1059.162         /* kcal/(mol A^2), E = K/2 (r - r0)^2 */
#define R_BOND 1.012
#define K_ANGLE 75.90           /* kcal/(mol rad^2), E = K/2 (t - t0)^2 */
#define T_ANGLE (113.24 * M_PI / 180.0)
#define M_O 15.9994
#define M_H 1.008
#define SWITCH_WIDTH 1.0        /* the switching region below the cutoff, A */

static const double site_mass[3] = {M_O, M_H, M_H};
static const double site_charge[3] = {Q_O, Q_H, Q_H};

/* Everything the team agrees on; read from the input file, then set up by
 * one thread. */
static struct {
  double tstep;     /* s, as in the input file */
  double h;         /* the same in fs */
  int nmol, nstep, norder, nprint;
  double temp, density, cutoff;
  unsigned long seed;
  double box, rc, rs;
  int threads, corrupt, print_stats;
} cfg;

static int first_mol[MAX_THREADS + 1];  /* thread t owns [first_mol[t], first_mol[t+1]) */
static double *pub_pos[MAX_THREADS];    /* its molecules' current positions */
static double *partial[MAX_THREADS];    /* its partial forces on all molecules */
static double *red_buf[MAX_THREADS];    /* its reduction slots (two halves) */

struct thread_stats {
  double predict, intra, inter, correct, wait;
  double pad[3];
};
static struct thread_stats stats[MAX_THREADS];

/* Energies (kcal/mol) and momentum of one state. */
struct state_sums {
  double kin, intra, inter, px, py, pz, pabs;
};

static struct {
  struct state_sums start, end;
  double t_init, t_end;
} res;

/* ---- per-thread context (private) */

typedef struct {
  int t, first, count;
  double *nord;   /* count x order x DOF: x_k = h^k/k! d^k r/dt^k */
  double *f;      /* count x DOF: forces on its molecules */
  double *all;    /* every molecule's positions (a private copy) */
  long reds;
  struct thread_stats st;
} ctx_t;

static void timed_barrier(ctx_t *c) { splash2_timed_barrier(&c->st.wait); }

/* Sums v[0..n) over the team, in thread order; one barrier. */
static void reduce(ctx_t *c, double *v, int n) {
  int parity = (int)(c->reds++ & 1);
  memcpy(red_buf[c->t] + parity * RED_SLOTS, v, (size_t)n * sizeof *v);
  timed_barrier(c);
  for (int i = 0; i < n; ++i) v[i] = 0.0;
  for (int s = 0; s < cfg.threads; ++s) {
    const double *in = red_buf[s] + parity * RED_SLOTS;
    for (int i = 0; i < n; ++i) v[i] += in[i];
  }
}

static double *nord(const ctx_t *c, int local, int k) {
  return c->nord + ((size_t)local * (size_t)cfg.norder + (size_t)k) * DOF;
}

/* ---- deterministic random numbers (splitmix64) */

static uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in (0, 1), the k-th number of molecule m's stream. */
static double uniform(int m, int k) {
  uint64_t z = mix(mix(cfg.seed) ^ ((uint64_t)m << 8 | (uint64_t)k));
  return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

/* ---- forces */

/* Smooth switch S(r): 1 below rs, 0 from rc, C2 in between; *ds = dS/dr. */
static double switch_fn(double r, double *ds) {
  if (r <= cfg.rs) {
    *ds = 0.0;
    return 1.0;
  }
  double w = cfg.rc - cfg.rs, x = (r - cfg.rs) / w, x2 = x * x, x3 = x2 * x;
  *ds = (-30.0 * x2 + 60.0 * x3 - 30.0 * x3 * x) / w;
  return 1.0 - 10.0 * x3 + 15.0 * x3 * x - 6.0 * x3 * x2;
}

/* Bond and angle forces of one molecule (positions p, forces added to f);
 * returns its energy. */
static double intra_forces(const double *p, double *f) {
  double e = 0.0, u[2][3], len[2];
  for (int b = 0; b < 2; ++b) {
    const double *hp = p + 3 * (b + 1);
    for (int d = 0; d < 3; ++d) u[b][d] = hp[d] - p[d];
    len[b] = sqrt(u[b][0] * u[b][0] + u[b][1] * u[b][1] + u[b][2] * u[b][2]);
    double stretch = len[b] - R_BOND;
    e += 0.5 * K_BOND * stretch * stretch;
    for (int d = 0; d < 3; ++d) {
      double g = K_BOND * stretch * u[b][d] / len[b];  /* dE/dH along the bond */
      f[3 * (b + 1) + d] -= g;
      f[d] += g;
    }
  }
  double cosv = (u[0][0] * u[1][0] + u[0][1] * u[1][1] + u[0][2] * u[1][2]) / (len[0] * len[1]);
  cosv = fmax(-1.0, fmin(1.0, cosv));
  double theta = acos(cosv), dt = theta - T_ANGLE, sinv = sqrt(1.0 - cosv * cosv);
  e += 0.5 * K_ANGLE * dt * dt;
  if (sinv > 1e-12) {
    double dedc = -K_ANGLE * dt / sinv;  /* dE/dcos */
    for (int b = 0; b < 2; ++b) {
      const double *o = u[1 - b];
      for (int d = 0; d < 3; ++d) {
        /* dcos/dH_b = (u_other / |u_other| - cos u_b / |u_b|) / |u_b| */
        double g = dedc * (o[d] / len[1 - b] - cosv * u[b][d] / len[b]) / len[b];
        f[3 * (b + 1) + d] -= g;
        f[d] += g;
      }
    }
  }
  return e;
}

/* Interaction of molecules at pi and pj (minimum image); forces added to fi
 * and fj. Returns the (switched) energy, 0 beyond the cutoff. */
static double pair_forces(const double *pi, const double *pj, double *fi, double *fj) {
  double shift[3], d[3], r2 = 0.0, L = cfg.box;
  for (int k = 0; k < 3; ++k) {
    double x = pj[k] - pi[k];
    shift[k] = -L * nearbyint(x / L);
    d[k] = x + shift[k];
    r2 += d[k] * d[k];
  }
  if (r2 >= cfg.rc * cfg.rc) return 0.0;
  double e = 0.0, g[3][3][3];  /* g[a][b]: force on site b of j from site a of i */
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      double v[3], s2 = 0.0;
      for (int k = 0; k < 3; ++k) {
        v[k] = pj[3 * b + k] + shift[k] - pi[3 * a + k];
        s2 += v[k] * v[k];
      }
      double inv2 = 1.0 / s2, inv = sqrt(inv2);
      double qq = COULOMB * site_charge[a] * site_charge[b] * inv;
      double fr = qq * inv2;  /* (force along v) / |v| */
      e += qq;
      if (a == 0 && b == 0) {
        double s6 = LJ_SIGMA * LJ_SIGMA * inv2;
        s6 = s6 * s6 * s6;
        e += 4.0 * LJ_EPS * (s6 * s6 - s6);
        fr += 24.0 * LJ_EPS * (2.0 * s6 * s6 - s6) * inv2;
      }
      for (int k = 0; k < 3; ++k) g[a][b][k] = fr * v[k];
    }
  }
  double ds, sw = switch_fn(sqrt(r2), &ds), r = sqrt(r2);
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      for (int k = 0; k < 3; ++k) {
        fj[3 * b + k] += sw * g[a][b][k];
        fi[3 * a + k] -= sw * g[a][b][k];
      }
    }
  }
  /* -dS/dr e along the O-O direction, on the oxygens. */
  for (int k = 0; k < 3; ++k) {
    double fs = -ds * e * d[k] / r;
    fj[k] += fs;
    fi[k] -= fs;
  }
  return sw * e;
}

/* Every thread: forces on all molecules from the positions published in
 * pub_pos, into partial[t]; then the sums for its own molecules into f
 * (count x DOF). Returns this thread's intra and inter energies. */
static void forces(ctx_t *c, double *f, double *e_intra, double *e_inter) {
  int n = cfg.nmol;
  timed_barrier(c);
  double t0 = omp_get_wtime();
  for (int s = 0; s < cfg.threads; ++s) {
    memcpy(c->all + (size_t)first_mol[s] * DOF, pub_pos[s],
           (size_t)(first_mol[s + 1] - first_mol[s]) * DOF * sizeof(double));
  }
  double *mine = partial[c->t];
  memset(mine, 0, (size_t)n * DOF * sizeof(double));
  double ei = 0.0, ee = 0.0;
  for (int i = c->first; i < c->first + c->count; ++i) {
    ei += intra_forces(c->all + (size_t)i * DOF, mine + (size_t)i * DOF);
  }
  double t1 = omp_get_wtime();
  c->st.intra += t1 - t0;
  /* Each molecule with the n/2 after it, cyclically; with n even the pair
   * (i, i + n/2) only from the lower one. */
  int half = n / 2;
  for (int i = c->first; i < c->first + c->count; ++i) {
    int last = (n % 2 == 0 && i >= half) ? half - 1 : half;
    const double *pi = c->all + (size_t)i * DOF;
    double *fi = mine + (size_t)i * DOF;
    for (int k = 1; k <= last; ++k) {
      int j = i + k < n ? i + k : i + k - n;
      ee += pair_forces(pi, c->all + (size_t)j * DOF, fi, mine + (size_t)j * DOF);
    }
  }
  double t2 = omp_get_wtime();
  c->st.inter += t2 - t1;
  timed_barrier(c);
  memset(f, 0, (size_t)c->count * DOF * sizeof(double));
  for (int s = 0; s < cfg.threads; ++s) {
    const double *in = partial[s] + (size_t)c->first * DOF;
    for (int k = 0; k < c->count * DOF; ++k) f[k] += in[k];
  }
  c->st.correct += omp_get_wtime() - t2;
  *e_intra = ei;
  *e_inter = ee;
}

/* ---- setup */

static size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

/* One thread: the box, the cutoff and the blocks of molecules. */
static const char *set_up(int threads) {
  if (threads > MAX_THREADS) return "too many threads";
  if (threads > cfg.nmol) return "more threads than molecules";
  cfg.threads = threads;
  double number_density = cfg.density * AVOGADRO / (2.0 * 1.008 + 15.9994) * 1e-24;  /* 1/A^3 */
  cfg.box = cbrt(cfg.nmol / number_density);
  cfg.rc = cfg.cutoff > 0.0 ? fmin(cfg.cutoff, 0.5 * cfg.box) : 0.5 * cfg.box;
  cfg.rs = cfg.rc - fmin(SWITCH_WIDTH, 0.25 * cfg.rc);
  for (int t = 0; t <= threads; ++t) {
    first_mol[t] = (int)((long)cfg.nmol * t / threads);
  }
  return NULL;
}

/* Every thread: its page-aligned region (Nordsieck vectors, its molecules'
 * forces, published positions, partial forces, a private copy of all positions, reduction
 * slots), zeroed by itself. */
static int allocate_own(ctx_t *c) {
  c->first = first_mol[c->t];
  c->count = first_mol[c->t + 1] - c->first;
  size_t n = (size_t)cfg.nmol, m = (size_t)c->count, d = sizeof(double);
  size_t sz_nord = round_up(m * (size_t)cfg.norder * DOF * d, PAGE);
  size_t sz_pub = round_up(m * DOF * d, PAGE), sz_all = round_up(n * DOF * d, PAGE);
  size_t bytes = sz_nord + 2 * sz_pub + 2 * sz_all + PAGE;
  char *base = omp_aligned_alloc(PAGE, bytes, omp_default_mem_alloc);
  if (base == NULL) return -1;
  memset(base, 0, bytes);
  c->nord = (double *)base;
  c->f = (double *)(base + sz_nord);
  pub_pos[c->t] = (double *)(base + sz_nord + sz_pub);
  partial[c->t] = (double *)(base + sz_nord + 2 * sz_pub);
  c->all = (double *)(base + sz_nord + 2 * sz_pub + sz_all);
  red_buf[c->t] = (double *)(base + sz_nord + 2 * sz_pub + 2 * sz_all);
  return 0;
}

/* Molecule m's initial positions: on a simple cubic lattice, in its
 * equilibrium shape, turned by a rotation drawn from its random stream. */
static void place(int m, double *p) {
  int side = (int)ceil(cbrt((double)cfg.nmol) - 1e-9);
  double a = cfg.box / side;
  double o[3] = {(m % side + 0.5) * a, (m / side % side + 0.5) * a, (m / side / side + 0.5) * a};
  /* A uniformly random unit quaternion (w, x, y, z) from three uniforms. */
  double u1 = uniform(m, 0), u2 = uniform(m, 1), u3 = uniform(m, 2);
  double w = sqrt(1 - u1) * sin(2 * M_PI * u2), x = sqrt(1 - u1) * cos(2 * M_PI * u2);
  double y = sqrt(u1) * sin(2 * M_PI * u3), z = sqrt(u1) * cos(2 * M_PI * u3);
  double rot[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)},
                      {2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)},
                      {2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}};
  double half = 0.5 * T_ANGLE;
  double body[3][3] = {{0, 0, 0},
                       {R_BOND * sin(half), R_BOND * cos(half), 0},
                       {-R_BOND * sin(half), R_BOND * cos(half), 0}};
  for (int s = 0; s < 3; ++s) {
    for (int k = 0; k < 3; ++k) {
      const double *b = body[s];
      p[3 * s + k] = o[k] + rot[k][0] * b[0] + rot[k][1] * b[1] + rot[k][2] * b[2];
    }
  }
}

/* ---- integration */

/* Gear corrector coefficients for second-order equations, by order. */
static const double gear[7][MAX_ORDER] = {
    [4] = {1.0 / 6.0, 5.0 / 6.0, 1.0, 1.0 / 3.0},
    [5] = {19.0 / 120.0, 3.0 / 4.0, 1.0, 1.0 / 2.0, 1.0 / 12.0},
    [6] = {3.0 / 16.0, 251.0 / 360.0, 1.0, 11.0 / 18.0, 1.0 / 6.0, 1.0 / 60.0},
};

/* Kinetic energy and momentum of this thread's molecules into s. */
static void own_sums(const ctx_t *c, struct state_sums *s) {
  double conv = 1.0 / (ACCEL * cfg.h * cfg.h);  /* amu (A/fs)^2 h^2 -> kcal/mol */
  memset(s, 0, sizeof *s);
  for (int m = 0; m < c->count; ++m) {
    const double *x1 = nord(c, m, 1);
    for (int a = 0; a < 3; ++a) {
      double v2 = 0.0;
      for (int k = 0; k < 3; ++k) v2 += x1[3 * a + k] * x1[3 * a + k];
      s->kin += 0.5 * site_mass[a] * v2 * conv;
      s->px += site_mass[a] * x1[3 * a] / cfg.h;
      s->py += site_mass[a] * x1[3 * a + 1] / cfg.h;
      s->pz += site_mass[a] * x1[3 * a + 2] / cfg.h;
      s->pabs += site_mass[a] * sqrt(v2) / cfg.h;
    }
  }
}

/* Publishes the positions x0 of this thread's molecules. */
static void publish(ctx_t *c) {
  for (int m = 0; m < c->count; ++m) {
    memcpy(pub_pos[c->t] + m * DOF, nord(c, m, 0), DOF * sizeof(double));
  }
}

/* Energies and momentum of the current state (forces at the positions x0);
 * every thread gets the sums. If acc, x2 = h^2/2 * acceleration too. */
static struct state_sums evaluate(ctx_t *c, double *f, int acc) {
  struct state_sums s;
  publish(c);
  forces(c, f, &s.intra, &s.inter);
  double e_intra = s.intra, e_inter = s.inter;
  own_sums(c, &s);
  s.intra = e_intra;
  s.inter = e_inter;
  if (acc) {
    for (int m = 0; m < c->count; ++m) {
      double *x2 = nord(c, m, 2);
      for (int k = 0; k < DOF; ++k) {
        x2[k] = 0.5 * cfg.h * cfg.h * ACCEL * f[m * DOF + k] / site_mass[k / 3];
      }
    }
  }
  reduce(c, (double *)&s, (int)(sizeof s / sizeof(double)));
  return s;
}

/* Initial state: lattice positions, Maxwell-Boltzmann velocities at the
 * temperature (zero total momentum), accelerations. */
static struct state_sums initialise(ctx_t *c, double *f) {
  for (int m = 0; m < c->count; ++m) {
    int g = c->first + m;
    place(g, nord(c, m, 0));
    double *x1 = nord(c, m, 1);
    for (int k = 0; k < DOF; ++k) {
      /* Box-Muller from the molecule's stream; x1 = h v. */
      double r = sqrt(-2.0 * log(uniform(g, 3 + 2 * k))), phi = 2.0 * M_PI * uniform(g, 4 + 2 * k);
      double sigma = sqrt(BOLTZMANN * cfg.temp * ACCEL / site_mass[k / 3]);  /* A/fs */
      x1[k] = cfg.h * sigma * r * cos(phi);
    }
  }
  /* Remove the total momentum, then scale to the temperature exactly. */
  struct state_sums s;
  own_sums(c, &s);
  double mom[4] = {s.px, s.py, s.pz, 0.0}, mass_total = cfg.nmol * (M_O + 2.0 * M_H);
  reduce(c, mom, 3);
  for (int m = 0; m < c->count; ++m) {
    double *x1 = nord(c, m, 1);
    for (int k = 0; k < DOF; ++k) x1[k] -= cfg.h * mom[k % 3] / mass_total;
  }
  own_sums(c, &s);
  double kin = s.kin;
  reduce(c, &kin, 1);
  double want = 0.5 * (DOF * (double)cfg.nmol - 3.0) * BOLTZMANN * cfg.temp;
  double scale = sqrt(want / kin);
  for (int m = 0; m < c->count; ++m) {
    double *x1 = nord(c, m, 1);
    for (int k = 0; k < DOF; ++k) x1[k] *= scale;
  }
  return evaluate(c, f, 1);
}

/* One predictor-corrector step; returns the energies (the potential at the
 * predicted positions, the kinetic after the correction). */
static struct state_sums step(ctx_t *c, double *f) {
  int order = cfg.norder;
  double t0 = omp_get_wtime();
  for (int m = 0; m < c->count; ++m) {
    double *x = nord(c, m, 0);
    /* Multiply by Pascal's triangle in place: x_k += sum_{j>k} C(j,k) x_j. */
    for (int i = 0; i < order - 1; ++i) {
      for (int j = order - 1; j > i; --j) {
        for (int k = 0; k < DOF; ++k) x[(j - 1) * DOF + k] += x[j * DOF + k];
      }
    }
  }
  publish(c);
  c->st.predict += omp_get_wtime() - t0;
  struct state_sums s;
  forces(c, f, &s.intra, &s.inter);
  t0 = omp_get_wtime();
  const double *cc = gear[order];
  double L = cfg.box, to_x2 = 0.5 * cfg.h * cfg.h * ACCEL;
  for (int m = 0; m < c->count; ++m) {
    double *x = nord(c, m, 0);
    for (int k = 0; k < DOF; ++k) {
      double delta = to_x2 * f[m * DOF + k] / site_mass[k / 3] - x[2 * DOF + k];
      for (int j = 0; j < order; ++j) x[j * DOF + k] += cc[j] * delta;
    }
    /* Back into the box by the oxygen, the molecule whole. */
    for (int k = 0; k < 3; ++k) {
      double wrap = -L * floor(x[k] / L);
      if (wrap != 0.0) {
        for (int a = 0; a < 3; ++a) x[3 * a + k] += wrap;
      }
    }
  }
  double e_intra = s.intra, e_inter = s.inter;
  own_sums(c, &s);
  s.intra = e_intra;
  s.inter = e_inter;
  c->st.correct += omp_get_wtime() - t0;
  reduce(c, (double *)&s, (int)(sizeof s / sizeof(double)));
  return s;
}

/* Gear's method starts with the higher derivatives x3.. unknown (zero),
 * which costs an energy error of order h^2 at the first steps. Estimate them
 * instead: take a step from the initial state, keep the higher derivatives
 * it found, restore the rest, and again (BOOTSTRAP times). */
static void bootstrap(ctx_t *c, double *f) {
  size_t keep = (size_t)c->count * 3 * DOF;
  double *saved = omp_aligned_alloc(64, keep * sizeof(double) + 64, omp_default_mem_alloc);
  if (saved == NULL) return;  /* without estimates: the plain start */
  size_t low = 3 * DOF * sizeof(double);  /* x0, x1, x2 of a molecule */
  for (int m = 0; m < c->count; ++m) memcpy(saved + (size_t)m * 3 * DOF, nord(c, m, 0), low);
  for (int it = 0; it < BOOTSTRAP; ++it) {
    step(c, f);
    for (int m = 0; m < c->count; ++m) memcpy(nord(c, m, 0), saved + (size_t)m * 3 * DOF, low);
  }
  omp_free(saved, omp_default_mem_alloc);
}

static double temperature(double kin) {
  return 2.0 * kin / ((DOF * (double)cfg.nmol - 3.0) * BOLTZMANN);
}

static void print_energies(int n, const struct state_sums *s) {
  printf("  %6d %14.6f %14.6f %14.6f %14.6f %10.3f\n", n, s->kin, s->intra, s->inter,
         s->kin + s->intra + s->inter, temperature(s->kin));
}

/* ---- the run (every thread) */

static void run(int *failed) {
  ctx_t c;
  memset(&c, 0, sizeof c);
  c.t = omp_get_thread_num();
  if (splash2_any_failed(allocate_own(&c) != 0, failed)) return;
  double *f = c.f;
  struct state_sums s0 = initialise(&c, f);
  bootstrap(&c, f);
  if (c.t == 0) {
    res.start = s0;
    res.t_init = omp_get_wtime();
    printf("  box %.4f A, cutoff %.4f A (switched from %.4f A), %d threads\n", cfg.box, cfg.rc,
           cfg.rs, cfg.threads);
    printf("  %6s %14s %14s %14s %14s %10s\n", "step", "kinetic", "intra pot", "inter pot",
           "total", "temp (K)");
    print_energies(0, &s0);
  }
  for (int n = 1; n <= cfg.nstep; ++n) {
    struct state_sums s = step(&c, f);
    if (c.t == 0 && cfg.nprint > 0 && (n % cfg.nprint == 0 || n == cfg.nstep)) {
      print_energies(n, &s);
    }
  }
  timed_barrier(&c);
  if (c.t == 0) res.t_end = omp_get_wtime();
  /* The final state (after -X corrupt's change), potential at the corrected
   * positions. */
  if (cfg.corrupt && c.t == 0) nord(&c, 0, 1)[0] += 0.01 * cfg.h;
  struct state_sums s1 = evaluate(&c, f, 0);
  if (c.t == 0) res.end = s1;
  stats[c.t] = c.st;
}

/* ---- input, output and checks */

/* Reads "name value" lines ('#' starts a comment). Returns 0, or -1 with a
 * message on stderr. */
static int read_input(struct splash2_input *in) {
  char key[64];
  double v;
  int ok, have_tstep = 0, have_nmol = 0, have_nstep = 0;
  while (splash2_input_next(in, key, &v, &ok)) {
    int integral = ok && v == floor(v);
    if (ok && strcmp(key, "tstep") == 0 && v > 0 && v < 1e-13) {
      cfg.tstep = v;
      have_tstep = 1;
    } else if (integral && strcmp(key, "nmol") == 0 && v >= 2 && v <= 1e6) {
      cfg.nmol = (int)v;
      have_nmol = 1;
    } else if (integral && strcmp(key, "nstep") == 0 && v >= 0 && v <= 1e8) {
      cfg.nstep = (int)v;
      have_nstep = 1;
    } else if (integral && strcmp(key, "norder") == 0 && v >= 4 && v <= MAX_ORDER) {
      cfg.norder = (int)v;
    } else if (integral && strcmp(key, "nprint") == 0 && v >= 0 && v <= 1e8) {
      cfg.nprint = (int)v;
    } else if (ok && strcmp(key, "temp") == 0 && v > 0 && v < 1e5) {
      cfg.temp = v;
    } else if (ok && strcmp(key, "density") == 0 && v > 0.01 && v < 10) {
      cfg.density = v;
    } else if (ok && strcmp(key, "cutoff") == 0 && v >= 0 && v < 1e4) {
      cfg.cutoff = v;
    } else if (integral && strcmp(key, "seed") == 0 && v >= 0 && v < 1e15) {
      cfg.seed = (unsigned long)v;
    } else {
      return splash2_input_bad_line(in);
    }
  }
  if (!have_tstep || !have_nmol || !have_nstep) {
    fprintf(stderr, "%s: tstep, nmol and nstep are required\n", in->name);
    return -1;
  }
  cfg.h = cfg.tstep * 1e15;
  return 0;
}

static int report(double total, double phase) {
  const struct state_sums *a = &res.start, *b = &res.end;
  double e0 = a->kin + a->intra + a->inter, e1 = b->kin + b->intra + b->inter;
  splash2_print_times("time steps", phase, total);
  int ok = 1;
  /* Energy: the drift must stay a small part of the kinetic energy. */
  double drift = fabs(e1 - e0) / a->kin;
  const double energy_limit = 1e-3;
  printf("  check: total energy %.8f -> %.8f kcal/mol, drift %.3e of the kinetic energy "
         "(limit %.0e)\n", e0, e1, drift, energy_limit);
  ok &= splash2_check(drift <= energy_limit, "the total energy is not conserved");
  double p = sqrt(b->px * b->px + b->py * b->py + b->pz * b->pz), rel = p / b->pabs;
  const double momentum_limit = 1e-10;
  printf("  check: total momentum |P| = %.3e amu A/fs, %.3e of sum m|v| (limit %.0e)\n", p, rel,
         momentum_limit);
  ok &= splash2_check(rel <= momentum_limit, "the total momentum is not conserved");
  return ok;
}

int main(int argc, char **argv) {
  long p = omp_get_max_threads();
  const char *path;
  int status = splash2_input_options(argc, argv, MAX_THREADS, &p, &cfg.print_stats,
                                     &cfg.corrupt, &path);
  if (status >= 0) return status;
  cfg.norder = 6;
  cfg.nprint = 1;
  cfg.temp = 298.0;
  cfg.density = 0.997;
  cfg.seed = 1;
  if (splash2_read_input("water-nsquared", path, read_input) != 0) return 2;

  double t_start = omp_get_wtime();
  const char *error = NULL;
  int failed = 0;
  printf("Water-nsquared: %d water molecules, %d steps of %.3e s, Gear order %d\n", cfg.nmol,
         cfg.nstep, cfg.tstep, cfg.norder);
  fflush(stdout);
#pragma omp parallel num_threads((int)p)
  {
#pragma omp single
    error = set_up(omp_get_num_threads());
    if (error == NULL) run(&failed);
  }
  if (error != NULL || failed) {
    fprintf(stderr, "water-nsquared: %s\n", error ? error : "out of memory");
    return 1;
  }
  if (cfg.print_stats) {
    printf("  %6s %10s %10s %10s %10s %10s\n", "thread", "predict", "intra", "inter",
           "correct", "waits");
    for (int t = 0; t < cfg.threads; ++t) {
      const struct thread_stats *s = &stats[t];
      printf("  %6d %10.4f %10.4f %10.4f %10.4f %10.4f\n", t, s->predict, s->intra, s->inter,
             s->correct, s->wait);
    }
  }
  double total = res.t_end - t_start, phase = res.t_end - res.t_init;
  int ok = report(total, phase);
  return splash2_finish("water-nsquared", cfg.threads, phase, total, ok);

}
