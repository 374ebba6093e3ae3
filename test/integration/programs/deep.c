/* Recurses with large frames on node 0's main stack until it overflows (or
 * to the depth given): the job must end with a clear message. */
#include <dsm/dsm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long depth(long n, long limit) {
  volatile char frame[64 * 1024];
  memset((char *)frame, (int)n, sizeof frame);
  if (n >= limit) return frame[n % sizeof frame];
  return depth(n + 1, limit) + frame[0];
}

int main(int argc, char **argv) {
  long limit = argc > 1 ? atol(argv[1]) : 1L << 20;
  printf("deep: %ld\n", depth(0, limit));
  return 0;
}
