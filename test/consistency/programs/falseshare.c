/* falseshare: many writers of the same pages. Node k owns the bytes i of P
 * shared pages with i % N == k (mode "bytes"), or the 8-byte words w with
 * w % N == k (mode "words"). In every round each node takes its own lock,
 * writes all its bytes (words) with a value of (round, node, index) and
 * unlocks; the locks order nothing between nodes, so several nodes (and
 * hosts) write the same pages in the same interval and their diffs must be
 * merged without losing a byte. Every few rounds a barrier, a check of the
 * whole area by every node, and another barrier. At the end, after a
 * barrier, node 0 checks that every byte holds its owner's last value, in
 * the region and again in main after it.
 *
 *   dsm-run -n N dsm_cons_falseshare [PAGES [ROUNDS [bytes|words]]] [--inject]
 *
 * Prints "falseshare MODE: OK ..."; a wrong byte gives a FAIL line (node,
 * round, index, owner, expected, got) and exit status 1. --inject makes the
 * last node write one wrong value in the last round.
 */
#define CONS_PROG "falseshare"
#include "cons.h"

enum {
  PAGE = 4096,
  FS_LOCK_BASE = 1000, /* node k's lock is FS_LOCK_BASE + k */
  CHECK_EVERY = 8,     /* rounds between checks */
};

struct falseshare {
  unsigned char *area; /* PAGE-aligned, pages * PAGE bytes */
  long pages;
  long rounds;
  int words;
  int inject;
  long errors;
  long checks;
};

static long node_checks;

static uint8_t byte_value(int owner, long round, long i) {
  /* Consecutive rounds give different values for every byte. */
  return (uint8_t)((uint64_t)i * 131 + (uint64_t)owner * 17 + (uint64_t)round + 1);
}

static uint64_t word_value(int owner, long round, long w) { return cons_mix3(0xfa15e + owner, round, w); }

static void write_own(struct falseshare *s, int me, int n, long round) {
  if (s->words) {
    uint64_t *w = (uint64_t *)s->area;
    long count = s->pages * PAGE / 8;
    for (long i = me; i < count; i += n) w[i] = word_value(me, round, i);
    if (s->inject && me == n - 1 && round == s->rounds - 1) w[me] ^= 0x8000;
  } else {
    long count = s->pages * PAGE;
    for (long i = me; i < count; i += n) s->area[i] = byte_value(me, round, i);
    if (s->inject && me == n - 1 && round == s->rounds - 1) s->area[me] ^= 0x40;
  }
}

/* Checks every byte (word) against its owner's value of `round`. */
static void check_all(struct falseshare *s, int n, long round, const char *where) {
  if (s->words) {
    const uint64_t *w = (const uint64_t *)s->area;
    long count = s->pages * PAGE / 8;
    for (long i = 0; i < count; i++) {
      int owner = (int)(i % n);
      uint64_t want = word_value(owner, round, i), got = w[i];
      node_checks++;
      if (got != want)
        cons_fail("falseshare words",
                  "round %ld word %ld (page %ld, owner %d) expected 0x%016" PRIx64 " got 0x%016" PRIx64
                  " (%s)",
                  round, i, i * 8 / PAGE, owner, want, got, where);
    }
  } else {
    long count = s->pages * PAGE;
    for (long i = 0; i < count; i++) {
      int owner = (int)(i % n);
      uint8_t want = byte_value(owner, round, i), got = s->area[i];
      node_checks++;
      if (got != want)
        cons_fail("falseshare bytes",
                  "round %ld byte %ld (page %ld, owner %d) expected 0x%02x got 0x%02x (%s)", round, i,
                  i / PAGE, owner, want, got, where);
    }
  }
}

static void body(void *arg) {
  struct falseshare *s = arg;
  int me = dsm_node_id(), n = dsm_num_nodes();
  for (long r = 0; r < s->rounds; r++) {
    dsm_lock(FS_LOCK_BASE + (unsigned)me);
    write_own(s, me, n, r);
    dsm_unlock(FS_LOCK_BASE + (unsigned)me);
    if (r % CHECK_EVERY == CHECK_EVERY - 1 && r != s->rounds - 1) {
      dsm_barrier();
      check_all(s, n, r, "every node, after a barrier");
      dsm_barrier(); /* nobody writes the next round before all checked */
    }
  }
  dsm_barrier();
  if (me == 0) check_all(s, n, s->rounds - 1, "node 0, after the last barrier");
  dsm_lock(CONS_REPORT_LOCK);
  s->checks += node_checks;
  dsm_unlock(CONS_REPORT_LOCK);
  node_checks = 0;
  cons_report_errors(&s->errors);
}

int main(int argc, char **argv) {
  struct falseshare s;
  memset(&s, 0, sizeof s);
  s.inject = cons_take_inject(&argc, argv);
  if (argc > 4) cons_usage("usage: falseshare [PAGES [ROUNDS [bytes|words]]] [--inject]");
  s.pages = argc > 1 ? (long)cons_parse_u64(argv[1], "PAGES", 1 << 16) : 4;
  s.rounds = argc > 2 ? (long)cons_parse_u64(argv[2], "ROUNDS", 1 << 24) : 200;
  const char *mode = argc > 3 ? argv[3] : "bytes";
  if (strcmp(mode, "words") == 0) {
    s.words = 1;
  } else if (strcmp(mode, "bytes") != 0) {
    cons_usage("mode must be bytes or words, not '%s'", mode);
  }
  if (s.pages < 1 || s.rounds < 1) cons_usage("PAGES and ROUNDS must be at least 1");
  void *block = dsm_malloc((size_t)(s.pages + 1) * PAGE);
  if (block == NULL) cons_usage("dsm_malloc of %ld pages failed", s.pages + 1);
  s.area = (unsigned char *)(((uintptr_t)block + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
  memset(s.area, 0, (size_t)s.pages * PAGE);

  double start = dsm_wtime();
  dsm_parallel(body, &s);
  /* Again in main: the end of the region published every node's writes. */
  check_all(&s, dsm_num_nodes(), s.rounds - 1, "node 0, in main after the region");
  s.checks += node_checks;
  s.errors += cons_errors;
  if (s.errors != 0) {
    printf("falseshare %s: FAILED with %ld wrong values of %ld checked, nodes=%d pages=%ld rounds=%ld\n",
           mode, s.errors, s.checks, dsm_num_nodes(), s.pages, s.rounds);
    return 1;
  }
  printf("falseshare %s: OK nodes=%d pages=%ld rounds=%ld checks=%ld seconds=%.2f\n", mode, dsm_num_nodes(),
         s.pages, s.rounds, s.checks, dsm_wtime() - start);
  dsm_free(block);
  return 0;
}
