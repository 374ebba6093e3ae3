/* radix: parallel radix sort of integer keys, after the SPLASH-2 program.
 * n keys in [0, max_key) are sorted by digits of log2(radix) bits, least
 * significant first. Every thread owns a contiguous, page-aligned share of
 * the keys (the same share of both arrays) and, per digit:
 *   1. counts the digit values of its share (its own histogram);
 *   2. after a barrier, turns the histograms of all threads into its own
 *      starting offsets: for digit value d, every key with a smaller digit
 *      plus the keys with digit d of the threads before it;
 *   3. moves its keys, in order, to those offsets of the other array (the
 *      sort is stable); a barrier ends the pass and the arrays swap roles.
 *
 * Check (always): the output is in order and holds each key value as often
 * as the input did (a histogram of the regenerated input against one of the
 * output, so the output is a permutation of the input).
 *
 * Plain OpenMP C: built with clang -fopenmp (reference) and with dsm-clang.
 * Options: see usage(). See README.md for what differs from the original.
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "splash2_common.h"

#define PAGE 4096
#define KEYS_PER_PAGE (PAGE / (long)sizeof(key_t_))

typedef uint32_t key_t_;

/* Per-thread statistics (seconds), padded to a cache line. */
struct radix_stats {
  double total, histogram, prefix, permute, barrier;
  double pad[3];
};

/* The problem and its distribution; set up by one thread, read by all. */
struct radix_sort {
  long n;          /* keys */
  long radix;      /* digit values (a power of two) */
  int digit_bits;
  long max_key;    /* keys lie in [0, max_key) */
  int passes;
  int threads;
  long *first_key; /* threads + 1 entries: thread t owns [first_key[t], first_key[t+1]) */
  key_t_ *keys[2]; /* the two arrays; the sorted keys end in keys[passes % 2] */
  long *hist;      /* threads x stride counts, each thread's in pages of its own */
  long *scratch;   /* the same shape: each thread's private offsets */
  long hist_stride;
};

static struct radix_sort job;
static struct radix_stats *stats;
static int setup_failed;

/* Key i of the input, uniform in [0, max_key), reproducible anywhere. */
static key_t_ input_key(long i, long max_key) {
  uint64_t z = (uint64_t)i * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (key_t_)(z % (uint64_t)max_key);
}

static int set_up(struct radix_sort *s, long n, long radix, long max_key, int threads) {
  s->n = n;
  s->radix = radix;
  s->digit_bits = 0;
  while ((1L << s->digit_bits) < radix) ++s->digit_bits;
  s->max_key = max_key;
  int key_bits = 0;
  while (key_bits < 63 && (1L << key_bits) < max_key) ++key_bits;
  s->passes = key_bits == 0 ? 1 : (key_bits + s->digit_bits - 1) / s->digit_bits;
  s->threads = threads;
  s->first_key = malloc((size_t)(threads + 1) * sizeof *s->first_key);
  stats = calloc((size_t)threads, sizeof *stats);
  if (s->first_key == NULL || stats == NULL) return -1;
  /* Shares end on page boundaries (when there are enough keys). */
  long pages = (n + KEYS_PER_PAGE - 1) / KEYS_PER_PAGE;
  for (int t = 0; t <= threads; ++t) {
    long k = pages * t / threads * KEYS_PER_PAGE;
    s->first_key[t] = k < n ? k : n;
  }
  s->hist_stride = (radix * (long)sizeof(long) + PAGE - 1) / PAGE * PAGE / (long)sizeof(long);
  size_t key_bytes = ((size_t)n * sizeof(key_t_) + PAGE - 1) / PAGE * PAGE;
  size_t hist_bytes = (size_t)threads * (size_t)s->hist_stride * sizeof(long);
  void *a = NULL, *b = NULL, *h = NULL, *c = NULL;
  if (posix_memalign(&a, PAGE, key_bytes ? key_bytes : PAGE) != 0 ||
      posix_memalign(&b, PAGE, key_bytes ? key_bytes : PAGE) != 0 ||
      posix_memalign(&h, PAGE, hist_bytes) != 0 || posix_memalign(&c, PAGE, hist_bytes) != 0) {
    return -1;
  }
  s->keys[0] = a;
  s->keys[1] = b;
  s->hist = h;
  s->scratch = c;
  return 0;
}

static void initialise_own_keys(const struct radix_sort *s, int me) {
  for (long i = s->first_key[me]; i < s->first_key[me + 1]; ++i) {
    s->keys[0][i] = input_key(i, s->max_key);
    s->keys[1][i] = 0; /* first touch of this thread's share of the other array */
  }
}

/* Every pass of the sort, run by every thread of the team. */
static void sort(const struct radix_sort *s, int me, struct radix_stats *st) {
  long lo = s->first_key[me], hi = s->first_key[me + 1], radix = s->radix;
  key_t_ mask = (key_t_)(radix - 1);
  long *restrict mine = s->hist + (long)me * s->hist_stride;
  long *restrict offset = s->scratch + (long)me * s->hist_stride;
  for (int pass = 0; pass < s->passes; ++pass) {
    int shift = pass * s->digit_bits;
    const key_t_ *restrict src = s->keys[pass % 2];
    key_t_ *restrict dst = s->keys[(pass + 1) % 2];

    double t0 = omp_get_wtime();
    memset(offset, 0, (size_t)radix * sizeof *offset);
    for (long i = lo; i < hi; ++i) offset[(src[i] >> shift) & mask]++;
    memcpy(mine, offset, (size_t)radix * sizeof *offset);
    double t1 = omp_get_wtime();
    st->histogram += t1 - t0;
    splash2_timed_barrier(&st->barrier);

    /* offset[d] = keys with a smaller digit + keys with digit d before me. */
    t0 = omp_get_wtime();
    long below = 0;
    for (long d = 0; d < radix; ++d) {
      long before_me = 0, all = 0;
      for (int t = 0; t < s->threads; ++t) {
        long c = s->hist[(long)t * s->hist_stride + d];
        if (t < me) before_me += c;
        all += c;
      }
      offset[d] = below + before_me;
      below += all;
    }
    t1 = omp_get_wtime();
    st->prefix += t1 - t0;

    for (long i = lo; i < hi; ++i) {
      key_t_ k = src[i];
      dst[offset[(k >> shift) & mask]++] = k;
    }
    t0 = omp_get_wtime();
    st->permute += t0 - t1;
    /* Ends the pass: the permutation is complete and every histogram read. */
    splash2_timed_barrier(&st->barrier);
  }
}

/* ---- check (serial) */

/* Returns the first index out of order (or -1), and sets *mismatches to the
 * number of key values whose count differs between input and output. */
static long check(const struct radix_sort *s, const key_t_ *out, long *mismatches) {
  long out_of_order = -1;
  for (long i = 1; i < s->n; ++i) {
    if (out[i - 1] > out[i]) {
      out_of_order = i;
      break;
    }
  }
  *mismatches = 0;
  long *count = calloc((size_t)s->max_key, sizeof *count);
  if (count == NULL) {
    *mismatches = -1;
    return out_of_order;
  }
  for (long i = 0; i < s->n; ++i) count[input_key(i, s->max_key)]++;
  for (long i = 0; i < s->n; ++i) {
    if (out[i] >= (key_t_)s->max_key) {
      ++*mismatches;
      continue;
    }
    count[out[i]]--;
  }
  for (long k = 0; k < s->max_key; ++k) {
    if (count[k] != 0) ++*mismatches;
  }
  free(count);
  return out_of_order;
}

/* ---- main */

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [-n N] [-r R] [-m M] [-p P] [-s] [-t] [-h]\n"
          "  -n N  keys to sort (default 262144)\n"
          "  -r R  radix, a power of two (default 1024)\n"
          "  -m M  keys lie in [0, M) (default 524288)\n"
          "  -p P  threads (default omp_get_max_threads())\n"
          "  -s    print per-thread statistics\n"
          "  -t    print the check's details\n"
          "  -X corrupt  (for tests) change one output key before the check\n",
          prog);
}

static int power_of_two(double v) {
  long r = (long)v;
  return (r & (r - 1)) == 0;
}

int main(int argc, char **argv) {
  long n = 262144, radix = 1024, max_key = 524288, p = omp_get_max_threads();
  int print_stats = 0, details = 0, corrupt = 0;
  const struct splash2_option options[] = {
      {.letter = 'n', .integer = &n, .lo = 1, .hi = 1L << 34},
      {.letter = 'r', .integer = &radix, .lo = 2, .hi = 1L << 24, .also = power_of_two},
      {.letter = 'm', .integer = &max_key, .lo = 1, .hi = 1L << 32},
      {.letter = 'p', .integer = &p, .lo = 1, .hi = 1024},
      {.letter = 's', .flag = &print_stats},
      {.letter = 't', .flag = &details},
      {.letter = 'X', .test_hook = &corrupt},
  };
  int status = splash2_parse_options(argc, argv, options, SPLASH2_COUNT(options), 0, usage);
  if (status >= 0) return status;

  double t_start = omp_get_wtime(), t_begin = 0.0, t_end = 0.0;
#pragma omp parallel num_threads((int)p)
  {
    int me = omp_get_thread_num();
#pragma omp single
    setup_failed = set_up(&job, n, radix, max_key, omp_get_num_threads());
    if (!setup_failed) {
      initialise_own_keys(&job, me);
      struct radix_stats st = {0};
#pragma omp barrier
      double t0 = omp_get_wtime();
      if (me == 0) t_begin = t0;
      sort(&job, me, &st);
      if (me == 0) t_end = omp_get_wtime();
      st.total = omp_get_wtime() - t0;
      stats[me] = st;
    }
  }
  if (setup_failed) {
    fprintf(stderr, "radix: out of memory for %ld keys\n", n);
    return 1;
  }

  printf("Integer radix sort\n");
  printf("  %ld keys in [0, %ld), radix %ld (%d passes), %d threads\n", n, max_key, radix,
         job.passes, job.threads);
  if (print_stats) {
    printf("  %6s %10s %10s %10s %10s %10s\n", "thread", "total", "histogram", "prefix",
           "permute", "barrier");
    for (int t = 0; t < job.threads; ++t) {
      printf("  %6d %10.4f %10.4f %10.4f %10.4f %10.4f\n", t, stats[t].total,
             stats[t].histogram, stats[t].prefix, stats[t].permute, stats[t].barrier);
    }
  }
  double phase = t_end - t_begin, total = t_end - t_start;
  splash2_print_times("sort", phase, total);

  key_t_ *out = job.keys[job.passes % 2];
  if (corrupt) out[n / 2] ^= 1;
  long mismatches;
  long out_of_order = check(&job, out, &mismatches);
  int ok = out_of_order < 0 && mismatches == 0;
  if (details || !ok) {
    if (out_of_order < 0) {
      printf("  check: the %ld keys are in order\n", n);
    } else {
      printf("  check: key %ld (%u) is below key %ld (%u)\n", out_of_order,
             (unsigned)out[out_of_order], out_of_order - 1, (unsigned)out[out_of_order - 1]);
    }
    if (mismatches < 0) {
      printf("  check: no memory for the key histogram\n");
    } else {
      printf("  check: %ld key values occur a different number of times than in the input\n",
             mismatches);
    }
  }
  splash2_check(ok, "the output is not a sorted permutation of the input");
  return splash2_finish("radix", job.threads, phase, total, ok);
}
