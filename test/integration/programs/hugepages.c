/* Whether each node asked for huge pages on the shared data area, and got
 * them: every node writes into a dsm_malloc'd block of 6 MiB (a whole 2 MiB
 * page inside it), finds the block's mapping in /proc/self/smaps and reports
 * whether its VmFlags carry "hg" (MADV_HUGEPAGE) and whether any of it is
 * mapped by a huge page (ShmemPmdMapped or FilePmdMapped above 0). Node 0
 * prints "hugepages: node K hg=0|1 pmd=0|1" for every node, in order, or
 * "hugepages: node K: no mapping" when a node found no mapping for the
 * block. */
#include <dsm/dsm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxNodes = 64 };

enum { kBlock = 6 << 20, kHuge = 2 << 20 };

struct shared {
  char *block;
  int flag[kMaxNodes]; /* -1: no mapping found, else 0 or 1 */
  int pmd[kMaxNodes];
};

/* Reads the smaps entry of the mapping that holds p: *advised is whether
 * its VmFlags carry "hg", *pmd whether some of it is mapped by huge pages.
 * Returns 0, or -1 when no mapping holds p. */
static int HugePages(const void *p, int *advised, int *pmd) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (f == NULL) return -1;
  char line[512];
  int inside = 0, found = -1;
  uintptr_t a = (uintptr_t)p;
  *pmd = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi, kb;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = a >= lo && a < hi;
      continue;
    }
    if (!inside) continue;
    if ((sscanf(line, "ShmemPmdMapped: %lu kB", &kb) == 1 || sscanf(line, "FilePmdMapped: %lu kB", &kb) == 1) &&
        kb > 0) {
      *pmd = 1;
    }
    if (strncmp(line, "VmFlags:", 8) == 0) {
      *advised = strstr(line, " hg") != NULL;
      found = 0;
      break;
    }
  }
  fclose(f);
  return found;
}

static void EveryNode(void *arg) {
  struct shared *s = arg;
  int me = dsm_node_id();
  /* The first whole 2 MiB page in the block. */
  char *huge = (char *)(((uintptr_t)s->block + kHuge - 1) & ~(uintptr_t)(kHuge - 1));
  huge[(size_t)me * 4096] = 1;
  int advised = 0, pmd = 0;
  s->flag[me] = HugePages(huge, &advised, &pmd) == 0 ? advised : -1;
  s->pmd[me] = pmd;
}

int main(void) {
  struct shared *s = dsm_malloc(sizeof *s);
  if (s == NULL || dsm_num_nodes() > kMaxNodes) return 2;
  s->block = dsm_malloc(kBlock);
  if (s->block == NULL) return 2;
  dsm_parallel(EveryNode, s);
  for (int k = 0; k < dsm_num_nodes(); ++k) {
    if (s->flag[k] < 0) {
      printf("hugepages: node %d: no mapping\n", k);
    } else {
      printf("hugepages: node %d hg=%d pmd=%d\n", k, s->flag[k], s->pmd[k]);
    }
  }
  return 0;
}
