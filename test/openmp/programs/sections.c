/* sections: each section runs exactly once (more sections than threads,
 * fewer, one), with private, firstprivate, lastprivate and reduction
 * clauses, nowait followed by a barrier, parallel sections, and sections
 * inside a loop of a region. */
#include "omp_test.h"

int main(void) {
  int failures = 0;
  int ran[16] = {0};
  int by[16] = {0};
  /* Seven sections on four threads: each once. */
#pragma omp parallel shared(ran, by)
  {
#pragma omp sections
    {
#pragma omp section
      { ran[0]++; by[0] = omp_get_thread_num(); }
#pragma omp section
      { ran[1]++; by[1] = omp_get_thread_num(); }
#pragma omp section
      { ran[2]++; by[2] = omp_get_thread_num(); }
#pragma omp section
      { ran[3]++; by[3] = omp_get_thread_num(); }
#pragma omp section
      { ran[4]++; by[4] = omp_get_thread_num(); }
#pragma omp section
      { ran[5]++; by[5] = omp_get_thread_num(); }
#pragma omp section
      { ran[6]++; by[6] = omp_get_thread_num(); }
    }
  }
  int valid = 1;
  for (int i = 0; i < 7; ++i) valid &= by[i] >= 0 && by[i] < omp_get_max_threads();
  printf("seven sections: %d %d %d %d %d %d %d valid threads %d\n", ran[0], ran[1], ran[2], ran[3],
         ran[4], ran[5], ran[6], valid);

  /* Two sections, four threads: two of them get none. */
  int two[2] = {0, 0};
#pragma omp parallel sections shared(two)
  {
#pragma omp section
    two[0] += 10;
#pragma omp section
    two[1] += 20;
  }
  printf("parallel sections: %d %d\n", two[0], two[1]);

  /* Clauses: firstprivate value seen in every section, lastprivate from the
   * lexically last one, reduction over all of them. */
  int seed = 5, last = -1, priv = 0;
  long sum = 0, prod = 1;
  int seen[4] = {0};
#pragma omp parallel shared(seen)
  {
#pragma omp sections firstprivate(seed) lastprivate(last) private(priv) reduction(+ : sum) \
    reduction(* : prod)
    {
#pragma omp section
      {
        priv = seed * 2;
        seen[0] = priv;
        last = 100;
        sum += 1;
        prod *= 2;
      }
#pragma omp section
      {
        priv = seed * 3;
        seen[1] = priv;
        last = 200;
        sum += 10;
        prod *= 3;
      }
#pragma omp section
      {
        priv = seed * 4;
        seen[2] = priv;
        last = 300;
        sum += 100;
        prod *= 5;
      }
    }
  }
  printf("clauses: seen %d %d %d last %d sum %ld prod %ld\n", seen[0], seen[1], seen[2], last, sum,
         prod);

  /* nowait, then a barrier before reading what the sections wrote; twenty
   * rounds, so the runtime's per-region bookkeeping is exercised. */
  int rounds[20][3];
  int check[20] = {0};
#pragma omp parallel shared(rounds, check)
  {
    for (int r = 0; r < 20; ++r) {
#pragma omp sections nowait
      {
#pragma omp section
        rounds[r][0] = r;
#pragma omp section
        rounds[r][1] = r * 2;
#pragma omp section
        rounds[r][2] = r * 3;
      }
#pragma omp barrier
#pragma omp single
      check[r] = rounds[r][0] + rounds[r][1] + rounds[r][2];
    }
  }
  long total = 0;
  for (int r = 0; r < 20; ++r) total += check[r];
  printf("nowait rounds: %ld\n", total);

  /* One section: whichever thread takes it, the others skip. */
  int one = 0;
#pragma omp parallel shared(one)
  {
#pragma omp sections
    {
#pragma omp section
      one++;
    }
  }
  printf("one section: %d\n", one);
  printf("failures %d\n", failures);
  return failures != 0;
}
