// A function-local static with a constructor (a Meyers singleton) that every
// node uses: it is shared, and so is its guard variable (the shared-guards
// pass), so the job constructs it once and every node sees it built, on one
// host and on two. A recursive initialisation is reported, not a hang.
// RUN: dsm-clang++ -O0 %s -o %t.O0
// RUN: dsm-clang++ -O2 %s -o %t.O2
// RUN: llvm-objdump -t %t.O2 | FileCheck %s --check-prefix=SYMS
// RUN: dsm-run -n 4 %t.O0 | FileCheck %s
// RUN: dsm-run -n 4 %t.O2 | FileCheck %s
// RUN: dsm-run --hosts 2 -n 4 %t.O0 | FileCheck %s
// RUN: dsm-run --hosts 2 -n 4 %t.O2 | FileCheck %s
// RUN: not dsm-run -n 2 %t.O2 recursive 2>&1 | FileCheck %s --check-prefix=RECURSIVE
//
// Explicit mode: the static stays per node, and so does its guard.
// RUN: dsm-clang++ -fno-dsm-auto-shared -O2 -c %s -o %t.explicit.o
// RUN: llvm-objdump -t %t.explicit.o | FileCheck %s --check-prefix=PRIVATE
//
// SYMS-DAG: dsm_shared_bss {{[0-9a-f]+}} _ZGVZ8GetTablevE5table
// SYMS-DAG: dsm_shared_bss {{[0-9a-f]+}} _ZZ8GetTablevE5table
// PRIVATE-DAG: .bss {{[0-9a-f]+}} _ZGVZ8GetTablevE5table
// PRIVATE-DAG: .bss {{[0-9a-f]+}} _ZZ8GetTablevE5table
// CHECK: threads=4 constructions=1 total=5994000
// RECURSIVE: recursive initialisation
#include <omp.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <vector>

std::atomic<int> constructions{0};

struct Table {
  std::vector<long> v;
  Table() : v(1000) {
    constructions.fetch_add(1);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<long>(i * 3);
  }
};

const Table& GetTable() {
  static Table table;
  return table;
}

int Again();
struct Loop {
  int x;
  Loop() : x(Again()) {}
};
int Again() {
  static Loop loop;
  return loop.x + 1;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "recursive") == 0) return Again();
  long sums[64] = {0};
  int nthreads = 0;
#pragma omp parallel
  {
    const Table& t = GetTable();
    long s = 0;
    for (long x : t.v) s += x;
    sums[omp_get_thread_num()] = s;
#pragma omp single
    nthreads = omp_get_num_threads();
  }
  long total = 0;
  for (int i = 0; i < nthreads; ++i) total += sums[i];
  std::printf("threads=%d constructions=%d total=%ld\n", nthreads, constructions.load(), total);
  return constructions.load() == 1 && total == nthreads * 1498500L ? 0 : 1;
}
