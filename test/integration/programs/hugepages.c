/* Whether each node asked for huge pages on the shared data area: every
 * node finds the mapping of a dsm_malloc'd block in /proc/self/smaps and
 * reports whether its VmFlags carry "hg" (MADV_HUGEPAGE). Node 0 prints
 * "hugepages: node K hg=0|1" for every node, in order, or "hugepages:
 * node K: no mapping" when a node found no mapping for the block. */
#include <dsm/dsm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxNodes = 64 };

struct shared {
  char *block;
  int flag[kMaxNodes]; /* -1: no mapping found, else 0 or 1 */
};

static int HugePagesAdvised(const void *p) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (f == NULL) return -1;
  char line[512];
  int inside = 0, found = -1;
  uintptr_t a = (uintptr_t)p;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = a >= lo && a < hi;
      continue;
    }
    if (inside && strncmp(line, "VmFlags:", 8) == 0) {
      found = strstr(line, " hg") != NULL;
      break;
    }
  }
  fclose(f);
  return found;
}

static void EveryNode(void *arg) {
  struct shared *s = arg;
  int me = dsm_node_id();
  s->block[(size_t)me * 4096] = 1;
  s->flag[me] = HugePagesAdvised(s->block);
}

int main(void) {
  struct shared *s = dsm_malloc(sizeof *s);
  if (s == NULL || dsm_num_nodes() > kMaxNodes) return 2;
  s->block = dsm_malloc((size_t)kMaxNodes * 4096);
  if (s->block == NULL) return 2;
  dsm_parallel(EveryNode, s);
  for (int k = 0; k < dsm_num_nodes(); ++k) {
    if (s->flag[k] < 0) {
      printf("hugepages: node %d: no mapping\n", k);
    } else {
      printf("hugepages: node %d hg=%d\n", k, s->flag[k]);
    }
  }
  return 0;
}
