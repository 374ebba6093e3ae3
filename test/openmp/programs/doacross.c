/* Doacross loops: ordered(n) with depend(sink) / depend(source). A
 * wavefront over a grid (each cell from its upper and left neighbours) with
 * static and dynamic schedules, a one-dimensional chain with a sink two
 * iterations back, a loop with a negative step, and two doacross loops one
 * after the other with nowait. The results equal the sequential ones
 * whatever the order the iterations ran in. */
#include "omp_test.h"

#define ROWS 40
#define COLS 30

static long wavefront_check(long (*g)[COLS]) {
  long s = 0;
  for (int i = 0; i < ROWS; ++i)
    for (int j = 0; j < COLS; ++j) s = (s * 31 + g[i][j]) % 1000000007L;
  return s;
}

int main(void) {
  int failures = 0;
  long grid[ROWS][COLS];
  for (int i = 0; i < ROWS; ++i)
    for (int j = 0; j < COLS; ++j) grid[i][j] = (i == 0 || j == 0) ? i + j + 1 : 0;
#pragma omp parallel for ordered(2) schedule(static, 1)
  for (int i = 1; i < ROWS; ++i)
    for (int j = 1; j < COLS; ++j) {
#pragma omp ordered depend(sink : i - 1, j) depend(sink : i, j - 1)
      grid[i][j] = (grid[i - 1][j] + grid[i][j - 1]) % 1000003;
#pragma omp ordered depend(source)
    }
  printf("wavefront static: %ld\n", wavefront_check(grid));

  for (int i = 1; i < ROWS; ++i)
    for (int j = 1; j < COLS; ++j) grid[i][j] = -1;
#pragma omp parallel for ordered(2) schedule(dynamic, 2)
  for (int i = 1; i < ROWS; ++i)
    for (int j = 1; j < COLS; ++j) {
#pragma omp ordered depend(sink : i - 1, j) depend(sink : i, j - 1)
      grid[i][j] = (grid[i - 1][j] + grid[i][j - 1]) % 1000003;
#pragma omp ordered depend(source)
    }
  printf("wavefront dynamic: %ld\n", wavefront_check(grid));

  long chain[200];
  chain[0] = 1;
  chain[1] = 1;
#pragma omp parallel for ordered(1) schedule(static, 3)
  for (int i = 2; i < 200; ++i) {
#pragma omp ordered depend(sink : i - 2) depend(sink : i - 1)
    chain[i] = (chain[i - 1] + chain[i - 2]) % 1000003;
#pragma omp ordered depend(source)
  }
  long down[100];
  down[99] = 7;
  long a[100], b[100];
#pragma omp parallel shared(down, a, b)
  {
#pragma omp for ordered(1) schedule(dynamic, 1) nowait
    for (int i = 98; i >= 0; --i) {
#pragma omp ordered depend(sink : i + 1)
      down[i] = down[i + 1] * 3 % 1009;
#pragma omp ordered depend(source)
    }
#pragma omp for ordered(1) schedule(static) nowait
    for (int i = 0; i < 100; ++i) {
      a[i] = i;
#pragma omp ordered depend(sink : i - 1)
      b[i] = i == 0 ? 0 : b[i - 1] + a[i];
#pragma omp ordered depend(source)
    }
  }
  printf("chain %ld down %ld %ld prefix %ld\n", chain[199], down[0], down[50], b[99]);
  printf("failures %d\n", failures);
  return failures != 0;
}
