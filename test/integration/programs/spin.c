/* Every node prints "spin-ready <node> <pid>" on stdout, then all loop on
 * barriers until the job is ended from outside. Used to kill a node mid-run. */
#include <dsm/dsm.h>
#include <stdio.h>
#include <unistd.h>

static void region(void *arg) {
  (void)arg;
  printf("spin-ready %d %d\n", dsm_node_id(), (int)getpid());
  fflush(stdout);
  for (;;) dsm_barrier();
}

int main(void) {
  dsm_parallel(region, NULL);
  return 0;
}
