// dsm-clang++ loads the plugin for C++ too: shared placement of a namespace
// scope variable and a static data member, directives in a template.
// RUN: dsm-clang++ -std=c++17 -c %s -o %t.o
// RUN: llvm-objdump -t %t.o | FileCheck %s
// RUN: llvm-nm -u %t.o | FileCheck %s --check-prefix=CALLS

namespace app {
#pragma dsm shared
double grid[128];
}  // namespace app

struct Counter {
  static long hits;
};
#pragma dsm shared
long Counter::hits = 0;

template <typename T>
T Sum(const T* v, int n) {
  T total = 0;
#pragma dsm parallel for reduction(+ : total)
  for (int i = 0; i < n; i++) total += v[i];
  return total;
}

double Total() { return Sum(app::grid, 128) + static_cast<double>(Counter::hits); }

// CHECK-DAG: O dsm_shared_bss {{[0-9a-f]+}} _ZN3app4gridE
// CHECK-DAG: O dsm_shared_bss {{[0-9a-f]+}} _ZN7Counter4hitsE
// CALLS: __kmpc_fork_call
