/* More distinct lock ids than the host lock table holds (16384): the ids
 * that find no entry are managed by the daemon alone. Every node adds 1 to
 * a counter per id, each under the lock of that id; node 0 checks them. */
#include <dsm/dsm.h>
#include <stdio.h>
#include <stdlib.h>

struct shared {
  int ids;
  long *counts;
};

static void work(void *arg) {
  struct shared *s = arg;
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < s->ids; i++) {
      /* Nodes walk the ids from different starting points. */
      int id = (i + dsm_node_id() * 997) % s->ids;
      dsm_lock((unsigned)id * 2654435761u);
      s->counts[id]++;
      dsm_unlock((unsigned)id * 2654435761u);
    }
  }
}

int main(int argc, char **argv) {
  struct shared s;
  s.ids = argc > 1 ? atoi(argv[1]) : 20000;
  s.counts = dsm_calloc((size_t)s.ids, sizeof *s.counts);
  if (s.counts == NULL) return 1;
  dsm_parallel(work, &s);
  int bad = 0;
  for (int i = 0; i < s.ids; i++) bad += s.counts[i] != 2L * dsm_num_nodes();
  printf("manylocks: ids=%d nodes=%d bad=%d\n", s.ids, dsm_num_nodes(), bad);
  return bad == 0 ? 0 : 1;
}
