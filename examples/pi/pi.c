/* pi: numerical integration of 4/(1+x^2) over [0,1] by every node of a
 * dsmkit job. Each node sums its share of the rectangles; the partial sums
 * are combined under a lock into a variable of main (main's stack is shared).
 *
 *   dsm-run -n 4 build/examples/pi [steps]
 */
#include <dsm/dsm.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct job {
  long steps;
  double sum;      /* combined under PI_LOCK */
  int contributed; /* nodes that added their part */
};

enum { PI_LOCK = 1 };

static void integrate(void *arg) {
  struct job *job = arg;
  int me = dsm_node_id(), nodes = dsm_num_nodes();
  double h = 1.0 / (double)job->steps, partial = 0.0;
  for (long i = me; i < job->steps; i += nodes) {
    double x = h * ((double)i + 0.5);
    partial += 4.0 / (1.0 + x * x);
  }
  dsm_lock(PI_LOCK);
  job->sum += partial * h;
  job->contributed++;
  dsm_unlock(PI_LOCK);
}

int main(int argc, char **argv) {
  struct job job = {100000000, 0.0, 0};
  if (argc > 2) {
    fprintf(stderr, "usage: %s [steps]\n", argv[0]);
    return 2;
  }
  if (argc == 2) {
    char *end;
    errno = 0;
    job.steps = strtol(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || job.steps < 1) {
      fprintf(stderr, "pi: steps must be a positive integer, not '%s'\n", argv[1]);
      return 2;
    }
  }
  double t0 = dsm_wtime();
  dsm_parallel(integrate, &job);
  double t1 = dsm_wtime();
  double error = fabs(job.sum - M_PI);
  printf("pi = %.12f (error %.2e) from %ld steps on %d nodes in %.3f s\n", job.sum, error,
         job.steps, dsm_num_nodes(), t1 - t0);
  if (job.contributed != dsm_num_nodes()) {
    printf("FAILED: %d of %d nodes contributed\n", job.contributed, dsm_num_nodes());
    return 1;
  }
  /* The midpoint rule's error is below 1/(3 steps^2) here, plus rounding. */
  double bound = 1.0 / (3.0 * (double)job.steps * (double)job.steps) + 1e-11;
  if (error > bound) {
    printf("FAILED: error %.2e above %.2e\n", error, bound);
    return 1;
  }
  printf("pi: OK\n");
  return 0;
}
