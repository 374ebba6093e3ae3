; Atomic instructions clang does not emit from C but other front ends and
; passes do, for atomics_ir.test.
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-f80:128-n8:16:32:64-S128"
target triple = "x86_64-pc-linux-gnu"

define i32* @pointer_cas(i32** %p, i32* %old, i32* %new) {
  %r = cmpxchg i32** %p, i32* %old, i32* %new acq_rel monotonic
  %v = extractvalue { i32*, i1 } %r, 0
  ret i32* %v
}

define float @float_add(float* %p) {
  %r = atomicrmw fadd float* %p, float 1.0 seq_cst
  ret float %r
}

define double @double_sub(double* %p) {
  %r = atomicrmw fsub double* %p, double 2.0 monotonic
  ret double %r
}

define i32 @under_aligned(i32* %p) {
  %r = atomicrmw add i32* %p, i32 1 seq_cst, align 2
  ret i32 %r
}

define i32 @signal_handler_flag(i32* %p) {
  %r = load atomic volatile i32, i32* %p syncscope("singlethread") acquire, align 4
  ret i32 %r
}

define void @volatile_store(i16* %p) {
  store atomic volatile i16 3, i16* %p release, align 2
  ret void
}
