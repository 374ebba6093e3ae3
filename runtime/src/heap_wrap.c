/* The program's C heap functions in zero-annotation mode: part of
 * libdsm_heap.a, which dsm-clang links into every program (unless
 * -fno-dsm-shared-heap) together with -Wl,--wrap=<each function below>. The
 * linker then sends the program's own calls (never the C library's internal
 * ones) to these __wrap_ functions, which ask libdsm first (__dsm_heap_*,
 * program_heap.h) and otherwise call the C library through __real_ (the
 * allocator the process really uses, also when one is preloaded).
 *
 * Allocation goes to the shared heap when libdsm says so (the node's main
 * thread once attached, not for libdsm's own calls, before the job
 * finished: each wrapper passes its return address); free, realloc and
 * malloc_usable_size decide by address; realloc moves data between the two
 * heaps when the block's heap and the current choice differ. getline,
 * getdelim and __getdelim (what <stdio.h> makes of getline when optimising)
 * are wrapped because the C library grows the caller's buffer with its own
 * realloc: a shared buffer is filled through a private one instead.
 *
 * Not wrapped: what the C library allocates and returns (asprintf,
 * getline into a NULL buffer, realpath, open_memstream, ...) stays private;
 * free takes it back by address.
 *
 * Thread safety: as the C library's functions (libdsm serialises the shared
 * heap). Linked statically: __real_ symbols resolve only in the program. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

int __dsm_heap_alloc(size_t size, size_t align, const void *caller, void **out);
int __dsm_heap_free(void *p);
int __dsm_heap_usable_size(const void *p, size_t *out);

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
int __real_posix_memalign(void **out, size_t align, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
void *__real_memalign(size_t align, size_t size);
void *__real_valloc(size_t size);
void *__real_pvalloc(size_t size);
size_t __real_malloc_usable_size(void *p);
ssize_t __real_getdelim(char **line, size_t *n, int delim, FILE *stream);

/* Where the program called from: libdsm's own allocations stay private. */
#define CALLER __builtin_return_address(0)

static int is_power_of_two(size_t v) { return v != 0 && (v & (v - 1)) == 0; }

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static void *malloc_from(size_t size, const void *caller) {
  void *p;
  if (__dsm_heap_alloc(size, 0, caller, &p)) return p;
  return __real_malloc(size);
}

void *__wrap_malloc(size_t size) { return malloc_from(size, CALLER); }

void *__wrap_calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p;
  if (!__dsm_heap_alloc(total, 0, CALLER, &p)) return __real_calloc(n, size);
  if (p != NULL) memset(p, 0, total);
  return p;
}

void __wrap_free(void *p) {
  if (p == NULL) return;
  if (!__dsm_heap_free(p)) __real_free(p);
}

size_t __wrap_malloc_usable_size(void *p) {
  size_t n;
  if (p == NULL) return 0;
  if (__dsm_heap_usable_size(p, &n)) return n;
  return __real_malloc_usable_size(p);
}

static void *realloc_from(void *p, size_t size, const void *caller) {
  if (p == NULL) return malloc_from(size, caller);
  if (size == 0) {  /* as glibc: free and return NULL */
    __wrap_free(p);
    return NULL;
  }
  size_t old;
  const int old_shared = __dsm_heap_usable_size(p, &old);
  /* A shared block that still fits (and is not mostly wasted) stays. */
  if (old_shared && size <= old && (old <= 256 || size >= old / 2)) return p;
  void *q;
  if (!__dsm_heap_alloc(size, 0, caller, &q)) {
    if (!old_shared) return __real_realloc(p, size);
    q = __real_malloc(size);
  }
  if (q == NULL) return NULL;  /* p stays valid, errno is ENOMEM */
  if (!old_shared) old = __real_malloc_usable_size(p);
  memcpy(q, p, old < size ? old : size);
  __wrap_free(p);
  return q;
}

void *__wrap_realloc(void *p, size_t size) { return realloc_from(p, size, CALLER); }

void *__wrap_reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc_from(p, total, CALLER);
}

int __wrap_posix_memalign(void **out, size_t align, size_t size) {
  if (!is_power_of_two(align) || align % sizeof(void *) != 0) return EINVAL;
  const int saved = errno;  /* posix_memalign reports through its result */
  void *p;
  if (!__dsm_heap_alloc(size, align, CALLER, &p)) return __real_posix_memalign(out, align, size);
  const int err = errno;
  errno = saved;
  if (p == NULL) return err == EINVAL ? EINVAL : ENOMEM;
  *out = p;
  return 0;
}

void *__wrap_aligned_alloc(size_t align, size_t size) {
  if (!is_power_of_two(align)) {
    errno = EINVAL;
    return NULL;
  }
  void *p;
  if (__dsm_heap_alloc(size, align, CALLER, &p)) return p;
  return __real_aligned_alloc(align, size);
}

void *__wrap_memalign(size_t align, size_t size) {
  /* As glibc: an alignment that is not a power of two is rounded up. */
  size_t a = 1;
  while (a < align && a != 0) a <<= 1;
  if (a == 0) {
    errno = EINVAL;
    return NULL;
  }
  void *p;
  if (__dsm_heap_alloc(size, a, CALLER, &p)) return p;
  return __real_memalign(align, size);
}

void *__wrap_valloc(size_t size) {
  void *p;
  if (__dsm_heap_alloc(size, page_size(), CALLER, &p)) return p;
  return __real_valloc(size);
}

void *__wrap_pvalloc(size_t size) {
  const size_t page = page_size();
  size_t rounded;
  if (__builtin_add_overflow(size, page - 1, &rounded)) {
    errno = ENOMEM;
    return NULL;
  }
  rounded = rounded / page * page;
  if (rounded == 0) rounded = page;
  void *p;
  if (__dsm_heap_alloc(rounded, page, CALLER, &p)) return p;
  return __real_pvalloc(size);
}

char *__wrap_strdup(const char *s) {
  const size_t n = strlen(s) + 1;
  char *p = malloc_from(n, CALLER);
  if (p != NULL) memcpy(p, s, n);
  return p;
}

char *__wrap_strndup(const char *s, size_t max) {
  const size_t n = strnlen(s, max);
  char *p = malloc_from(n + 1, CALLER);
  if (p == NULL) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static ssize_t getdelim_from(char **line, size_t *n, int delim, FILE *stream,
                            const void *caller) {
  size_t usable;
  if (line == NULL || n == NULL || *line == NULL || !__dsm_heap_usable_size(*line, &usable)) {
    return __real_getdelim(line, n, delim, stream);
  }
  /* A shared buffer: read into a private one, then copy. */
  char *tmp = NULL;
  size_t tmp_size = 0;
  const ssize_t len = __real_getdelim(&tmp, &tmp_size, delim, stream);
  if (len < 0) {
    const int err = errno;
    __real_free(tmp);
    errno = err;
    return len;
  }
  const size_t need = (size_t)len + 1;
  if (*n < need) {
    char *bigger = realloc_from(*line, need, caller);
    if (bigger == NULL) {
      __real_free(tmp);
      errno = ENOMEM;
      return -1;
    }
    *line = bigger;
    *n = need;
  }
  memcpy(*line, tmp, need);
  __real_free(tmp);
  return len;
}

ssize_t __wrap_getdelim(char **line, size_t *n, int delim, FILE *stream) {
  return getdelim_from(line, n, delim, stream, CALLER);
}

/* glibc's <stdio.h> turns getline into __getdelim when optimising. */
ssize_t __wrap___getdelim(char **line, size_t *n, int delim, FILE *stream) {
  return getdelim_from(line, n, delim, stream, CALLER);
}

ssize_t __wrap_getline(char **line, size_t *n, FILE *stream) {
  return getdelim_from(line, n, '\n', stream, CALLER);
}
