/* histogram: a shared histogram of a large shared array of pseudo-random
 * values. Every node fills its part of the array, counts its part locally,
 * then adds its counts into the shared buckets, one lock per bucket. Node 0
 * checks the result against a count of its own.
 *
 *   dsm-run -n 4 build/examples/histogram [elements] [buckets]
 */
#include <dsm/dsm.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
  long n;
  int buckets;
  uint32_t *values; /* shared, n elements */
  long *counts;     /* shared, buckets elements */
};

enum { FIRST_BUCKET_LOCK = 1000 };

/* A value that depends only on the index, so any node can produce it. */
static uint32_t value_at(long i) {
  uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 29;
  return (uint32_t)x;
}

static int bucket_of(uint32_t v, int buckets) { return (int)(((uint64_t)v * (uint64_t)buckets) >> 32); }

static void fill(void *arg) {
  struct job *job = arg;
  int me = dsm_node_id(), nodes = dsm_num_nodes();
  long lo = job->n * me / nodes, hi = job->n * (me + 1) / nodes;
  for (long i = lo; i < hi; i++) job->values[i] = value_at(i);
}

static void count(void *arg) {
  struct job *job = arg;
  int me = dsm_node_id(), nodes = dsm_num_nodes();
  /* Count a different part than this node filled: data written by others. */
  int part = (me + 1) % nodes;
  long lo = job->n * part / nodes, hi = job->n * (part + 1) / nodes;
  long *local = calloc((size_t)job->buckets, sizeof *local);
  if (local == NULL) {
    fprintf(stderr, "histogram: out of memory on node %d\n", me);
    exit(1);
  }
  for (long i = lo; i < hi; i++) local[bucket_of(job->values[i], job->buckets)]++;
  for (int b = 0; b < job->buckets; b++) {
    int k = (b + me) % job->buckets; /* nodes start on different buckets */
    if (local[k] == 0) continue;
    dsm_lock(FIRST_BUCKET_LOCK + (unsigned)k);
    job->counts[k] += local[k];
    dsm_unlock(FIRST_BUCKET_LOCK + (unsigned)k);
  }
  free(local);
}

static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  struct job job = {.n = 20000000, .buckets = 64};
  long v;
  if (argc > 3) {
    fprintf(stderr, "usage: %s [elements] [buckets]\n", argv[0]);
    return 2;
  }
  if (argc > 1) {
    if (parse_long(argv[1], 1, 1L << 32, &v) != 0) {
      fprintf(stderr, "histogram: elements must be 1..2^32, not '%s'\n", argv[1]);
      return 2;
    }
    job.n = v;
  }
  if (argc > 2) {
    if (parse_long(argv[2], 1, 1 << 20, &v) != 0) {
      fprintf(stderr, "histogram: buckets must be 1..1048576, not '%s'\n", argv[2]);
      return 2;
    }
    job.buckets = (int)v;
  }
  job.values = dsm_malloc((size_t)job.n * sizeof *job.values);
  job.counts = dsm_calloc((size_t)job.buckets, sizeof *job.counts);
  if (job.values == NULL || job.counts == NULL) {
    fprintf(stderr, "histogram: cannot allocate %ld elements in shared memory: %s\n", job.n,
            strerror(errno));
    return 1;
  }
  double t0 = dsm_wtime();
  dsm_parallel(fill, &job);
  dsm_parallel(count, &job);
  double t1 = dsm_wtime();

  long *expect = calloc((size_t)job.buckets, sizeof *expect);
  long total = 0, min = -1, max = 0;
  int bad = 0;
  for (long i = 0; i < job.n; i++) expect[bucket_of(value_at(i), job.buckets)]++;
  for (int b = 0; b < job.buckets; b++) {
    total += job.counts[b];
    if (job.counts[b] != expect[b]) bad++;
    if (min < 0 || job.counts[b] < min) min = job.counts[b];
    if (job.counts[b] > max) max = job.counts[b];
  }
  printf("histogram of %ld values in %d buckets on %d nodes in %.3f s: min %ld, max %ld, total %ld\n",
         job.n, job.buckets, dsm_num_nodes(), t1 - t0, min, max, total);
  free(expect);
  dsm_free(job.values);
  dsm_free(job.counts);
  if (bad != 0 || total != job.n) {
    printf("FAILED: %d buckets differ from a serial count\n", bad);
    return 1;
  }
  printf("histogram: OK\n");
  return 0;
}
