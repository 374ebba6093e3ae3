/* for: every schedule (static, static chunked, dynamic, guided, runtime,
 * auto), collapse, lastprivate, nowait, 64-bit and unsigned bounds,
 * decreasing and strided loops, ordered. Each iteration records which
 * thread ran it; the output prints a checksum of coverage (each iteration
 * exactly once) and, for static schedules, the owner map itself. */
#include "omp_test.h"

#define N 1000

static int check_once(const int *count, int n) {
  for (int i = 0; i < n; ++i)
    if (count[i] != 1) return 0;
  return 1;
}

int main(void) {
  int failures = 0;
  int *count = SHARED_ALLOC(sizeof(int) * N);
  int *owner = SHARED_ALLOC(sizeof(int) * N);
  long total;

#define RUN(label, sched_clause, print_owner)                                   \
  for (int i = 0; i < N; ++i) count[i] = 0;                                     \
  _Pragma("omp parallel") {                                                     \
    _Pragma(sched_clause) for (int i = 0; i < N; ++i) {                         \
      _Pragma("omp critical") count[i]++;                                       \
      owner[i] = omp_get_thread_num();                                          \
    }                                                                           \
  }                                                                             \
  printf("%s: each once %d", label, check_once(count, N));                      \
  if (print_owner) printf(" owners %d %d %d %d %d", owner[0], owner[249], owner[250], owner[501], owner[999]); \
  printf("\n");

  RUN("static", "omp for schedule(static)", 1)
  RUN("static,7", "omp for schedule(static, 7)", 1)
  RUN("dynamic", "omp for schedule(dynamic)", 0)
  RUN("dynamic,13", "omp for schedule(dynamic, 13)", 0)
  RUN("guided", "omp for schedule(guided)", 0)
  RUN("guided,5", "omp for schedule(guided, 5)", 0)
  RUN("runtime", "omp for schedule(runtime)", 0)
  RUN("auto", "omp for schedule(auto)", 0)
  RUN("nonmonotonic:dynamic", "omp for schedule(nonmonotonic: dynamic, 3)", 0)

  /* collapse(2) */
  int grid[20][30];
  for (int i = 0; i < 20; ++i)
    for (int j = 0; j < 30; ++j) grid[i][j] = 0;
#pragma omp parallel for collapse(2) schedule(dynamic, 7)
  for (int i = 0; i < 20; ++i)
    for (int j = 0; j < 30; ++j) grid[i][j] += i * 100 + j;
  total = 0;
  for (int i = 0; i < 20; ++i)
    for (int j = 0; j < 30; ++j) total += grid[i][j] == i * 100 + j;
  printf("collapse: %ld of 600\n", total);

  /* lastprivate */
  int last = -1;
#pragma omp parallel for lastprivate(last) schedule(static, 3)
  for (int i = 0; i < 100; ++i) last = i * 2;
  printf("lastprivate static: %d\n", last);
  last = -1;
  /* monotonic: libomp 14's nonmonotonic (work stealing) dynamic schedule
   * sometimes loses the last-iteration flag, leaving `last` unassigned. */
#pragma omp parallel for lastprivate(last) schedule(monotonic: dynamic, 3)
  for (int i = 0; i < 101; ++i) last = i * 2;
  printf("lastprivate dynamic: %d\n", last);

  /* nowait loops one after the other (more than the runtime's dispatch
   * slots), each writing its own row, then a barrier. */
  long *a = SHARED_ALLOC(sizeof(long) * N * 12);
  long *b = SHARED_ALLOC(sizeof(long) * N);
#pragma omp parallel
  {
    for (int rep = 0; rep < 12; ++rep) {
#pragma omp for schedule(dynamic, 16) nowait
      for (int i = 0; i < N; ++i) a[rep * N + i] = i + rep;
    }
#pragma omp barrier
#pragma omp for schedule(static) nowait
    for (int i = 0; i < N; ++i) {
      long s = 0;
      for (int rep = 0; rep < 12; ++rep) s += a[rep * N + i];
      b[i] = s * 2;
    }
  }
  total = 0;
  for (int i = 0; i < N; ++i) total += b[i];
  printf("nowait: %ld\n", total);

  /* 64-bit, unsigned, decreasing, strided. */
  long long s64 = 0;
  long long *part = SHARED_ALLOC(sizeof(long long) * 64);
#pragma omp parallel
  {
    long long mine = 0;
#pragma omp for schedule(guided)
    for (long long i = 5000000000LL; i < 5000001000LL; i += 3) mine += i - 5000000000LL;
    part[omp_get_thread_num()] = mine;
  }
  for (int t = 0; t < 64; ++t) s64 += part[t];
  printf("64-bit strided: %lld\n", s64);
  unsigned us = 0;
  unsigned *upart = SHARED_ALLOC(sizeof(unsigned) * 64);
#pragma omp parallel
  {
    unsigned mine = 0;
#pragma omp for schedule(static, 5)
    for (unsigned i = 4000000000u; i > 3999999000u; i -= 2) mine += i - 3999999000u;
    upart[omp_get_thread_num()] = mine;
  }
  for (int t = 0; t < 64; ++t) us += upart[t];
  printf("unsigned decreasing: %u\n", us);

  /* ordered */
  int *seq = SHARED_ALLOC(sizeof(int) * 200);
  int pos = 0;
#pragma omp parallel for ordered schedule(dynamic, 2) shared(pos)
  for (int i = 0; i < 200; ++i) {
#pragma omp ordered
    { seq[pos++] = i; }
  }
  int in_order = pos == 200;
  for (int i = 0; i < 200 && in_order; ++i) in_order = seq[i] == i;
  printf("ordered dynamic: %d\n", in_order);
  pos = 0;
#pragma omp parallel for ordered schedule(static) shared(pos)
  for (int i = 0; i < 200; ++i) {
    if (i % 3 == 0) {
#pragma omp ordered
      { seq[pos++] = i; }
    }
  }
  in_order = pos == 67;
  for (int i = 0; i < 67 && in_order; ++i) in_order = seq[i] == i * 3;
  printf("ordered static, some iterations: %d\n", in_order);
  /* An ordered nowait loop overtaken by more nowait loops than the runtime
   * has dispatch slots. */
  pos = 0;
  int *rows = SHARED_ALLOC(sizeof(int) * 10 * 100);
#pragma omp parallel shared(pos)
  {
#pragma omp for ordered schedule(dynamic, 1) nowait
    for (int i = 0; i < 40; ++i) {
#pragma omp ordered
      { seq[pos++] = i; }
    }
    for (int rep = 0; rep < 10; ++rep) {
#pragma omp for schedule(dynamic, 4) nowait
      for (int i = 0; i < 100; ++i) rows[rep * 100 + i] = rep + i;
    }
  }
  in_order = pos == 40;
  for (int i = 0; i < 40 && in_order; ++i) in_order = seq[i] == i;
  long rows_sum = 0;
  for (int i = 0; i < 1000; ++i) rows_sum += rows[i];
  printf("ordered nowait then 10 loops: %d %ld\n", in_order, rows_sum);
  printf("failures %d\n", failures);
  return failures != 0;
}
