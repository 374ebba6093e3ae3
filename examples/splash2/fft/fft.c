/* fft: the six-step 1-D complex FFT of the SPLASH-2 suite. n = 2^m points
 * (m even) are viewed as an r x r matrix, r = sqrt(n), with x(j1 + r*j2) at
 * row j2, column j1. Then: transpose; an r-point FFT of every row; multiply
 * element (j1,k2) by w_n^(j1*k2); transpose; an r-point FFT of every row;
 * transpose. The result is X(k) in natural order.
 *
 * Every matrix (data, its transpose buffer, the twiddle factors) is split by
 * rows into one band per thread, each band in a page-aligned region of its
 * own that its thread initialises; a thread writes only its own band, and
 * reads the others' only in the transposes. The data bands are stored as
 * sub-blocks (see `matrix`), so that what a transpose reads from another
 * thread is one contiguous run; the row FFTs gather each row into a scratch
 * row and scatter it back.
 *
 * Check (always): the inverse transform (the same six steps with conjugate
 * roots, divided by n) must give back the input to within 1e-9. With -t also
 * 16 outputs compared with a direct DFT.
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

typedef struct {
  double re, im;
} cplx;

/* Per-thread statistics (seconds), padded to a cache line. */
struct fft_stats {
  double total, transpose, rows, twiddle, barrier;
  double pad[3];
};

/* A matrix split into bands of rows, one per thread. Band t (rows
 * [first_row[t], first_row[t+1]), h_t of them) is itself cut by the same
 * boundaries into sub-blocks (t,c), the columns of band c, each row-major and
 * all of band t's in one run: sub-block (t,c) starts h_t * first_row[c]
 * elements into band t. A transpose then reads whole sub-blocks, which are
 * contiguous, from the other threads. */
typedef struct {
  cplx **band; /* threads pointers, each into page-aligned memory of its own */
} matrix;

/* The problem and its distribution; set up by one thread, read by all. */
struct fft_plan {
  int m;           /* log2 of the points */
  long n, r;       /* points, matrix edge */
  long tile;       /* edge of the transpose tiles */
  int threads;
  long *first_row; /* threads + 1 entries: thread t owns [first_row[t], first_row[t+1]) */
  int *band_of;    /* r entries: the band (thread) of each row or column */
  matrix x, y;     /* the data and the transpose buffer */
  cplx **w_row;    /* twiddle factors, row-major rows of each thread's band */
  cplx **scratch;  /* one row (r elements) per thread, in its own pages */
  cplx *roots;     /* w_r^k, k < r/2 (forward sign) */
};

static struct fft_plan plan;
static struct fft_stats *stats;
static int setup_failed;

/* The input, x(k) with both parts uniform in [-1,1), reproducible anywhere. */
static cplx input(long k) {
  uint64_t z = (uint64_t)k * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  cplx c = {(double)(z >> 32) / 2147483648.0 - 1.0,
            (double)(z & 0xffffffffu) / 2147483648.0 - 1.0};
  return c;
}

/* exp(-2 pi i num / den) */
static cplx root(long num, long den) {
  double a = -2.0 * M_PI * (double)num / (double)den;
  cplx c = {cos(a), sin(a)};
  return c;
}

static long rows_of(const struct fft_plan *p, int t) {
  return p->first_row[t + 1] - p->first_row[t];
}

/* Sub-block (t,c) of matrix a. */
static cplx *sub_block(const struct fft_plan *p, const matrix *a, int t, int c) {
  return a->band[t] + rows_of(p, t) * p->first_row[c];
}

/* Element (i,j) of matrix a. */
static cplx *element(const struct fft_plan *p, const matrix *a, long i, long j) {
  int t = p->band_of[i], c = p->band_of[j];
  return sub_block(p, a, t, c) + (i - p->first_row[t]) * rows_of(p, c) + (j - p->first_row[c]);
}

/* ---- setup (one thread) and initialisation (every thread, its bands) */

static size_t round_up_pages(size_t bytes) { return (bytes + PAGE - 1) / PAGE * PAGE; }

static int set_up(struct fft_plan *p, int m, int line_log, long cache_lines, int threads) {
  p->m = m;
  p->n = 1L << m;
  p->r = 1L << (m / 2);
  /* Tiles: a source and a destination tile fill at most half the cache. */
  long cache = cache_lines << line_log;
  p->tile = 1;
  while (p->tile * 2 <= p->r &&
         2 * (p->tile * 2) * (p->tile * 2) * (long)sizeof(cplx) <= cache / 2) {
    p->tile *= 2;
  }
  p->threads = threads;
  size_t t_count = (size_t)threads;
  p->first_row = malloc((t_count + 1) * sizeof *p->first_row);
  p->band_of = malloc((size_t)p->r * sizeof *p->band_of);
  p->x.band = malloc(t_count * sizeof(cplx *));
  p->y.band = malloc(t_count * sizeof(cplx *));
  p->scratch = malloc(t_count * sizeof(cplx *));
  p->w_row = malloc((size_t)p->r * sizeof *p->w_row);
  p->roots = malloc((size_t)(p->r / 2 + 1) * sizeof *p->roots);
  stats = calloc(t_count, sizeof *stats);
  if (p->first_row == NULL || p->band_of == NULL || p->x.band == NULL || p->y.band == NULL ||
      p->scratch == NULL || p->w_row == NULL || p->roots == NULL || stats == NULL) {
    return -1;
  }
  for (int t = 0; t <= threads; ++t) p->first_row[t] = p->r * t / threads;
  for (int t = 0; t < threads; ++t) {
    for (long i = p->first_row[t]; i < p->first_row[t + 1]; ++i) p->band_of[i] = t;
  }
  /* Per thread, in whole pages each: its band of x, of y, of the twiddles,
   * and its scratch row. */
  size_t total = 0, row_bytes = (size_t)p->r * sizeof(cplx);
  for (int t = 0; t < threads; ++t) {
    total += 3 * round_up_pages((size_t)rows_of(p, t) * row_bytes) + round_up_pages(row_bytes);
  }
  void *store = NULL;
  if (posix_memalign(&store, PAGE, total) != 0) return -1;
  char *at = store;
  for (int t = 0; t < threads; ++t) {
    size_t band = round_up_pages((size_t)rows_of(p, t) * row_bytes);
    p->x.band[t] = (cplx *)at;
    p->y.band[t] = (cplx *)(at + band);
    for (long i = p->first_row[t]; i < p->first_row[t + 1]; ++i) {
      p->w_row[i] = (cplx *)(at + 2 * band) + (i - p->first_row[t]) * p->r;
    }
    p->scratch[t] = (cplx *)(at + 3 * band);
    at += 3 * band + round_up_pages(row_bytes);
  }
  for (long k = 0; k < p->r / 2; ++k) p->roots[k] = root(k, p->r);
  return 0;
}

/* x(j1 + r*j2) at row j2, column j1; twiddle (j1,k2) = w_n^(j1*k2). */
static void initialise_own_bands(const struct fft_plan *p, int me) {
  for (long i = p->first_row[me]; i < p->first_row[me + 1]; ++i) {
    for (long j = 0; j < p->r; ++j) {
      *element(p, &p->x, i, j) = input(j + p->r * i);
      *element(p, &p->y, i, j) = (cplx){0.0, 0.0};
      p->w_row[i][j] = root(i * j, p->n);
    }
  }
  memset(p->scratch[me], 0, (size_t)p->r * sizeof(cplx));
}

/* ---- the transform's steps */

/* Reads one word of every page of the count elements at a, in address
 * order. A tile of the transpose reads its source rows page by page in a
 * stride; reading the whole source first in order lets a distributed shared
 * memory fetch it as one sequential run (one load per 4 KiB, otherwise free). */
static void touch_in_order(const cplx *a, long count) {
  const volatile char *bytes = (const volatile char *)a;
  size_t size = (size_t)count * sizeof(cplx);
  for (size_t off = 0; off < size; off += PAGE) (void)bytes[off];
}

/* dst := src^T for this thread's band of dst: sub-block (me,s) of dst is the
 * transpose of sub-block (s,me) of src. Starts with the next thread's band,
 * so that the threads read different bands at once. */
static void transpose(const struct fft_plan *p, const matrix *dst, const matrix *src, int me) {
  long h = rows_of(p, me), tile = p->tile;
  if (h == 0) return;
  for (int k = 1; k <= p->threads; ++k) {
    int s = (me + k) % p->threads;
    long w = rows_of(p, s);
    cplx *restrict d = sub_block(p, dst, me, s);        /* h x w */
    const cplx *restrict from = sub_block(p, src, s, me); /* w x h */
    touch_in_order(from, w * h);
    for (long jj = 0; jj < w; jj += tile) {
      long jend = jj + tile < w ? jj + tile : w;
      for (long ii = 0; ii < h; ii += tile) {
        long iend = ii + tile < h ? ii + tile : h;
        for (long j = jj; j < jend; ++j) {
          for (long i = ii; i < iend; ++i) d[i * w + j] = from[j * h + i];
        }
      }
    }
  }
}

/* In-place r-point FFT of one row; sign -1 for the inverse (conjugate roots). */
static void row_fft(cplx *restrict a, long r, const cplx *restrict roots, int sign) {
  for (long i = 1, j = 0; i < r; ++i) { /* bit reversal */
    long bit = r >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j |= bit;
    if (i < j) {
      cplx t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
  for (long len = 2; len <= r; len <<= 1) {
    long half = len / 2, step = r / len;
    for (long s = 0; s < r; s += len) {
      for (long k = 0; k < half; ++k) {
        cplx w = roots[k * step];
        double wi = sign > 0 ? w.im : -w.im;
        cplx *u = a + s + k, *v = a + s + k + half;
        double vr = v->re * w.re - v->im * wi;
        double vi = v->re * wi + v->im * w.re;
        v->re = u->re - vr;
        v->im = u->im - vi;
        u->re += vr;
        u->im += vi;
      }
    }
  }
}

static void twiddle_row(cplx *restrict row, const cplx *restrict w, long r, int sign) {
  for (long j = 0; j < r; ++j) {
    double wi = sign > 0 ? w[j].im : -w[j].im;
    double re = row[j].re * w[j].re - row[j].im * wi;
    row[j].im = row[j].re * wi + row[j].im * w[j].re;
    row[j].re = re;
  }
}

/* FFTs (and, with twiddle, the twiddle multiply) of this thread's rows of a:
 * each row is gathered from its sub-blocks into the scratch row and back. */
static void fft_rows(const struct fft_plan *p, const matrix *a, int me, int sign, int twiddle,
                     struct fft_stats *st) {
  long h = rows_of(p, me);
  cplx *restrict row = p->scratch[me];
  for (long i = 0; i < h; ++i) {
    for (int c = 0; c < p->threads; ++c) {
      long w = rows_of(p, c);
      memcpy(row + p->first_row[c], sub_block(p, a, me, c) + i * w, (size_t)w * sizeof(cplx));
    }
    double t0 = omp_get_wtime();
    row_fft(row, p->r, p->roots, sign);
    double t1 = omp_get_wtime();
    st->rows += t1 - t0;
    if (twiddle) {
      twiddle_row(row, p->w_row[p->first_row[me] + i], p->r, sign);
      st->twiddle += omp_get_wtime() - t1;
    }
    for (int c = 0; c < p->threads; ++c) {
      long w = rows_of(p, c);
      memcpy(sub_block(p, a, me, c) + i * w, row + p->first_row[c], (size_t)w * sizeof(cplx));
    }
  }
}

/* The six steps, run by every thread of the team: from matrix `in` into
 * matrix `out` (in is overwritten). sign +1 forward, -1 inverse (unscaled). */
static void six_step(const struct fft_plan *p, const matrix *in, const matrix *out, int me,
                     int sign, struct fft_stats *st) {
  double t0 = omp_get_wtime();
  transpose(p, out, in, me);
  st->transpose += omp_get_wtime() - t0;
  splash2_timed_barrier(&st->barrier);
  fft_rows(p, out, me, sign, 1, st);
  splash2_timed_barrier(&st->barrier);
  t0 = omp_get_wtime();
  transpose(p, in, out, me);
  st->transpose += omp_get_wtime() - t0;
  splash2_timed_barrier(&st->barrier);
  fft_rows(p, in, me, sign, 0, st);
  splash2_timed_barrier(&st->barrier);
  t0 = omp_get_wtime();
  transpose(p, out, in, me);
  st->transpose += omp_get_wtime() - t0;
  splash2_timed_barrier(&st->barrier);
}

/* ---- checks (serial) */

/* Element k of the natural-order vector held row-major in matrix a. */
static cplx *vec(const struct fft_plan *p, const matrix *a, long k) {
  return element(p, a, k / p->r, k % p->r);
}

/* Largest |X(k) - DFT(x)(k)| / sqrt(n) over 16 spread outputs k. */
static double direct_dft_error(const struct fft_plan *p) {
  long n = p->n;
  double worst = 0.0;
  for (int s = 0; s < 16; ++s) {
    long k = (long)((uint64_t)s * 0x9e3779b97f4a7c15ull >> 20) % n;
    if (s == 0) k = 0;
    if (s == 1) k = n - 1;
    long double re = 0.0L, im = 0.0L;
    for (long j = 0; j < n; ++j) {
      cplx x = input(j);
      long e = (long)(((unsigned __int128)j * (unsigned __int128)k) % (unsigned __int128)n);
      long double a = -2.0L * 3.141592653589793238462643383279502884L * (long double)e / n;
      long double c = cosl(a), sn = sinl(a);
      re += x.re * c - x.im * sn;
      im += x.re * sn + x.im * c;
    }
    cplx got = *vec(p, &p->y, k);
    double err = hypot(got.re - (double)re, got.im - (double)im) / sqrt((double)n);
    if (err > worst) worst = err;
  }
  return worst;
}

/* Largest |x(k) - inverse(k) / n| after the inverse transform. */
static double inverse_error(const struct fft_plan *p) {
  double worst = 0.0, scale = 1.0 / (double)p->n;
  for (long k = 0; k < p->n; ++k) {
    cplx got = *vec(p, &p->x, k), want = input(k);
    double err = hypot(got.re * scale - want.re, got.im * scale - want.im);
    if (!(err <= worst)) worst = err; /* NaN wins */
  }
  return worst;
}

/* ---- main */

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [-m M] [-p P] [-n N] [-l L] [-s] [-t] [-h]\n"
          "  -m M  transform 2^M complex points, M even (default 16)\n"
          "  -p P  threads (default omp_get_max_threads())\n"
          "  -n N  cache size in lines, sets the transpose tile (default 1024)\n"
          "  -l L  log2 of the cache line in bytes, with -n the cache size (default 6)\n"
          "  -s    print per-thread statistics\n"
          "  -t    also compare 16 outputs with a direct DFT\n"
          "  -X corrupt  (for tests) change one output before the checks\n",
          prog);
}

static int even(double m) { return (long)m % 2 == 0; }

int main(int argc, char **argv) {
  long m = 16, p = omp_get_max_threads(), lines = 1024, line_log = 6;
  int print_stats = 0, dft_test = 0, corrupt = 0;
  const struct splash2_option options[] = {
      {.letter = 'm', .integer = &m, .lo = 2, .hi = 32, .also = even},
      {.letter = 'p', .integer = &p, .lo = 1, .hi = 1024},
      {.letter = 'n', .integer = &lines, .lo = 1, .hi = 1L << 30},
      {.letter = 'l', .integer = &line_log, .lo = 0, .hi = 12},
      {.letter = 's', .flag = &print_stats},
      {.letter = 't', .flag = &dft_test},
      {.letter = 'X', .test_hook = &corrupt},
  };
  int status = splash2_parse_options(argc, argv, options, SPLASH2_COUNT(options), 0, usage);
  if (status >= 0) return status;

  double t_start = omp_get_wtime(), t_begin = 0.0, t_end = 0.0;
#pragma omp parallel num_threads((int)p)
  {
    int me = omp_get_thread_num();
#pragma omp single
    setup_failed = set_up(&plan, (int)m, (int)line_log, lines, omp_get_num_threads());
    if (!setup_failed) {
      initialise_own_bands(&plan, me);
      struct fft_stats st = {0};
#pragma omp barrier
      double t0 = omp_get_wtime();
      if (me == 0) t_begin = t0;
      six_step(&plan, &plan.x, &plan.y, me, +1, &st);
      if (me == 0) t_end = omp_get_wtime();
      st.total = omp_get_wtime() - t0;
      stats[me] = st;
    }
  }
  if (setup_failed) {
    fprintf(stderr, "fft: out of memory for 2^%ld points\n", m);
    return 1;
  }

  long n = plan.n;
  printf("Six-step 1-D complex FFT\n");
  printf("  %ld points (2^%ld, a %ld x %ld matrix), %d threads, transpose tiles %ld x %ld\n", n,
         m, plan.r, plan.r, plan.threads, plan.tile, plan.tile);
  if (print_stats) {
    printf("  %6s %10s %10s %10s %10s %10s\n", "thread", "total", "transpose", "row FFTs",
           "twiddle", "barrier");
    for (int t = 0; t < plan.threads; ++t) {
      printf("  %6d %10.4f %10.4f %10.4f %10.4f %10.4f\n", t, stats[t].total,
             stats[t].transpose, stats[t].rows, stats[t].twiddle, stats[t].barrier);
    }
  }
  double phase = t_end - t_begin, total = t_end - t_start;
  splash2_print_times("transform", phase, total);
  printf("  rate                          %10.1f Mflop/s\n",
         phase > 0 ? 5.0 * (double)n * (double)m / phase / 1e6 : 0.0);

  if (corrupt) vec(&plan, &plan.y, n / 3)->re += 1.0;
  int ok = 1;
  if (dft_test) {
    double err = direct_dft_error(&plan);
    const double dft_limit = 1e-9;
    printf("  check: 16 outputs against a direct DFT, error %.3e (limit %.0e)\n", err,
           dft_limit);
    ok &= splash2_check(err <= dft_limit, "the transform differs from the direct DFT");
  }
#pragma omp parallel num_threads(plan.threads)
  {
    struct fft_stats st = {0};
    six_step(&plan, &plan.y, &plan.x, omp_get_thread_num(), -1, &st);
  }
  double err = inverse_error(&plan);
  const double inverse_limit = 1e-9;
  printf("  check: inverse transform, max |x - ifft(fft(x))| %.3e (limit %.0e)\n", err,
         inverse_limit);
  ok &= splash2_check(err <= inverse_limit,
                      "the inverse transform does not give back the input");
  return splash2_finish("fft", plan.threads, phase, total, ok);
}
