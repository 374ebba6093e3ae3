/* randomdrf: random data-race-free programs, checked against a sequential
 * reference that each program computes from its seed.
 *
 * The cells are 32-bit words: CELLS in a dsm_malloc block and CELLS/4 (at
 * most 4096) in a local array of main, on node 0's shared stack. A run is a
 * sequence of phases separated by dsm_barrier. At the start of every phase
 * each cell is given a class, drawn from (seed, phase, cell):
 *   locked     any node may update it, under lock (cell % LOCKS), with the
 *              cell's operation for this phase: add or xor (one operation per
 *              cell and phase, so that the updates commute);
 *   owned(k)   only node k touches it: plain writes and reads;
 *   read-only  nobody writes it; anyone reads it.
 * Ownership is drawn again every phase, so the same cell is written by
 * different nodes (hosts) over time. In a phase a node first reads every
 * read-only cell and every cell it owns (written by others, under locks or
 * by their owner, in the previous phases), then does OPS random operations:
 * locked updates, plain writes to its own cells, reads of its own cells
 * (after its own writes) and of read-only cells. Every read is checked
 * against the value the node expects.
 *
 * A node's operations are a pure function of (seed, node, phase), so every
 * node can compute the state at the end of each phase by replaying all
 * nodes' operations on a private copy (the order of the replay does not
 * matter: see above), and node 0 recomputes the whole run from the seed
 * alone at the end and compares every cell.
 *
 *   dsm-run -n N dsm_cons_randomdrf FIRST_SEED COUNT [PHASES [CELLS [OPS [LOCKS]]]] [--inject]
 *
 * runs seeds FIRST_SEED .. FIRST_SEED+COUNT-1, one parallel region each.
 * Prints the seeds, then "randomdrf: OK ..."; a wrong value gives a FAIL
 * line with the seed, phase, cell, expected and got, and exit status 1.
 * --inject makes the last node corrupt one cell after the last phase.
 */
#define CONS_PROG "randomdrf"
#include "cons.h"

enum {
  STACK_MAX = 4096, /* cells on node 0's stack at most */
  LOCK_BASE = 2000,
  CLASS_LOCKED = 0,
  CLASS_READONLY = 1,
  CLASS_OWNED = 2, /* + owner */
};

/* Shared: lives on node 0's main stack. */
struct drf {
  uint64_t seed;
  long phases, ops;
  long heap_cells, stack_cells, cells;
  unsigned locks;
  int inject;
  uint32_t *heap, *stack;
  long errors;
  long checks;
};

/* Private to a node: this phase's classes and the replayed state. */
struct view {
  int nodes;
  uint8_t *class_of; /* per cell: CLASS_* (owned: CLASS_OWNED + owner) */
  uint8_t *add;      /* per cell: locked updates add (1) or xor (0) */
  long *list;        /* cells grouped by class */
  long *start;       /* class k's cells are list[start[k] .. start[k+1]) */
  uint32_t *ref;     /* every cell's value at the start of the phase */
  uint32_t *expect;  /* what this node expects to read now */
};

static long node_checks;

static uint32_t *cell_at(const struct drf *d, long c) {
  return c < d->heap_cells ? &d->heap[c] : &d->stack[c - d->heap_cells];
}

static uint32_t initial_value(uint64_t seed, long c) {
  return (uint32_t)cons_mix3(seed, 0x1417, (uint64_t)c);
}

static int view_init(struct view *v, const struct drf *d, int nodes) {
  v->nodes = nodes;
  v->class_of = malloc((size_t)d->cells);
  v->add = malloc((size_t)d->cells);
  v->list = malloc((size_t)d->cells * sizeof(long));
  v->start = calloc((size_t)nodes + 3, sizeof(long));
  v->ref = malloc((size_t)d->cells * sizeof(uint32_t));
  v->expect = malloc((size_t)d->cells * sizeof(uint32_t));
  if (!v->class_of || !v->add || !v->list || !v->start || !v->ref || !v->expect) return -1;
  for (long c = 0; c < d->cells; c++) v->ref[c] = initial_value(d->seed, c);
  return 0;
}

static void view_free(struct view *v) {
  free(v->class_of);
  free(v->add);
  free(v->list);
  free(v->start);
  free(v->ref);
  free(v->expect);
}

/* Draws every cell's class for `phase`: 3/8 locked, 1/8 read-only, 1/2 owned. */
static void classify(struct view *v, const struct drf *d, long phase) {
  int classes = v->nodes + 2;
  memset(v->start, 0, (size_t)(classes + 1) * sizeof(long));
  for (long c = 0; c < d->cells; c++) {
    uint64_t h = cons_mix3(d->seed, 0xc1a55 + (uint64_t)phase, (uint64_t)c);
    unsigned pick = (unsigned)(h % 8);
    int k = pick < 3    ? CLASS_LOCKED
            : pick == 3 ? CLASS_READONLY
                        : CLASS_OWNED + (int)((h >> 8) % (uint64_t)v->nodes);
    v->class_of[c] = (uint8_t)k;
    v->add[c] = (uint8_t)((h >> 40) & 1);
    v->start[k + 1]++;
  }
  for (int k = 0; k < classes; k++) v->start[k + 1] += v->start[k];
  long *fill = calloc((size_t)classes, sizeof(long));
  for (long c = 0; c < d->cells; c++) {
    int k = v->class_of[c];
    v->list[v->start[k] + fill[k]++] = c;
  }
  free(fill);
}

static long class_size(const struct view *v, int k) { return v->start[k + 1] - v->start[k]; }

static long pick_cell(const struct view *v, int k, struct cons_rng *rng) {
  return v->list[v->start[k] + (long)cons_rng_below(rng, (uint64_t)class_size(v, k))];
}

static void describe_class(char *out, size_t size, int k) {
  if (k == CLASS_LOCKED) {
    snprintf(out, size, "locked");
  } else if (k == CLASS_READONLY) {
    snprintf(out, size, "read-only");
  } else {
    snprintf(out, size, "owned by node %d", k - CLASS_OWNED);
  }
}

static void check_cell(const struct drf *d, long phase, long c, const char *what, uint32_t expected,
                       uint32_t got) {
  node_checks++;
  if (got == expected) return;
  /* Who wrote it last: its class in the previous phase. */
  char before[48] = "initial value";
  if (phase > 0) {
    uint64_t h = cons_mix3(d->seed, 0xc1a55 + (uint64_t)(phase - 1), (uint64_t)c);
    unsigned pick = (unsigned)(h % 8);
    describe_class(before, sizeof before,
                   pick < 3    ? CLASS_LOCKED
                   : pick == 3 ? CLASS_READONLY
                               : CLASS_OWNED + (int)((h >> 8) % (uint64_t)dsm_num_nodes()));
  }
  cons_fail("randomdrf",
            "seed %" PRIu64
            " phase %ld cell %ld (%s %ld, address %p) %s: expected 0x%08x got 0x%08x"
            " (in phase %ld it was %s)",
            d->seed, phase, c, c < d->heap_cells ? "heap index" : "stack index",
            c < d->heap_cells ? c : c - d->heap_cells, (void *)cell_at(d, c), what, expected, got, phase - 1,
            before);
}

/* Node `node`'s operations of `phase`. With `live` it runs them on the
 * shared cells (locks, checked reads); without, it replays them on v->ref,
 * the private reference. The random draws are the same either way. */
static void run_ops(const struct drf *d, struct view *v, int node, long phase, int live) {
  struct cons_rng rng;
  cons_rng_seed(&rng, cons_mix3(d->seed, (uint64_t)node + 1, (uint64_t)phase));
  int own = CLASS_OWNED + node;
  for (long k = 0; k < d->ops; k++) {
    unsigned kind = (unsigned)cons_rng_below(&rng, 4);
    if (kind <= 1 && class_size(v, CLASS_LOCKED) > 0) {
      long c = pick_cell(v, CLASS_LOCKED, &rng);
      uint32_t operand = (uint32_t)cons_rng_next(&rng) | 1;
      if (!live) {
        v->ref[c] = v->add[c] ? v->ref[c] + operand : v->ref[c] ^ operand;
        continue;
      }
      unsigned lock = LOCK_BASE + (unsigned)(c % d->locks);
      dsm_lock(lock);
      uint32_t *p = cell_at(d, c);
      *p = v->add[c] ? *p + operand : *p ^ operand;
      dsm_unlock(lock);
    } else if (kind == 2 && class_size(v, own) > 0) {
      long c = pick_cell(v, own, &rng);
      uint32_t value = (uint32_t)cons_rng_next(&rng);
      if (!live) {
        v->ref[c] = value;
        continue;
      }
      *cell_at(d, c) = value;
      v->expect[c] = value;
    } else if (kind == 3) {
      int from = cons_rng_below(&rng, 2) ? own : CLASS_READONLY;
      if (class_size(v, from) == 0) continue;
      long c = pick_cell(v, from, &rng);
      if (live)
        check_cell(d, phase, c, from == own ? "read by its owner" : "read-only read", v->expect[c],
                   *cell_at(d, c));
    }
  }
}

static void body(void *arg) {
  struct drf *d = arg;
  int me = dsm_node_id(), n = dsm_num_nodes();
  struct view v;
  if (view_init(&v, d, n) != 0) {
    cons_fail("randomdrf", "seed %" PRIu64 ": out of private memory", d->seed);
    exit(1);
  }
  for (long p = 0; p < d->phases; p++) {
    classify(&v, d, p);
    memcpy(v.expect, v.ref, (size_t)d->cells * sizeof(uint32_t));
    /* What the others (and the locked updates) left in the previous phase. */
    for (long i = v.start[CLASS_READONLY]; i < v.start[CLASS_READONLY + 1]; i++) {
      long c = v.list[i];
      check_cell(d, p, c, "read-only cell at the phase's start", v.ref[c], *cell_at(d, c));
    }
    for (long i = v.start[CLASS_OWNED + me]; i < v.start[CLASS_OWNED + me + 1]; i++) {
      long c = v.list[i];
      check_cell(d, p, c, "own cell at the phase's start", v.ref[c], *cell_at(d, c));
    }
    run_ops(d, &v, me, p, 1);
    dsm_barrier();
    for (int k = 0; k < n; k++) run_ops(d, &v, k, p, 0);
  }
  if (d->inject && me == n - 1) *cell_at(d, (long)(d->seed % (uint64_t)d->cells)) ^= 0x10;
  view_free(&v);
  dsm_lock(CONS_REPORT_LOCK);
  d->checks += node_checks;
  dsm_unlock(CONS_REPORT_LOCK);
  node_checks = 0;
  cons_report_errors(&d->errors);
}

/* Node 0, in main after the region: the whole run again from the seed
 * alone, compared with every cell. */
static void check_final(struct drf *d) {
  struct view v;
  int n = dsm_num_nodes();
  if (view_init(&v, d, n) != 0) {
    cons_fail("randomdrf", "seed %" PRIu64 ": out of private memory", d->seed);
    return;
  }
  for (long p = 0; p < d->phases; p++) {
    classify(&v, d, p);
    for (int k = 0; k < n; k++) run_ops(d, &v, k, p, 0);
  }
  for (long c = 0; c < d->cells; c++) check_cell(d, d->phases, c, "at the end", v.ref[c], *cell_at(d, c));
  view_free(&v);
}

int main(int argc, char **argv) {
  uint32_t stack_cells[STACK_MAX];
  struct drf d;
  memset(&d, 0, sizeof d);
  d.inject = cons_take_inject(&argc, argv);
  if (argc < 3 || argc > 7)
    cons_usage("usage: randomdrf FIRST_SEED COUNT [PHASES [CELLS [OPS [LOCKS]]]] [--inject]");
  uint64_t first = cons_parse_u64(argv[1], "FIRST_SEED", UINT64_MAX / 2);
  uint64_t count = cons_parse_u64(argv[2], "COUNT", 1 << 24);
  d.phases = argc > 3 ? (long)cons_parse_u64(argv[3], "PHASES", 1 << 20) : 8;
  d.heap_cells = argc > 4 ? (long)cons_parse_u64(argv[4], "CELLS", 1 << 26) : 4096;
  d.ops = argc > 5 ? (long)cons_parse_u64(argv[5], "OPS", 1 << 24) : 200;
  d.locks = argc > 6 ? (unsigned)cons_parse_u64(argv[6], "LOCKS", 1 << 16) : 8;
  if (d.heap_cells < 1 || d.locks < 1) cons_usage("CELLS and LOCKS must be at least 1");
  if (dsm_num_nodes() > 250) cons_usage("at most 250 nodes");
  d.stack_cells = d.heap_cells / 4 < STACK_MAX ? d.heap_cells / 4 : STACK_MAX;
  d.cells = d.heap_cells + d.stack_cells;
  d.stack = stack_cells;
  printf("randomdrf: seeds %" PRIu64 "..%" PRIu64 " phases=%ld cells=%ld+%ld ops=%ld locks=%u nodes=%d\n",
         first, first + count - 1, d.phases, d.heap_cells, d.stack_cells, d.ops, d.locks, dsm_num_nodes());
  fflush(stdout);

  double start = dsm_wtime();
  long failed_seeds = 0, checks = 0;
  for (uint64_t s = first; s < first + count; s++) {
    d.seed = s;
    fprintf(stderr, "randomdrf: seed %" PRIu64 "\n", s); /* names the seed of a job that hangs */
    d.errors = 0;
    d.checks = 0;
    /* A fresh block per seed, at a varying offset: reused memory too. */
    size_t offset = (size_t)(s % 16) * sizeof(uint32_t);
    char *block = dsm_malloc((size_t)d.heap_cells * sizeof(uint32_t) + offset);
    if (block == NULL) cons_usage("dsm_malloc of %ld cells failed", d.heap_cells);
    d.heap = (uint32_t *)(block + offset);
    for (long c = 0; c < d.cells; c++) *cell_at(&d, c) = initial_value(s, c);
    dsm_parallel(body, &d);
    check_final(&d);
    d.errors += cons_errors;
    cons_errors = 0;
    d.checks += node_checks;
    node_checks = 0;
    checks += d.checks;
    if (d.errors != 0) {
      printf("randomdrf: seed %" PRIu64 " FAILED with %ld wrong values\n", s, d.errors);
      fflush(stdout);
      failed_seeds++;
    }
    dsm_free(block);
  }
  if (failed_seeds != 0) {
    printf("randomdrf: FAILED %ld of %" PRIu64 " seeds, nodes=%d\n", failed_seeds, count, dsm_num_nodes());
    return 1;
  }
  printf("randomdrf: OK seeds=%" PRIu64 " nodes=%d checks=%ld seconds=%.2f\n", count, dsm_num_nodes(), checks,
         dsm_wtime() - start);
  return 0;
}
