/* A small libdsm program: every node adds its id + 1 into a variable of
 * main (main's stack is shared) under a lock; node 0 prints the total. Built
 * by the compiler tests with dsm-clang through make, CMake and an installed
 * tree. */
#include <dsm/dsm.h>
#include <stdio.h>

/* Placed in .dsm_shared (its runtime mapping is a separate piece). */
#pragma dsm shared
static int unused_shared_flag;

struct total {
  int sum;
};

static void add_mine(void *arg) {
  struct total *t = arg;
  dsm_lock(1);
  t->sum += dsm_node_id() + 1;
  dsm_unlock(1);
}

int main(void) {
  struct total t = {0};
  dsm_parallel(add_mine, &t);
  printf("nodes=%d sum=%d\n", dsm_num_nodes(), t.sum);
  return unused_shared_flag;
}
