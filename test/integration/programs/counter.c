/* Every node increments one shared counter (a local of main, on the shared
 * master stack) ITER times under a lock; node 0 checks the total. An
 * optional second argument makes each critical section last longer (a busy
 * loop of that many steps). With a third argument "queue", node 0 first
 * holds the lock until every other node is about to ask for it, and 100 ms
 * longer, so that they certainly queue for it in the daemon. */
#include <dsm/dsm.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct shared {
  long iterations;
  long hold;
  int queue;
  int held;    /* node 0 holds the lock for the queue-up round */
  int arrived; /* nodes about to ask for it */
  long counter;
  long per_node[1024];
};

static void queue_up(struct shared *s) {
  int me = dsm_node_id(), nodes = dsm_num_nodes();
  if (me == 0) {
    dsm_lock(42);
    __atomic_store_n(&s->held, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&s->arrived, __ATOMIC_ACQUIRE) < nodes - 1) sched_yield();
    struct timespec hold = {0, 100 * 1000 * 1000};
    nanosleep(&hold, NULL);
    dsm_unlock(42);
  } else {
    while (!__atomic_load_n(&s->held, __ATOMIC_ACQUIRE)) sched_yield();
    __atomic_fetch_add(&s->arrived, 1, __ATOMIC_RELEASE);
    dsm_lock(42);
    dsm_unlock(42);
  }
}

static void work(void *arg) {
  struct shared *s = arg;
  int me = dsm_node_id();
  if (s->queue) queue_up(s);
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
  s.queue = argc > 3 && strcmp(argv[3], "queue") == 0;
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
