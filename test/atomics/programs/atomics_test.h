/* Shared helpers of the atomics test programs (built by dsm-clang, run by
 * dsm-run on 1 host x 4 nodes and 2 hosts x 2 nodes). Every node of the team
 * updates shared counters many times; node 0 then checks the exact totals
 * and prints one line per check, then "failures N". Shared data lives in
 * main's locals, dsm_malloc'd memory or globals. The program's exit status
 * is 1 if a check failed. */
#ifndef DSM_ATOMICS_TEST_H_
#define DSM_ATOMICS_TEST_H_

#include <dsm/dsm.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

/* Iterations per node: argv[1], or the default. */
static inline int Iterations(int argc, char** argv, int dflt) {
  return argc > 1 ? atoi(argv[1]) : dflt;
}

#define EXPECT_EQ_LL(name, got, want)                                             \
  do {                                                                          \
    long long g_ = (long long)(got), w_ = (long long)(want);                     \
    if (g_ != w_) {                                                             \
      printf("FAIL %s: got %lld, want %lld\n", name, g_, w_);                  \
      failures++;                                                               \
    } else {                                                                    \
      printf("ok %s\n", name);                                                  \
    }                                                                           \
  } while (0)

#define EXPECT_TRUE(name, cond)                                                   \
  do {                                                                          \
    if (!(cond)) {                                                              \
      printf("FAIL %s: %s\n", name, #cond);                                     \
      failures++;                                                               \
    } else {                                                                    \
      printf("ok %s\n", name);                                                  \
    }                                                                           \
  } while (0)

#endif
