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
