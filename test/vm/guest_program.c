/* A small dynamically linked program for the guest image tests: prints its
 * arguments on stdout, one line on stderr, and exits with status 3. */
#include <stdio.h>

int main(int argc, char** argv) {
  printf("hello from the guest:");
  for (int i = 1; i < argc; ++i) printf(" [%s]", argv[i]);
  printf("\n");
  fprintf(stderr, "a line on stderr\n");
  return 3;
}
