/* bigarray: one large shared array, filled by node 0 and read by all.
 *
 * Node 0 allocates SIZE bytes with dsm_malloc and fills them, in main, with
 * 8-byte words a[i] = i*K + C. In a parallel region every node sums a
 * distinct part of the array (pass 1) and then, after a barrier, the whole
 * array starting from its own part (pass 2). Each node checks its sums
 * against closed forms: the plain sum, and the sum of i*a[i], which also
 * catches pages that are whole but in the wrong place. Pass 1's partial sums
 * are combined under a lock and node 0 checks the totals after the region.
 * On a wrong sum the node looks for the first wrong word and names it.
 *
 *   dsm-run -n N [--memory 4G] dsm_cons_bigarray SIZE [--inject]
 *
 * SIZE takes K, M or G (e.g. 1G); a multiple of 8. Node 0 prints progress on
 * stderr every 128 MiB, then "bigarray: OK ..." on stdout. --inject makes
 * node 0 write one wrong word after the fill.
 */
#define CONS_PROG "bigarray"
#include "cons.h"

#define PROGRESS_BYTES (128ULL << 20)

static const uint64_t kK = 0x9e3779b97f4a7c15ULL;
static const uint64_t kC = 0x0123456789abcdefULL;

/* Shared: lives on node 0's main stack. */
struct big {
  uint64_t *a;
  uint64_t words;
  uint64_t part_sum, part_wsum; /* pass 1, combined under BIG_LOCK */
  long parts;
  long whole_ok; /* nodes whose pass-2 sums were right */
  long errors;
};

enum { BIG_LOCK = 3000 };

struct sums {
  uint64_t sum;  /* sum of a[i] mod 2^64 */
  uint64_t wsum; /* sum of i*a[i] mod 2^64 */
};

static inline uint64_t word_value(uint64_t i) { return i * kK + kC; }

/* sum of i for i in [0, n) and sum of i^2, exact (n < 2^40). */
static unsigned __int128 sum_i(uint64_t n) { return n == 0 ? 0 : (unsigned __int128)n * (n - 1) / 2; }
static unsigned __int128 sum_i2(uint64_t n) {
  if (n == 0) return 0;
  unsigned __int128 m = n;
  return (m - 1) * m * (2 * m - 1) / 6;
}

/* Closed forms over [begin, end). */
static struct sums expected_sums(uint64_t begin, uint64_t end) {
  uint64_t s1 = (uint64_t)(sum_i(end) - sum_i(begin));
  uint64_t s2 = (uint64_t)(sum_i2(end) - sum_i2(begin));
  struct sums s = {kK * s1 + kC * (end - begin), kK * s2 + kC * s1};
  return s;
}

/* Sums [begin, end); node 0 reports every PROGRESS_BYTES as `what`. */
static struct sums sum_range(const uint64_t *a, uint64_t begin, uint64_t end, const char *what,
                             uint64_t *progress, uint64_t total_words) {
  struct sums s = {0, 0};
  const uint64_t step = PROGRESS_BYTES / 8;
  for (uint64_t chunk = begin; chunk < end; chunk += step) {
    uint64_t stop = end - chunk < step ? end : chunk + step;
    for (uint64_t i = chunk; i < stop; i++) {
      s.sum += a[i];
      s.wsum += i * a[i];
    }
    if (progress != NULL) {
      *progress += stop - chunk;
      if (total_words * 8 >= PROGRESS_BYTES)
        fprintf(stderr, "bigarray: %s %" PRIu64 " of %" PRIu64 " MiB\n", what, *progress * 8 >> 20,
                total_words * 8 >> 20);
    }
  }
  return s;
}

/* A wrong sum: name the first wrong word of [begin, end). */
static void report_wrong(const char *pass, const uint64_t *a, uint64_t begin, uint64_t end, struct sums got,
                         struct sums want) {
  for (uint64_t i = begin; i < end; i++) {
    uint64_t v = a[i];
    if (v != word_value(i)) {
      cons_fail(pass,
                "index %" PRIu64 " (byte offset %" PRIu64 ", page %" PRIu64 ") expected 0x%016" PRIx64
                " got 0x%016" PRIx64,
                i, i * 8, i * 8 / 4096, word_value(i), v);
      return;
    }
  }
  cons_fail(pass,
            "words [%" PRIu64 ", %" PRIu64 ") sum expected 0x%016" PRIx64 " got 0x%016" PRIx64
            ", weighted sum expected 0x%016" PRIx64 " got 0x%016" PRIx64
            " (every word right on a second read)",
            begin, end, want.sum, got.sum, want.wsum, got.wsum);
}

static int same(struct sums x, struct sums y) { return x.sum == y.sum && x.wsum == y.wsum; }

static void body(void *arg) {
  struct big *b = arg;
  int me = dsm_node_id(), n = dsm_num_nodes();
  uint64_t begin = b->words * (uint64_t)me / (uint64_t)n, end = b->words * (uint64_t)(me + 1) / (uint64_t)n;
  uint64_t progress = 0;

  struct sums part =
      sum_range(b->a, begin, end, "pass 1 (node 0's part)", me == 0 ? &progress : NULL, end - begin);
  struct sums want = expected_sums(begin, end);
  if (!same(part, want)) report_wrong("bigarray pass 1 (own part)", b->a, begin, end, part, want);
  dsm_lock(BIG_LOCK);
  b->part_sum += part.sum;
  b->part_wsum += part.wsum;
  b->parts++;
  dsm_unlock(BIG_LOCK);
  dsm_barrier();

  /* Pass 2: the whole array, from this node's part round to it. */
  progress = 0;
  struct sums tail =
      sum_range(b->a, begin, b->words, "pass 2 (whole array)", me == 0 ? &progress : NULL, b->words);
  struct sums head = sum_range(b->a, 0, begin, "pass 2 (whole array)", me == 0 ? &progress : NULL, b->words);
  struct sums whole = {tail.sum + head.sum, tail.wsum + head.wsum};
  struct sums want_whole = expected_sums(0, b->words);
  int ok = same(whole, want_whole);
  if (!ok) report_wrong("bigarray pass 2 (whole array)", b->a, 0, b->words, whole, want_whole);
  dsm_lock(BIG_LOCK);
  b->whole_ok += ok;
  dsm_unlock(BIG_LOCK);
  cons_report_errors(&b->errors);
}

int main(int argc, char **argv) {
  struct big b;
  memset(&b, 0, sizeof b);
  int inject = cons_take_inject(&argc, argv);
  if (argc != 2) cons_usage("usage: bigarray SIZE [--inject]   (SIZE like 64M or 1G)");
  uint64_t size = cons_parse_size(argv[1], "SIZE");
  if (size < 8 || size % 8 != 0 || size > (1ULL << 40)) cons_usage("SIZE must be a multiple of 8 up to 1T");
  b.words = size / 8;
  int n = dsm_num_nodes();

  double t0 = dsm_wtime();
  b.a = dsm_malloc(size);
  if (b.a == NULL)
    cons_usage("dsm_malloc of %" PRIu64 " bytes failed: the shared space is too small (dsm-run --memory)",
               size);
  const uint64_t step = PROGRESS_BYTES / 8;
  for (uint64_t chunk = 0; chunk < b.words; chunk += step) {
    uint64_t stop = b.words - chunk < step ? b.words : chunk + step;
    for (uint64_t i = chunk; i < stop; i++) b.a[i] = word_value(i);
    if (size >= PROGRESS_BYTES)
      fprintf(stderr, "bigarray: filled %" PRIu64 " of %" PRIu64 " MiB\n", stop * 8 >> 20, size >> 20);
  }
  if (inject) b.a[b.words / 2] ^= 0x4000;
  double t1 = dsm_wtime();
  dsm_parallel(body, &b);
  double t2 = dsm_wtime();

  struct sums totals = {b.part_sum, b.part_wsum};
  struct sums want = expected_sums(0, b.words);
  if (b.parts != n)
    cons_fail("bigarray", "%ld of %d nodes added their part under the lock", b.parts, n);
  else if (!same(totals, want))
    cons_fail("bigarray",
              "combined parts: sum expected 0x%016" PRIx64 " got 0x%016" PRIx64
              ", weighted sum expected 0x%016" PRIx64 " got 0x%016" PRIx64,
              want.sum, totals.sum, want.wsum, totals.wsum);
  if (b.whole_ok != n) cons_fail("bigarray", "%ld of %d nodes summed the whole array right", b.whole_ok, n);
  b.errors += cons_errors;
  if (b.errors != 0) {
    printf("bigarray: FAILED with %ld errors, size=%" PRIu64 " nodes=%d\n", b.errors, size, n);
    return 1;
  }
  printf("bigarray: OK size=%" PRIu64 " nodes=%d fill=%.2fs sums=%.2fs\n", size, n, t1 - t0, t2 - t1);
  dsm_free(b.a);
  return 0;
}
