/* Misuse of the API, chosen by argv[1], each of which must end the job with a
 * clear message: unlock-not-held, parallel-from-worker, nested-parallel,
 * double-free, bad-free. "ok" does nothing wrong. */
#include <dsm/dsm.h>
#include <stdio.h>
#include <string.h>

/* Globals are private to each node (only main's stack and dsm_malloc memory
 * are shared), so the mode reaches the workers through the argument. */
static void inner(void *arg) { (void)arg; }

static void region(void *arg) {
  const char *mode = arg;
  if (strcmp(mode, "parallel-from-worker") == 0 && dsm_node_id() == 1) dsm_parallel(inner, NULL);
  if (strcmp(mode, "nested-parallel") == 0 && dsm_node_id() == 0) dsm_parallel(inner, NULL);
  dsm_barrier();
}

int main(int argc, char **argv) {
  char mode[64];
  snprintf(mode, sizeof mode, "%s", argc > 1 ? argv[1] : "ok");
  if (strcmp(mode, "unlock-not-held") == 0) dsm_unlock(5);
  if (strcmp(mode, "double-free") == 0) {
    void *p = dsm_malloc(32);
    dsm_free(p);
    dsm_free(p);
  }
  if (strcmp(mode, "bad-free") == 0) {
    char *p = dsm_malloc(32);
    dsm_free(p + 8);
  }
  dsm_parallel(region, mode);
  printf("misuse: %s survived\n", mode);
  return 0;
}
