/* splash2_common.h: what the SPLASH-2 programs of examples/splash2 share:
 * the command line (options from a table, values parsed strictly, the -X
 * test hook), a barrier that counts its waiting time, the team-wide failure
 * flag, the report's time and check lines, the DSM-SUITE summary line, and
 * the input file of the programs that read "name value" lines
 * (water-nsquared, barnes).
 *
 * Plain C and OpenMP, no dsmkit API: splash2_common.c is compiled into every
 * program, by clang -fopenmp and by dsm-clang alike. It has no state.
 *
 * Thread safety: splash2_timed_barrier and splash2_any_failed are called by
 * every thread of a team (they contain a barrier); the others by one thread
 * at a time (they print, or read a FILE).
 */
#ifndef SPLASH2_COMMON_H
#define SPLASH2_COMMON_H

#include <stdio.h>

/* ---- the command line */

/* One option of a program; exactly one of integer, number, flag and
 * test_hook is set. */
struct splash2_option {
  char letter;
  long *integer;    /* -L N: N, all of it, a decimal integer (strtol) in [lo, hi] */
  double *number;   /* -L X: X, all of it, a number (strtod) in [lo, hi]; never NaN */
  int *flag;        /* -L: *flag = 1 */
  int *test_hook;   /* -L corrupt, the hook for tests: *test_hook = 1 (the
                     * program then changes one value of its result before
                     * checking it, so the check must fail); no other value */
  double lo, hi;
  int (*also)(double value);  /* if set, a value must pass it too */
};

/* Parses the options of argv (getopt, so options before operands) against
 * options[0..count) and -h, and allows at most max_operands operands (they
 * start at argv[optind]). A value is stored as its option comes; the first
 * bad one ends the parse. Returns -1 to go on; otherwise the exit status,
 * after usage(argv[0]): 0 for -h, 2 for a bad command line. */
int splash2_parse_options(int argc, char **argv, const struct splash2_option *options,
                          int count, int max_operands, void (*usage)(const char *program));
/* The number of entries of an array (of options). */
#define SPLASH2_COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

/* ---- the team (every thread calls these) */

/* A barrier; the time spent waiting in it is added to *wait (seconds). */
void splash2_timed_barrier(double *wait);
/* Whether any thread of the team failed: a thread that did passes
 * failed != 0. *flag is a shared int, 0 before the team calls this; it is
 * set to 1 when any thread failed. One barrier; every thread gets the same
 * answer (1 or 0). */
int splash2_any_failed(int failed, int *flag);

/* ---- the report, on stdout */

/* "  time with initialisation      <total> s" and "  time of the <phase>
 * <phase time> s", the numbers aligned. */
void splash2_print_times(const char *phase, double phase_s, double total_s);
/* When passed is 0, "  FAILED: <message>" as a line of its own. Returns
 * passed != 0, so that a report can collect `ok &= splash2_check(...)`. */
int splash2_check(int passed, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* The summary line, last of the output:
 *   DSM-SUITE: program=<name> threads=<n> phase_s=<s> total_s=<s> check=ok|failed
 * test/splash2 and benchmarks/suite parse it: keep its format. Returns the
 * program's exit status, 0 when ok, 1 when not. */
int splash2_finish(const char *program, int threads, double phase_s, double total_s, int ok);

/* ---- programs that read an input file of "name value" lines */

/* Their command line, [-p P] [-s] [-X corrupt] [-h] [INPUT]: P threads in
 * [1, max_threads] (*threads keeps its value without -p), -s sets
 * *print_stats, -X corrupt *corrupt, *path is INPUT or NULL (standard
 * input). Returns as splash2_parse_options. */
int splash2_input_options(int argc, char **argv, long max_threads, long *threads,
                          int *print_stats, int *corrupt, const char **path);

/* An input file being read. */
struct splash2_input {
  FILE *file;
  const char *name;  /* for messages: its path, or "standard input" */
  int line;          /* number of the last line read */
};

/* Opens path (standard input when NULL), hands it to read_lines and closes
 * it. read_lines returns 0, or -1 after its message on stderr. Returns 0, or
 * -1 when path cannot be opened ("<program>: cannot open <path>: <reason>"
 * on stderr) or read_lines failed. */
int splash2_read_input(const char *program, const char *path,
                       int (*read_lines)(struct splash2_input *in));
/* The next line with something on it ('#' starts a comment): 1, its first
 * word in key (at most 63 characters), and in *value the rest when that is
 * exactly one finite number (*value_ok 1; else *value_ok 0 and *value 0).
 * 0 at the end of the file. */
int splash2_input_next(struct splash2_input *in, char key[64], double *value, int *value_ok);
/* "<name>:<line>: bad line (unknown name or value out of range)" on stderr.
 * Returns -1. */
int splash2_input_bad_line(const struct splash2_input *in);

#endif
