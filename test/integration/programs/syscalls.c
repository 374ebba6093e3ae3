/* System calls on shared buffers in a job of several hosts, where pages a
 * node has not touched are not mapped for it yet: node 0 reads its stdin
 * with read(2) into a buffer on its (shared) stack and into one from
 * dsm_malloc; then every node writes the heap copy to its stdout with
 * write(2) (the last node, on the last host, has never touched it) and
 * readv(2)s a pipe into a buffer of its own in the shared heap. Node 0
 * prints "syscalls: bytes=N sum=S copies=C ok" when every copy matched.
 *
 * Then calls that fill structures or read paths, each on shared memory
 * the calling node has not touched: stat(2) of a path node 0 wrote into a
 * shared struct stat, pipe(2) into a shared int[2], poll(2) on a shared
 * pollfd, a large fread(3) (which the C library turns into read(2) on the
 * caller's buffer) of /dev/zero into a block node 0 filled with 0xff,
 * getcwd(3) into a shared buffer. "structs=C ok" when every node's matched
 * what the same calls on private memory say. */
#include <dsm/dsm.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum { kMax = 1 << 16, kMaxNodes = 64 };

enum { kZeros = 1 << 17 };

struct shared {
  char *heap;
  long n;
  char *pipe_copy[kMaxNodes];
  int ok[kMaxNodes];
  /* Structures and paths, each node's own, all from dsm_malloc. */
  char *path;                 /* written by node 0 */
  struct stat *st;            /* [node] */
  int (*fds)[2];              /* [node] */
  struct pollfd *pfd;         /* [node] */
  char *zeros[kMaxNodes];     /* kZeros bytes each, 0xff from node 0 */
  char (*cwd)[PATH_MAX];      /* [node] */
  int structs_ok[kMaxNodes];
};

/* The structure and path calls of the comment above, on node me's parts. */
static int Structs(struct shared *s, int me) {
  struct stat mine;
  if (stat(s->path, &s->st[me]) != 0 || stat(".", &mine) != 0) {
    perror("stat");
    return 0;
  }
  if (s->st[me].st_ino != mine.st_ino || s->st[me].st_dev != mine.st_dev) {
    fprintf(stderr, "node %d: stat into shared memory differs\n", me);
    return 0;
  }
  if (pipe(s->fds[me]) != 0) {
    perror("pipe");
    return 0;
  }
  int ok = write(s->fds[me][1], "x", 1) == 1;
  s->pfd[me].fd = s->fds[me][0];
  s->pfd[me].events = POLLIN;
  int polled = poll(&s->pfd[me], 1, 10000);
  close(s->fds[me][0]);
  close(s->fds[me][1]);
  if (!ok || polled != 1 || !(s->pfd[me].revents & POLLIN)) {
    fprintf(stderr, "node %d: poll on a shared pollfd: %d (%s)\n", me, polled, polled < 0 ? strerror(errno) : "");
    return 0;
  }
  FILE *z = fopen("/dev/zero", "r");
  if (z == NULL) {
    perror("fopen /dev/zero");
    return 0;
  }
  size_t got = fread(s->zeros[me], 1, kZeros, z);
  fclose(z);
  for (size_t i = 0; got == kZeros && i < kZeros; i += 4093) {
    if (s->zeros[me][i] != 0) got = i;
  }
  if (got != kZeros) {
    fprintf(stderr, "node %d: fread into shared memory: %zu of %d bytes\n", me, got, (int)kZeros);
    return 0;
  }
  char here[PATH_MAX];
  if (getcwd(s->cwd[me], PATH_MAX) == NULL || getcwd(here, sizeof here) == NULL || strcmp(s->cwd[me], here) != 0) {
    fprintf(stderr, "node %d: getcwd into shared memory: %s\n", me, strerror(errno));
    return 0;
  }
  return 1;
}

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
  s->structs_ok[me] = Structs(s, me);
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
  s.path = dsm_malloc(PATH_MAX);
  s.st = dsm_malloc(sizeof *s.st * kMaxNodes);
  s.fds = dsm_malloc(sizeof *s.fds * kMaxNodes);
  s.pfd = dsm_malloc(sizeof *s.pfd * kMaxNodes);
  s.cwd = dsm_malloc(sizeof *s.cwd * kMaxNodes);
  if (s.path == NULL || s.st == NULL || s.fds == NULL || s.pfd == NULL || s.cwd == NULL) {
    fprintf(stderr, "dsm_malloc failed\n");
    return 1;
  }
  strcpy(s.path, ".");
  for (int k = 0; k < nodes && k < kMaxNodes; ++k) {
    s.zeros[k] = dsm_malloc(kZeros);
    if (s.zeros[k] == NULL) return 1;
    memset(s.zeros[k], 0xff, kZeros);
  }
  dsm_parallel(EveryNode, &s);
  /* A length far beyond any buffer, private (mmap): the kernel refuses it
   * at once, and the wrapper must not walk it page by page first. */
  char *small = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int null_fd = open("/dev/null", O_RDONLY);
  if (small == MAP_FAILED || null_fd < 0 || read(null_fd, small, (size_t)1 << 62) > 0) {
    fprintf(stderr, "read of 2^62 bytes from /dev/null did not fail or return 0\n");
    return 1;
  }
  close(null_fd);
  int copies = 0, structs = 0;
  for (int k = 0; k < nodes && k < kMaxNodes; ++k) {
    copies += s.ok[k];
    structs += s.structs_ok[k];
  }
  printf("\nsyscalls: bytes=%ld sum=%lu copies=%d %s\n", n, Sum(stack_buf, n), copies,
         copies == nodes ? "ok" : "FAIL");
  printf("syscalls: structs=%d %s\n", structs, structs == nodes ? "ok" : "FAIL");
  return copies == nodes && structs == nodes ? 0 : 1;
}
