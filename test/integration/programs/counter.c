/* Every node increments one shared counter (a local of main, on the shared
 * master stack) ITER times under a lock; node 0 checks the total. An
 * optional second argument makes each critical section last longer (a busy
 * loop of that many steps), so that nodes really contend. */
#include <dsm/dsm.h>
#include <stdio.h>
#include <stdlib.h>

struct shared {
  long iterations;
  long hold;
  long counter;
  long per_node[1024];
};

static void work(void *arg) {
  struct shared *s = arg;
  int me = dsm_node_id();
  for (long i = 0; i < s->iterations; i++) {
    dsm_lock(42);
    long before = s->counter;
    for (volatile long k = 0; k < s->hold; k++) {
    }
    s->counter = before + 1;
    s->per_node[me]++;
    dsm_unlock(42);
  }
}

int main(int argc, char **argv) {
  struct shared s = {0};
  s.iterations = argc > 1 ? atol(argv[1]) : 100000;
  s.hold = argc > 2 ? atol(argv[2]) : 0;
  dsm_parallel(work, &s);
  long expect = s.iterations * dsm_num_nodes();
  printf("counter=%ld expected=%ld nodes=%d\n", s.counter, expect, dsm_num_nodes());
  for (int n = 0; n < dsm_num_nodes(); n++) {
    if (s.per_node[n] != s.iterations) {
      printf("node %d did %ld increments\n", n, s.per_node[n]);
      return 1;
    }
  }
  return s.counter == expect ? 0 : 1;
}
