// Where globals go. Shared ones are in section dsm_shared_data (initialised)
// or dsm_shared_bss (zero), which dsm_globals.ld links as one window; private
// ones stay in .data/.bss.
//
// Explicit mode (-fno-dsm-auto-shared): only `#pragma dsm shared` variables,
// before a declaration or naming earlier ones. threadprivate ones are
// thread-local in both modes.
// RUN: dsm-clang -fno-dsm-auto-shared -c %s -o %t.o
// RUN: llvm-objdump -t %t.o | FileCheck %s --check-prefixes=CHECK,EXPLICIT
// RUN: llvm-readelf -S %t.o | FileCheck %s --check-prefix=SECTION
//
// Zero-annotation mode (the default): every writable global and static too,
// except `#pragma dsm private` ones; constants stay read-only.
// RUN: dsm-clang -c %s -o %t.auto.o
// RUN: llvm-objdump -t %t.auto.o | FileCheck %s --check-prefixes=CHECK,AUTO

#pragma dsm shared
int counter = 5;

#pragma dsm shared
static double table[16], other_table[4];

int named = 3;
long named_bss;
int plain = 1;
int plain_bss;
const int answer = 42;

#pragma dsm shared(named, named_bss)

#pragma dsm private
int mine = 9;

#pragma dsm private
long mine_bss;

int tp = 4;
#pragma omp threadprivate(tp)

double *tables(void) { return counter ? table : other_table; }
int sum(void) { return plain + plain_bss + answer + mine + (int)mine_bss + tp; }

// CHECK-DAG: {{^[0-9a-f]+}} l O dsm_shared_bss {{[0-9a-f]+}} table{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} l O dsm_shared_bss {{[0-9a-f]+}} other_table{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O dsm_shared_data {{[0-9a-f]+}} counter{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O dsm_shared_data {{[0-9a-f]+}} named{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O dsm_shared_bss {{[0-9a-f]+}} named_bss{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g {{.*}}.tdata {{[0-9a-f]+}} tp{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O .data {{[0-9a-f]+}} mine{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O .bss {{[0-9a-f]+}} mine_bss{{$}}
// CHECK-DAG: {{^[0-9a-f]+}} g O .rodata {{[0-9a-f]+}} answer{{$}}
// EXPLICIT-DAG: {{^[0-9a-f]+}} g O .data {{[0-9a-f]+}} plain{{$}}
// EXPLICIT-DAG: {{^[0-9a-f]+}} g O .bss {{[0-9a-f]+}} plain_bss{{$}}
// AUTO-DAG: {{^[0-9a-f]+}} g O dsm_shared_data {{[0-9a-f]+}} plain{{$}}
// AUTO-DAG: {{^[0-9a-f]+}} g O dsm_shared_bss {{[0-9a-f]+}} plain_bss{{$}}
// SECTION-DAG: dsm_shared_data PROGBITS
// SECTION-DAG: dsm_shared_bss NOBITS

// Inside a function: a static local may be shared; an automatic one may not.
// RUN: dsm-clang -fno-dsm-auto-shared -c -DLOCALS %s -o %t.locals.o
// RUN: llvm-objdump -t %t.locals.o | FileCheck %s --check-prefix=LOCAL
// RUN: not dsm-clang -fsyntax-only -DLOCALS -DBAD_LOCALS %s 2>&1 | FileCheck %s --check-prefix=BADLOCAL
#ifdef LOCALS
int *local_counter(void) {
  int unrelated = 0;
#pragma dsm shared
  static int calls;
  static int private_calls;
  calls += unrelated + private_calls;
#ifdef BAD_LOCALS
#pragma dsm shared
  int automatic = 1;
  calls += automatic;
#pragma dsm shared
#endif
  return &calls;
}
#endif
// LOCAL-DAG: O dsm_shared_bss {{[0-9a-f]+}} local_counter.calls
// LOCAL-DAG: O .bss {{[0-9a-f]+}} local_counter.private_calls
// BADLOCAL: shared_section.c:[[#@LINE-10]]:13: error: '#pragma dsm shared' and 'private' must precede a global or static variable declaration
// BADLOCAL: shared_section.c:[[#@LINE-8]]:13: error: '#pragma dsm shared' and 'private' must precede a global or static variable declaration
