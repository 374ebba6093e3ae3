/* A node program for the dsm-run --vm tests (dsm_run_vm_test.cc). By the
 * first argument:
 *   stdin          node 0 reads its standard input to the end and prints
 *                  "stdin bytes=N fnv=H" (FNV-1a 64 of the bytes), its working
 *                  directory and $DSM_VM_TEST
 *   exit S         node 0 exits with status S
 *   copy IN OUT    node 0 copies file IN to OUT (stdio's private buffers)
 *   fail K HOW     node K ends: segv (a NULL store), panic (the guest
 *                  kernel crashes through /proc/sysrq-trigger) or hang (for
 *                  a test that kills its VM) in a parallel region; it prints
 *                  "node K armed" first. The others wait at a barrier that
 *                  never completes.
 */
#include <dsm/dsm.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int ReadStdin(void) {
  uint64_t h = 1469598103934665603ULL;
  unsigned long long n = 0;
  /* Private (this file is not built by dsm-clang): read(2) into a shared page
   * that is not mapped yet fails with EFAULT in a job of several hosts
   * (docs/design.md, "Limits and costs"), and node 0's stack is shared. */
  static char buf[4096];
  for (;;) {
    ssize_t got = read(0, buf, sizeof buf);
    if (got < 0) {
      perror("read");
      return 1;
    }
    if (got == 0) break;
    for (ssize_t i = 0; i < got; ++i) {
      h ^= (unsigned char)buf[i];
      h *= 1099511628211ULL;
    }
    n += (unsigned long long)got;
  }
  char cwd[4096];
  const char *env = getenv("DSM_VM_TEST");
  printf("stdin bytes=%llu fnv=%016llx\n", n, (unsigned long long)h);
  printf("cwd=%s env=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?", env ? env : "(unset)");
  return 0;
}

/* On main's stack, which is shared: argv's strings are node 0's alone. */
struct failure {
  int node;
  char how[16];
};

/* Runs on every node (a parallel region): the chosen node fails, the
 * others wait at a barrier it never reaches. */
static void Fail(void *arg) {
  const struct failure *f = arg;
  int me = dsm_node_id();
  if (me != f->node) {
    dsm_barrier();
    return;
  }
  printf("node %d armed\n", me);
  fflush(stdout);
  if (strcmp(f->how, "segv") == 0) {
    *(volatile int *)(uintptr_t)16 = 1; /* an address nothing maps */
  } else if (strcmp(f->how, "panic") == 0) {
    int fd = open("/proc/sysrq-trigger", O_WRONLY);
    if (fd < 0 || write(fd, "c", 1) != 1) perror("sysrq-trigger");
  } else {
    for (;;) pause();
  }
}

/* Copies file `from` to `to` (paths as given: relative ones are in the
 * working directory, which a guest mounts from the host). */
static int Copy(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  if (in == NULL) {
    perror(from);
    return 1;
  }
  FILE *out = fopen(to, "wb");
  if (out == NULL) {
    perror(to);
    fclose(in);
    return 1;
  }
  char buf[4096];
  size_t n, total = 0;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) total += fwrite(buf, 1, n, out);
  int bad = ferror(in) || fclose(out) != 0;
  fclose(in);
  printf("copied %zu bytes\n", total);
  return bad;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: vm_node stdin | exit S | copy IN OUT | fail K segv|panic|hang\n");
    return 2;
  }
  /* main runs on node 0; the other nodes run parallel regions. */
  if (strcmp(argv[1], "stdin") == 0) return ReadStdin();
  if (strcmp(argv[1], "exit") == 0 && argc > 2) return atoi(argv[2]);
  if (strcmp(argv[1], "copy") == 0 && argc > 3) return Copy(argv[2], argv[3]);
  if (strcmp(argv[1], "fail") == 0 && argc > 3) {
    struct failure f = {atoi(argv[2]), ""};
    snprintf(f.how, sizeof f.how, "%s", argv[3]);
    dsm_parallel(Fail, &f);
    return 0;
  }
  fprintf(stderr, "vm_node: unknown mode %s\n", argv[1]);
  return 2;
}
