/* Atomics on shared globals (every writable global of a dsm-clang program
 * lives in the shared space, at the same address on every node): counters
 * updated from every node, a 24-byte global struct (the line lock, on one
 * host too), and a global spin lock built from an atomic exchange guarding a
 * plain global array. Totals are checked exactly. */
#include <stdatomic.h>

#include "atomics_test.h"

struct Triple {
  long a, b, c;
};

_Atomic long g_counter;
atomic_uint g_fetch_add;
double g_sum; /* #pragma omp atomic */
_Atomic struct Triple g_triple;
atomic_int g_lock;
long g_guarded[700]; /* plain data under g_lock, over a page */
atomic_int g_stale;
int g_team;

static void Work(int iters) {
  for (int i = 0; i < iters; ++i) {
    g_counter++;
    atomic_fetch_add_explicit(&g_fetch_add, 3u, memory_order_relaxed);
#pragma omp atomic
    g_sum += 0.5;
    struct Triple t = g_triple, n;
    do {
      n.a = t.a + 1;
      n.b = t.b + 2;
      n.c = t.c + 3;
    } while (!atomic_compare_exchange_weak(&g_triple, &t, n));
    while (atomic_exchange_explicit(&g_lock, 1, memory_order_acquire) != 0) sched_yield();
    long first = g_guarded[0];
    for (int k = 0; k < 700; ++k) {
      if (g_guarded[k] != first) atomic_store(&g_stale, 1);
      g_guarded[k]++;
    }
    atomic_store_explicit(&g_lock, 0, memory_order_release);
  }
}

int main(int argc, char** argv) {
  const int iters = Iterations(argc, argv, 200);
  int failures = 0;
#pragma omp parallel
  {
    if (omp_get_thread_num() == 0) g_team = omp_get_num_threads();
    (void)atomic_load(&g_counter); /* every node has the page before any update */
#pragma omp barrier
    Work(iters);
  }
  const long long n = (long long)g_team * iters;
  printf("team %d iterations %d\n", g_team, iters);
  EXPECT_EQ_LL("global _Atomic long ++", g_counter, n);
  EXPECT_EQ_LL("global atomic_fetch_add", g_fetch_add, 3 * n);
  EXPECT_TRUE("global omp atomic double", g_sum == 0.5 * (double)n);
  struct Triple t = g_triple;
  EXPECT_TRUE("global 24-byte struct", t.a == n && t.b == 2 * n && t.c == 3 * n);
  EXPECT_EQ_LL("global spin lock: no stale data", g_stale, 0);
  long wrong = 0;
  for (int k = 0; k < 700; ++k) wrong += g_guarded[k] != n;
  EXPECT_EQ_LL("global spin lock: guarded totals", wrong, 0);
  printf("failures %d\n", failures);
  return failures == 0 ? 0 : 1;
}
