/* Synchronisation: critical (unnamed and named, two names at once),
 * single (first to arrive, nowait, copyprivate of a scalar, a struct and an
 * array), master, masked, barrier phases, flush. */
#include "omp_test.h"

struct point {
  double x, y;
  int tag;
};

int main(void) {
  int failures = 0;
  long counter = 0, named_a = 0, named_b = 0;
  int singles = 0, nowait_singles = 0, masters = 0, masked = 0;
  int *phase = SHARED_ALLOC(sizeof(int) * 64 * 8);
  int *copied = SHARED_ALLOC(sizeof(int) * 64);
  struct point *pts = SHARED_ALLOC(sizeof(struct point) * 64);
  int *arrs = SHARED_ALLOC(sizeof(int) * 64 * 5);
  int nthreads = omp_get_max_threads();
#pragma omp parallel shared(counter, named_a, named_b, singles, nowait_singles, masters, masked)
  {
    int t = omp_get_thread_num();
    for (int i = 0; i < 50; ++i) {
#pragma omp critical
      counter += 1;
#pragma omp critical(alpha)
      named_a += 2;
#pragma omp critical(beta)
      {
        named_b += 3;
#pragma omp critical(alpha)
        named_a += 1;
      }
    }
    for (int i = 0; i < 5; ++i) {
#pragma omp single
      singles++;
#pragma omp single nowait
      {
#pragma omp critical
        nowait_singles += 100;
      }
    }
#pragma omp barrier
#pragma omp master
    masters++;
#pragma omp masked filter(1)
    masked += 10 + t;
    for (int p = 0; p < 8; ++p) {
      phase[t * 8 + p] = p;
#pragma omp barrier
      int ok = 1;
      for (int u = 0; u < omp_get_num_threads(); ++u) ok &= phase[u * 8 + p] == p;
      if (!ok) phase[t * 8 + p] = -1000;
#pragma omp barrier
    }
    int value;
    struct point pt;
    int arr[5];
#pragma omp single copyprivate(value, pt, arr)
    {
      value = 4242;
      pt.x = 1.5;
      pt.y = -2.25;
      pt.tag = 77;
      for (int i = 0; i < 5; ++i) arr[i] = i * i + 1;
    }
    copied[t] = value;
    pts[t] = pt;
    for (int i = 0; i < 5; ++i) arrs[t * 5 + i] = arr[i];
#pragma omp flush
  }
  printf("critical %ld alpha %ld beta %ld\n", counter, named_a, named_b);
  printf("singles %d nowait %d master %d masked %d\n", singles, nowait_singles, masters, masked);
  int phases_ok = 1;
  for (int t = 0; t < nthreads; ++t)
    for (int p = 0; p < 8; ++p) phases_ok &= phase[t * 8 + p] == p;
  printf("barrier phases ok %d\n", phases_ok);
  for (int t = 0; t < nthreads; ++t) {
    printf("copyprivate %d: %d (%.2f, %.2f, %d) [%d %d %d %d %d]\n", t, copied[t], pts[t].x,
           pts[t].y, pts[t].tag, arrs[t * 5], arrs[t * 5 + 1], arrs[t * 5 + 2], arrs[t * 5 + 3],
           arrs[t * 5 + 4]);
  }
  printf("failures %d\n", failures);
  return failures != 0;
}
