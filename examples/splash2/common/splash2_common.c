/* splash2_common.c: the helpers every SPLASH-2 program of examples/splash2
 * links (see splash2_common.h). No state of its own.
 */
#include "splash2_common.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the command line */

static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) return -1;
  *out = v;
  return 0;
}

/* Stores optarg for option o; returns 0, or -1 for a bad value. */
static int store(const struct splash2_option *o, const char *arg) {
  if (o->flag != NULL) {
    *o->flag = 1;
    return 0;
  }
  if (o->test_hook != NULL) {
    if (strcmp(arg, "corrupt") != 0) return -1;
    *o->test_hook = 1;
    return 0;
  }
  if (o->integer != NULL) {
    if (parse_long(arg, (long)o->lo, (long)o->hi, o->integer) != 0) return -1;
    return o->also == NULL || o->also((double)*o->integer) ? 0 : -1;
  }
  if (parse_double(arg, o->lo, o->hi, o->number) != 0) return -1;
  return o->also == NULL || o->also(*o->number) ? 0 : -1;
}

int splash2_parse_options(int argc, char **argv, const struct splash2_option *options,
                          int count, int max_operands, void (*usage)(const char *program)) {
  char letters[2 * count + 2];  /* getopt's: every letter, ':' after those with a value */
  int n = 0;
  for (int i = 0; i < count; ++i) {
    letters[n++] = options[i].letter;
    if (options[i].flag == NULL) letters[n++] = ':';
  }
  letters[n++] = 'h';
  letters[n] = '\0';
  int opt;
  while ((opt = getopt(argc, argv, letters)) != -1) {
    if (opt == 'h') {
      usage(argv[0]);
      return 0;
    }
    const struct splash2_option *o = NULL;
    for (int i = 0; i < count && o == NULL; ++i) {
      if (options[i].letter == opt) o = &options[i];
    }
    if (o == NULL || store(o, optarg) != 0) {
      usage(argv[0]);
      return 2;
    }
  }
  if (argc - optind > max_operands) {
    usage(argv[0]);
    return 2;
  }
  return -1;
}

/* ---- the team */

void splash2_timed_barrier(double *wait) {
  double t0 = omp_get_wtime();
#pragma omp barrier
  *wait += omp_get_wtime() - t0;
}

int splash2_any_failed(int failed, int *flag) {
  if (failed) {
#pragma omp atomic write
    *flag = 1;
  }
#pragma omp barrier
  int any;
#pragma omp atomic read
  any = *flag;
  return any != 0;
}

/* ---- the report */

void splash2_print_times(const char *phase, double phase_s, double total_s) {
  printf("  time with initialisation      %10.6f s\n", total_s);
  printf("  time of the %-18s%10.6f s\n", phase, phase_s);
}

int splash2_check(int passed, const char *format, ...) {
  if (passed) return 1;
  va_list args;
  va_start(args, format);
  printf("  FAILED: ");
  vprintf(format, args);
  printf("\n");
  va_end(args);
  return 0;
}

int splash2_finish(const char *program, int threads, double phase_s, double total_s, int ok) {
  printf("DSM-SUITE: program=%s threads=%d phase_s=%.6f total_s=%.6f check=%s\n", program,
         threads, phase_s, total_s, ok ? "ok" : "failed");
  return ok ? 0 : 1;
}

/* ---- programs that read an input file */

static void input_usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [-p P] [-s] [-h] [INPUT]\n"
          "  INPUT  the input file (default: standard input); see README.md\n"
          "  -p P   threads (default omp_get_max_threads())\n"
          "  -s     print per-thread statistics\n"
          "  -X corrupt  (for tests) change one value of the result before the check\n",
          prog);
}

int splash2_input_options(int argc, char **argv, long max_threads, long *threads,
                          int *print_stats, int *corrupt, const char **path) {
  const struct splash2_option options[] = {
      {.letter = 'p', .integer = threads, .lo = 1, .hi = (double)max_threads},
      {.letter = 's', .flag = print_stats},
      {.letter = 'X', .test_hook = corrupt},
  };
  int status = splash2_parse_options(argc, argv, options, SPLASH2_COUNT(options), 1, input_usage);
  *path = optind < argc ? argv[optind] : NULL;
  return status;
}

int splash2_read_input(const char *program, const char *path,
                       int (*read_lines)(struct splash2_input *in)) {
  struct splash2_input in = {stdin, "standard input", 0};
  if (path != NULL) {
    in.file = fopen(path, "r");
    in.name = path;
    if (in.file == NULL) {
      fprintf(stderr, "%s: cannot open %s: %s\n", program, path, strerror(errno));
      return -1;
    }
  }
  int result = read_lines(&in);
  if (in.file != stdin) fclose(in.file);
  return result == 0 ? 0 : -1;
}

int splash2_input_next(struct splash2_input *in, char key[64], double *value, int *value_ok) {
  char line[256];
  while (fgets(line, sizeof line, in->file) != NULL) {
    ++in->line;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char text[128], extra[8];
    int got = sscanf(line, "%63s %127s %7s", key, text, extra);
    if (got <= 0) continue;
    char *end;
    errno = 0;
    double v = got == 2 ? strtod(text, &end) : 0.0;
    *value_ok = got == 2 && errno == 0 && end != text && *end == '\0' && isfinite(v);
    *value = *value_ok ? v : 0.0;
    return 1;
  }
  return 0;
}

int splash2_input_bad_line(const struct splash2_input *in) {
  fprintf(stderr, "%s:%d: bad line (unknown name or value out of range)\n", in->name, in->line);
  return -1;
}
