/* threadprivate: global, static and function-static variables (scalars, an
 * array, a struct) private to each thread, keeping their values from one
 * region to the next; copyin from the master's copies at a region's start;
 * copyprivate of a threadprivate variable out of a single. */
#include "omp_test.h"

struct config {
  int id;
  double scale;
  char name[12];
};

int tp_int = 11;
static long tp_array[6] = {1, 2, 3, 4, 5, 6};
static struct config tp_config = {7, 0.5, "initial"};
#pragma omp threadprivate(tp_int, tp_array, tp_config)

static int bump(void) {
  static int calls;
#pragma omp threadprivate(calls)
  return ++calls;
}

int main(void) {
  int failures = 0;
  int ints[64] = {0};
  long arrays[64] = {0};
  int configs[64] = {0};
  int calls[64] = {0};

  /* Each thread's copy starts from the initial values and is its own. */
#pragma omp parallel shared(ints)
  {
    int t = omp_get_thread_num();
    ints[t] = tp_int;
    tp_int = 100 + t;
    for (int i = 0; i < 6; ++i) tp_array[i] += t;
    bump();
    bump();
  }
  printf("initial:");
  for (int t = 0; t < omp_get_max_threads(); ++t) printf(" %d", ints[t]);
  printf("\n");

  /* The values persist into the next region (same team size, no nesting). */
#pragma omp parallel shared(ints, arrays, calls)
  {
    int t = omp_get_thread_num();
    ints[t] = tp_int;
    long s = 0;
    for (int i = 0; i < 6; ++i) s += tp_array[i];
    arrays[t] = s;
    calls[t] = bump();
  }
  printf("persist:");
  for (int t = 0; t < omp_get_max_threads(); ++t)
    printf(" [%d %ld %d]", ints[t], arrays[t], calls[t]);
  printf("\n");

  /* copyin: the master's values reach every thread. */
  tp_int = 4242;
  for (int i = 0; i < 6; ++i) tp_array[i] = 10 * (i + 1);
  tp_config.id = 99;
  tp_config.scale = 2.25;
  snprintf(tp_config.name, sizeof tp_config.name, "%s", "copied");
#pragma omp parallel copyin(tp_int, tp_array, tp_config) shared(ints, arrays, configs)
  {
    int t = omp_get_thread_num();
    ints[t] = tp_int;
    long s = 0;
    for (int i = 0; i < 6; ++i) s += tp_array[i];
    arrays[t] = s;
    configs[t] = tp_config.id * 1000 + (int)(tp_config.scale * 100) + (int)tp_config.name[0];
    tp_int += t;  /* each thread's own copy again */
  }
  printf("copyin:");
  for (int t = 0; t < omp_get_max_threads(); ++t)
    printf(" [%d %ld %d]", ints[t], arrays[t], configs[t]);
  printf("\n");
  printf("master after copyin region: %d\n", tp_int);

  /* copyin of one variable, the others keep their own values. */
#pragma omp parallel copyin(tp_int) shared(ints)
  { ints[omp_get_thread_num()] = tp_int * 10 + (tp_config.id == 99); }
  printf("copyin one:");
  for (int t = 0; t < omp_get_max_threads(); ++t) printf(" %d", ints[t]);
  printf("\n");

  /* copyprivate of a threadprivate variable. */
#pragma omp parallel shared(ints)
  {
#pragma omp single copyprivate(tp_int)
    tp_int = 777;
    ints[omp_get_thread_num()] = tp_int;
  }
  printf("copyprivate:");
  for (int t = 0; t < omp_get_max_threads(); ++t) printf(" %d", ints[t]);
  printf("\n");
  printf("failures %d\n", failures);
  return failures != 0;
}
