// The atomics pass (compiler-plugin/pass/atomics_pass.cc) at -O0 and -O2:
// every C form of atomic operation on memory that may be shared keeps its
// hardware instruction behind `__dsm_atomics_remote == 0` and calls libdsm
// otherwise; fences stay fences.
// RUN: dsm-clang -O0 -S -emit-llvm %s -o - | FileCheck %s --implicit-check-not=@__atomic_
// RUN: dsm-clang -O2 -S -emit-llvm %s -o - | FileCheck %s --implicit-check-not=@__atomic_

#include <stdatomic.h>

// CHECK: @__dsm_atomics_remote = external global i32

// CHECK-LABEL: define{{.*}} void @c11_operators(
// CHECK: load i32, i32* @__dsm_atomics_remote
// CHECK: icmp ne i32 {{.*}}, 0
// CHECK: br i1 {{.*}}, !prof
// CHECK: call i32 @__dsm_atomic_rmw_4(i8* {{.*}}, i32 {{.*}}, i32 1)
// CHECK: atomicrmw add i32* {{.*}} seq_cst
// CHECK: call i64 @__dsm_atomic_rmw_8(i8* {{.*}}, i64 {{.*}}, i32 2)
// CHECK: atomicrmw sub i64* {{.*}} seq_cst
// CHECK: call void @__dsm_atomic_store_4(
// CHECK: store atomic i32 {{.*}} seq_cst
// CHECK: call i32 @__dsm_atomic_load_4(
// CHECK: load atomic i32, i32* {{.*}} seq_cst
void c11_operators(_Atomic int* a, _Atomic long* b, int* out) {
  (*a)++;
  *b -= 3;
  *a = 5;
  *out = *a;
}

// CHECK-LABEL: define{{.*}} i32 @stdatomic_functions(
// CHECK: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 5)
// CHECK: atomicrmw or i32* {{.*}} acquire
// CHECK: call i32 @__dsm_atomic_cas_4(
// CHECK: cmpxchg weak i32* {{.*}} seq_cst seq_cst
// CHECK: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 0)
// CHECK: atomicrmw xchg i32* {{.*}} release
// CHECK: call void @__dsm_atomic_store_4(
// CHECK: store atomic i32 {{.*}} release
// CHECK: fence seq_cst
// CHECK: call i32 @__dsm_atomic_load_4(
// CHECK: load atomic i32, i32* {{.*}} acquire
int stdatomic_functions(atomic_int* a, int expected) {
  atomic_fetch_or_explicit(a, 4, memory_order_acquire);
  atomic_compare_exchange_weak(a, &expected, 9);
  int old = atomic_exchange_explicit(a, 1, memory_order_release);
  atomic_store_explicit(a, 2, memory_order_release);
  atomic_thread_fence(memory_order_seq_cst);
  return old + atomic_load_explicit(a, memory_order_acquire);
}

// atomic_flag is a byte: exchange and store of 1 byte, zero-extended.
// CHECK-LABEL: define{{.*}} @flag_spin(
// CHECK: call zeroext i8 @__dsm_atomic_rmw_1(i8* {{.*}}, i8 zeroext {{.*}}, i32 0)
// CHECK: atomicrmw xchg i8* {{.*}} acquire
// CHECK: call void @__dsm_atomic_store_1(
// CHECK: store atomic i8 {{.*}}, i8* {{.*}} release
void flag_spin(atomic_flag* f) {
  while (atomic_flag_test_and_set_explicit(f, memory_order_acquire)) {
  }
  atomic_flag_clear_explicit(f, memory_order_release);
}

// CHECK-LABEL: define{{.*}} @gnu_builtins(
// CHECK: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 1)
// CHECK: atomicrmw add i32* {{.*}} monotonic
// CHECK: call i64 @__dsm_atomic_cas_8(
// CHECK: cmpxchg i64* {{.*}} acq_rel acquire
// CHECK: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 7)
// CHECK: atomicrmw max i32* {{.*}} monotonic
// CHECK: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 10)
// CHECK: atomicrmw umin i32* {{.*}} monotonic
// CHECK: call zeroext i16 @__dsm_atomic_rmw_2({{.*}}, i32 4)
// CHECK: atomicrmw nand i16* {{.*}} seq_cst
// CHECK: call i64 @__dsm_atomic_load_8(
// CHECK: load atomic i64, i64* {{.*}} acquire
long gnu_builtins(int* i, long* l, unsigned* u, short* s, long e) {
  __atomic_fetch_add(i, 1, __ATOMIC_RELAXED);
  __atomic_compare_exchange_n(l, &e, 3, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  __atomic_fetch_max(i, 4, __ATOMIC_RELAXED);
  __atomic_fetch_min(u, 4u, __ATOMIC_RELAXED);
  __atomic_nand_fetch(s, 1, __ATOMIC_SEQ_CST);
  return __atomic_load_n(l, __ATOMIC_ACQUIRE);
}

// CHECK-LABEL: define{{.*}} @sync_builtins(
// CHECK: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 1)
// CHECK: atomicrmw add i32* {{.*}} seq_cst
// CHECK: call i64 @__dsm_atomic_cas_8(
// CHECK: cmpxchg i64* {{.*}} seq_cst seq_cst
// CHECK: call i32 @__dsm_atomic_rmw_4({{.*}}, i32 0)
// CHECK: atomicrmw xchg i32* {{.*}} seq_cst
// CHECK: call void @__dsm_atomic_store_4(
// CHECK: store atomic i32 0, i32* {{.*}} release
// CHECK: fence seq_cst
long sync_builtins(int* i, long* l) {
  __sync_fetch_and_add(i, 2);
  long old = __sync_val_compare_and_swap(l, 1, 2);
  old += __sync_lock_test_and_set(i, 1);
  __sync_lock_release(i);
  __sync_synchronize();
  return old;
}

// Floating point: C11 compound assignment on _Atomic double is a cmpxchg loop
// on the bits.
// CHECK-LABEL: define{{.*}} @c11_double(
// CHECK: call i64 @__dsm_atomic_cas_8(
// CHECK: cmpxchg i64* {{.*}} seq_cst seq_cst
void c11_double(_Atomic double* d) { *d += 0.5; }

// Pointers travel as integers (clang loads them as i64).
// CHECK-LABEL: define{{.*}} @pointers(
// CHECK: call i64 @__dsm_atomic_load_8(
// CHECK: load atomic i64, i64* {{.*}} seq_cst
// CHECK: inttoptr i64 {{.*}} to i32*
int* pointers(int* _Atomic* p) { return *p; }

// CHECK: declare zeroext i8 @__dsm_atomic_rmw_1(i8* nocapture, i8 zeroext, i32)
