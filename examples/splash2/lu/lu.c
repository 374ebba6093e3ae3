/* lu: blocked dense LU factorisation without pivoting, after the SPLASH-2
 * "LU, contiguous blocks" program. An n x n diagonally dominant random matrix
 * is cut into b x b blocks; block (I,J) belongs to thread
 * (I mod prows) * pcols + (J mod pcols) of a prows x pcols grid of threads
 * (a 2-D scatter), and each thread's blocks lie one after another in a
 * page-aligned region of their own, which that thread initialises (so on a
 * distributed shared memory its pages are its own). For every diagonal step K:
 * the owner factors block (K,K); barrier; the owners of row K and column K
 * divide their blocks by it; barrier; every owner of an interior block (I,J)
 * subtracts A(I,K) * A(K,J).
 *
 * Check (always): solve L U x = b for b = A * (1,...,1) and require a small
 * relative residual ||A x - b|| / (||A|| ||x|| + ||b||), A regenerated from
 * its generator. With -t also ||L U - A||_F / ||A||_F over the whole matrix,
 * computed in parallel by the blocks' owners.
 *
 * Plain OpenMP C: built with clang -fopenmp (reference) and with dsm-clang.
 * Options: see usage(). See README.md for what differs from the original.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splash2_common.h"

#define PAGE 4096

/* Per-thread statistics (seconds), padded to a cache line. */
struct lu_stats {
  double total, diag, perimeter, interior, barrier;
  double pad[3];
};

/* The matrix and its distribution; set up by one thread, read by all. */
struct lu_matrix {
  long n;          /* order */
  long b;          /* block edge */
  long nb;         /* blocks per row */
  int threads;     /* team size */
  int prows, pcols;
  double *store;   /* every thread's region, page-aligned */
  double **block;  /* nb * nb pointers into store, row-major by block */
};

static struct lu_matrix mat;
static struct lu_stats *stats;
static int setup_failed;

/* Deterministic element generator: A(i,j) uniform in [-1,1), plus n on the
 * diagonal, so that any thread (and the check) can recompute any element. */
static double element(long n, long i, long j) {
  uint64_t z = (uint64_t)i * (uint64_t)n + (uint64_t)j + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  double v = (double)(z >> 11) * (2.0 / 9007199254740992.0) - 1.0;
  return i == j ? v + (double)n : v;
}

static long block_edge(const struct lu_matrix *m, long I) {
  long rest = m->n - I * m->b;
  return rest < m->b ? rest : m->b;
}

static int owner(const struct lu_matrix *m, long I, long J) {
  return (int)((I % m->prows) * m->pcols + (J % m->pcols));
}

static double *blk(const struct lu_matrix *m, long I, long J) {
  return m->block[I * m->nb + J];
}

/* Element (i,j) of the factored matrix as stored (L below, U on and above
 * the diagonal). Block (I,J) is row-major with block_edge(J) columns. */
static double *at(const struct lu_matrix *m, long i, long j) {
  long I = i / m->b, J = j / m->b;
  return blk(m, I, J) + (i % m->b) * block_edge(m, J) + (j % m->b);
}

/* ---- block kernels; every block is row-major with ld = its column count */

/* In-place LU of the s x s block a (unit lower L, upper U). */
static void factor_diagonal(double *restrict a, long s) {
  for (long k = 0; k < s; ++k) {
    double inv = 1.0 / a[k * s + k];
    for (long i = k + 1; i < s; ++i) {
      double l = a[i * s + k] * inv;
      a[i * s + k] = l;
      for (long j = k + 1; j < s; ++j) a[i * s + j] -= l * a[k * s + j];
    }
  }
}

/* a (s x c, a block of row K) := L^-1 a, L the unit lower part of d (s x s). */
static void divide_row_block(const double *restrict d, double *restrict a, long s, long c) {
  for (long k = 0; k < s; ++k) {
    for (long i = k + 1; i < s; ++i) {
      double l = d[i * s + k];
      for (long j = 0; j < c; ++j) a[i * c + j] -= l * a[k * c + j];
    }
  }
}

/* a (r x s, a block of column K) := a U^-1, U the upper part of d (s x s). */
static void divide_column_block(const double *restrict d, double *restrict a, long r, long s) {
  for (long i = 0; i < r; ++i) {
    double *row = a + i * s;
    for (long k = 0; k < s; ++k) {
      double v = row[k] / d[k * s + k];
      row[k] = v;
      for (long j = k + 1; j < s; ++j) row[j] -= v * d[k * s + j];
    }
  }
}

/* c (r x w) -= a (r x s) * bb (s x w). */
static void update_interior(double *restrict c, const double *restrict a,
                            const double *restrict bb, long r, long s, long w) {
  for (long i = 0; i < r; ++i) {
    for (long k = 0; k < s; ++k) {
      double v = a[i * s + k];
      for (long j = 0; j < w; ++j) c[i * w + j] -= v * bb[k * w + j];
    }
  }
}

/* ---- setup (one thread) and initialisation (every thread, its blocks) */

/* Chooses the thread grid and lays out every thread's blocks in its own
 * page-aligned region. Returns 0, or -1 when memory is short. */
static int set_up(struct lu_matrix *m, long n, long b, int threads) {
  m->n = n;
  m->b = b;
  m->nb = (n + b - 1) / b;
  m->threads = threads;
  int rows = 1;
  for (int r = 1; r * r <= threads; ++r) {
    if (threads % r == 0) rows = r;
  }
  m->prows = rows;
  m->pcols = threads / rows;

  long nb = m->nb;
  size_t *region = calloc((size_t)threads + 1, sizeof *region);
  m->block = malloc((size_t)(nb * nb) * sizeof *m->block);
  stats = calloc((size_t)threads, sizeof *stats);
  if (region == NULL || m->block == NULL || stats == NULL) return -1;
  /* Bytes each thread owns, rounded up to whole pages. */
  for (long I = 0; I < nb; ++I) {
    for (long J = 0; J < nb; ++J) {
      region[owner(m, I, J) + 1] +=
          (size_t)(block_edge(m, I) * block_edge(m, J)) * sizeof(double);
    }
  }
  for (int t = 1; t <= threads; ++t) {
    region[t] = (region[t] + PAGE - 1) / PAGE * PAGE + region[t - 1];
  }
  void *store = NULL;
  if (posix_memalign(&store, PAGE, region[threads] ? region[threads] : PAGE) != 0) {
    free(region);
    return -1;
  }
  m->store = store;
  /* In each region, blocks in the order they become final: for every step K
   * the diagonal block, then those of column K, then those of row K. The
   * blocks of a step that another thread reads are then contiguous. */
  for (long K = 0; K < nb; ++K) {
    for (long x = K; x < 2 * nb - 1 - K; ++x) {
      long I = x < nb ? x : K, J = x < nb ? K : x - nb + 1 + K;
      int t = owner(m, I, J);
      m->block[I * nb + J] = (double *)((char *)store + region[t]);
      region[t] += (size_t)(block_edge(m, I) * block_edge(m, J)) * sizeof(double);
    }
  }
  free(region);
  return 0;
}

static void initialise_own_blocks(const struct lu_matrix *m, int me) {
  for (long I = 0; I < m->nb; ++I) {
    for (long J = 0; J < m->nb; ++J) {
      if (owner(m, I, J) != me) continue;
      long r = block_edge(m, I), c = block_edge(m, J);
      double *a = blk(m, I, J);
      for (long i = 0; i < r; ++i) {
        for (long j = 0; j < c; ++j) a[i * c + j] = element(m->n, I * m->b + i, J * m->b + j);
      }
    }
  }
}

/* ---- the factorisation, run by every thread of the team */

static void factor(const struct lu_matrix *m, int me, struct lu_stats *st) {
  long nb = m->nb;
  double t0;
  for (long K = 0; K < nb; ++K) {
    long s = block_edge(m, K);
    double *d = blk(m, K, K);
    t0 = omp_get_wtime();
    if (owner(m, K, K) == me) factor_diagonal(d, s);
    st->diag += omp_get_wtime() - t0;
    splash2_timed_barrier(&st->barrier);

    t0 = omp_get_wtime();
    for (long J = K + 1; J < nb; ++J) {
      if (owner(m, K, J) == me) divide_row_block(d, blk(m, K, J), s, block_edge(m, J));
    }
    for (long I = K + 1; I < nb; ++I) {
      if (owner(m, I, K) == me) divide_column_block(d, blk(m, I, K), block_edge(m, I), s);
    }
    st->perimeter += omp_get_wtime() - t0;
    splash2_timed_barrier(&st->barrier);

    t0 = omp_get_wtime();
    for (long I = K + 1; I < nb; ++I) {
      /* Only rows I that this thread's grid row owns have blocks for it. */
      if ((int)(I % m->prows) != me / m->pcols) continue;
      const double *a = blk(m, I, K);
      for (long J = K + 1; J < nb; ++J) {
        if (owner(m, I, J) != me) continue;
        update_interior(blk(m, I, J), a, blk(m, K, J), block_edge(m, I), s, block_edge(m, J));
      }
    }
    st->interior += omp_get_wtime() - t0;
  }
}

/* ---- checks */

/* Solves L U x = b (b = A * ones) with the factored blocks, and returns the
 * relative residual of A x = b with A regenerated. Serial, O(n^2). */
static double residual_check(const struct lu_matrix *m, double *x_error) {
  long n = m->n;
  double *b = malloc((size_t)n * sizeof *b);
  double *x = malloc((size_t)n * sizeof *x);
  if (b == NULL || x == NULL) {
    free(b);
    free(x);
    return INFINITY;
  }
  double a_norm = 0.0;
  for (long i = 0; i < n; ++i) {
    double sum = 0.0, abs_sum = 0.0;
    for (long j = 0; j < n; ++j) {
      double v = element(n, i, j);
      sum += v;
      abs_sum += fabs(v);
    }
    b[i] = sum;
    if (abs_sum > a_norm) a_norm = abs_sum;
  }
  for (long i = 0; i < n; ++i) { /* L y = b, L unit lower */
    double v = b[i];
    for (long j = 0; j < i; ++j) v -= *at(m, i, j) * x[j];
    x[i] = v;
  }
  for (long i = n - 1; i >= 0; --i) { /* U x = y */
    double v = x[i];
    for (long j = i + 1; j < n; ++j) v -= *at(m, i, j) * x[j];
    x[i] = v / *at(m, i, i);
  }
  double r_norm = 0.0, x_norm = 0.0, b_norm = 0.0;
  *x_error = 0.0;
  for (long i = 0; i < n; ++i) {
    double r = -b[i];
    for (long j = 0; j < n; ++j) r += element(n, i, j) * x[j];
    if (fabs(r) > r_norm) r_norm = fabs(r);
    if (fabs(x[i]) > x_norm) x_norm = fabs(x[i]);
    if (fabs(b[i]) > b_norm) b_norm = fabs(b[i]);
    if (fabs(x[i] - 1.0) > *x_error) *x_error = fabs(x[i] - 1.0);
  }
  free(b);
  free(x);
  return r_norm / (a_norm * x_norm + b_norm);
}

/* Adds (L U - A)(I,J) squared into *err2 and A(I,J) squared into *a2 for
 * one block, using the scratch tile c (b * b doubles). */
static void product_block(const struct lu_matrix *m, long I, long J, double *c, double *err2,
                          double *a2) {
  long r = block_edge(m, I), w = block_edge(m, J);
  long last = I < J ? I : J;
  memset(c, 0, (size_t)(r * w) * sizeof *c);
  for (long K = 0; K < last; ++K) {
    const double *a = blk(m, I, K), *bb = blk(m, K, J);
    long s = block_edge(m, K);
    for (long i = 0; i < r; ++i) {
      for (long k = 0; k < s; ++k) {
        for (long j = 0; j < w; ++j) c[i * w + j] += a[i * s + k] * bb[k * w + j];
      }
    }
  }
  /* K = last: one factor is (part of) the diagonal block. */
  long s = block_edge(m, last);
  const double *d = blk(m, last, last);
  const double *l = I == last ? d : blk(m, I, last);  /* r x s */
  const double *u = J == last ? d : blk(m, last, J);  /* s x w */
  for (long i = 0; i < r; ++i) {
    for (long k = 0; k < s; ++k) {
      double lv = l[i * s + k];
      if (I == last) { /* unit lower part of d */
        if (k > i) continue;
        if (k == i) lv = 1.0;
      }
      for (long j = 0; j < w; ++j) {
        if (J == last && k > j) continue; /* upper part of d */
        c[i * w + j] += lv * u[k * w + j];
      }
    }
  }
  for (long i = 0; i < r; ++i) {
    for (long j = 0; j < w; ++j) {
      double a = element(m->n, I * m->b + i, J * m->b + j);
      double e = c[i * w + j] - a;
      *err2 += e * e;
      *a2 += a * a;
    }
  }
}

/* ---- main */

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [-n N] [-b B] [-p P] [-s] [-t] [-h]\n"
          "  -n N  matrix order (default 512)\n"
          "  -b B  block edge (default 16)\n"
          "  -p P  threads (default omp_get_max_threads())\n"
          "  -s    print per-thread statistics\n"
          "  -t    also check ||L*U - A|| / ||A|| over the whole matrix\n"
          "  -X corrupt  (for tests) change one element of the result before the check\n",
          prog);
}

int main(int argc, char **argv) {
  long n = 512, b = 16, p = omp_get_max_threads();
  int print_stats = 0, full_test = 0, corrupt = 0;
  const struct splash2_option options[] = {
      {.letter = 'n', .integer = &n, .lo = 1, .hi = 1L << 16},
      {.letter = 'b', .integer = &b, .lo = 1, .hi = 1L << 12},
      {.letter = 'p', .integer = &p, .lo = 1, .hi = 1024},
      {.letter = 's', .flag = &print_stats},
      {.letter = 't', .flag = &full_test},
      {.letter = 'X', .test_hook = &corrupt},
  };
  int status = splash2_parse_options(argc, argv, options, SPLASH2_COUNT(options), 0, usage);
  if (status >= 0) return status;

  double t_start = omp_get_wtime(), t_factor = 0.0, t_end = 0.0;
#pragma omp parallel num_threads((int)p)
  {
    int me = omp_get_thread_num();
#pragma omp single
    setup_failed = set_up(&mat, n, b, omp_get_num_threads());
    if (!setup_failed) {
      initialise_own_blocks(&mat, me);
      struct lu_stats st = {0};
#pragma omp barrier
      double t0 = omp_get_wtime();
      if (me == 0) t_factor = t0;
      factor(&mat, me, &st);
      splash2_timed_barrier(&st.barrier);
      if (me == 0) t_end = omp_get_wtime();
      st.total = omp_get_wtime() - t0;
      stats[me] = st;
    }
  }
  if (setup_failed) {
    fprintf(stderr, "lu: out of memory for a %ld x %ld matrix\n", n, n);
    return 1;
  }

  printf("Blocked dense LU factorisation (contiguous blocks, no pivoting)\n");
  printf("  matrix %ld x %ld, blocks %ld x %ld, %d threads (grid %d x %d)\n", n, n, b, b,
         mat.threads, mat.prows, mat.pcols);
  if (print_stats) {
    printf("  %6s %10s %10s %10s %10s %10s\n", "thread", "total", "diagonal", "perimeter",
           "interior", "barrier");
    for (int t = 0; t < mat.threads; ++t) {
      printf("  %6d %10.4f %10.4f %10.4f %10.4f %10.4f\n", t, stats[t].total, stats[t].diag,
             stats[t].perimeter, stats[t].interior, stats[t].barrier);
    }
  }
  double phase = t_end - t_factor, total = t_end - t_start;
  splash2_print_times("factorisation", phase, total);
  printf("  factorisation rate            %10.1f Mflop/s\n",
         phase > 0 ? 2.0 / 3.0 * (double)n * (double)n * (double)n / phase / 1e6 : 0.0);

  if (corrupt) *at(&mat, n / 2, n / 3) += 1.0;
  int ok = 1;
  double x_error;
  double residual = residual_check(&mat, &x_error);
  const double residual_limit = 1e-12;
  printf("  check: relative residual %.3e (limit %.0e), max |x - 1| %.3e\n", residual,
         residual_limit, x_error);
  ok &= splash2_check(residual <= residual_limit, "the residual of A x = b is too large");
  if (full_test) {
    double err2 = 0.0, a2 = 0.0;
    int failed = 0;
#pragma omp parallel num_threads(mat.threads) reduction(+ : err2, a2, failed)
    {
      int me = omp_get_thread_num();
      double *c = malloc((size_t)(b * b) * sizeof *c);
      if (c == NULL) {
        failed = 1;
      } else {
        for (long I = 0; I < mat.nb; ++I) {
          for (long J = 0; J < mat.nb; ++J) {
            if (owner(&mat, I, J) == me) product_block(&mat, I, J, c, &err2, &a2);
          }
        }
        free(c);
      }
    }
    double rel = failed ? INFINITY : sqrt(err2 / a2);
    const double product_limit = 1e-13;
    printf("  check: ||L*U - A|| / ||A|| = %.3e (limit %.0e)\n", rel, product_limit);
    ok &= splash2_check(rel <= product_limit, "L*U differs from A");
  }
  return splash2_finish("lu", mat.threads, phase, total, ok);
}
