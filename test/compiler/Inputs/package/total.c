/* A libdsm program built without dsm-clang against an installed dsmkit
 * (find_package(dsmkit) or pkg-config dsm; test/compiler/install.test): every
 * node adds its id + 1 to a DSM_SHARED global under a lock; node 0 prints the
 * total, which is right only if the global is one copy for the whole job. */
#include <dsm/dsm.h>
#include <stdio.h>

DSM_SHARED int total = 0;

static void add_mine(void *arg) {
  (void)arg;
  dsm_lock(1);
  total += dsm_node_id() + 1;
  dsm_unlock(1);
}

int main(void) {
  dsm_parallel(add_mine, NULL);
  printf("nodes=%d total=%d\n", dsm_num_nodes(), total);
  return 0;
}
