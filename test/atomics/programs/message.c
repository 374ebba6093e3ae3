/* Message passing through atomics: the nodes take turns around a ring. On its
 * turn a node checks the message of the node before it (plain data spanning
 * several pages, written with plain stores), writes its own, and passes the
 * turn on with an atomic release store; the others spin on an acquire load.
 * Across hosts only the atomics' synchronisation makes the plain data
 * visible. The message lives in dsm_malloc'd memory, the turn in main's
 * frame. */
#include <stdatomic.h>
#include <string.h>

#include "atomics_test.h"

enum { kWords = 3 * 4096 / 8 + 5 }; /* a bit more than three pages */

struct Message {
  long words[kWords];
};

static long Expected(int turn, int i) { return (long)turn * 1000003L + i; }

int main(int argc, char** argv) {
  const int rounds = Iterations(argc, argv, 20);
  int failures = 0;
  int team = 0;
  atomic_int turn = 0;
  atomic_int bad_words = 0;
  struct Message* msg = dsm_calloc(1, sizeof *msg);
  if (msg == NULL) {
    printf("FAIL dsm_calloc\n");
    return 1;
  }

#pragma omp parallel shared(turn, bad_words, msg, team)
  {
    const int me = omp_get_thread_num();
    const int n = omp_get_num_threads();
    if (me == 0) team = n;
    for (int r = 0; r < rounds; ++r) {
      const int mine = r * n + me;
      while (atomic_load_explicit(&turn, memory_order_acquire) != mine) sched_yield();
      int bad = 0;
      if (mine > 0) {
        for (int i = 0; i < kWords; ++i) bad += msg->words[i] != Expected(mine - 1, i);
      }
      if (bad != 0) atomic_fetch_add(&bad_words, bad);
      for (int i = 0; i < kWords; ++i) msg->words[i] = Expected(mine, i);
      atomic_store_explicit(&turn, mine + 1, memory_order_release);
    }
  }

  printf("team %d rounds %d\n", team, rounds);
  EXPECT_EQ_LL("turns taken", atomic_load(&turn), team * rounds);
  EXPECT_EQ_LL("stale words seen", atomic_load(&bad_words), 0);
  int last_bad = 0;
  for (int i = 0; i < kWords; ++i) last_bad += msg->words[i] != Expected(team * rounds - 1, i);
  EXPECT_EQ_LL("last message", last_bad, 0);
  dsm_free(msg);
  printf("failures %d\n", failures);
  return failures == 0 ? 0 : 1;
}
