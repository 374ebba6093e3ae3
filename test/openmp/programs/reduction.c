/* Reductions: + * - & | ^ && || max min over int, long, unsigned, float and
 * double, on parallel and on for (with and without nowait); array sections
 * with every operator (whole arrays, parts of arrays, a pointer into the
 * shared heap); a user-defined reduction; repeated reductions of one
 * variable; a reduction over a team smaller than the job. */
#include "omp_test.h"

struct stats {
  int count, lo, hi;
};
static void merge_stats(struct stats *out, const struct stats *in) {
  out->count += in->count;
  if (in->lo < out->lo) out->lo = in->lo;
  if (in->hi > out->hi) out->hi = in->hi;
}
#pragma omp declare reduction(merge : struct stats : merge_stats(&omp_out, &omp_in)) \
    initializer(omp_priv = (struct stats){0, 1 << 30, -1})

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

  /* Every operator on a parallel construct (each thread contributes once). */
  long psum2 = 5, pprod = 1, pdiff = 0;
  unsigned pand = ~0u, por = 0, pxor = 0;
  int pland = 1, plor = 0, pmax = -1, pmin = 1000;
  float fsum = 0.0f;
#pragma omp parallel reduction(+ : psum2, fsum) reduction(* : pprod) reduction(- : pdiff) \
    reduction(& : pand) reduction(| : por) reduction(^ : pxor) reduction(&& : pland)      \
    reduction(|| : plor) reduction(max : pmax) reduction(min : pmin)
  {
    int t = omp_get_thread_num();
    psum2 += t;
    fsum += 0.25f;
    pprod *= t + 2;
    pdiff -= 10;
    pand &= ~(1u << t);
    por |= 1u << (2 * t);
    pxor ^= 0x11u << t;
    pland = pland && t < 100;
    plor = plor || t == 2;
    pmax = pmax > t * 3 ? pmax : t * 3;
    pmin = pmin < t + 7 ? pmin : t + 7;
  }
  printf("parallel: sum %ld fsum %.2f prod %ld diff %ld and %x or %x xor %x land %d lor %d max %d "
         "min %d\n", psum2, fsum, pprod, pdiff, pand, por, pxor, pland, plor, pmax, pmin);

  /* Array sections with each operator, on a for loop; a section of part of
   * an array; a section through a pointer into the shared heap. */
  long amul[4] = {1, 1, 1, 1}, amax[4] = {-1, -1, -1, -1}, amin[4] = {999, 999, 999, 999};
  unsigned aand[3] = {~0u, ~0u, ~0u}, aor[3] = {0, 0, 0}, axor[3] = {0, 0, 0};
  int aland[2] = {1, 1}, alor[2] = {0, 0};
  long adiff[5] = {0, 0, 0, 0, 0}, partial[10] = {0};
  long *hp = SHARED_ALLOC(sizeof(long) * 6);
#pragma omp parallel for reduction(* : amul[:4]) reduction(max : amax[:4]) reduction(min : amin) \
    reduction(& : aand) reduction(| : aor[0:3]) reduction(^ : axor[:3]) reduction(&& : aland)  \
    reduction(|| : alor) reduction(- : adiff[1:3]) reduction(+ : partial[2:5], hp[:6])        \
    schedule(dynamic, 3)
  for (int i = 0; i < 40; ++i) {
    amul[i % 4] *= (i % 3 == 0) ? 2 : 1;
    if (i * 13 % 41 > amax[i % 4]) amax[i % 4] = i * 13 % 41;
    if (i * 13 % 41 < amin[i % 4]) amin[i % 4] = i * 13 % 41;
    aand[i % 3] &= ~(1u << (i % 20));
    aor[i % 3] |= 1u << (i % 31);
    axor[i % 3] ^= (unsigned)i * 40503u;
    aland[i % 2] = aland[i % 2] && (i != 33);
    alor[i % 2] = alor[i % 2] || (i == 33);
    adiff[1 + i % 3] -= i;
    partial[2 + i % 5] += i;
    hp[i % 6] += 2 * i;
  }
  printf("sections: mul");
  for (int k = 0; k < 4; ++k) printf(" %ld", amul[k]);
  printf(" max");
  for (int k = 0; k < 4; ++k) printf(" %ld", amax[k]);
  printf(" min");
  for (int k = 0; k < 4; ++k) printf(" %ld", amin[k]);
  printf(" and %x %x %x or %x %x %x xor %x %x %x", aand[0], aand[1], aand[2], aor[0], aor[1],
         aor[2], axor[0], axor[1], axor[2]);
  printf(" land %d %d lor %d %d\n", aland[0], aland[1], alor[0], alor[1]);
  printf("sections: diff");
  for (int k = 0; k < 5; ++k) printf(" %ld", adiff[k]);
  printf(" partial");
  for (int k = 0; k < 10; ++k) printf(" %ld", partial[k]);
  printf(" heap");
  for (int k = 0; k < 6; ++k) printf(" %ld", hp[k]);
  printf("\n");

  /* A user-defined reduction (declare reduction) over a struct. */
  struct stats best = {0, 1 << 30, -1};
#pragma omp parallel for reduction(merge : best) schedule(guided, 2)
  for (int i = 0; i < 500; ++i) {
    int v = (i * 7919) % 1009;
    best.count++;
    if (v < best.lo) best.lo = v;
    if (v > best.hi) best.hi = v;
  }
  printf("declare reduction: count %d lo %d hi %d\n", best.count, best.lo, best.hi);

  /* The same variable reduced by several loops of one region, and by a loop
   * whose team is a subset of the nodes. */
  long again = 0;
#pragma omp parallel shared(again)
  {
    for (int rep = 0; rep < 3; ++rep) {
#pragma omp for reduction(+ : again) schedule(static, 7)
      for (int i = 0; i < 100; ++i) again += i;
    }
  }
  long sub = 0;
#pragma omp parallel for num_threads(2) reduction(+ : sub)
  for (int i = 0; i < 100; ++i) sub += i * i;
  printf("repeated %ld subset %ld\n", again, sub);
  printf("failures %d\n", failures);
  return failures != 0;
}
