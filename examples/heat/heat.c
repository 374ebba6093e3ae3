/* Heat diffusion on a square plate: an ordinary OpenMP program, with nothing
 * of dsmkit in it. The grid is malloc'ed and reached through globals, the
 * sweep is a parallel for, the convergence test a max reduction, and a
 * critical section counts the rows each thread updated. Built twice from
 * this source: with `clang -fopenmp` (threads) and with dsm-clang (nodes,
 * run by dsm-run); both print the same numbers.
 *
 *   heat [N [STEPS]]   grid of N x N interior points (default 256), at most
 *                      STEPS Jacobi sweeps (default 2000) */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static int n = 256;
static double *grid, *next;
static long rows_done;

#define AT(g, i, j) (g)[(size_t)(i) * (size_t)(n + 2) + (size_t)(j)]

static void boundary(double *g) {
  for (int k = 0; k < n + 2; k++) {
    AT(g, 0, k) = 100.0;     /* the hot top edge */
    AT(g, n + 1, k) = 0.0;
    AT(g, k, 0) = 0.0;
    AT(g, k, n + 1) = 0.0;
  }
}

int main(int argc, char **argv) {
  if (argc > 1) n = atoi(argv[1]);
  int steps = argc > 2 ? atoi(argv[2]) : 2000;
  if (n < 2 || n > 16384 || steps < 1) {
    fprintf(stderr, "usage: heat [N (2..16384) [STEPS (>= 1)]]\n");
    return 2;
  }
  size_t cells = (size_t)(n + 2) * (size_t)(n + 2);
  grid = calloc(cells, sizeof *grid);
  next = calloc(cells, sizeof *next);
  if (grid == NULL || next == NULL) {
    fprintf(stderr, "heat: out of memory\n");
    return 1;
  }
  boundary(grid);
  boundary(next);
  double start = omp_get_wtime();
  double change = 0.0;
  int step;
  for (step = 1; step <= steps; step++) {
    change = 0.0;
#pragma omp parallel
    {
      long mine = 0;
#pragma omp for reduction(max : change) schedule(static)
      for (int i = 1; i <= n; i++) {
        for (int j = 1; j <= n; j++) {
          double v = 0.25 * (AT(grid, i - 1, j) + AT(grid, i + 1, j) + AT(grid, i, j - 1) +
                             AT(grid, i, j + 1));
          double d = fabs(v - AT(grid, i, j));
          if (d > change) change = d;
          AT(next, i, j) = v;
        }
        mine++;
      }
#pragma omp critical
      rows_done += mine;
    }
    double *t = grid;
    grid = next;
    next = t;
    if (change < 1e-3) break;
  }
  double seconds = omp_get_wtime() - start;
  double total = 0.0;
  for (int i = 1; i <= n; i++)
    for (int j = 1; j <= n; j++) total += AT(grid, i, j);
  int used = step > steps ? steps : step;
  printf("heat: %dx%d, %d sweeps, last change %.6f, mean temperature %.6f, rows %ld\n", n, n, used,
         change, total / ((double)n * n), rows_done);
  fprintf(stderr, "heat: %d threads, %.3f s\n", omp_get_max_threads(), seconds);
  return rows_done == (long)used * n ? 0 : 1;
}
