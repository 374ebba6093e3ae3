/* Lock hand-offs that cross hosts, then barriers: the program whose
 * statistics the synchronisation-scaling test reads.
 *
 *   dsm_test_handoff ROUNDS BARRIERS
 *
 * Round i belongs to node i % nodes: that node takes lock 7, checks that the
 * shared turn counter says i (every earlier holder's write is visible), sets
 * it to i + 1 and releases; then every node enters a barrier, so round i + 1
 * starts only after round i's release. With one node per host (dsm-run
 * --hosts H -n H) every acquisition after the first finds the lock's token on
 * another host. Then every node enters BARRIERS more barriers. Node 0 checks
 * the counter at the end and prints one line. */
#include <dsm/dsm.h>
#include <stdio.h>
#include <stdlib.h>

enum { kLockId = 7 };

struct shared {
  long rounds;
  long barriers;
  long turn;   /* the next round; written only under the lock */
  long errors; /* rounds whose holder found another turn; under the lock */
};

static void work(void *arg) {
  struct shared *s = arg;
  const long me = dsm_node_id(), nodes = dsm_num_nodes();
  const long rounds = s->rounds, barriers = s->barriers;
  for (long i = 0; i < rounds; i++) {
    if (i % nodes == me) {
      dsm_lock(kLockId);
      if (s->turn != i) s->errors++;
      s->turn = i + 1;
      dsm_unlock(kLockId);
    }
    dsm_barrier();
  }
  for (long b = 0; b < barriers; b++) dsm_barrier();
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ROUNDS BARRIERS\n", argv[0]);
    return 2;
  }
  struct shared s = {0};
  s.rounds = atol(argv[1]);
  s.barriers = atol(argv[2]);
  if (s.rounds < 0 || s.barriers < 0) return 2;
  dsm_parallel(work, &s);
  printf("handoff: nodes=%d rounds=%ld barriers=%ld turn=%ld errors=%ld\n", dsm_num_nodes(), s.rounds,
         s.barriers, s.turn, s.errors);
  return s.turn == s.rounds && s.errors == 0 ? 0 : 1;
}
