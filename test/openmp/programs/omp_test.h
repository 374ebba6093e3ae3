/* Shared helpers of the OpenMP test programs. Each program is built twice
 * from the same source: with clang -fopenmp against libomp (the reference,
 * OMP_NUM_THREADS=4) and with dsm-clang (DSM_BUILD defined), run as a dsmkit
 * job of 4 nodes. Both must print the same lines, so programs print only
 * results that do not depend on scheduling, from the master thread outside
 * parallel regions.
 *
 * Shared data lives in main's locals, in globals (dsm-clang shares them:
 * globals.c) or in SHARED_ALLOC'd memory (dsm_calloc under dsmkit, calloc in
 * the reference). */
#ifndef DSM_OMP_TEST_H_
#define DSM_OMP_TEST_H_

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef DSM_BUILD
#include <dsm/dsm.h>
#define SHARED_ALLOC(n) dsm_calloc(1, (n))
#define SHARED_FREE(p) dsm_free(p)
#else
#define SHARED_ALLOC(n) calloc(1, (n))
#define SHARED_FREE(p) free(p)
#endif

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      printf("FAILED line %d: %s\n", __LINE__, #cond);                     \
      failures++;                                                          \
    }                                                                      \
  } while (0)

#endif
