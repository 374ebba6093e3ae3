// `#pragma dsm parallel|for|critical|barrier|single|master` compile to the
// same OpenMP runtime calls as their `#pragma omp` twins (compile only: the
// __kmpc_* entry points live in libdsm's OpenMP layer).
// RUN: dsm-clang -c %s -o %t.dsm.o
// RUN: llvm-nm %t.dsm.o | FileCheck %s
// RUN: dsm-clang -c -DUSE_OMP %s -o %t.omp.o
// RUN: llvm-nm %t.omp.o | FileCheck %s
// RUN: dsm-clang -E %s | FileCheck %s --check-prefix=PP

#ifdef USE_OMP
#define DIRECTIVE(x) _Pragma(#x)
#define P(text) DIRECTIVE(omp text)
#else
#define DIRECTIVE(x) _Pragma(#x)
#define P(text) DIRECTIVE(dsm text)
#endif

int data[256];

void work(int n) {
  int sum = 0;
  P(parallel num_threads(4))
  {
    P(for schedule(dynamic, 8) reduction(+ : sum))
    for (int i = 0; i < n; i++) sum += data[i % 256];
    P(critical(update))
    data[0] += sum;
    P(barrier)
    P(single)
    data[1]++;
    P(master)
    data[2]++;
  }
  P(parallel for schedule(static))
  for (int i = 0; i < n; i++) data[i % 256] = i;
}

// CHECK-DAG: __kmpc_fork_call
// CHECK-DAG: __kmpc_push_num_threads
// CHECK-DAG: __kmpc_dispatch_init_4
// CHECK-DAG: __kmpc_dispatch_next_4
// CHECK-DAG: __kmpc_reduce
// CHECK-DAG: __kmpc_critical
// CHECK-DAG: __kmpc_end_critical
// CHECK-DAG: __kmpc_barrier
// CHECK-DAG: __kmpc_single
// CHECK-DAG: __kmpc_end_single
// CHECK-DAG: __kmpc_master
// CHECK-DAG: __kmpc_end_master
// CHECK-DAG: __kmpc_for_static_init_4
// CHECK-DAG: .gomp_critical_user_update.var
// PP: void work(int n)
