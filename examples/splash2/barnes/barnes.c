/* barnes: gravitational N-body simulation by the Barnes-Hut method, after
 * the SPLASH-2 "Barnes" program.
 *
 * Every time step builds an octree of the bodies in shared memory, computes
 * each cell's mass, centre of mass and quadrupole moment, and finds each
 * body's acceleration by walking the tree: a cell far enough away (its size
 * over the distance below the opening parameter theta, corrected for its
 * centre of mass lying off-centre) acts through its moments, a nearer one is
 * opened. Integration: leapfrog (kick-drift-kick) with Plummer softening.
 * The bodies start as a Plummer sphere in standard units (G = M = 1).
 *
 * Parallel structure: the tree is built deterministically without locks.
 * The root cube is cut into 8^K subcubes; every thread counts its bodies per
 * subcube, the counts and costs are reduced, and the subcubes are dealt out
 * in Morton order by cost; each thread builds the subtrees of its subcubes
 * from cells and leaves of its own pools and computes their moments; thread
 * 0 links the top K levels. Work is then partitioned by costzones: the
 * bodies, in tree order, are split into contiguous zones of equal cost (the
 * interactions of the previous step), each thread copies its zone into a
 * second body array (so a thread's bodies stay contiguous in memory) and
 * computes and integrates them. Everything a thread writes lies in its own
 * pools or its own zone. See README.md.
 *
 * Checks: total energy and momentum conserved within tolerances, and the
 * tree's accelerations of a sample of bodies against direct summation.
 *
 * This file: initial conditions, integration, diagnostics, checks, input and
 * main; the tree, costzones and the force walks are in tree.c, what both
 * share in barnes.h.
 *
 * Plain OpenMP C: built with clang -fopenmp (reference) and with dsm-clang.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barnes.h"
#include "splash2_common.h"

struct barnes_config cfg;
body_t *bodies[2];
double *red_buf[MAX_THREADS];

static struct thread_stats stats[MAX_THREADS];

/* Energies and momentum of a state, summed over the bodies. */
struct sums {
  double kin, pot, p[3], pabs;
};
static struct {
  struct sums start, end;
  double err_rms, err_max;
  int samples;
  double t_init, t_end;
} res;

void timed_barrier(ctx_t *c) { splash2_timed_barrier(&c->st.wait); }

/* Combines v[0..n) over the team in thread order (sums; mins where is_min is
 * set for the first `mins` values); one barrier. */
void reduce(ctx_t *c, double *v, int n, int mins) {
  int parity = (int)(c->reds++ & 1);
  memcpy(red_buf[c->t] + parity * RED_SLOTS, v, (size_t)n * sizeof *v);
  timed_barrier(c);
  for (int s = 0; s < cfg.threads; ++s) {
    const double *in = red_buf[s] + parity * RED_SLOTS;
    for (int i = 0; i < n; ++i) {
      if (s == 0) {
        v[i] = in[i];
      } else if (i < mins) {
        v[i] = in[i] < v[i] ? in[i] : v[i];
      } else {
        v[i] += in[i];
      }
    }
  }
}

/* ---- deterministic random numbers (splitmix64, keyed by body and draw) */

static uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double uniform(int64_t body, int draw) {
  uint64_t z = mix(mix(cfg.seed) ^ ((uint64_t)body << 16 | (uint64_t)draw));
  return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

/* A random direction times r, from draws k and k+1. */
static void direction(int64_t b, int k, double r, double *out) {
  double z = 2.0 * uniform(b, k) - 1.0, phi = 2.0 * M_PI * uniform(b, k + 1);
  double s = sqrt(1.0 - z * z);
  out[0] = r * s * cos(phi);
  out[1] = r * s * sin(phi);
  out[2] = r * z;
}

/* Body b of a Plummer sphere (Aarseth, Henon and Wielen's recipe), in
 * standard units after scaling; its centre of mass is removed later. */
static void plummer(int64_t b, body_t *out) {
  int k = 0;
  double r;
  do {  /* radius from the cumulative mass; the far tail is cut */
    double m = uniform(b, k++);
    r = 1.0 / sqrt(pow(m, -2.0 / 3.0) - 1.0);
  } while (r > 9.0 && k < 200);
  double q, g;
  do {  /* speed in units of the escape speed, by rejection */
    q = uniform(b, k++);
    g = uniform(b, k++) * 0.1;
  } while (g > q * q * pow(1.0 - q * q, 3.5) && k < 2000);
  double v = q * sqrt(2.0) * pow(1.0 + r * r, -0.25);
  const double rscale = 3.0 * M_PI / 16.0, vscale = 1.0 / sqrt(rscale);
  memset(out, 0, sizeof *out);
  direction(b, 2000, r * rscale, out->pos);
  direction(b, 2002, v * vscale, out->vel);
  out->mass = 1.0 / cfg.nbody;
  out->cost = 1;
  out->id = b;
}

/* ---- setup, integration and diagnostics */

static size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

/* One thread: team-wide sizes and the body arrays. */
static const char *set_up(int threads) {
  if (threads > MAX_THREADS) return "too many threads";
  cfg.threads = threads;
  cfg.levels_top = 1;
  while (cfg.levels_top < 4 && (1 << (3 * cfg.levels_top)) < 8 * threads) ++cfg.levels_top;
  cfg.nsub = 1 << (3 * cfg.levels_top);
  size_t bytes = round_up((size_t)cfg.nbody * sizeof(body_t), PAGE);
  for (int k = 0; k < 2; ++k) {
    bodies[k] = omp_aligned_alloc(PAGE, bytes, omp_default_mem_alloc);
    if (bodies[k] == NULL) return "out of memory";
  }
  return NULL;
}

/* Every thread: its pools and reduction slots, and its first zone. */
static int allocate_own(ctx_t *c) {
  int n = cfg.nbody, p = cfg.threads;
  double share = p == 1 ? 1.0 : fmin(1.0, 3.0 / p);  /* room for a zone 3x the average */
  c->cap_cells = (int)(cfg.fcells * n * share) + 1024;
  c->cap_leaves = (int)(cfg.fleaves * n * share) + 1024;
  size_t sz_cells = round_up((size_t)c->cap_cells * sizeof(node_t), PAGE);
  size_t sz_leaves = round_up((size_t)c->cap_leaves * sizeof(node_t), PAGE);
  size_t sz_red = round_up(2 * RED_SLOTS * sizeof(double), PAGE);
  char *base = omp_aligned_alloc(PAGE, sz_cells + sz_leaves + sz_red, omp_default_mem_alloc);
  if (base == NULL) return -1;
  c->cells = (node_t *)base;
  c->leaves = (node_t *)(base + sz_cells);
  pool_base[c->t][0] = c->cells;
  pool_base[c->t][1] = c->leaves;
  red_buf[c->t] = (double *)(base + sz_cells + sz_leaves);
  c->lo = (int)((long)n * c->t / p);
  c->hi = (int)((long)n * (c->t + 1) / p);
  return 0;
}

/* Energies and momentum of the current zone, summed over the team. */
static struct sums diagnose(ctx_t *c) {
  const body_t *b = bodies[c->cur];
  struct sums s;
  memset(&s, 0, sizeof s);
  for (int i = c->lo; i < c->hi; ++i) {
    double v2 = 0.0;
    for (int k = 0; k < 3; ++k) {
      v2 += b[i].vel[k] * b[i].vel[k];
      s.p[k] += b[i].mass * b[i].vel[k];
    }
    s.kin += 0.5 * b[i].mass * v2;
    s.pot += 0.5 * b[i].mass * b[i].phi;
    s.pabs += b[i].mass * sqrt(v2);
  }
  reduce(c, (double *)&s, (int)(sizeof s / sizeof(double)), 0);
  return s;
}

/* Plummer bodies for the first zone, centre of mass at rest at the origin. */
static void initialise(ctx_t *c) {
  body_t *b = bodies[c->cur];
  double cm[6] = {0, 0, 0, 0, 0, 0};
  for (int i = c->lo; i < c->hi; ++i) {
    plummer(i, &b[i]);
    for (int k = 0; k < 3; ++k) {
      cm[k] += b[i].mass * b[i].pos[k];
      cm[3 + k] += b[i].mass * b[i].vel[k];
    }
  }
  reduce(c, cm, 6, 0);
  for (int i = c->lo; i < c->hi; ++i) {
    for (int k = 0; k < 3; ++k) {
      b[i].pos[k] -= cm[k];
      b[i].vel[k] -= cm[3 + k];
    }
  }
}

/* v += a dt/2 for the current zone (and x += v dt with drift). */
static void kick(ctx_t *c, int drift) {
  double t0 = omp_get_wtime(), dt = cfg.dtime;
  body_t *b = bodies[c->cur];
  for (int i = c->lo; i < c->hi; ++i) {
    for (int k = 0; k < 3; ++k) {
      b[i].vel[k] += 0.5 * dt * b[i].acc[k];
      if (drift) b[i].pos[k] += dt * b[i].vel[k];
    }
  }
  c->st.update += omp_get_wtime() - t0;
}

static void print_sums(int step, const struct sums *s) {
  double p = sqrt(s->p[0] * s->p[0] + s->p[1] * s->p[1] + s->p[2] * s->p[2]);
  printf("  %6d %9.4f %14.8f %14.8f %14.8f %12.4e\n", step, step * cfg.dtime, s->kin, s->pot,
         s->kin + s->pot, p);
}

/* The tree's accelerations of the sample bodies (every n/SAMPLES-th id)
 * against direct summation: the rms of the relative errors |da| / |a|, and the
 * largest |da| relative to the sample's rms |a| (bodies near the centre have
 * small |a|, so their relative errors say little). */
static void check_forces(ctx_t *c) {
  const body_t *b = bodies[c->cur];
  int n = cfg.nbody, stride = n > SAMPLES ? n / SAMPLES : 1;
  /* -(largest error) (a min), sum of squared relative errors, count, sum |a|^2 */
  double v[4] = {-0.0, 0.0, 0.0, 0.0};
  double eps2 = cfg.eps * cfg.eps;
  for (int i = c->lo; i < c->hi; ++i) {
    if (b[i].id % stride != 0 || b[i].id / stride >= SAMPLES) continue;
    double a[3] = {0, 0, 0};
    for (int j = 0; j < n; ++j) {
      if (j == i) continue;
      double e[3] = {b[j].pos[0] - b[i].pos[0], b[j].pos[1] - b[i].pos[1],
                     b[j].pos[2] - b[i].pos[2]};
      double s2 = e[0] * e[0] + e[1] * e[1] + e[2] * e[2] + eps2, inv = 1.0 / sqrt(s2);
      for (int k = 0; k < 3; ++k) a[k] += b[j].mass * e[k] * inv * inv * inv;
    }
    double diff2 = 0.0, a2 = 0.0;
    for (int k = 0; k < 3; ++k) {
      diff2 += (b[i].acc[k] - a[k]) * (b[i].acc[k] - a[k]);
      a2 += a[k] * a[k];
    }
    double rel = sqrt(diff2 / a2);
    v[0] = fmin(v[0], -sqrt(diff2));
    v[1] += rel * rel;
    v[2] += 1.0;
    v[3] += a2;
  }
  reduce(c, v, 4, 1);
  if (c->t == 0) {
    res.samples = (int)v[2];
    res.err_rms = v[2] > 0 ? sqrt(v[1] / v[2]) : 0.0;
    res.err_max = v[2] > 0 ? -v[0] / sqrt(v[3] / v[2]) : 0.0;
  }
}

/* ---- the run (every thread) */

static void run(int *failed) {
  ctx_t c;
  memset(&c, 0, sizeof c);
  c.t = omp_get_thread_num();
  if (splash2_any_failed(allocate_own(&c) != 0, failed)) return;
  initialise(&c);
  if (compute_forces(&c) != 0) {
#pragma omp atomic write
    *failed = 2;
    return;
  }
  struct sums s = diagnose(&c);
  if (c.t == 0) {
    res.start = s;
    res.t_init = omp_get_wtime();
    printf("  %6s %9s %14s %14s %14s %12s\n", "step", "time", "kinetic", "potential", "total",
           "|momentum|");
    print_sums(0, &s);
  }
  int every = (int)fmax(1.0, nearbyint(cfg.dtout / cfg.dtime));
  for (int step = 1; step <= cfg.nsteps; ++step) {
    kick(&c, 1);
    if (compute_forces(&c) != 0) {
#pragma omp atomic write
      *failed = 2;
      return;
    }
    kick(&c, 0);
    s = diagnose(&c);
    if (c.t == 0 && (step % every == 0 || step == cfg.nsteps)) print_sums(step, &s);
  }
  timed_barrier(&c);
  if (c.t == 0) {
    res.t_end = omp_get_wtime();
    res.end = s;
  }
  if (cfg.corrupt) {  /* the first sample body's acceleration, where it lives */
    body_t *b = bodies[c.cur];
    for (int i = c.lo; i < c.hi; ++i) {
      if (b[i].id == 0) b[i].acc[0] += 1.0 + fabs(b[i].acc[0]);
    }
  }
  check_forces(&c);
  stats[c.t] = c.st;
}

/* ---- input, output and checks */

/* Reads "name value" lines ('#' starts a comment). Returns 0, or -1 with a
 * message on stderr. */
static int read_input(struct splash2_input *in) {
  static const struct {
    const char *key;
    double *value;
    double lo, hi;
  } keys[] = {
      {"dtime", &cfg.dtime, 1e-9, 1e3}, {"eps", &cfg.eps, 0.0, 1e3},
      {"tol", &cfg.theta, 0.01, 10.0},  {"fcells", &cfg.fcells, 0.01, 100.0},
      {"fleaves", &cfg.fleaves, 0.01, 100.0}, {"tstop", &cfg.tstop, 0.0, 1e6},
      {"dtout", &cfg.dtout, 0.0, 1e6},
  };
  char key[64];
  double v;
  int ok, have_nbody = 0;
  while (splash2_input_next(in, key, &v, &ok)) {
    int done = 0;
    if (ok && v == floor(v) && strcmp(key, "nbody") == 0 && v >= 2 && v <= 1e8) {
      cfg.nbody = (int)v;
      have_nbody = done = 1;
    } else if (ok && v == floor(v) && strcmp(key, "seed") == 0 && v >= 0 && v < 1e15) {
      cfg.seed = (unsigned long)v;
      done = 1;
    }
    for (size_t k = 0; k < sizeof keys / sizeof keys[0] && ok && !done; ++k) {
      if (strcmp(key, keys[k].key) == 0 && v >= keys[k].lo && v <= keys[k].hi) {
        *keys[k].value = v;
        done = 1;
      }
    }
    if (!done) {
      return splash2_input_bad_line(in);
    }
  }
  if (!have_nbody) {
    fprintf(stderr, "%s: nbody is required\n", in->name);
    return -1;
  }
  cfg.nsteps = (int)nearbyint(cfg.tstop / cfg.dtime);
  return 0;
}

static int report(double total, double phase) {
  splash2_print_times("time steps", phase, total);
  int ok = 1;
  /* The limits hold for theta <= 1 with a margin; errors grow about as
   * theta^4 beyond. */
  double scale = pow(fmax(1.0, cfg.theta), 4.0);
  double e0 = res.start.kin + res.start.pot, e1 = res.end.kin + res.end.pot;
  double drift = fabs(e1 - e0) / fabs(e0);
  const double energy_limit = 2e-3 * scale;
  printf("  check: total energy %.8f -> %.8f, relative change %.3e (limit %.1e)\n", e0, e1,
         drift, energy_limit);
  ok &= splash2_check(drift <= energy_limit, "the total energy is not conserved");
  double dp = 0.0;
  for (int k = 0; k < 3; ++k) dp += pow(res.end.p[k] - res.start.p[k], 2);
  dp = sqrt(dp) / res.start.pabs;
  const double momentum_limit = 2e-3 * scale;
  printf("  check: total momentum changed by %.3e of sum m|v| (limit %.1e)\n", dp,
         momentum_limit);
  ok &= splash2_check(dp <= momentum_limit, "the total momentum is not conserved");
  const double rms_limit = 2e-2 * scale, max_limit = 1e-1 * scale;
  printf("  check: tree accelerations of %d bodies against direct summation: relative error "
         "rms %.3e (limit %.1e), largest error %.3e of the rms acceleration (limit %.1e)\n",
         res.samples, res.err_rms, rms_limit, res.err_max, max_limit);
  ok &= splash2_check(res.samples > 0 && res.err_rms <= rms_limit && res.err_max <= max_limit,
                      "the tree's forces are wrong");
  return ok;
}

int main(int argc, char **argv) {
  long p = omp_get_max_threads();
  const char *path;
  int status = splash2_input_options(argc, argv, MAX_THREADS, &p, &cfg.print_stats,
                                     &cfg.corrupt, &path);
  if (status >= 0) return status;
  cfg.seed = 123;
  cfg.dtime = 0.025;
  cfg.eps = 0.05;
  cfg.theta = 1.0;
  cfg.fcells = 2.0;
  cfg.fleaves = 0.5;
  cfg.tstop = 0.075;
  cfg.dtout = 0.25;
  if (splash2_read_input("barnes", path, read_input) != 0) return 2;

  printf("Barnes-Hut: %d bodies (Plummer sphere), theta %.3f, eps %.4f, %d steps of %.4f\n",
         cfg.nbody, cfg.theta, cfg.eps, cfg.nsteps, cfg.dtime);
  fflush(stdout);
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
    if (error == NULL) {
      error = failed == 1 ? "out of memory" : "out of tree cells: raise fcells or fleaves";
    }
    fprintf(stderr, "barnes: %s\n", error);
    return 1;
  }
  printf("  %d threads, %d subcubes\n", cfg.threads, cfg.nsub);
  if (cfg.print_stats) {
    printf("  %6s %10s %10s %10s %10s %10s\n", "thread", "tree", "partition", "force", "update",
           "waits");
    for (int t = 0; t < cfg.threads; ++t) {
      const struct thread_stats *s = &stats[t];
      printf("  %6d %10.4f %10.4f %10.4f %10.4f %10.4f\n", t, s->tree, s->partition, s->force,
             s->update, s->wait);
    }
  }
  double total = res.t_end - t_start, phase = res.t_end - res.t_init;
  int ok = report(total, phase);
  return splash2_finish("barnes", cfg.threads, phase, total, ok);

}
