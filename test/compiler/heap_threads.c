// The program's own threads: only the node's main thread allocates from the
// shared heap. A pthread's malloc is private; shared blocks it frees are
// queued and given back by the main thread's next heap call (the freed
// blocks are then reused); realloc of a shared block on the thread moves it
// to the thread's private heap with its contents.
// RUN: dsm-clang -O1 %s -o %t -lpthread
// RUN: dsm-run -n 2 %t | FileCheck %s
// RUN: dsm-run --hosts 2 -n 2 %t | FileCheck %s
// RUN: %t | FileCheck %s
//
// CHECK: main thread's blocks shared: 100
// CHECK-NEXT: thread's block private: yes, moved block private: yes, contents kept: yes
// CHECK-NEXT: after the thread's frees, main reuses a freed block: yes
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_SPACE(p) ((uintptr_t)(p) - 0x200000000000u < 0x10000000000u)
#define BLOCKS 100

void *blocks[BLOCKS];
char *moved;
void *thread_block;

static void *Thread(void *arg) {
  (void)arg;
  moved = realloc(moved, 4096);  // a shared block, reallocated off the main thread
  for (int i = 0; i < BLOCKS; ++i) free(blocks[i]);
  thread_block = malloc(100);
  return NULL;
}

int main(void) {
  int shared = 0;
  for (int i = 0; i < BLOCKS; ++i) {
    blocks[i] = malloc(64);
    shared += IN_SPACE(blocks[i]);
  }
  moved = malloc(32);
  strcpy(moved, "kept across the move");
  printf("main thread's blocks shared: %d\n", shared);
  pthread_t t;
  if (pthread_create(&t, NULL, Thread, NULL) != 0 || pthread_join(t, NULL) != 0) return 1;
  printf("thread's block private: %s, moved block private: %s, contents kept: %s\n",
         !IN_SPACE(thread_block) ? "yes" : "no", !IN_SPACE(moved) ? "yes" : "no",
         strcmp(moved, "kept across the move") == 0 ? "yes" : "no");
  void *again = malloc(64);
  int reused = 0;
  for (int i = 0; i < BLOCKS; ++i) reused |= again == blocks[i];
  printf("after the thread's frees, main reuses a freed block: %s\n", reused ? "yes" : "no");
  free(again);
  free(thread_block);
  free(moved);
  return 0;
}
