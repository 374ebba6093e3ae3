// A program calling an OpenMP function that libdsm does not provide, or using
// a construct whose runtime entry point it does not provide, fails when
// dsm-clang links it, and the linker names each missing function (rather
// than the program starting and failing later on some node).
// RUN: rm -rf %t && mkdir -p %t
// RUN: not dsm-clang %s -o %t/prog 2>&1 | FileCheck %s
// CHECK-DAG: undefined reference to `omp_target_alloc'
// CHECK-DAG: undefined reference to `omp_target_memcpy'
// CHECK-DAG: undefined reference to `omp_target_free'
// CHECK-DAG: undefined reference to `omp_fulfill_event'
// CHECK-DAG: undefined reference to `__kmpc_task_allow_completion_event'
// CHECK: linker command failed
//
// Compiling alone succeeds; the same program without them links and runs.
// RUN: dsm-clang -c %s -o %t/prog.o
// RUN: dsm-clang -DSUPPORTED_ONLY %s -o %t/ok
// RUN: %t/ok | FileCheck %s --check-prefix=OK
// OK: devices 0 initial 1
#include <omp.h>
#include <stdio.h>

int main(void) {
#ifndef SUPPORTED_ONLY
  char host[64] = {0};
  void *device = omp_target_alloc(sizeof host, omp_get_default_device());
  omp_target_memcpy(device, host, sizeof host, 0, 0, omp_get_default_device(), 0);
  omp_target_free(device, omp_get_default_device());
  omp_event_handle_t event;
#pragma omp task detach(event)
  host[0] = 1;
  omp_fulfill_event(event);
#endif
  printf("devices %d initial %d\n", omp_get_num_devices(), omp_is_initial_device());
  return 0;
}
