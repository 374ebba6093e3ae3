// Aligned allocations in the shared heap: posix_memalign, aligned_alloc,
// memalign, valloc and pvalloc at alignments from 16 bytes to 64 KiB, each
// block aligned, inside the shared space, as usable as asked
// (malloc_usable_size), filled by every node and checked by node 0; then
// realloc keeps an aligned block's contents, and everything is freed.
// Invalid alignments fail as the C library's functions do.
// RUN: dsm-clang -O2 %s -o %t
// RUN: dsm-run -n 4 %t | FileCheck %s
// RUN: dsm-run --hosts 2 -n 4 %t | FileCheck %s
// RUN: %t | FileCheck %s
//
// CHECK: blocks=40 aligned=40 shared=40 usable=40
// CHECK-NEXT: contents=ok writers=ok
// CHECK-NEXT: realloc=ok
// CHECK-NEXT: posix_memalign(24)=EINVAL posix_memalign(3)=EINVAL aligned_alloc(48)=NULL
// CHECK-NEXT: freed
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS 40

// Inside the shared space (mapped at 0x200000000000 on every node; private
// mmaps, thread heaps included, lie elsewhere).
#define IN_SPACE(p) ((uintptr_t)(p) - 0x200000000000u < 0x10000000000u)

struct Block {
  unsigned char *p;
  size_t size;
  size_t align;
};
struct Block blocks[BLOCKS];
int writer[BLOCKS];

int main(void) {
  int n = 0;
  const size_t sizes[] = {1, 100, 5000, 70000};
  for (size_t a = 16; a <= 65536; a *= 4) {  // 16, 64, 256, 1024, 4096, 16384, 65536
    for (int s = 0; s < 4; ++s) {
      if (n >= BLOCKS - 12) break;
      void *p = NULL;
      if (posix_memalign(&p, a, sizes[s]) != 0) p = NULL;
      blocks[n++] = (struct Block){p, sizes[s], a};
    }
  }
  while (n < BLOCKS - 12) blocks[n++] = (struct Block){aligned_alloc(8192, 300), 300, 8192};
  for (int s = 0; s < 4; ++s) {
    blocks[n++] = (struct Block){aligned_alloc(4096, sizes[s]), sizes[s], 4096};
    blocks[n++] = (struct Block){memalign(128, sizes[s]), sizes[s], 128};
    blocks[n++] = (struct Block){s % 2 ? valloc(sizes[s]) : pvalloc(sizes[s]), sizes[s], 4096};
  }
  int aligned = 0, shared = 0, usable = 0;
  for (int i = 0; i < BLOCKS; ++i) {
    const uintptr_t a = (uintptr_t)blocks[i].p;
    aligned += a != 0 && a % blocks[i].align == 0;
    shared += IN_SPACE(a);
    usable += a != 0 && malloc_usable_size(blocks[i].p) >= blocks[i].size;
  }
  printf("blocks=%d aligned=%d shared=%d usable=%d\n", n, aligned, shared, usable);

  // Block i is filled by node (i % nodes), byte j = (i + j) mod 251.
  const int nodes = omp_get_max_threads();
#pragma omp parallel
  {
    const int t = omp_get_thread_num();
    for (int i = t; i < BLOCKS; i += nodes) {
      for (size_t j = 0; j < blocks[i].size; ++j) blocks[i].p[j] = (unsigned char)((i + j) % 251);
      writer[i] = t + 1;
    }
  }
  int contents = 1, writers = 1;
  for (int i = 0; i < BLOCKS; ++i) {
    for (size_t j = 0; j < blocks[i].size; ++j) contents &= blocks[i].p[j] == (i + j) % 251;
    writers &= writer[i] == i % nodes + 1;
  }
  printf("contents=%s writers=%s\n", contents ? "ok" : "BAD", writers ? "ok" : "BAD");

  // realloc of an aligned block: bigger (moves) and smaller, contents kept.
  unsigned char *r = blocks[2].p;
  const size_t old = blocks[2].size;
  r = realloc(r, old * 3);
  int realloc_ok = r != NULL && IN_SPACE(r);
  for (size_t j = 0; realloc_ok && j < old; ++j) realloc_ok &= r[j] == (2 + j) % 251;
  r = realloc(r, 10);
  for (size_t j = 0; realloc_ok && j < 10; ++j) realloc_ok &= r[j] == (2 + j) % 251;
  blocks[2].p = r;
  printf("realloc=%s\n", realloc_ok ? "ok" : "BAD");

  void *bad = NULL;
  const int e1 = posix_memalign(&bad, 24, 10), e2 = posix_memalign(&bad, 3, 10);
  // volatile: the call is not folded away. (errno is not checked: the
  // compiler assumes allocation functions leave it alone.)
  volatile size_t odd = 48;
  void *volatile q = aligned_alloc(odd, 96);
  printf("posix_memalign(24)=%s posix_memalign(3)=%s aligned_alloc(48)=%s\n",
         e1 == EINVAL ? "EINVAL" : "?", e2 == EINVAL ? "EINVAL" : "?", q ? "ptr" : "NULL");
  free(q);
  for (int i = 0; i < BLOCKS; ++i) free(blocks[i].p);
  puts("freed");
  return 0;
}
