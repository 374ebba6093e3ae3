/* A linked list built in shared memory by all nodes (each pushes ITEMS
 * elements it allocated with dsm_malloc, under a lock), then walked by every
 * node, which checks the count and the sum of the values of every node. */
#include <dsm/dsm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct item {
  struct item *next;
  int node;
  long value;
  char payload[40];
};

struct shared {
  long items;
  struct item *head;
  long errors;
};

static void build_and_walk(void *arg) {
  struct shared *s = arg;
  int me = dsm_node_id(), nodes = dsm_num_nodes();
  for (long i = 0; i < s->items; i++) {
    struct item *it = dsm_malloc(sizeof *it + (size_t)(i % 3) * 16);
    if (it == NULL) {
      fprintf(stderr, "node %d: dsm_malloc failed\n", me);
      exit(1);
    }
    it->node = me;
    it->value = i;
    dsm_lock(7);
    it->next = s->head;
    s->head = it;
    dsm_unlock(7);
  }
  dsm_barrier();
  long count = 0, errors = 0;
  long *sums = calloc((size_t)nodes, sizeof *sums);
  for (struct item *it = s->head; it != NULL; it = it->next) {
    count++;
    if (it->node < 0 || it->node >= nodes) {
      errors++;
      continue;
    }
    sums[it->node] += it->value;
  }
  long expect_sum = s->items * (s->items - 1) / 2;
  for (int n = 0; n < nodes; n++) errors += sums[n] != expect_sum;
  errors += count != s->items * nodes;
  free(sums);
  dsm_lock(8);
  s->errors += errors;
  dsm_unlock(8);
  dsm_barrier();
  /* Free what others allocated: any node may free any block. */
  if (me == nodes - 1) {
    struct item *it = s->head;
    while (it != NULL) {
      struct item *next = it->next;
      dsm_free(it);
      it = next;
    }
    s->head = NULL;
  }
}

int main(int argc, char **argv) {
  struct shared s = {0};
  s.items = argc > 1 ? atol(argv[1]) : 2000;
  dsm_parallel(build_and_walk, &s);
  printf("list: nodes=%d items=%ld errors=%ld\n", dsm_num_nodes(), s.items, s.errors);
  return s.errors == 0 && s.head == NULL ? 0 : 1;
}
