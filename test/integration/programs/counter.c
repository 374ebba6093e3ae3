/* Every node increments one shared counter (a local of main, on the shared
 * master stack) ITER times under a lock; node 0 checks the total. An
 * optional second argument makes each critical section last longer (a busy
 * loop of that many steps). With a third argument "queue", node 0 first
 * holds the lock until every other node's lock request is waiting in the
 * daemon and the daemon has marked the lock as having waiters, so that the
 * others certainly queue for it and node 0's release hands it over through
 * the daemon (it reads the device through device_probe.h, linked into the
 * test's build of this program only). */
#include <dsm/dsm.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_probe.h"

/* Weak: a build of this file alone (the pkg-config test) has no probe and
 * cannot run the "queue" round. */
#pragma weak dsm_probe_lock_requests_waiting
#pragma weak dsm_probe_lock_has_waiters

enum { kQueueDeadlineSeconds = 60 };

struct shared {
  long iterations;
  long hold;
  int queue;
  int held;   /* node 0 holds the lock for the queue-up round */
  int queued; /* lock requests node 0 saw waiting in the daemon (-1: none in time) */
  long counter;
  long per_node[1024];
};

/* Node 0 holds lock 42 until every other node waits for it in the daemon:
 * their kLock requests are posted and unanswered, and the lock word carries
 * the waiters bit. A condition, not a delay: however slowly the nodes run,
 * they all take this lock through the daemon's queue. */
static void queue_up(struct shared *s) {
  int me = dsm_node_id(), nodes = dsm_num_nodes();
  if (me == 0) {
    dsm_lock(42);
    __atomic_store_n(&s->held, 1, __ATOMIC_RELEASE);
    double deadline = dsm_wtime() + kQueueDeadlineSeconds;
    int waiting = 0;
    for (;;) {
      waiting = dsm_probe_lock_requests_waiting(42);
      if (waiting >= nodes - 1 && (nodes == 1 || dsm_probe_lock_has_waiters(42) == 1)) break;
      if (dsm_wtime() > deadline) {
        waiting = -1;
        break;
      }
      sched_yield();
    }
    s->queued = waiting;
    dsm_unlock(42);
  } else {
    while (!__atomic_load_n(&s->held, __ATOMIC_ACQUIRE)) sched_yield();
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
  if (s.queue && (!dsm_probe_lock_requests_waiting || !dsm_probe_lock_has_waiters)) {
    printf("the queue round needs device_probe.cc linked in\n");
    return 2;
  }
  dsm_parallel(work, &s);
  if (s.queue) printf("queued=%d\n", s.queued);
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
