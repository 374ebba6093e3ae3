/* System calls on shared buffers in a job of several hosts, where pages a
 * node has not touched are not mapped for it yet: node 0 reads its stdin
 * with read(2) into a buffer on its (shared) stack and into one from
 * dsm_malloc; then every node writes the heap copy to its stdout with
 * write(2) (the last node, on the last host, has never touched it) and
 * readv(2)s a pipe into a buffer of its own in the shared heap. Node 0
 * prints "syscalls: bytes=N sum=S copies=C ok" when every copy matched. */
#include <dsm/dsm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

enum { kMax = 1 << 16, kMaxNodes = 64 };

struct shared {
  char *heap;
  long n;
  char *pipe_copy[kMaxNodes];
  int ok[kMaxNodes];
};

static unsigned long Sum(const char *p, long n) {
  unsigned long s = 0;
  for (long i = 0; i < n; ++i) s = s * 31 + (unsigned char)p[i];
  return s;
}

static void EveryNode(void *arg) {
  struct shared *s = arg;
  int me = dsm_node_id();
  /* write(2) from a shared page this node may never have touched. */
  ssize_t w = write(1, s->heap, (size_t)s->n);
  int ok = w == s->n;
  /* readv(2) into this node's own part of the shared heap. */
  int p[2];
  if (pipe(p) != 0) {
    perror("pipe");
    return;
  }
  ssize_t put = write(p[1], s->heap, (size_t)(s->n < 4096 ? s->n : 4096));
  char *mine = s->pipe_copy[me];
  struct iovec iov[2] = {{mine, 100}, {mine + 100, kMax - 100}};
  ssize_t got = readv(p[0], iov, 2);
  ok = ok && put > 0 && got == put && memcmp(mine, s->heap, (size_t)got) == 0;
  close(p[0]);
  close(p[1]);
  s->ok[me] = ok;
}

int main(void) {
  char stack_buf[kMax]; /* on node 0's shared stack */
  long n = 0;
  for (;;) {
    ssize_t got = read(0, stack_buf + n, (size_t)(kMax - n));
    if (got < 0) {
      perror("read into the stack");
      return 1;
    }
    if (got == 0 || n + got >= kMax) {
      n += got;
      break;
    }
    n += got;
  }
  struct shared s = {0};
  s.heap = dsm_malloc(kMax);
  if (s.heap == NULL || lseek(0, 0, SEEK_SET) != 0 || read(0, s.heap, (size_t)n) != n) {
    perror("read into the heap");
    return 1;
  }
  if (memcmp(s.heap, stack_buf, (size_t)n) != 0) {
    fprintf(stderr, "the two reads differ\n");
    return 1;
  }
  s.n = n;
  int nodes = dsm_num_nodes();
  for (int k = 0; k < nodes && k < kMaxNodes; ++k) s.pipe_copy[k] = dsm_malloc(kMax);
  dsm_parallel(EveryNode, &s);
  int copies = 0;
  for (int k = 0; k < nodes && k < kMaxNodes; ++k) copies += s.ok[k];
  printf("\nsyscalls: bytes=%ld sum=%lu copies=%d %s\n", n, Sum(stack_buf, n), copies,
         copies == nodes ? "ok" : "FAIL");
  return copies == nodes ? 0 : 1;
}
