// With the shared heap, what the C library allocates for itself stays
// private and keeps working on every node: each node writes its own file
// with fopen/fprintf (stdio buffers), sorts a shared array with qsort, and
// node 0 reads every file back with getline, both into a buffer getline
// allocates (the C library's) and into one the program malloc'ed (shared:
// filled through a private buffer), then frees both with free, and frees
// what asprintf and realpath returned.
// RUN: rm -rf %t.dir && mkdir -p %t.dir
// RUN: dsm-clang -O1 %s -o %t
// RUN: dsm-run -n 4 %t %t.dir | FileCheck %s
// RUN: dsm-run --hosts 2 -n 4 %t %t.dir | FileCheck %s
// RUN: %t %t.dir | FileCheck %s --check-prefix=ONE
//
// CHECK: node 0: 3 lines, sum 10, sorted ok
// CHECK-NEXT: node 1: 3 lines, sum 11, sorted ok
// CHECK-NEXT: node 2: 3 lines, sum 12, sorted ok
// CHECK-NEXT: node 3: 3 lines, sum 13, sorted ok
// CHECK-NEXT: lines=12 longest=53 shared-buffer=ok private-buffer=ok
// CHECK-NEXT: asprintf=node files: 4 realpath=ok
// ONE: node 0: 3 lines, sum 10, sorted ok
// ONE-NEXT: lines=3 longest=53 shared-buffer=ok private-buffer=ok
#define _GNU_SOURCE
#include <limits.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 5000

// Inside the shared space (mapped at 0x200000000000 on every node; private
// mmaps, thread heaps included, lie elsewhere).
#define IN_SPACE(p) ((uintptr_t)(p) - 0x200000000000u < 0x10000000000u)

const char *dir;
int *numbers;  // shared: every node sorts its own quarter
int sorted_ok[64], written[64];

static int Compare(const void *a, const void *b) {
  const int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  dir = argv[1];
  numbers = malloc(N * sizeof(int));
  for (int i = 0; i < N; ++i) numbers[i] = (i * 7919) % N;
  const int nodes = omp_get_max_threads();
#pragma omp parallel
  {
    const int t = omp_get_thread_num();
    const int lo = N * t / nodes, hi = N * (t + 1) / nodes;
    qsort(numbers + lo, (size_t)(hi - lo), sizeof(int), Compare);
    sorted_ok[t] = 1;
    for (int i = lo + 1; i < hi; ++i) sorted_ok[t] &= numbers[i - 1] <= numbers[i];
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/node%d.txt", dir, t);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
      fprintf(f, "node %d first line\n", t);
      fprintf(f, "%d\n", t + 10);
      fprintf(f, "a longer last line for node %d, longer than the first\n", t);
      written[t] = fclose(f) == 0;
    }
  }
  long lines = 0;
  size_t longest = 0;
  char *shared_line = malloc(8);  // too small: getline grows it
  size_t shared_cap = 8;
  int shared_ok = IN_SPACE(shared_line), private_ok = 1;
  for (int t = 0; t < nodes; ++t) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/node%d.txt", dir, t);
    FILE *f = fopen(path, "r");
    if (f == NULL || !written[t]) {
      printf("node %d: no file\n", t);
      continue;
    }
    char *line = NULL;  // the C library's
    size_t cap = 0;
    int count = 0, sum = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
      ++count;
      if ((size_t)len > longest) longest = (size_t)len;
      if (count == 2) sum = atoi(line);
    }
    private_ok &= line != NULL && !IN_SPACE(line);
    free(line);
    rewind(f);
    int shared_count = 0;
    while ((len = getline(&shared_line, &shared_cap, f)) > 0) {
      ++shared_count;
      shared_ok &= strlen(shared_line) == (size_t)len && shared_line[len - 1] == '\n';
    }
    shared_ok &= shared_count == count && IN_SPACE(shared_line) &&
                 shared_cap >= longest + 1;
    fclose(f);
    lines += count;
    printf("node %d: %d lines, sum %d, sorted %s\n", t, count, sum, sorted_ok[t] ? "ok" : "BAD");
  }
  free(shared_line);
  printf("lines=%ld longest=%zu shared-buffer=%s private-buffer=%s\n", lines, longest,
         shared_ok ? "ok" : "BAD", private_ok ? "ok" : "BAD");
  if (nodes > 1) {
    char *text = NULL;
    if (asprintf(&text, "node files: %d", nodes) < 0) return 1;
    char *real = realpath(dir, NULL);
    printf("asprintf=%s realpath=%s\n", text, real != NULL && real[0] == '/' ? "ok" : "BAD");
    free(text);
    free(real);
  }
  free(numbers);
  return 0;
}
