// `#pragma dsm shared` places globals in section .dsm_shared, 64-byte aligned,
// before a declaration or naming earlier ones; other globals stay put.
// RUN: dsm-clang -c %s -o %t.o
// RUN: llvm-objdump -t %t.o | FileCheck %s
// RUN: llvm-readelf -S %t.o | FileCheck %s --check-prefix=SECTION

#pragma dsm shared
int counter = 5;

#pragma dsm shared
static double table[16], other_table[4];

int named = 3;
long named_bss;
int plain = 1;
int plain_bss;

#pragma dsm shared(named, named_bss)

#pragma dsm private
int mine;

double *tables(void) { return counter ? table : other_table; }

// CHECK-DAG: {{^[0-9a-f]+}} l O .dsm_shared {{[0-9a-f]+}} table{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} l O .dsm_shared {{[0-9a-f]+}} other_table{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O .dsm_shared {{[0-9a-f]+}} counter{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O .dsm_shared {{[0-9a-f]+}} named{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O .dsm_shared {{[0-9a-f]+}} named_bss{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O .data {{[0-9a-f]+}} plain{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O .bss {{[0-9a-f]+}} plain_bss{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O .bss {{[0-9a-f]+}} mine{{$}}
// SECTION: .dsm_shared PROGBITS {{[0-9a-f]+}} {{[0-9a-f]+}} {{[0-9a-f]+}} 00 WA 0 0 64

// Inside a function: a static local may be shared; an automatic one may not.
// RUN: dsm-clang -c -DLOCALS %s -o %t.locals.o
// RUN: llvm-objdump -t %t.locals.o | FileCheck %s --check-prefix=LOCAL
// RUN: not dsm-clang -fsyntax-only -DLOCALS -DBAD_LOCALS %s 2>&1 | FileCheck %s --check-prefix=BADLOCAL
#ifdef LOCALS
int *local_counter(void) {
  int unrelated = 0;
#pragma dsm shared
  static int calls;
  calls += unrelated;
#ifdef BAD_LOCALS
#pragma dsm shared
  int automatic = 1;
  calls += automatic;
#pragma dsm shared
#endif
  return &calls;
}
#endif
// LOCAL: O .dsm_shared {{[0-9a-f]+}} local_counter.calls
// BADLOCAL: shared_section.c:46:13: error: '#pragma dsm shared' and 'private' must precede a global or static variable declaration
// BADLOCAL: shared_section.c:49:13: error: '#pragma dsm shared' and 'private' must precede a global or static variable declaration
