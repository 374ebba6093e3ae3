/* Helpers shared by the consistency test programs (test/consistency/programs).
 *
 * Each program is a dsmkit job that checks its own results: on a wrong value
 * it prints one line starting with "FAIL" that names the program, the test,
 * the node, the index, the expected and the value it got, and the job ends
 * with status 1; on success node 0 prints one result line containing " OK ".
 *
 * A program defines CONS_PROG (its name) before including this file.
 * Everything here is per process (per node): the error counts are ordinary
 * globals, not shared memory. Errors seen by a node reach
 * node 0 through cons_report_errors (a locked add into a shared counter) and,
 * independently of that channel, through the FAIL lines on stdout, which the
 * test harness also looks for.
 *
 * Only the node's main thread calls these; nothing here is async-signal-safe.
 */
#ifndef DSM_TEST_CONSISTENCY_CONS_H_
#define DSM_TEST_CONSISTENCY_CONS_H_

#include <dsm/dsm.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A lock id no program uses for anything else. */
enum { CONS_REPORT_LOCK = 0x7fff0001 };
/* FAIL lines printed per node at most; later errors are only counted. */
enum { CONS_MAX_FAIL_LINES = 20 };

#ifndef CONS_PROG
#error "define CONS_PROG (the program's name) before including cons.h"
#endif

static long cons_errors;     /* errors this node found */
static long cons_fail_lines; /* FAIL lines this node printed */

/* Records an error and prints "FAIL <what>: node <k> <message>" (up to
 * CONS_MAX_FAIL_LINES per node), flushed at once so that it survives
 * whatever happens to the job afterwards. `what` names the program and the
 * test ("litmus lock"). */
__attribute__((format(printf, 2, 3))) static void cons_fail(const char *what, const char *fmt, ...) {
  cons_errors++;
  if (cons_fail_lines >= CONS_MAX_FAIL_LINES) return;
  cons_fail_lines++;
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  printf("FAIL %s: node %d %s%s\n", what, dsm_node_id(), message,
         cons_fail_lines == CONS_MAX_FAIL_LINES ? " (further errors of this node only counted)" : "");
  fflush(stdout);
}

/* Adds this node's error count to *total (shared) under CONS_REPORT_LOCK and
 * resets it. Called by every node at the end of a region. */
static void cons_report_errors(long *total) {
  dsm_lock(CONS_REPORT_LOCK);
  *total += cons_errors;
  dsm_unlock(CONS_REPORT_LOCK);
  cons_errors = 0;
}

/* Usage error: message on stderr, exit status 2 (node 0 only parses). */
__attribute__((format(printf, 1, 2), noreturn)) static void cons_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", CONS_PROG);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

/* A decimal number without sign or trailing characters, at most max. */
static uint64_t cons_parse_u64(const char *text, const char *what, uint64_t max) {
  char *end = NULL;
  errno = 0;
  if (text[0] < '0' || text[0] > '9') cons_usage("%s must be a number, not '%s'", what, text);
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || v > max)
    cons_usage("%s must be a number up to %" PRIu64 ", not '%s'", what, max, text);
  return (uint64_t)v;
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static uint64_t cons_parse_size(const char *text, const char *what) {
  char *end = NULL;
  errno = 0;
  if (text[0] < '0' || text[0] > '9') cons_usage("%s must be a size like 64M or 1G, not '%s'", what, text);
  unsigned long long v = strtoull(text, &end, 10);
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  if (*end == 'M' || *end == 'm') shift = 20;
  if (*end == 'G' || *end == 'g') shift = 30;
  if (shift != 0) end++;
  if (errno != 0 || *end != '\0' || v > (UINT64_MAX >> 1) >> shift)
    cons_usage("%s must be a size like 64M or 1G, not '%s'", what, text);
  return (uint64_t)v << shift;
}

/* Removes a trailing "--inject" argument: the program then plants one
 * deliberate error, to show that its checks can fail. */
static int cons_take_inject(int *argc, char **argv) {
  if (*argc > 1 && strcmp(argv[*argc - 1], "--inject") == 0) {
    (*argc)--;
    return 1;
  }
  return 0;
}

/* A well-mixed 64-bit function of x (the splitmix64 finaliser). */
static inline uint64_t cons_mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* A mix of several values (order matters). */
static inline uint64_t cons_mix3(uint64_t a, uint64_t b, uint64_t c) {
  return cons_mix(cons_mix(cons_mix(a) ^ b) ^ c);
}

/* A small deterministic generator (xorshift64*), private to a node. */
struct cons_rng {
  uint64_t s;
};

static inline void cons_rng_seed(struct cons_rng *r, uint64_t seed) { r->s = cons_mix(seed) | 1; }

static inline uint64_t cons_rng_next(struct cons_rng *r) {
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 0x2545f4914f6cdd1dULL;
}

/* Uniform-enough in [0, n), n > 0. */
static inline uint64_t cons_rng_below(struct cons_rng *r, uint64_t n) { return cons_rng_next(r) % n; }

#endif /* DSM_TEST_CONSISTENCY_CONS_H_ */
