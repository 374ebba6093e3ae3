/* Barrier phases: in every phase each node writes a value derived from
 * (node, phase) into its slots of a shared array; after a barrier every node
 * checks what all the others wrote; a second barrier ends the phase. */
#include <dsm/dsm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { SLOTS_PER_NODE = 64 };

struct shared {
  int phases;
  uint64_t *cells; /* nodes * SLOTS_PER_NODE */
  long errors;
  long checks;
};

static uint64_t value(int node, int phase, int slot) {
  return ((uint64_t)phase << 40) ^ ((uint64_t)node << 20) ^ (uint64_t)slot ^ 0x5a5a5a5aULL;
}

static void work(void *arg) {
  struct shared *s = arg;
  int me = dsm_node_id(), nodes = dsm_num_nodes();
  long errors = 0, checks = 0;
  for (int p = 0; p < s->phases; p++) {
    for (int k = 0; k < SLOTS_PER_NODE; k++) s->cells[me * SLOTS_PER_NODE + k] = value(me, p, k);
    dsm_barrier();
    for (int n = 0; n < nodes; n++) {
      for (int k = 0; k < SLOTS_PER_NODE; k++) {
        checks++;
        if (s->cells[n * SLOTS_PER_NODE + k] != value(n, p, k)) errors++;
      }
    }
    dsm_barrier();
  }
  dsm_lock(1);
  s->errors += errors;
  s->checks += checks;
  dsm_unlock(1);
}

int main(int argc, char **argv) {
  struct shared s = {0};
  s.phases = argc > 1 ? atoi(argv[1]) : 200;
  s.cells = dsm_calloc((size_t)dsm_num_nodes() * SLOTS_PER_NODE, sizeof(uint64_t));
  if (s.cells == NULL) return 1;
  dsm_parallel(work, &s);
  long expect = (long)s.phases * dsm_num_nodes() * dsm_num_nodes() * SLOTS_PER_NODE;
  printf("phases=%d checks=%ld errors=%ld\n", s.phases, s.checks, s.errors);
  return s.errors == 0 && s.checks == expect ? 0 : 1;
}
