/* Memory: omp_alloc / omp_calloc / omp_aligned_alloc / omp_realloc / omp_free
 * with predefined allocators (those libomp serves without memkind) and one
 * made by omp_init_allocator (alignment trait), blocks allocated by one
 * thread and used and freed by others, the default-allocator ICV, the
 * allocate clause and directive, and depobj (whose dependence objects the
 * runtime allocates). */
#include <stdint.h>

#include "omp_test.h"

int main(void) {
  int failures = 0;
  /* A block from omp_alloc, written by every thread. */
  long *data = omp_alloc(sizeof(long) * 1000, omp_default_mem_alloc);
  CHECK(data != NULL);
#pragma omp parallel for schedule(static, 10)
  for (int i = 0; i < 1000; ++i) data[i] = (long)i * 3;
  long sum = 0;
  for (int i = 0; i < 1000; ++i) sum += data[i];
  printf("omp_alloc: %ld\n", sum);

  /* calloc is zeroed, realloc keeps the contents, aligned allocations are
   * aligned. */
  int *zeros = omp_calloc(500, sizeof(int), omp_default_mem_alloc);
  int nonzero = 0;
  for (int i = 0; i < 500; ++i) nonzero += zeros[i] != 0;
  long *grown =
      omp_realloc(data, sizeof(long) * 4000, omp_default_mem_alloc, omp_default_mem_alloc);
  long kept = 0;
  for (int i = 0; i < 1000; ++i) kept += grown[i] == (long)i * 3;
  char *a64 = omp_aligned_alloc(64, 100, omp_default_mem_alloc);
  char *a4k = omp_aligned_calloc(4096, 3, 1000, omp_cgroup_mem_alloc);
  omp_alloctrait_t traits[1] = {{omp_atk_alignment, 256}};
  omp_allocator_handle_t aligned256 = omp_init_allocator(omp_default_mem_space, 1, traits);
  double *a256 = omp_alloc(sizeof(double) * 8, aligned256);
  printf("calloc nonzero %d realloc kept %ld aligned %d %d %d\n", nonzero, kept,
         (int)((uintptr_t)a64 % 64), (int)((uintptr_t)a4k % 4096), (int)((uintptr_t)a256 % 256));
  omp_free(zeros, omp_default_mem_alloc);
  omp_free(grown, omp_default_mem_alloc);
  omp_free(a64, omp_default_mem_alloc);
  omp_free(a4k, omp_cgroup_mem_alloc);
  omp_free(a256, aligned256);
  omp_destroy_allocator(aligned256);
  printf("zero size %d null free ok\n", omp_alloc(0, omp_default_mem_alloc) == NULL);
  omp_free(NULL, omp_default_mem_alloc);

  /* Each thread allocates a block and publishes it; thread 0 reads and
   * frees them all after the region. */
  long *blocks[64] = {0};
#pragma omp parallel shared(blocks)
  {
    int t = omp_get_thread_num();
    long *b = omp_alloc(sizeof(long) * 16, omp_null_allocator);
    for (int i = 0; i < 16; ++i) b[i] = t * 100 + i;
    blocks[t] = b;
  }
  long from_threads = 0;
  for (int t = 0; t < omp_get_max_threads(); ++t) {
    for (int i = 0; i < 16; ++i) from_threads += blocks[t][i];
    omp_free(blocks[t], omp_null_allocator);
  }
  printf("blocks of every thread: %ld\n", from_threads);

  /* The default allocator. */
  omp_allocator_handle_t before = omp_get_default_allocator();
  omp_set_default_allocator(omp_low_lat_mem_alloc);
  printf("default allocator %d then %d\n", (int)before, (int)omp_get_default_allocator());
  omp_set_default_allocator(omp_default_mem_alloc);

  /* The allocate clause on private copies, the allocate directive on a
   * local. */
  int priv = 0;
  long out[64] = {0};
#pragma omp parallel private(priv) allocate(omp_low_lat_mem_alloc : priv) shared(out)
  {
    priv = omp_get_thread_num() + 1;
    out[omp_get_thread_num()] = priv * 2;
  }
  long local[8];
#pragma omp allocate(local) allocator(omp_default_mem_alloc)
  for (int i = 0; i < 8; ++i) local[i] = i * i;
  printf("allocate clause %ld %ld %ld %ld directive %ld\n", out[0], out[1], out[2], out[3],
         local[7]);

  /* depobj. */
  int x = 1;
  omp_depend_t obj;
#pragma omp parallel shared(x, obj)
#pragma omp single
  {
#pragma omp depobj(obj) depend(inout : x)
#pragma omp task depend(depobj : obj) shared(x)
    x *= 10;
#pragma omp task depend(in : x) shared(x)
    x += 1;
#pragma omp taskwait
#pragma omp depobj(obj) destroy
  }
  printf("depobj %d\n", x);
  printf("failures %d\n", failures);
  return failures != 0;
}
