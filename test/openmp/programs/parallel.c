/* parallel: shared, private and firstprivate arguments (many of them), team
 * queries, num_threads, if(0), nested regions (a team of one) and their
 * ancestors, a region inside an if(0) region, omp_in_parallel. */
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
  /* Many shared variables, firstprivate and private ones in one region: more
   * arguments than the runtime passes one by one. */
  int s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, s8 = 0, s9 = 0;
  long s10 = 0, s11 = 0, s12 = 0, s13 = 0, s14 = 0;
  double s15 = 0, s16 = 0, s17 = 0;
  int f0 = 1, f1 = 2, f2 = 3, f3 = 4, f4 = 5, p0 = 0, p1 = 0;
#pragma omp parallel shared(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15, \
                            s16, s17) firstprivate(f0, f1, f2, f3, f4) private(p0, p1)
  {
    int t = omp_get_thread_num();
    p0 = t;
    p1 = f0 + f1 + f2 + f3 + f4;
#pragma omp critical
    {
      s0 += 1; s1 += 2; s2 += 3; s3 += 4; s4 += 5; s5 += 6; s6 += 7; s7 += 8; s8 += 9;
      s9 += p0; s10 += p1; s11 += 11; s12 += 12; s13 += 13; s14 += 14;
      s15 += 0.5; s16 += 1.5; s17 += 2.5;
    }
  }
  printf("many args: %d %d %d %d %d %d %d %d %d %d %ld %ld %ld %ld %ld %.1f %.1f %.1f\n", s0, s1,
         s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15, s16, s17);

  /* Ancestors: levels, thread numbers and team sizes seen from a nested
   * region (a team of one inside the team of four). */
  int anc[64] = {0};
#pragma omp parallel shared(anc)
  {
    int t = omp_get_thread_num();
#pragma omp parallel
    {
      anc[t] = omp_get_ancestor_thread_num(1) * 1000000 + omp_get_ancestor_thread_num(2) * 100000 +
               omp_get_team_size(1) * 10000 + omp_get_team_size(2) * 1000 +
               omp_get_active_level() * 100 + omp_get_level() * 10 +
               (omp_get_ancestor_thread_num(3) == -1) + (omp_get_team_size(-1) == -1) +
               (omp_get_ancestor_thread_num(0) == 0) + (omp_get_team_size(0) == 1);
    }
  }
  for (int t = 0; t < nthreads; ++t) printf("ancestors %d: %d\n", t, anc[t]);

  /* A region inside a region of one thread (if(0)) gets the whole team:
   * only active regions make nested ones a team of one. */
  int inner[64] = {0};
#pragma omp parallel if (cond) shared(inner)
  {
#pragma omp parallel shared(inner)
    {
      inner[omp_get_thread_num()] = omp_get_num_threads() * 1000 + omp_get_level() * 100 +
                                    omp_get_active_level() * 10 + omp_get_ancestor_thread_num(1) +
                                    omp_get_team_size(1);
    }
  }
  for (int t = 0; t < nthreads; ++t) printf("inside if(0) %d: %d\n", t, inner[t]);

  /* Data from the shared heap. */
  int *heap = SHARED_ALLOC(sizeof(int) * 64);
#pragma omp parallel
  { heap[omp_get_thread_num()] = 1000 + omp_get_thread_num(); }
  for (int t = 0; t < nthreads; ++t) printf("heap %d: %d\n", t, heap[t]);
  SHARED_FREE(heap);
  printf("failures %d\n", failures);
  return failures != 0;
}
