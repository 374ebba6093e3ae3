/* Global and static variables as OpenMP programs use them: shared by every
 * thread (dsm-clang shares every writable global and static), next to
 * threadprivate ones that stay per thread: arrays filled by worksharing
 * loops, counters under critical, atomic and a global lock, a static local
 * of a function, initialised data, reductions into a global. */
#include "omp_test.h"

#define N 2000

double g_values[N];
long g_hist[16];
long g_counter;
long g_atomic_counter;
int g_initialised[4] = {10, 20, 30, 40};
struct {
  long sum;
  int max;
} g_stats = {0, -1};
omp_lock_t g_lock;
static long s_file_static;
int g_private_copy = 5;
#pragma omp threadprivate(g_private_copy)

static int next_ticket(void) {
  static int ticket;
  int mine;
#pragma omp critical(ticket)
  mine = ticket++;
  return mine;
}

int main(void) {
  int failures = 0;
  omp_init_lock(&g_lock);
#pragma omp parallel
  {
    int t = omp_get_thread_num();
#pragma omp for schedule(static)
    for (int i = 0; i < N; ++i) g_values[i] = 0.5 * i;
#pragma omp for schedule(dynamic, 50)
    for (int i = 0; i < N; ++i) {
#pragma omp atomic
      g_hist[i % 16] += i;
    }
    for (int i = 0; i < 100; ++i) {
#pragma omp critical
      g_counter++;
#pragma omp atomic
      g_atomic_counter += 2;
    }
    omp_set_lock(&g_lock);
    g_stats.sum += g_initialised[t % 4];
    if (t > g_stats.max) g_stats.max = t;
    s_file_static += 1;
    omp_unset_lock(&g_lock);
    for (int i = 0; i < 25; ++i) next_ticket();
    g_private_copy = 100 + t;
  }
  omp_destroy_lock(&g_lock);
  double total = 0;
  for (int i = 0; i < N; ++i) total += g_values[i];
  long hist = 0;
  for (int k = 0; k < 16; ++k) hist += g_hist[k] * (k + 1);
  printf("loops: %.1f %ld\n", total, hist);
  printf("counters: %ld %ld lock %ld %d static %ld tickets %d\n", g_counter, g_atomic_counter,
         g_stats.sum, g_stats.max, s_file_static, next_ticket());

  long g_sum_before = g_counter;
#pragma omp parallel for reduction(+ : g_counter)
  for (int i = 0; i < 1000; ++i) g_counter += i;
  printf("reduction into a global: %ld\n", g_counter - g_sum_before);

  /* Each thread kept its own threadprivate copy. */
  int privs[64] = {0};
#pragma omp parallel shared(privs)
  privs[omp_get_thread_num()] = g_private_copy;
  printf("threadprivate:");
  for (int t = 0; t < omp_get_max_threads(); ++t) printf(" %d", privs[t]);
  printf(" master %d\n", g_private_copy);
  printf("failures %d\n", failures);
  return failures != 0;
}
