/* Every C form of atomic operation, from every node, on shared counters:
 * C11 _Atomic operators, <stdatomic.h> functions, __atomic_* and __sync_*
 * builtins, `#pragma omp atomic` read/write/update/capture on int, float,
 * double and long double, 1-, 2-, 16- and 24-byte objects and a misaligned
 * one (the libatomic entry points). Totals are checked exactly. */
#include <stdatomic.h>
#include <string.h>

#include "atomics_test.h"

struct Triple {
  long a, b, c;
};

struct __attribute__((packed)) Packed {
  char pad;
  long value; /* misaligned: clang calls __atomic_fetch_add_8 */
};

struct Counters {
  _Atomic int c11_increment;         /* x++ */
  _Atomic long c11_add;              /* x += 3 */
  atomic_uint std_fetch_add;         /* atomic_fetch_add_explicit, relaxed */
  _Atomic long long std_cas;         /* atomic_compare_exchange_weak loop */
  atomic_int std_exchange_sum;       /* atomic_exchange: a token passed around */
  int builtin_fetch_add;             /* __atomic_fetch_add */
  long builtin_cas;                  /* __atomic_compare_exchange_n loop */
  int builtin_max;                   /* __atomic_fetch_max (clang) */
  unsigned builtin_umin;             /* __atomic_fetch_min on unsigned */
  unsigned sync_add;                 /* __sync_fetch_and_add */
  long sync_cas;                     /* __sync_val_compare_and_swap loop */
  int sync_or;                       /* __sync_fetch_and_or: one bit per node */
  int sync_and;                      /* __sync_fetch_and_and: clears each node's bit */
  int omp_update;                    /* #pragma omp atomic (update) */
  int omp_capture;                   /* #pragma omp atomic capture */
  long long capture_sum;             /* sum of every captured value */
  int omp_written;                   /* #pragma omp atomic write / read */
  double omp_double;                 /* cmpxchg loop on a double */
  float omp_float;                   /* cmpxchg loop on a float */
  long double omp_long_double;       /* generic __atomic_compare_exchange */
  _Atomic double c11_double;         /* x += 0.25 */
  _Atomic char c11_char;             /* 1 byte, wraps */
  _Atomic short c11_short;           /* 2 bytes */
  _Atomic __int128 c11_int128;       /* 16 bytes */
  _Atomic struct Triple triple;      /* 24 bytes: generic load / CAS */
  struct Packed packed;
  int bad_reads;                     /* omp atomic read saw a value never written */
};

int main(int argc, char** argv) {
  const int iters = Iterations(argc, argv, 200);
  int failures = 0;
  int team = 0;
  struct Counters c;
  memset(&c, 0, sizeof c);
  c.sync_and = -1;
  c.builtin_umin = ~0u;
  c.builtin_max = -1000;

#pragma omp parallel shared(c, team)
  {
    const int me = omp_get_thread_num();
    if (me == 0) team = omp_get_num_threads();
    /* Every node has the counters' pages before any node updates them, so
     * that on several hosts the updates overlap (what a hardware atomic on a
     * host's own copy of the page would lose). */
    if (atomic_load(&c.c11_increment) != 0) c.bad_reads = 1;
#pragma omp barrier
    __sync_fetch_and_or(&c.sync_or, 1 << me);
    __sync_fetch_and_and(&c.sync_and, ~(1 << me));
    long long my_capture_sum = 0;
    for (int i = 0; i < iters; ++i) {
      c.c11_increment++;
      c.c11_add += 3;
      atomic_fetch_add_explicit(&c.std_fetch_add, 2u, memory_order_relaxed);
      long long seen = atomic_load(&c.std_cas);
      while (!atomic_compare_exchange_weak(&c.std_cas, &seen, seen + 1)) {
      }
      atomic_fetch_add(&c.std_exchange_sum, 1);
      __atomic_fetch_add(&c.builtin_fetch_add, 5, __ATOMIC_ACQ_REL);
      long b = __atomic_load_n(&c.builtin_cas, __ATOMIC_ACQUIRE);
      while (!__atomic_compare_exchange_n(&c.builtin_cas, &b, b + 2, 0, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED)) {
      }
      __atomic_fetch_max(&c.builtin_max, me * 1000 + i, __ATOMIC_RELAXED);
      __atomic_fetch_min(&c.builtin_umin, (unsigned)(me * 1000 + i + 7), __ATOMIC_RELAXED);
      __sync_fetch_and_add(&c.sync_add, 1u);
      long s = c.sync_cas, prev;
      while ((prev = __sync_val_compare_and_swap(&c.sync_cas, s, s + 1)) != s) s = prev;
#pragma omp atomic
      c.omp_update += 2;
      int v;
#pragma omp atomic capture
      v = c.omp_capture++;
      my_capture_sum += v;
#pragma omp atomic write
      c.omp_written = me + 1;
      int r;
#pragma omp atomic read
      r = c.omp_written;
      if (r < 1 || r > 64) c.bad_reads = 1;
#pragma omp atomic update
      c.omp_double += 0.5;
#pragma omp atomic
      c.omp_float += 1.0f;
#pragma omp atomic
      c.omp_long_double += 1.0L;
      c.c11_double += 0.25;
      c.c11_char++;
      c.c11_short += 2;
      c.c11_int128 += ((__int128)1 << 64) + 1;
      struct Triple t = c.triple, n;
      do {
        n.a = t.a + 1;
        n.b = t.b + 2;
        n.c = t.c + 3;
      } while (!atomic_compare_exchange_weak(&c.triple, &t, n));
      __atomic_fetch_add(&c.packed.value, 7, __ATOMIC_SEQ_CST);
    }
    __atomic_fetch_add(&c.capture_sum, my_capture_sum, __ATOMIC_RELAXED);
  }

  const long long n = (long long)team * iters;
  printf("team %d iterations %d\n", team, iters);
  EXPECT_EQ_LL("c11 increment", c.c11_increment, n);
  EXPECT_EQ_LL("c11 add", c.c11_add, 3 * n);
  EXPECT_EQ_LL("stdatomic fetch_add", c.std_fetch_add, 2 * n);
  EXPECT_EQ_LL("stdatomic compare_exchange", c.std_cas, n);
  EXPECT_EQ_LL("stdatomic fetch_add int", c.std_exchange_sum, n);
  EXPECT_EQ_LL("__atomic_fetch_add", c.builtin_fetch_add, 5 * n);
  EXPECT_EQ_LL("__atomic_compare_exchange_n", c.builtin_cas, 2 * n);
  EXPECT_EQ_LL("__atomic_fetch_max", c.builtin_max, (team - 1) * 1000 + iters - 1);
  EXPECT_EQ_LL("__atomic_fetch_min", c.builtin_umin, 7);
  EXPECT_EQ_LL("__sync_fetch_and_add", c.sync_add, n);
  EXPECT_EQ_LL("__sync_val_compare_and_swap", c.sync_cas, n);
  EXPECT_EQ_LL("__sync_fetch_and_or", c.sync_or, (1 << team) - 1);
  EXPECT_EQ_LL("__sync_fetch_and_and", c.sync_and, -(1 << team));
  EXPECT_EQ_LL("omp atomic update", c.omp_update, 2 * n);
  EXPECT_EQ_LL("omp atomic capture", c.omp_capture, n);
  EXPECT_EQ_LL("omp atomic capture values", c.capture_sum, n * (n - 1) / 2);
  EXPECT_TRUE("omp atomic write/read", c.bad_reads == 0 && c.omp_written >= 1 &&
                                           c.omp_written <= team);
  EXPECT_TRUE("omp atomic double", c.omp_double == 0.5 * (double)n);
  EXPECT_TRUE("omp atomic float", c.omp_float == (float)n);
  EXPECT_TRUE("omp atomic long double", c.omp_long_double == (long double)n);
  EXPECT_TRUE("c11 double", c.c11_double == 0.25 * (double)n);
  EXPECT_EQ_LL("c11 char", (unsigned char)c.c11_char, n % 256);
  EXPECT_EQ_LL("c11 short", c.c11_short, 2 * n);
  __int128 big = c.c11_int128;
  EXPECT_EQ_LL("c11 int128 low", (long long)(big & 0xffffffffffffffffLL), n);
  EXPECT_EQ_LL("c11 int128 high", (long long)(big >> 64), n);
  struct Triple t = c.triple;
  EXPECT_TRUE("c11 24-byte struct", t.a == n && t.b == 2 * n && t.c == 3 * n);
  EXPECT_EQ_LL("misaligned __atomic_fetch_add", c.packed.value, 7 * n);
  printf("failures %d\n", failures);
  return failures == 0 ? 0 : 1;
}
