// C++ std::atomic from every node on shared objects (dsm_malloc'd, built with
// placement new): fetch_add and ++, a compare_exchange_weak loop, C++20
// floating-point fetch_add, fetch_or, std::atomic_ref on a plain int, and a
// std::atomic_flag spin lock guarding plain data (whose page the lock's
// acquire and release must carry between hosts). Totals are checked exactly.
#include <atomic>
#include <new>

extern "C" {
#include "atomics_test.h"
}

namespace {

struct Shared {
  std::atomic<int> adds{0};
  std::atomic<long> increments{0};
  std::atomic<long long> cas{0};
  std::atomic<double> sum{0.0};
  std::atomic<unsigned long long> bits{0};
  std::atomic<bool> any_stale{false};
  int plain_ref = 0;  // updated through std::atomic_ref
  std::atomic_flag guard = ATOMIC_FLAG_INIT;
  long guarded[600];  // plain data under the spin lock, over a page
};

void Work(Shared* s, int me, int iters) {
  for (int i = 0; i < iters; ++i) {
    s->adds.fetch_add(3, std::memory_order_relaxed);
    ++s->increments;
    long long seen = s->cas.load();
    while (!s->cas.compare_exchange_weak(seen, seen + 2)) {
    }
    s->sum.fetch_add(0.5);
    s->bits.fetch_or(1ull << me);
    std::atomic_ref<int>(s->plain_ref).fetch_add(1);
    while (s->guard.test_and_set(std::memory_order_acquire)) sched_yield();
    // Every element equal before the update, or some write was not seen.
    long first = s->guarded[0];
    for (long& g : s->guarded) {
      if (g != first) s->any_stale.store(true);
      ++g;
    }
    s->guard.clear(std::memory_order_release);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int iters = Iterations(argc, argv, 200);
  int failures = 0;
  int team = 0;
  void* mem = dsm_calloc(1, sizeof(Shared));
  if (mem == nullptr) {
    std::printf("FAIL dsm_calloc\n");
    return 1;
  }
  Shared* s = new (mem) Shared();

#pragma omp parallel shared(s, team)
  {
    const int me = omp_get_thread_num();
    if (me == 0) team = omp_get_num_threads();
    (void)s->adds.load();  // every node has the page before any update
#pragma omp barrier
    Work(s, me, iters);
  }

  const long long n = static_cast<long long>(team) * iters;
  std::printf("team %d iterations %d\n", team, iters);
  EXPECT_EQ_LL("atomic<int> fetch_add", s->adds.load(), 3 * n);
  EXPECT_EQ_LL("atomic<long> ++", s->increments.load(), n);
  EXPECT_EQ_LL("atomic<long long> compare_exchange_weak", s->cas.load(), 2 * n);
  EXPECT_TRUE("atomic<double> fetch_add", s->sum.load() == 0.5 * static_cast<double>(n));
  EXPECT_EQ_LL("atomic<unsigned long long> fetch_or", s->bits.load(), (1ull << team) - 1);
  EXPECT_EQ_LL("atomic_ref<int> fetch_add", s->plain_ref, n);
  EXPECT_TRUE("atomic_flag lock: no stale data", !s->any_stale.load());
  long wrong = 0;
  for (long g : s->guarded) wrong += g != n;
  EXPECT_EQ_LL("atomic_flag lock: guarded totals", wrong, 0);
  s->~Shared();
  dsm_free(mem);
  std::printf("failures %d\n", failures);
  return failures == 0 ? 0 : 1;
}
