; What the atomics pass refuses, for atomics_ir.test.
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-f80:128-n8:16:32:64-S128"
target triple = "x86_64-pc-linux-gnu"

define half @half_add(half* %p) {
  %r = atomicrmw fadd half* %p, half 1.0 seq_cst
  ret half %r
}

define i256 @huge(i256* %p) {
  %r = load atomic i256, i256* %p seq_cst, align 32
  ret i256 %r
}
