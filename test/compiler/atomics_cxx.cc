// C++ std::atomic through dsm-clang++: at -O2 the inlined operations, at -O0
// the ones inside libstdc++'s member functions (one per memory order of the
// switch libstdc++ makes), are rewritten by the atomics pass.
// RUN: dsm-clang++ -std=c++20 -O2 -S -emit-llvm %s -o - | FileCheck %s --check-prefix=O2
// RUN: dsm-clang++ -std=c++20 -O0 -S -emit-llvm %s -o - | FileCheck %s --check-prefix=O0

#include <atomic>

// O2-LABEL: define{{.*}} i32 @_Z7counterRSt6atomicIiE(
// O2: load i32, i32* @__dsm_atomics_remote
// O2: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 1, i32 1)
// O2: atomicrmw add i32* {{.*}}, i32 1 monotonic
// O2: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 1, i32 1)
// O2: atomicrmw add i32* {{.*}}, i32 1 seq_cst
// O0-DAG: atomicrmw add i32* {{.*}} monotonic
// O0-DAG: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 1)
int counter(std::atomic<int>& a) {
  a.fetch_add(1, std::memory_order_relaxed);
  return ++a;
}

// O2-LABEL: define{{.*}} @_Z3casRSt6atomicIlEl(
// O2: call i64 @__dsm_atomic_cas_8(
// O2: cmpxchg weak i64* {{.*}} seq_cst seq_cst
// O0-DAG: call i64 @__dsm_atomic_cas_8(
// O0-DAG: cmpxchg weak i64* {{.*}} seq_cst seq_cst
bool cas(std::atomic<long>& a, long e) { return a.compare_exchange_weak(e, e + 1); }

// C++20 floating-point fetch_add: libstdc++'s load + cmpxchg loop.
// O2-LABEL: define{{.*}} double @_Z4faddRSt6atomicIdE(
// O2: call i64 @__dsm_atomic_load_8(
// O2: call i64 @__dsm_atomic_cas_8(
// O2: cmpxchg weak i64*
// O0-DAG: call i64 @__dsm_atomic_load_8(
double fadd(std::atomic<double>& d) { return d.fetch_add(0.5); }

// O2-LABEL: define{{.*}} void @_Z4spinRSt11atomic_flag(
// O2: call zeroext i8 @__dsm_atomic_rmw_1({{.*}}, i8 zeroext 1, i32 0)
// O2: atomicrmw xchg i8* {{.*}} acquire
// O2: call void @__dsm_atomic_store_1({{.*}}, i8 zeroext 0)
// O2: store atomic i8 0, i8* {{.*}} release
// O0-DAG: call zeroext i8 @__dsm_atomic_rmw_1(
// O0-DAG: call void @__dsm_atomic_store_1(
void spin(std::atomic_flag& f) {
  while (f.test_and_set(std::memory_order_acquire)) {
  }
  f.clear(std::memory_order_release);
}

// O2-LABEL: define{{.*}} @_Z3ptrRSt6atomicIPiES0_(
// O2: call i64 @__dsm_atomic_rmw_8({{.*}}, i32 0)
// O2: atomicrmw xchg i64* {{.*}} seq_cst
// O0-DAG: call i64 @__dsm_atomic_rmw_8({{.*}}, i32 0)
int* ptr(std::atomic<int*>& p, int* q) { return p.exchange(q); }
