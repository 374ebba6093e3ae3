/* Locked read-modify-writes on neighbouring cells of one page, each cell
 * under a lock of its own: several nodes on several hosts keep updating
 * different words of the same pages at the same time, so every release's
 * diff may carry another local node's writes and every fetch merges into a
 * page that local nodes are writing. Every update must count.
 *
 *   sharedrmw CELLS ITERATIONS   (CELLS <= 512: 8-byte cells 16 bytes apart)
 *
 * Node k updates cell (7k + 3i) mod CELLS in its i-th step; at the end node
 * 0 checks every cell against the count of updates it received. */
#define CONS_PROG "sharedrmw"
#include "cons.h"

enum { kMaxCells = 512, kLockBase = 0x5200 };

struct shared {
  long cells, iterations;
  int inject;
  uint64_t *cell; /* cell c at cell[2 * c] */
};

static long target(int node, long step, long cells) { return (7L * node + 3 * step) % cells; }

static void body(void *arg) {
  struct shared *s = arg;
  int me = dsm_node_id();
  for (long i = 0; i < s->iterations; i++) {
    long c = target(me, i, s->cells);
    dsm_lock(kLockBase + (unsigned)c);
    s->cell[2 * c] += 1;
    if (s->inject && me == dsm_num_nodes() - 1 && i == s->iterations / 2) s->cell[2 * c] += 1;
    dsm_unlock(kLockBase + (unsigned)c);
  }
}

int main(int argc, char **argv) {
  struct shared s;
  s.inject = cons_take_inject(&argc, argv);
  if (argc != 3) cons_usage("usage: sharedrmw CELLS ITERATIONS");
  s.cells = atol(argv[1]);
  s.iterations = atol(argv[2]);
  if (s.cells < 1 || s.cells > kMaxCells || s.iterations < 1) cons_usage("bad CELLS or ITERATIONS");
  s.cell = dsm_calloc(2 * (size_t)s.cells, sizeof(uint64_t));
  if (s.cell == NULL) cons_usage("dsm_calloc failed");
  double start = dsm_wtime();
  dsm_parallel(body, &s);
  long expect[kMaxCells] = {0};
  for (int k = 0; k < dsm_num_nodes(); k++)
    for (long i = 0; i < s.iterations; i++) expect[target(k, i, s.cells)]++;
  long wrong = 0;
  for (long c = 0; c < s.cells; c++) {
    if ((long)s.cell[2 * c] != expect[c]) {
      wrong++;
      cons_fail("sharedrmw", "cell %ld (updates counted): expected %ld got %" PRIu64, c, expect[c],
                s.cell[2 * c]);
    }
  }
  if (wrong != 0) return 1;
  printf("sharedrmw: OK nodes=%d cells=%ld updates=%ld seconds=%.2f\n", dsm_num_nodes(), s.cells,
         s.iterations * dsm_num_nodes(), dsm_wtime() - start);
  return 0;
}
