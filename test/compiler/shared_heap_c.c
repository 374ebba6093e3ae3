// Zero-annotation mode, C: a program with no dsm pragma and no dsm call.
// Its globals, main's locals and whatever it mallocs, callocs, reallocs and
// strdups (reached through a global pointer) are shared: every node fills
// part of them in an OpenMP loop and node 0 checks every value exactly.
// Run by dsm-run on one host and on two, and on its own (an embedded
// one-node job, whose daemon thread allocates from the C library).
// RUN: dsm-clang -O0 %s -o %t.O0
// RUN: dsm-clang -O2 %s -o %t.O2
// RUN: dsm-run -n 4 %t.O0 | FileCheck %s -DNODES=4
// RUN: dsm-run -n 4 %t.O2 | FileCheck %s -DNODES=4
// RUN: dsm-run --hosts 2 -n 4 %t.O0 | FileCheck %s -DNODES=4
// RUN: dsm-run --hosts 2 -n 4 %t.O2 | FileCheck %s -DNODES=4
// RUN: %t.O2 | FileCheck %s -DNODES=1
//
// A free of a pointer into the shared heap that is not a block ends the job
// with the runtime's message.
// RUN: not dsm-run -n 2 %t.O2 bad-free 2>&1 | FileCheck %s --check-prefix=BADFREE
// RUN: not dsm-run --hosts 2 -n 2 %t.O2 double-free 2>&1 | FileCheck %s --check-prefix=DOUBLEFREE
//
// CHECK: nodes=[[NODES]] shared=yes
// CHECK-NEXT: squares=ok zeros=ok writers=[[NODES]]
// CHECK-NEXT: grown=ok moved=ok label=ok prefix=ok
// CHECK-NEXT: counter=1000 local=18000
// CHECK-NEXT: done
// BADFREE: dsm[node 0]: error: free(0x{{[0-9a-f]+}}): not a block returned by malloc or new
// DOUBLEFREE: dsm[node 0]: error: free(0x{{[0-9a-f]+}}): block freed twice
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 1000

// Inside the shared space (mapped at 0x200000000000 on every node; private
// mmaps, thread heaps included, lie elsewhere).
#define IN_SPACE(p) ((uintptr_t)(p) - 0x200000000000u < 0x10000000000u)

struct Data {
  long *squares;  // malloc
  int *zeros;     // calloc: zero on every node, then the writer's number
  double *grown;  // malloc, then realloc'ed bigger
  char *label;    // strdup
  char *prefix;   // strndup
};

struct Data *data;  // a global pointer to a malloc'ed struct
int counter;

int main(int argc, char **argv) {
  long local = 0;  // main's local, updated by every node
  data = malloc(sizeof *data);
  data->squares = malloc(N * sizeof(long));
  data->zeros = calloc(N, sizeof(int));
  data->grown = malloc(8 * sizeof(double));
  for (int i = 0; i < 8; ++i) data->grown[i] = 100 + i;
  double *before = data->grown;
  data->grown = realloc(data->grown, N * sizeof(double));
  data->label = strdup("shared label");
  data->prefix = strndup("prefix-and-more", 6);
  if (argc > 1 && strcmp(argv[1], "bad-free") == 0) free(data->label + 16);
  if (argc > 1 && strcmp(argv[1], "double-free") == 0) {
    free(data->label);
    free(data->label);
  }

  int zeros_seen = 0;
#pragma omp parallel for reduction(+ : zeros_seen)
  for (int i = 0; i < N; ++i) {
    data->squares[i] = (long)i * i;
    zeros_seen += data->zeros[i] == 0;
    data->zeros[i] = omp_get_thread_num() + 1;
    data->grown[i] = (i < 8 ? data->grown[i] : 0) + i;
#pragma omp critical
    {
      ++counter;
      local += (long)(strlen(data->label) + strlen(data->prefix));
    }
  }

  const int nodes = omp_get_max_threads();
  printf("nodes=%d shared=%s\n", nodes,
         IN_SPACE(data->squares) && IN_SPACE(data)
             ? "yes" : "no");
  int squares_ok = 1, zeros_ok = zeros_seen == N, grown_ok = 1;
  int wrote[64] = {0};
  for (int i = 0; i < N; ++i) {
    squares_ok &= data->squares[i] == (long)i * i;
    zeros_ok &= data->zeros[i] >= 1 && data->zeros[i] <= nodes;
    if (data->zeros[i] >= 1 && data->zeros[i] <= nodes) wrote[data->zeros[i] - 1] = 1;
    grown_ok &= data->grown[i] == (i < 8 ? 100 + 2 * i : i);
  }
  int writers = 0;
  for (int t = 0; t < nodes; ++t) writers += wrote[t];
  printf("squares=%s zeros=%s writers=%d\n", squares_ok ? "ok" : "BAD", zeros_ok ? "ok" : "BAD",
         writers);
  // A bigger realloc moves the block (8 doubles fit no 8000-byte class).
  printf("grown=%s moved=%s label=%s prefix=%s\n", grown_ok ? "ok" : "BAD",
         data->grown != before ? "ok" : "BAD", strcmp(data->label, "shared label") ? "BAD" : "ok",
         strcmp(data->prefix, "prefix") ? "BAD" : "ok");
  printf("counter=%d local=%ld\n", counter, local);
  free(data->squares);
  free(data->zeros);
  free(data->grown);
  free(data->label);
  free(data->prefix);
  free(data);
  puts("done");
  return 0;
}
