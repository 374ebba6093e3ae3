// -fno-dsm-shared-heap: the program's malloc stays each node's own, while
// its globals are still shared. Node 0 writes a magic value into a block it
// mallocs and publishes the pointer in a global; every node mallocs a block
// of its own and writes its own value. Every node then looks, through its
// own memory, at the address node 0 published (copied through a pipe, so an
// address that is not mapped there reads as nothing instead of crashing):
// only node 0 finds the magic there, and node 0's block still holds it.
// Counting in a global under omp critical shows the globals are shared.
// RUN: dsm-clang -fno-dsm-shared-heap -O1 %s -o %t
// RUN: dsm-run -n 4 %t | FileCheck %s
// RUN: dsm-run --hosts 2 -n 4 %t | FileCheck %s
// The link line has no heap wrappers.
// RUN: dsm-clang -### -fno-dsm-shared-heap %s -o %t.unused 2>&1 | FileCheck %s --check-prefix=LINK
//
// CHECK: node 0: finds node 0's value: yes, its own block: ok, in the shared space: no
// CHECK-NEXT: node 1: finds node 0's value: no, its own block: ok, in the shared space: no
// CHECK-NEXT: node 2: finds node 0's value: no, its own block: ok, in the shared space: no
// CHECK-NEXT: node 3: finds node 0's value: no, its own block: ok, in the shared space: no
// CHECK-NEXT: node 0's block: untouched, counter: 10
// LINK: "{{[^"]*}}/ld"
// LINK-NOT: libdsm_heap.a
// LINK-NOT: --wrap=malloc
// LINK-SAME: "--wrap=main"
// LINK-NOT: libdsm_heap.a
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MAGIC 0x5eedcafe12345678L

// Inside the shared space (mapped at 0x200000000000 on every node; private
// mmaps, thread heaps included, lie elsewhere).
#define IN_SPACE(p) ((uintptr_t)(p) - 0x200000000000u < 0x10000000000u)

long *published;  // a shared global holding node 0's private pointer
int finds_magic[64], own_ok[64], in_space[64];
long counter;

// Reads 8 bytes at p of this process, or returns 0 if p is not mapped here.
static long Peek(const long *p) {
  int fds[2];
  long v = 0;
  if (pipe(fds) != 0) return 0;
  if (write(fds[1], p, sizeof v) != sizeof v || read(fds[0], &v, sizeof v) != sizeof v) v = 0;
  close(fds[0]);
  close(fds[1]);
  return v;
}

int main(void) {
  published = malloc(64);
  published[0] = MAGIC;
#pragma omp parallel
  {
    const int t = omp_get_thread_num();
    long *mine = malloc(64);
    mine[0] = MAGIC + t;
    in_space[t] = IN_SPACE(mine);
    finds_magic[t] = Peek(published) == MAGIC;
    own_ok[t] = mine[0] == MAGIC + t;
    free(mine);
#pragma omp critical
    counter += t + 1;
  }
  for (int t = 0; t < omp_get_max_threads(); ++t) {
    printf("node %d: finds node 0's value: %s, its own block: %s, in the shared space: %s\n", t,
           finds_magic[t] ? "yes" : "no", own_ok[t] ? "ok" : "BAD", in_space[t] ? "yes" : "no");
  }
  printf("node 0's block: %s, counter: %ld\n", published[0] == MAGIC ? "untouched" : "changed",
         counter);
  free(published);
  return 0;
}
