/* Reductions: + * - & | ^ && || max min over int, long, double, on
 * parallel and on for (with and without nowait), and an array section. */
#include "omp_test.h"

int main(void) {
  int failures = 0;
  long sum = 0, prod = 1, diff = 0;
  unsigned band = ~0u, bor = 0, bxor = 0;
  int land = 1, lor = 0, mx = -1000000, mn = 1000000;
  double dsum = 0.0, dmax = -1e300;
#pragma omp parallel for reduction(+ : sum) reduction(* : prod) reduction(- : diff) \
    reduction(& : band) reduction(| : bor) reduction(^ : bxor) reduction(&& : land)    \
    reduction(|| : lor) reduction(max : mx) reduction(min : mn) reduction(+ : dsum)    \
    reduction(max : dmax)
  for (int i = 1; i <= 20; ++i) {
    sum += i;
    prod *= (i % 4) + 1;
    diff -= i;
    band &= ~(1u << (i % 16));
    bor |= 1u << i;
    bxor ^= (unsigned)i * 2654435761u;
    land = land && (i > 0);
    lor = lor || (i == 17);
    if (i * 7 % 23 > mx) mx = i * 7 % 23;
    if (i * 7 % 23 < mn) mn = i * 7 % 23;
    dsum += 0.5 * i;
    if (i * 1.25 > dmax) dmax = i * 1.25;
  }
  printf("sum %ld prod %ld diff %ld and %x or %x xor %x land %d lor %d max %d min %d dsum %.2f "
         "dmax %.2f\n", sum, prod, diff, band, bor, bxor, land, lor, mx, mn, dsum, dmax);
  long psum = 0;
#pragma omp parallel reduction(+ : psum)
  psum += omp_get_thread_num() + 1;
  printf("parallel reduction %ld\n", psum);
  long a = 0, b = 0;
#pragma omp parallel
  {
#pragma omp for reduction(+ : a) nowait
    for (int i = 0; i < 1000; ++i) a += i;
#pragma omp for reduction(+ : b) schedule(dynamic, 10)
    for (int i = 0; i < 1000; ++i) b += 2 * i;
  }
  printf("for reductions %ld %ld\n", a, b);
  long hist[8] = {0};
#pragma omp parallel for reduction(+ : hist[:8]) schedule(guided)
  for (int i = 0; i < 1000; ++i) hist[i % 8] += i;
  printf("array reduction");
  for (int k = 0; k < 8; ++k) printf(" %ld", hist[k]);
  printf("\n");
  printf("failures %d\n", failures);
  return failures != 0;
}
