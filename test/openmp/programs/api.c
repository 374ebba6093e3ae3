/* The omp_* API: locks (simple and nested, test_lock and test_nest_lock
 * against a held lock, hints), schedule ICVs, omp_set_num_threads, dynamic,
 * wtime/wtick, levels, limits, teams/places/devices queries, tasks (run at
 * once, taskwait, taskgroup, if(0), taskloop), threadprivate. */
#include "omp_test.h"

#ifdef DSM_OMP_HEADER
#ifndef DSM_OMP_H_
#error "built for dsmkit's omp.h but another omp.h was included"
#endif
#endif

static int tp_counter;
#pragma omp threadprivate(tp_counter)

static long fib(int n) {
  long x, y;
  if (n < 2) return n;
#pragma omp task shared(x)
  x = fib(n - 1);
#pragma omp task shared(y)
  y = fib(n - 2);
#pragma omp taskwait
  return x + y;
}

int main(void) {
  int failures = 0;
  omp_lock_t lock;
  omp_nest_lock_t nest;
  long counter = 0, nested_counter = 0;
  int tested = 0;
  omp_init_lock(&lock);
  omp_init_nest_lock(&nest);
#pragma omp parallel shared(lock, nest, counter, nested_counter, tested)
  {
    for (int i = 0; i < 40; ++i) {
      omp_set_lock(&lock);
      counter++;
      omp_unset_lock(&lock);
      omp_set_nest_lock(&nest);
      omp_set_nest_lock(&nest);
      nested_counter += 2;
      omp_unset_nest_lock(&nest);
      omp_unset_nest_lock(&nest);
    }
    while (!omp_test_lock(&lock)) {
    }
    tested++;
    omp_unset_lock(&lock);
  }
  omp_destroy_lock(&lock);
  omp_destroy_nest_lock(&nest);
  printf("locks %ld %ld tested %d\n", counter, nested_counter, tested);

  /* test_lock / test_nest_lock against a lock another thread holds, the
   * nesting count test_nest_lock returns, locks made with a hint. */
  omp_lock_t held, hinted;
  omp_nest_lock_t nheld;
  int refused = 0, nest_counts = 0, hinted_count = 0;
  omp_init_lock(&held);
  omp_init_nest_lock(&nheld);
  omp_init_lock_with_hint(&hinted, omp_lock_hint_contended);
#pragma omp parallel shared(held, nheld, hinted, refused, nest_counts, hinted_count)
  {
    int t = omp_get_thread_num();
    if (t == 0) {
      omp_set_lock(&held);
      int c1 = omp_test_nest_lock(&nheld);
      int c2 = omp_test_nest_lock(&nheld);
      int c3 = omp_test_nest_lock(&nheld);
      nest_counts = c1 * 100 + c2 * 10 + c3;
    }
#pragma omp barrier
    if (t != 0) {
      int got = omp_test_lock(&held);
      int ngot = omp_test_nest_lock(&nheld);
#pragma omp critical
      refused += (got == 0) + (ngot == 0);
    }
#pragma omp barrier
    if (t == 0) {
      omp_unset_lock(&held);
      omp_unset_nest_lock(&nheld);
      omp_unset_nest_lock(&nheld);
      omp_unset_nest_lock(&nheld);
    }
    for (int i = 0; i < 10; ++i) {
      omp_set_lock(&hinted);
      hinted_count++;
      omp_unset_lock(&hinted);
    }
  }
  omp_destroy_lock(&held);
  omp_destroy_nest_lock(&nheld);
  omp_destroy_lock(&hinted);
  printf("test_lock refused %d nest counts %d hinted %d\n", refused, nest_counts, hinted_count);

  /* Queries whose values libdsm and libomp agree on. */
  printf("thread_limit>=max %d max_active_levels %d supported>=1 %d cancellation %d\n",
         omp_get_thread_limit() >= omp_get_max_threads(), omp_get_max_active_levels(),
         omp_get_supported_active_levels() >= 1, omp_get_cancellation());
  printf("teams %d team %d proc_bind %d task priority %d devices %d initial %d in_final %d\n",
         omp_get_num_teams(), omp_get_team_num(), (int)omp_get_proc_bind(),
         omp_get_max_task_priority(), omp_get_num_devices(), omp_is_initial_device(),
         omp_in_final());
  int queries[64] = {0};
#pragma omp parallel shared(queries)
  queries[omp_get_thread_num()] = omp_get_max_threads() * 100 + omp_in_parallel() * 10 +
                                  omp_get_active_level();
  printf("in a region: %d %d %d %d\n", queries[0], queries[1], queries[2], queries[3]);

  omp_sched_t kind;
  int chunk;
  omp_set_schedule(omp_sched_dynamic, 5);
  omp_get_schedule(&kind, &chunk);
  printf("schedule %d %d\n", (int)kind, chunk);
  int *count = SHARED_ALLOC(sizeof(int) * 300);
  int *seen_sched = SHARED_ALLOC(sizeof(int) * 64);
#pragma omp parallel
  {
    omp_sched_t k;
    int c;
    omp_get_schedule(&k, &c);
    seen_sched[omp_get_thread_num()] = (int)k * 100 + c;
#pragma omp for schedule(runtime)
    for (int i = 0; i < 300; ++i) {
#pragma omp critical
      count[i]++;
    }
  }
  int once = 1;
  for (int i = 0; i < 300; ++i) once &= count[i] == 1;
  printf("runtime schedule once %d seen %d %d %d %d\n", once, seen_sched[0], seen_sched[1],
         seen_sched[2], seen_sched[3]);

  omp_set_num_threads(3);
  int team[64] = {0};
#pragma omp parallel
  team[omp_get_thread_num()] = omp_get_num_threads();
  printf("set_num_threads(3): %d %d %d %d max %d\n", team[0], team[1], team[2], team[3],
         omp_get_max_threads());
  omp_set_num_threads(4);
  omp_set_dynamic(1);
  int dyn_on = omp_get_dynamic();
  /* The team inherits dyn-var (a team dyn-var may make smaller: only the
   * threads that ran report). */
#pragma omp parallel shared(dyn_on)
  {
    int mine = omp_get_dynamic();
#pragma omp critical
    dyn_on = dyn_on && mine;
  }
  omp_set_dynamic(0);
  printf("dynamic %d then %d procs>=1 %d\n", dyn_on, omp_get_dynamic(), omp_get_num_procs() >= 1);
  omp_set_schedule(omp_sched_guided, 0);
  omp_get_schedule(&kind, &chunk);
  printf("schedule guided %d\n", (int)kind);
  omp_set_schedule(omp_sched_static, 0);
  double t0 = omp_get_wtime();
  double tick = omp_get_wtick();
  printf("wtime increases %d tick sane %d\n", omp_get_wtime() >= t0, tick > 0 && tick < 0.01);

  long fibs[64] = {0};
#pragma omp parallel shared(fibs)
  {
#pragma omp single
    {
      fibs[0] = fib(15);
    }
    long mine = 0;
#pragma omp taskgroup
    {
#pragma omp task shared(mine)
      mine += 5;
#pragma omp task if (0) shared(mine)
      mine += 7;
    }
    fibs[1 + omp_get_thread_num()] = mine;
  }
  printf("tasks fib %ld mine %ld %ld %ld %ld\n", fibs[0], fibs[1], fibs[2], fibs[3], fibs[4]);
  long tl_sum = 0;
#pragma omp parallel shared(tl_sum)
  {
#pragma omp single
    {
#pragma omp taskloop grainsize(10) shared(tl_sum)
      for (int i = 0; i < 100; ++i) {
#pragma omp critical
        tl_sum += i;
      }
    }
  }
  printf("taskloop %ld\n", tl_sum);

  int tps[64] = {0};
#pragma omp parallel shared(tps)
  {
    tp_counter = omp_get_thread_num() * 3;
#pragma omp barrier
    tp_counter += 1;
    tps[omp_get_thread_num()] = tp_counter;
  }
  printf("threadprivate %d %d %d %d\n", tps[0], tps[1], tps[2], tps[3]);
  printf("failures %d\n", failures);
  return failures != 0;
}
