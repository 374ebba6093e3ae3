// A local atomic whose address never leaves its function keeps its hardware
// instruction with no flag test (no other node can reach it); once its
// address escapes (to a parallel region, or to another function) it is
// rewritten like any other.
// RUN: dsm-clang -O0 -S -emit-llvm %s -o - | FileCheck %s
// RUN: dsm-clang -O2 -S -emit-llvm %s -o - | FileCheck %s

void use(_Atomic int* p);

// CHECK-LABEL: define{{.*}} i32 @private_local(
// CHECK-NOT: __dsm_atomic
// CHECK: atomicrmw add i32* {{.*}} seq_cst
// CHECK-NOT: __dsm_atomic
// CHECK: ret i32
int private_local(int n) {
  _Atomic int count = 0;
  for (int i = 0; i < n; i++) count += 2;
  return count;
}

// CHECK-LABEL: define{{.*}} i32 @escaping_local(
// CHECK: call void @use(
// CHECK: load i32, i32* @__dsm_atomics_remote
// CHECK: call i32 @__dsm_atomic_rmw_4(
// CHECK: atomicrmw add i32* {{.*}} seq_cst
int escaping_local(void) {
  _Atomic int count = 0;
  use(&count);
  count += 2;
  return count;
}

// CHECK-LABEL: define{{.*}} void @shared_with_region(
// CHECK: call void {{.*}}@__kmpc_fork_call(
// CHECK: define internal void @.omp_outlined.(
// CHECK: call i32 @__dsm_atomic_rmw_4(
// CHECK: atomicrmw add i32* {{.*}} monotonic
void shared_with_region(void) {
  int count = 0;
#pragma omp parallel shared(count)
  {
#pragma omp atomic
    count += 1;
  }
  use((_Atomic int*)&count);
}
