/* atomic: update (++, --, +=, -=, *=, |=, &=, ^=, <<=, x = x op e, x = e op x)
 * on int, long, unsigned and double; read, write, capture (both forms) and
 * seq_cst. Every thread works on the same shared variables; the results do
 * not depend on the order. */
#include "omp_test.h"

int main(void) {
  int failures = 0;
  int counter = 0, down = 4000;
  long lsum = 0, lmul = 1;
  unsigned bits_or = 0, bits_and = ~0u, bits_xor = 0, shifted = 1;
  double dsum = 0.0, dexpr = 0.0;
  int captured_max = -1;
  int *tickets = SHARED_ALLOC(sizeof(int) * 4000);
  int written = 0, read_ok = 1;
#pragma omp parallel shared(counter, down, lsum, lmul, bits_or, bits_and, bits_xor, shifted, dsum, \
                            dexpr, captured_max, tickets, written, read_ok)
  {
    int t = omp_get_thread_num();
    for (int i = 0; i < 1000; ++i) {
#pragma omp atomic
      counter++;
#pragma omp atomic update
      --down;
#pragma omp atomic
      lsum += i;
#pragma omp atomic
      dsum += 0.5;
#pragma omp atomic
      dexpr = dexpr + 0.25;
#pragma omp atomic
      bits_or |= 1u << ((i + t) % 32);
#pragma omp atomic
      bits_and &= ~(1u << ((i * 7 + t) % 29));
#pragma omp atomic
      bits_xor ^= (unsigned)(i * 2654435761u);
      int ticket;
#pragma omp atomic capture
      ticket = counter++;
      /* Each ticket is handed out once whatever the interleaving. */
      if (ticket >= 0 && ticket < 4000 * 2) {
        int slot;
#pragma omp atomic capture seq_cst
        {
          slot = written;
          written += 1;
        }
        if (slot < 4000) tickets[slot] = 1;
      }
    }
    if (t < 3) {
#pragma omp atomic
      lmul *= 3;
#pragma omp atomic
      shifted <<= 2;
    }
    int seen;
#pragma omp atomic read
    seen = counter;
    if (seen < 1000) {
#pragma omp atomic write
      read_ok = 0;
    }
    int old;
#pragma omp atomic capture
    {
      old = captured_max;
      captured_max += t + 1;
    }
    if (old < -1) {
#pragma omp atomic write
      read_ok = 0;
    }
  }
  int n = omp_get_max_threads();
  int all = 1;
  for (int i = 0; i < 1000 * n; ++i) all &= tickets[i] == 1;
  printf("counter %d down %d lsum %ld lmul %ld\n", counter, down, lsum, lmul);
  printf("or %x and %x xor %x shifted %u\n", bits_or, bits_and, bits_xor, shifted);
  printf("dsum %.2f dexpr %.2f\n", dsum, dexpr);
  printf("captures %d tickets all once %d read %d capture sum %d\n", written, all, read_ok,
         captured_max);
  printf("failures %d\n", failures);
  return failures != 0;
}
