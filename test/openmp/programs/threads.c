/* Team sizes asked for in each of the three ways, for the limit tests:
 *   threads             a region with the default team (OMP_NUM_THREADS)
 *   threads set N       omp_set_num_threads(N), then a region
 *   threads clause N    a region with num_threads(N)
 * Prints the team size every member saw and a sum over the members, so a
 * team on a subset of the nodes shows which members ran. */
#include <string.h>

#include "omp_test.h"

int main(int argc, char **argv) {
  int failures = 0;
  int n = argc > 2 ? atoi(argv[2]) : 0;
  int sizes[64] = {0};
  long members = 0;
  if (argc > 2 && strcmp(argv[1], "set") == 0) omp_set_num_threads(n);
  if (argc > 2 && strcmp(argv[1], "clause") == 0) {
#pragma omp parallel num_threads(n) shared(sizes, members)
    {
      sizes[omp_get_thread_num()] = omp_get_num_threads();
#pragma omp critical
      members += 1L << (4 * omp_get_thread_num());
    }
  } else {
#pragma omp parallel shared(sizes, members)
    {
      sizes[omp_get_thread_num()] = omp_get_num_threads();
#pragma omp critical
      members += 1L << (4 * omp_get_thread_num());
    }
  }
  int team = sizes[0];
  int agree = 1;
  for (int t = 0; t < team; ++t) agree &= sizes[t] == team;
  CHECK(agree);
  printf("team %d members %lx max %d\n", team, (unsigned long)members, omp_get_max_threads());
  printf("failures %d\n", failures);
  return failures != 0;
}
