/* parallel: shared, private and firstprivate arguments, team queries,
 * num_threads, if(0), nested regions (a team of one), omp_in_parallel. */
#include "omp_test.h"

int main(void) {
  int failures = 0;
  int ids[64] = {0};
  int teams[64] = {0};
  int levels[64] = {0};
  int inpar[64] = {0};
  int nested_team[64] = {0};
  int first = 7, priv = -1;
  long sum_first[64] = {0};
  double big = 2.5;
  CHECK(omp_in_parallel() == 0);
  CHECK(omp_get_num_threads() == 1);
  CHECK(omp_get_thread_num() == 0);
  CHECK(omp_get_level() == 0);
  int nthreads = omp_get_max_threads();
  printf("max threads %d\n", nthreads);
#pragma omp parallel firstprivate(first) private(priv) shared(ids, teams, levels, inpar, big)
  {
    int t = omp_get_thread_num();
    priv = t * 10;
    first += t;
    ids[t] = t + 1;
    teams[t] = omp_get_num_threads();
    levels[t] = omp_get_level();
    inpar[t] = omp_in_parallel();
    sum_first[t] = first + priv + (long)big;
#pragma omp parallel
    { nested_team[t] = omp_get_num_threads() * 100 + omp_get_thread_num() + omp_get_level(); }
  }
  for (int t = 0; t < nthreads; ++t) {
    printf("thread %d: id %d team %d level %d in_parallel %d first+priv+big %ld nested %d\n", t,
           ids[t], teams[t], levels[t], inpar[t], sum_first[t], nested_team[t]);
  }
  CHECK(first == 7);
  int team2[64] = {0};
#pragma omp parallel num_threads(2)
  { team2[omp_get_thread_num()] = omp_get_num_threads(); }
  printf("num_threads(2): %d %d %d\n", team2[0], team2[1], team2[2]);
  int team_if = -1;
  int cond = 0;
#pragma omp parallel if (cond)
  { team_if = omp_get_num_threads() * 10 + omp_get_level(); }
  printf("if(0): %d\n", team_if);
  /* Many arguments. */
  int a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8, i = 9, j = 10, k = 11;
  long out[64] = {0};
#pragma omp parallel firstprivate(a, b, c, d, e, f, g, h, i, j, k) shared(out)
  { out[omp_get_thread_num()] = a + b + c + d + e + f + g + h + i + j + k + omp_get_thread_num(); }
  for (int t = 0; t < nthreads; ++t) printf("args %d: %ld\n", t, out[t]);
  /* Data from the shared heap. */
  int *heap = SHARED_ALLOC(sizeof(int) * 64);
#pragma omp parallel
  { heap[omp_get_thread_num()] = 1000 + omp_get_thread_num(); }
  for (int t = 0; t < nthreads; ++t) printf("heap %d: %d\n", t, heap[t]);
  SHARED_FREE(heap);
  printf("failures %d\n", failures);
  return failures != 0;
}
