// `#pragma omp atomic` read, write, update and capture on a parallel
// region's shared variables (int, double, float: cmpxchg loops on the bits;
// long double: clang's generic libatomic calls, redirected to libdsm) go
// through the atomics pass at -O0 and -O2. (`atomic compare` is OpenMP 5.1,
// which clang 14 rejects: "atomic compare is not supported for now".)
// RUN: dsm-clang -O0 -S -emit-llvm %s -o - | FileCheck %s --implicit-check-not=@__atomic_
// RUN: dsm-clang -O2 -S -emit-llvm %s -o - | FileCheck %s --implicit-check-not=@__atomic_

void omp_forms(void) {
  int x = 0, v = 0;
  double d = 0;
  float f = 1;
  long double ld = 0;
#pragma omp parallel shared(x, d, f, ld) firstprivate(v)
  {
// CHECK-LABEL: define internal void @.omp_outlined.(
// read
// CHECK: load i32, i32* @__dsm_atomics_remote
// CHECK: call i32 @__dsm_atomic_load_4(
// CHECK: load atomic i32, i32* {{.*}} monotonic
#pragma omp atomic read
    v = x;
// write
// CHECK: call void @__dsm_atomic_store_4(
// CHECK: store atomic i32 {{.*}} monotonic
#pragma omp atomic write
    x = v + 1;
// update
// CHECK: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 2, i32 1)
// CHECK: atomicrmw add i32* {{.*}}, i32 2 monotonic
#pragma omp atomic update
    x += 2;
// capture
// CHECK: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 1, i32 1)
// CHECK: atomicrmw add i32* {{.*}}, i32 1 monotonic
#pragma omp atomic capture
    v = x++;
// double: load, then a cmpxchg loop
// CHECK: call i64 @__dsm_atomic_load_8(
// CHECK: load atomic i64, i64* {{.*}} monotonic
// CHECK: call i64 @__dsm_atomic_cas_8(
// CHECK: cmpxchg i64* {{.*}} monotonic monotonic
#pragma omp atomic
    d += 1.5;
// float
// CHECK: call i32 @__dsm_atomic_load_4(
// CHECK: load atomic i32, i32* {{.*}} monotonic
// CHECK: call i32 @__dsm_atomic_cas_4(
// CHECK: cmpxchg i32* {{.*}} monotonic monotonic
#pragma omp atomic
    f *= 2.0f;
// long double: libatomic's generic entry points become libdsm's
// CHECK: call void @__dsm_atomic_lib_load(i64 noundef 16,
// CHECK: call zeroext i1 @__dsm_atomic_lib_compare_exchange(i64 noundef 16,
#pragma omp atomic
    ld += 1.0L;
// seq_cst keeps its ordering on the hardware path
// CHECK: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 2)
// CHECK: atomicrmw sub i32* {{.*}} seq_cst
#pragma omp atomic seq_cst
    x -= v;
  }
}
