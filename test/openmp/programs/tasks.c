/* Tasks: depend (in, out, inout; a chain and a diamond), private and
 * firstprivate data of tasks, nested tasks with taskwait, taskgroup, final and
 * omp_in_final, mergeable, untied, priority, taskyield, if(0), tasks made in a
 * worksharing loop, and taskloop (grainsize, num_tasks, nogroup, collapse,
 * firstprivate/lastprivate). Every result is independent of where and when
 * the tasks run. */
#include "omp_test.h"

static long sum_tree(const int *v, int lo, int hi) {
  if (hi - lo <= 8) {
    long s = 0;
    for (int i = lo; i < hi; ++i) s += v[i];
    return s;
  }
  long left = 0, right = 0;
  int mid = lo + (hi - lo) / 2;
#pragma omp task shared(left) firstprivate(lo, mid)
  left = sum_tree(v, lo, mid);
#pragma omp task shared(right) firstprivate(mid, hi)
  right = sum_tree(v, mid, hi);
#pragma omp taskwait
  return left + right;
}

int main(void) {
  int failures = 0;
  int values[500];
  for (int i = 0; i < 500; ++i) values[i] = i % 17;

  /* A dependence chain and a diamond, made by one thread. */
  long chain = 1, a = 0, b = 0, c = 0, d = 0;
#pragma omp parallel shared(chain, a, b, c, d)
  {
#pragma omp single
    {
      for (int i = 1; i <= 10; ++i) {
#pragma omp task depend(inout : chain) firstprivate(i)
        chain = chain * 2 + i;
      }
#pragma omp task depend(out : a)
      a = 3;
#pragma omp task depend(in : a) depend(out : b)
      b = a * 10;
#pragma omp task depend(in : a) depend(out : c)
      c = a + 100;
#pragma omp task depend(in : b, c) depend(out : d)
      d = b + c;
#pragma omp taskwait
    }
  }
  printf("depend: chain %ld diamond %ld %ld %ld %ld\n", chain, a, b, c, d);

  /* Recursive tasks with taskwait, started by every thread. */
  long tree[64] = {0};
#pragma omp parallel shared(tree, values)
  tree[omp_get_thread_num()] = sum_tree(values, 0, 500);
  printf("recursive:");
  for (int t = 0; t < omp_get_max_threads(); ++t) printf(" %ld", tree[t]);
  printf("\n");

  /* Data sharing: firstprivate captures the value at creation, private
   * starts fresh, shared is written back. */
  int captured[8] = {0};
  int shared_total = 0;
#pragma omp parallel shared(captured, shared_total)
  {
#pragma omp single
    {
      int x = 1;
      for (int k = 0; k < 8; ++k) {
#pragma omp task firstprivate(x, k) shared(captured)
        captured[k] = x * 10 + k;
        x++;
      }
#pragma omp taskgroup
      {
        for (int k = 0; k < 8; ++k) {
          int scratch;
#pragma omp task private(scratch) shared(shared_total)
          {
            scratch = 5;
#pragma omp atomic
            shared_total += scratch;
          }
        }
      }
    }
  }
  printf("data:");
  for (int k = 0; k < 8; ++k) printf(" %d", captured[k]);
  printf(" shared %d\n", shared_total);

  /* final, mergeable, untied, priority, taskyield, if(0). */
  int finals[4] = {-1, -1, -1, -1};
  int misc = 0;
#pragma omp parallel shared(finals, misc)
  {
#pragma omp single
    {
      finals[0] = omp_in_final();
#pragma omp task final(1) shared(finals)
      {
        finals[1] = omp_in_final();
#pragma omp task shared(finals)
        finals[2] = omp_in_final();
#pragma omp taskwait
      }
#pragma omp taskwait
#pragma omp task final(0) shared(finals)
      finals[3] = omp_in_final();
#pragma omp task mergeable shared(misc)
      misc += 1;
#pragma omp task untied shared(misc)
      {
#pragma omp taskyield
        misc += 10;
      }
#pragma omp task priority(5) shared(misc)
      misc += 100;
#pragma omp task if (0) shared(misc)
      misc += 1000;
#pragma omp taskwait
    }
  }
  printf("final %d %d %d %d misc %d\n", finals[0], finals[1], finals[2], finals[3], misc);

  /* Tasks made inside a worksharing loop by every thread. */
  long squares[100] = {0};
#pragma omp parallel shared(squares)
  {
#pragma omp for schedule(dynamic, 7)
    for (int i = 0; i < 100; ++i) {
#pragma omp task firstprivate(i) shared(squares)
      squares[i] = (long)i * i;
    }
  }
  long sq = 0;
  for (int i = 0; i < 100; ++i) sq += squares[i];
  printf("tasks in a loop: %ld\n", sq);

  /* taskloop: grainsize, num_tasks, nogroup + taskwait, collapse, and
   * lastprivate / firstprivate. */
  int hits[300] = {0};
  int grid[10][12];
  int lastv = -1, base = 1000;
#pragma omp parallel shared(hits, grid, lastv)
  {
#pragma omp single
    {
#pragma omp taskloop grainsize(7) shared(hits)
      for (int i = 0; i < 100; ++i) hits[i] += 1;
#pragma omp taskloop num_tasks(5) shared(hits)
      for (int i = 100; i < 200; ++i) hits[i] += 2;
#pragma omp taskloop nogroup shared(hits)
      for (int i = 200; i < 300; i += 3) hits[i] += 3;
#pragma omp taskwait
#pragma omp taskloop collapse(2) shared(grid)
      for (int i = 0; i < 10; ++i)
        for (int j = 0; j < 12; ++j) grid[i][j] = i * 12 + j;
#pragma omp taskloop lastprivate(lastv) firstprivate(base)
      for (int i = 0; i < 50; ++i) lastv = base + i;
    }
  }
  long h = 0, g = 0;
  for (int i = 0; i < 300; ++i) h += hits[i] * (i + 1);
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 12; ++j) g += grid[i][j] == i * 12 + j;
  printf("taskloop: hits %ld grid %ld of 120 last %d\n", h, g, lastv);
  printf("failures %d\n", failures);
  return failures != 0;
}
