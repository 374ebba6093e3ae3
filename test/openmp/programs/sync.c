/* Synchronisation: critical (unnamed and named, two names at once, with a
 * hint), single (first to arrive, nowait, private/firstprivate, copyprivate
 * of a scalar, a struct and an array), master, masked (with and without a
 * filter), barrier phases, flush (and a flush-based handshake). */
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
  /* flush: a producer publishes data and then a flag; a consumer waits for
   * the flag with flushes and then reads the data (the OpenMP memory
   * model's flush-with-atomic pattern). */
  int flag = 0;
  long *produced = SHARED_ALLOC(sizeof(long) * 100);
  long consumed = -1;
  int hinted = 0, masked_default = 0;
#pragma omp parallel shared(flag, consumed, hinted, masked_default)
  {
    int t = omp_get_thread_num();
    int consumer = omp_get_num_threads() - 1;
    if (t == 0) {
      for (int i = 0; i < 100; ++i) produced[i] = i * 3;
#pragma omp flush
#pragma omp atomic write
      flag = 1;
#pragma omp flush
    } else if (t == consumer) {
      int seen = 0;
      while (!seen) {
#pragma omp flush
#pragma omp atomic read
        seen = flag;
      }
#pragma omp flush
      long s = 0;
      for (int i = 0; i < 100; ++i) s += produced[i];
      consumed = s;
    }
    for (int i = 0; i < 10; ++i) {
#pragma omp critical(hinted) hint(omp_sync_hint_contended)
      hinted++;
    }
#pragma omp masked
    masked_default = 100 + t;
  }
  printf("flush handshake %ld hinted %d masked %d\n", consumed, hinted, masked_default);

  /* single with private and firstprivate data. */
  int base = 40, single_out = 0;
#pragma omp parallel shared(single_out)
  {
    int tmp = -1;
#pragma omp single private(tmp) firstprivate(base)
    {
      tmp = base + 2;
      single_out = tmp;
    }
  }
  printf("single private %d\n", single_out);
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
