// Atomics that clang cannot do inline: libatomic's generic entry points (long
// double, a 24-byte struct), its sized ones (a misaligned long) and 16-byte
// operations (which the backend would turn into libatomic calls) call libdsm
// unconditionally: libatomic's locks are private to a process, so they are
// wrong between nodes even on one host. No __atomic_* call is left.
// RUN: dsm-clang -O0 -Wno-atomic-alignment -Wno-address-of-packed-member -S -emit-llvm %s -o - \
// RUN:   | FileCheck %s --implicit-check-not=@__atomic_
// RUN: dsm-clang -O2 -Wno-atomic-alignment -Wno-address-of-packed-member -S -emit-llvm %s -o - \
// RUN:   | FileCheck %s --implicit-check-not=@__atomic_

struct Triple {
  long a, b, c;
};
struct __attribute__((packed)) Packed {
  char pad;
  long value;
};

// CHECK-LABEL: define{{.*}} @long_double(
// CHECK: call void @__dsm_atomic_lib_load(i64 noundef 16,
// CHECK: call zeroext i1 @__dsm_atomic_lib_compare_exchange(i64 noundef 16,
long double long_double(_Atomic long double* x) {
  *x += 1.0L;
  return *x;
}

// CHECK-LABEL: define{{.*}} @triple(
// CHECK: call void @__dsm_atomic_lib_load(i64 noundef 24,
// CHECK: call zeroext i1 @__dsm_atomic_lib_compare_exchange(i64 noundef 24,
// CHECK: call void @__dsm_atomic_lib_store(i64 noundef 24,
// CHECK: call void @__dsm_atomic_lib_exchange(i64 noundef 24,
void triple(_Atomic struct Triple* t, struct Triple n) {
  struct Triple old = *t;
  __c11_atomic_compare_exchange_strong(t, &old, n, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  __c11_atomic_store(t, n, __ATOMIC_RELEASE);
  old = __c11_atomic_exchange(t, n, __ATOMIC_SEQ_CST);
}

// 16 bytes: no flag test, libdsm picks cmpxchg16b or the lock.
// CHECK-LABEL: define{{.*}} @wide(
// CHECK-NOT: @__dsm_atomics_remote
// CHECK: call i128 @__dsm_atomic_rmw_16(i8* nocapture {{.*}}, i128 5, i32 1)
// CHECK-NOT: atomicrmw
// CHECK: ret
__int128 wide(_Atomic __int128* w) {
  *w += 5;
  return *w;
}

// CHECK-LABEL: define{{.*}} @misaligned(
// CHECK: call i64 @__dsm_atomic_lib_fetch_add_8(
// CHECK: call i64 @__dsm_atomic_lib_load_8(
long misaligned(struct Packed* p) {
  __atomic_fetch_add(&p->value, 1, __ATOMIC_SEQ_CST);
  return __atomic_load_n(&p->value, __ATOMIC_ACQUIRE);
}
