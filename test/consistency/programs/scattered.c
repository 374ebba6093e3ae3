/* Scattered accesses over a large shared area: node 0 writes one word on
 * every STRIDE-th page of SIZE bytes, then every other node reads them all.
 * On another host each read maps one page among unmapped neighbours, so a
 * node ends up with more separate mappings than a process may have
 * (vm.max_map_count); the runtime must cope and every value must be right.
 *
 *   scattered SIZE STRIDE      e.g. scattered 640M 2 */
#define CONS_PROG "scattered"
#include "cons.h"

struct shared {
  char *area;
  uint64_t pages, stride;
  int inject;
  long errors; /* reported by every node (shared: main's stack) */
};

static uint64_t value(uint64_t page) { return cons_mix3(0x5ca7, page, 1); }

static void readers(void *arg) {
  struct shared *s = arg;
  if (dsm_node_id() != 0) {
    for (uint64_t p = 0; p < s->pages; p += s->stride) {
      uint64_t got = *(uint64_t *)(s->area + p * 4096);
      if (got != value(p)) {
        cons_fail("scattered", "page %" PRIu64 ": expected 0x%016" PRIx64 " got 0x%016" PRIx64, p, value(p),
                  got);
      }
    }
  }
  cons_report_errors(&s->errors);
}

int main(int argc, char **argv) {
  struct shared s;
  s.inject = cons_take_inject(&argc, argv);
  if (argc != 3) cons_usage("usage: scattered SIZE STRIDE");
  uint64_t size = cons_parse_size(argv[1], "SIZE");
  s.stride = (uint64_t)atol(argv[2]);
  if (size < 4096 || s.stride < 1) cons_usage("bad SIZE or STRIDE");
  s.pages = size / 4096;
  s.area = dsm_malloc(size);
  if (s.area == NULL) cons_usage("dsm_malloc of %" PRIu64 " bytes failed (give dsm-run more --memory)", size);
  s.errors = 0;
  double start = dsm_wtime();
  for (uint64_t p = 0; p < s.pages; p += s.stride) *(uint64_t *)(s.area + p * 4096) = value(p);
  if (s.inject) *(uint64_t *)(s.area + (s.pages / 2 / s.stride) * s.stride * 4096) ^= 1;
  dsm_parallel(readers, &s);
  if (s.errors != 0) return 1;
  printf("scattered: OK pages=%" PRIu64 " stride=%" PRIu64 " nodes=%d seconds=%.2f\n", s.pages, s.stride,
         dsm_num_nodes(), dsm_wtime() - start);
  return 0;
}
