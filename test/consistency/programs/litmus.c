/* litmus: small consistency tests of dsmkit's release consistency, one per
 * way a write can be published to another node (and another host):
 *
 *   lock     message passing through a lock: in round r node r%N writes a
 *            payload of several pages and a flag under lock L; the others
 *            take L until the flag shows round r, then check the payload.
 *   barrier  every node writes its slice of a shared array, barrier, every
 *            node checks every slice (two arrays used alternately).
 *   region   node 0 writes data in main, between regions; every node checks
 *            it in the next region and writes its own slice, which node 0
 *            checks after the region.
 *   stack    a local array of main (node 0's stack is shared) written by
 *            node 0, checked by all in a region, rewritten by the last node
 *            under a lock and read back by node 0 after the region; plus a
 *            local counter incremented by all under a lock.
 *   torn     a data race on purpose: the last node flips words between two
 *            64-bit patterns while the others read them; every value read
 *            must be one of the two patterns (an 8-byte word is never torn),
 *            and after a barrier every word holds the last pattern.
 *   all      each of the above in turn.
 *
 *   dsm-run -n N dsm_cons_litmus TEST [ROUNDS] [--inject]
 *
 * Prints "litmus TEST: OK ..." per test; any wrong value gives a FAIL line
 * (node, round, index, expected, got) and exit status 1. --inject plants one
 * wrong value so that the checks are seen to fail.
 */
#include <sched.h>

#define CONS_PROG "litmus"
#include "cons.h"

enum {
  MP_LOCK = 11,
  MP_WORDS = 1800,    /* 14400 bytes: the payload spans 4 or 5 pages */
  BAR_SLICE = 700,    /* words per node: slices share pages */
  REG_DATA = 2500,    /* words node 0 writes between regions */
  REG_SLICE = 600,    /* words each node writes in a region */
  STACK_WORDS = 1536, /* 12 KiB on node 0's main stack */
  STACK_LOCK = 12,
  TORN_WORDS = 1024, /* 8 KiB */
  TORN_LOCK = 13,
  TORN_READS_PER_ACQUIRE = 4096,
};

static const uint64_t kTornA = 0x1111111111111111ULL;
static const uint64_t kTornB = 0xeeeeeeeeeeeeeeeeULL; /* ~A: every bit differs */
static const double kSpinDeadlineSeconds = 60;

/* Shared by all nodes: lives on node 0's main stack. */
struct litmus {
  int rounds;
  int inject;
  long errors; /* sum of every node's errors, under CONS_REPORT_LOCK */
  long checks; /* values checked, summed likewise */
  /* lock */
  struct mp_box *mp;
  /* barrier */
  uint64_t *bar[2];
  /* region */
  uint64_t *reg_data, *reg_out;
  int reg_round;
  /* stack */
  uint64_t *stack_words;
  long *stack_counter;
  int stack_round;
  /* torn */
  uint64_t *torn;
};

struct mp_box {
  uint64_t published; /* r+1 once round r's payload is written */
  uint64_t checked;   /* payload checks done, (N-1) per round */
  uint64_t payload[MP_WORDS];
};

static long node_checks; /* this node's, added to litmus.checks at the end */

static void check_word(const char *what, long round, long index, uint64_t expected, uint64_t got) {
  node_checks++;
  if (got != expected)
    cons_fail(what, "round %ld index %ld expected 0x%016" PRIx64 " got 0x%016" PRIx64, round, index, expected,
              got);
}

/* Spinning on a condition read under a lock: gives up (and ends the job with
 * a FAIL line) after kSpinDeadlineSeconds, well within dsm-run's timeout. */
static void spin_or_give_up(double started, const char *what, long round, const char *waiting_for,
                            uint64_t seen) {
  if (dsm_wtime() - started < kSpinDeadlineSeconds) {
    sched_yield();
    return;
  }
  cons_fail(what, "round %ld still waiting for %s after %.0f s (value seen %" PRIu64 ")", round, waiting_for,
            kSpinDeadlineSeconds, seen);
  exit(1);
}

static void report(struct litmus *t) {
  dsm_lock(CONS_REPORT_LOCK);
  t->checks += node_checks;
  dsm_unlock(CONS_REPORT_LOCK);
  node_checks = 0;
  cons_report_errors(&t->errors);
}

/* ---- lock: message passing through a lock ---------------------------- */

static uint64_t mp_value(int publisher, long round, long i) { return cons_mix3(publisher, round, i); }

static void mp_body(void *arg) {
  struct litmus *t = arg;
  struct mp_box *box = t->mp;
  int me = dsm_node_id(), n = dsm_num_nodes();
  for (long r = 0; r < t->rounds; r++) {
    int publisher = (int)(r % n);
    double started = dsm_wtime();
    for (;;) {
      dsm_lock(MP_LOCK);
      if (me == publisher) {
        uint64_t want = (uint64_t)(n - 1) * (uint64_t)r;
        if (box->checked == want) {
          /* The previous round's payload is still there: check it too. */
          for (long i = 0; r > 0 && i < MP_WORDS; i++)
            check_word("litmus lock", r - 1, i, mp_value((int)((r - 1) % n), r - 1, i), box->payload[i]);
          for (long i = 0; i < MP_WORDS; i++) box->payload[i] = mp_value(me, r, i);
          if (t->inject && r == 2) box->payload[777] ^= 0x100;
          box->published = (uint64_t)r + 1;
          dsm_unlock(MP_LOCK);
          break;
        }
        uint64_t seen = box->checked;
        dsm_unlock(MP_LOCK);
        spin_or_give_up(started, "litmus lock", r, "the others' checks of the previous round", seen);
      } else {
        if (box->published == (uint64_t)r + 1) {
          for (long i = 0; i < MP_WORDS; i++)
            check_word("litmus lock", r, i, mp_value(publisher, r, i), box->payload[i]);
          box->checked++;
          dsm_unlock(MP_LOCK);
          break;
        }
        uint64_t seen = box->published;
        dsm_unlock(MP_LOCK);
        spin_or_give_up(started, "litmus lock", r, "the round's flag", seen);
      }
    }
  }
  report(t);
}

static void run_lock(struct litmus *t) {
  t->mp = dsm_calloc(1, sizeof *t->mp);
  if (t->mp == NULL) cons_usage("dsm_calloc of %zu bytes failed", sizeof *t->mp);
  dsm_parallel(mp_body, t);
  dsm_free(t->mp);
}

/* ---- barrier ---------------------------------------------------------- */

static uint64_t bar_value(int node, long phase, long j) { return cons_mix3(0xba0000 + node, phase, j); }

static void bar_body(void *arg) {
  struct litmus *t = arg;
  int me = dsm_node_id(), n = dsm_num_nodes();
  for (long p = 0; p < t->rounds; p++) {
    /* A slow node still checking phase p-1 reads the other array. */
    uint64_t *a = t->bar[p & 1];
    for (long j = 0; j < BAR_SLICE; j++) a[(long)me * BAR_SLICE + j] = bar_value(me, p, j);
    if (t->inject && p == 3 && me == n - 1) a[(long)me * BAR_SLICE + 5] ^= 1;
    dsm_barrier();
    for (int k = 0; k < n; k++) {
      for (long j = 0; j < BAR_SLICE; j++)
        check_word("litmus barrier", p, (long)k * BAR_SLICE + j, bar_value(k, p, j),
                   a[(long)k * BAR_SLICE + j]);
    }
  }
  report(t);
}

static void run_barrier(struct litmus *t) {
  size_t words = (size_t)dsm_num_nodes() * BAR_SLICE;
  for (int b = 0; b < 2; b++) {
    t->bar[b] = dsm_calloc(words, sizeof(uint64_t));
    if (t->bar[b] == NULL) cons_usage("dsm_calloc of %zu words failed", words);
  }
  dsm_parallel(bar_body, t);
  dsm_free(t->bar[0]);
  dsm_free(t->bar[1]);
}

/* ---- region: publication by the boundaries of dsm_parallel ------------ */

static uint64_t reg_data_value(long round, long i) { return cons_mix3(0x4e6, round, i); }
static uint64_t reg_out_value(int node, long round, long j) { return cons_mix3(0x0c7 + node, round, j); }

static void reg_body(void *arg) {
  struct litmus *t = arg;
  int me = dsm_node_id();
  long r = t->reg_round;
  for (long i = 0; i < REG_DATA; i++) check_word("litmus region", r, i, reg_data_value(r, i), t->reg_data[i]);
  for (long j = 0; j < REG_SLICE; j++) t->reg_out[(long)me * REG_SLICE + j] = reg_out_value(me, r, j);
  if (t->inject && r == 1 && me == dsm_num_nodes() - 1) t->reg_out[(long)me * REG_SLICE + 9] ^= 1;
  report(t);
}

static void run_region(struct litmus *t) {
  int n = dsm_num_nodes();
  t->reg_data = dsm_malloc(REG_DATA * sizeof(uint64_t));
  t->reg_out = dsm_malloc((size_t)n * REG_SLICE * sizeof(uint64_t));
  if (t->reg_data == NULL || t->reg_out == NULL) cons_usage("dsm_malloc failed");
  for (long r = 0; r < t->rounds; r++) {
    /* Node 0, in main, outside any region. */
    for (long i = 0; i < REG_DATA; i++) t->reg_data[i] = reg_data_value(r, i);
    t->reg_round = (int)r;
    dsm_parallel(reg_body, t);
    for (int k = 0; k < n; k++) {
      for (long j = 0; j < REG_SLICE; j++)
        check_word("litmus region", r, (long)k * REG_SLICE + j, reg_out_value(k, r, j),
                   t->reg_out[(long)k * REG_SLICE + j]);
    }
  }
  dsm_free(t->reg_data);
  dsm_free(t->reg_out);
}

/* ---- stack: locals of main ------------------------------------------- */

static uint64_t stack_value(int writer, long round, long i) { return cons_mix3(0x57ac + writer, round, i); }

static void stack_body(void *arg) {
  struct litmus *t = arg;
  int me = dsm_node_id(), n = dsm_num_nodes();
  long r = t->stack_round;
  for (long i = 0; i < STACK_WORDS; i++)
    check_word("litmus stack", r, i, stack_value(0, r, i), t->stack_words[i]);
  dsm_barrier(); /* everybody read node 0's values before they change */
  if (me == n - 1) {
    dsm_lock(STACK_LOCK);
    for (long i = 0; i < STACK_WORDS; i++) t->stack_words[i] = stack_value(me, r, i);
    if (t->inject && r == 2) t->stack_words[1000] ^= 1;
    dsm_unlock(STACK_LOCK);
  }
  dsm_lock(STACK_LOCK);
  ++*t->stack_counter;
  dsm_unlock(STACK_LOCK);
  report(t);
}

static void run_stack(struct litmus *t) {
  int n = dsm_num_nodes();
  uint64_t words[STACK_WORDS];
  long counter = 0;
  t->stack_words = words;
  t->stack_counter = &counter;
  for (long r = 0; r < t->rounds; r++) {
    for (long i = 0; i < STACK_WORDS; i++) words[i] = stack_value(0, r, i);
    t->stack_round = (int)r;
    dsm_parallel(stack_body, t);
    for (long i = 0; i < STACK_WORDS; i++)
      check_word("litmus stack", r, i, stack_value(n - 1, r, i), words[i]);
    node_checks++;
    if (counter != (r + 1) * n)
      cons_fail("litmus stack", "round %ld counter (a local of main) expected %ld got %ld", r, (r + 1) * n,
                counter);
  }
}

/* ---- torn: racy 8-byte reads ------------------------------------------ */

static void torn_body(void *arg) {
  struct litmus *t = arg;
  int me = dsm_node_id(), n = dsm_num_nodes();
  long flips = t->rounds;
  uint64_t *done = &t->torn[TORN_WORDS]; /* racy too: only ends the readers early */
  if (me == n - 1) {
    /* Each flip is released (unlock) so that other hosts receive it as a
     * diff while their nodes are reading. */
    for (long f = 0; f < flips; f++) {
      uint64_t v = (f & 1) ? kTornB : kTornA;
      for (long w = 0; w < TORN_WORDS; w++) __atomic_store_n(&t->torn[w], v, __ATOMIC_RELAXED);
      if (t->inject && f == flips - 1) t->torn[3] = (kTornA & 0xffffffffULL) | (kTornB & ~0xffffffffULL);
      dsm_lock(TORN_LOCK);
      dsm_unlock(TORN_LOCK);
    }
    __atomic_store_n(done, 1, __ATOMIC_RELAXED);
    dsm_lock(TORN_LOCK);
    dsm_unlock(TORN_LOCK);
  } else {
    /* Until the writer is seen done, and at most this many reads. */
    long max_reads = flips * TORN_WORDS * 16;
    uint64_t w = (uint64_t)me * 131;
    for (long k = 0; k < max_reads; k++) {
      w = (w + 389) % TORN_WORDS;
      uint64_t v = __atomic_load_n(&t->torn[w], __ATOMIC_RELAXED);
      node_checks++;
      if (v != kTornA && v != kTornB)
        cons_fail("litmus torn",
                  "read %ld index %" PRIu64 " expected 0x%016" PRIx64 " or 0x%016" PRIx64
                  " got 0x%016" PRIx64,
                  k, w, kTornA, kTornB, v);
      if (k % 256 == 255 && __atomic_load_n(done, __ATOMIC_RELAXED)) break;
      /* Acquire now and then: invalidated pages are fetched again while
       * this host's other nodes read them. */
      if (k % TORN_READS_PER_ACQUIRE == TORN_READS_PER_ACQUIRE - 1) {
        dsm_lock(TORN_LOCK);
        dsm_unlock(TORN_LOCK);
      }
    }
  }
  dsm_barrier();
  uint64_t last = flips == 0 ? kTornA : ((flips - 1) & 1) ? kTornB : kTornA;
  for (long w = 0; w < TORN_WORDS; w++) check_word("litmus torn", flips, w, last, t->torn[w]);
  report(t);
}

static void run_torn(struct litmus *t) {
  t->torn = dsm_malloc((TORN_WORDS + 1) * sizeof(uint64_t));
  if (t->torn == NULL) cons_usage("dsm_malloc failed");
  for (long w = 0; w < TORN_WORDS; w++) t->torn[w] = kTornA;
  t->torn[TORN_WORDS] = 0;
  dsm_parallel(torn_body, t);
  dsm_free(t->torn);
}

/* ---- main ------------------------------------------------------------- */

struct test {
  const char *name;
  void (*run)(struct litmus *);
  int default_rounds;
};

static const struct test kTests[] = {
    {"lock", run_lock, 60},   {"barrier", run_barrier, 100}, {"region", run_region, 40},
    {"stack", run_stack, 30}, {"torn", run_torn, 200},
};
enum { NUM_TESTS = sizeof kTests / sizeof kTests[0] };

static int run_one(const struct test *test, int rounds, int inject) {
  struct litmus t;
  memset(&t, 0, sizeof t);
  t.rounds = rounds >= 0 ? rounds : test->default_rounds;
  t.inject = inject;
  double start = dsm_wtime();
  test->run(&t);
  /* Node 0's own checks in main (region, stack) count here. */
  t.checks += node_checks;
  t.errors += cons_errors;
  node_checks = 0;
  cons_errors = 0;
  if (t.errors != 0) {
    printf("litmus %s: FAILED with %ld wrong values of %ld checked, nodes=%d rounds=%d\n", test->name,
           t.errors, t.checks, dsm_num_nodes(), t.rounds);
    return 1;
  }
  printf("litmus %s: OK nodes=%d rounds=%d checks=%ld seconds=%.2f\n", test->name, dsm_num_nodes(), t.rounds,
         t.checks, dsm_wtime() - start);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  int inject = cons_take_inject(&argc, argv);
  if (argc < 2 || argc > 3)
    cons_usage("usage: litmus lock|barrier|region|stack|torn|all [ROUNDS] [--inject]");
  int rounds = argc == 3 ? (int)cons_parse_u64(argv[2], "ROUNDS", 1000000) : -1;
  int status = 0, found = 0;
  for (int i = 0; i < NUM_TESTS; i++) {
    if (strcmp(argv[1], "all") != 0 && strcmp(argv[1], kTests[i].name) != 0) continue;
    found = 1;
    status |= run_one(&kTests[i], rounds, inject);
  }
  if (!found) cons_usage("unknown test '%s' (lock, barrier, region, stack, torn or all)", argv[1]);
  return status;
}
