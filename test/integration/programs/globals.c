/* Globals marked DSM_SHARED are one copy for the whole job: an initialised
 * scalar, a value a constructor computed (node 0's wins), and an array that
 * every node fills in a parallel region; node 0 checks them. The program is
 * position-independent like every CMake executable here: dsm-run starts the
 * nodes without address randomisation, so the globals are at one address. */
#include <dsm/dsm.h>
#include <stdio.h>
#include <stdlib.h>

DSM_SHARED int base = 1000;
DSM_SHARED int ctor_node = -1;
DSM_SHARED long slots[1024];
DSM_SHARED long total;
int private_count; /* not shared: every node has its own */

__attribute__((constructor)) static void remember_node(void) {
  const char *id = getenv("DSM_NODE_ID");
  ctor_node = id != NULL ? atoi(id) : 0;
}

static void work(void *arg) {
  (void)arg;
  int me = dsm_node_id();
  slots[me] = base + me + 100L * ctor_node;
  private_count += 1;
  dsm_lock(7);
  total += slots[me];
  dsm_unlock(7);
}

int main(void) {
  private_count = 0;
  dsm_parallel(work, NULL);
  int n = dsm_num_nodes();
  long expect = 0;
  for (int k = 0; k < n; k++) {
    expect += base + k;
    if (slots[k] != base + k) {
      printf("slot %d is %ld, expected %d\n", k, slots[k], base + k);
      return 1;
    }
  }
  printf("nodes=%d ctor_node=%d total=%ld expected=%ld private_count=%d\n", n, ctor_node, total,
         expect, private_count);
  return total == expect && ctor_node == 0 && private_count == 1 ? 0 : 1;
}
