// dsm-clang passes every flag through and adds the plugin and OpenMP when
// compiling, and libdsm (not libomp) when linking; checked on `-###`.
// RUN: rm -rf %t && mkdir -p %t
//
// Compile only: plugin and OpenMP, no link.
// RUN: dsm-clang -### -c %s -o %t/a.o 2>&1 | FileCheck %s --check-prefix=COMPILE
// COMPILE: "-cc1"
// COMPILE-SAME: "-fopenmp"
// COMPILE-SAME: "-load" "{{[^"]*}}/lib/dsm-clang-plugin.so"
// COMPILE-SAME: "-o" "{{[^"]*}}/a.o"
// COMPILE-NOT: "{{[^"]*}}/ld"
//
// Compile and link in one command: libdsm, the main shim, no libomp, no PIE.
// RUN: dsm-clang -### %s -o %t/prog 2>&1 | FileCheck %s --check-prefix=LINK
// LINK: "-cc1"
// LINK-SAME: {{("-fopenmp".*"-load" "[^"]*/dsm-clang-plugin.so"|"-load" "[^"]*/dsm-clang-plugin.so".*"-fopenmp")}}
// LINK: "{{[^"]*}}/ld"
// LINK-NOT: "-pie"
// LINK-NOT: "-lomp"
// LINK-SAME: "{{[^"]*}}/lib/libdsm_main.a" "--wrap=main" "-T" "{{[^"]*}}/lib/dsm_globals.ld" "-ldsm" "-rpath" "{{[^"]*}}/lib"
// LINK-NOT: "-lomp"
//
// The shared heap (the default): libdsm_heap.a and a --wrap for each heap
// function before libdsm; dsm-clang++ also pulls in operator new/delete.
// -fno-dsm-shared-heap links neither (private_heap.c runs such a program).
// RUN: dsm-clang -### %s -o %t/prog 2>&1 | FileCheck %s --check-prefix=HEAP
// HEAP: "{{[^"]*}}/ld"
// HEAP-SAME: "{{[^"]*}}/lib/libdsm_heap.a" "--wrap=malloc" "--wrap=calloc" "--wrap=realloc" "--wrap=reallocarray" "--wrap=free" "--wrap=posix_memalign" "--wrap=aligned_alloc" "--wrap=memalign" "--wrap=valloc" "--wrap=pvalloc" "--wrap=strdup" "--wrap=strndup" "--wrap=malloc_usable_size" "--wrap=getline" "--wrap=getdelim" "--wrap=__getdelim" "{{[^"]*}}/lib/libdsm_main.a"
// HEAP-NOT: __dsm_heap_cxx
// RUN: dsm-clang++ -### %s -o %t/prog 2>&1 | FileCheck %s --check-prefix=HEAPCXX
// HEAPCXX: "{{[^"]*}}/lib/libdsm_heap.a" "--wrap=malloc"
// HEAPCXX-SAME: "--wrap=__getdelim" "--undefined=__dsm_heap_cxx" "{{[^"]*}}/lib/libdsm_main.a"
// RUN: dsm-clang -### -fno-dsm-shared-heap %s -o %t/prog 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NOHEAP --implicit-check-not=libdsm_heap --implicit-check-not=--wrap=malloc
// NOHEAP: "{{[^"]*}}/ld"
// NOHEAP-SAME: "{{[^"]*}}/lib/libdsm_main.a" "--wrap=main"
//
// A -fopenmp given by the user does not bring libomp either.
// RUN: touch %t/a.o %t/b.o
// RUN: dsm-clang -### -fopenmp %t/a.o %t/b.o -o %t/prog 2>&1 | FileCheck %s --check-prefix=LINKONLY
// LINKONLY-NOT: "-cc1"
// LINKONLY-NOT: "-lomp"
// LINKONLY: "{{[^"]*}}/ld"
// LINKONLY-NOT: "-lomp"
// LINKONLY-SAME: "{{[^"]*}}/a.o" "{{[^"]*}}/b.o"
// LINKONLY-SAME: "-ldsm"
// LINKONLY-NOT: "-lomp"
//
// Preprocessing, assembly output and dependency-only runs do not link.
// RUN: dsm-clang -### -E %s 2>&1 | FileCheck %s --check-prefix=NOLINK
// RUN: dsm-clang -### -S %s -o %t/a.s 2>&1 | FileCheck %s --check-prefix=NOLINK
// RUN: dsm-clang -### -M %s 2>&1 | FileCheck %s --check-prefix=NOLINK
// RUN: dsm-clang -### -MM -MF %t/a.d %s 2>&1 | FileCheck %s --check-prefix=NOLINK
// RUN: dsm-clang -### -fsyntax-only %s 2>&1 | FileCheck %s --check-prefix=NOLINK
// NOLINK: "-cc1"
// NOLINK-SAME: "-load" "{{[^"]*}}/dsm-clang-plugin.so"
// NOLINK-NOT: "{{[^"]*}}/ld"
//
// -MD with -c writes dependencies and still compiles; flags pass unchanged.
// RUN: dsm-clang -### -MD -MF %t/a.d -DANSWER=42 -I%t/inc -O2 -c %s 2>&1 | FileCheck %s --check-prefix=DEPS
// DEPS: "-cc1"
// DEPS-SAME: "-dependency-file" "{{[^"]*}}/a.d"
// DEPS-SAME: "-D" "ANSWER=42"
// DEPS-SAME: "-O2"
// DEPS-NOT: "{{[^"]*}}/ld"
//
// A response file is read to decide (here: -c means no link).
// RUN: echo "-c -o %t/r.o" > %t/args.rsp
// RUN: dsm-clang -### @%t/args.rsp %s 2>&1 | FileCheck %s --check-prefix=NOLINK
//
// Several sources compile each with the plugin and link once.
// RUN: cp %s %t/second.c
// RUN: dsm-clang -### %s %t/second.c -o %t/prog 2>&1 | FileCheck %s --check-prefix=TWO
// TWO: "-load" "{{[^"]*}}/dsm-clang-plugin.so"
// TWO: "-load" "{{[^"]*}}/dsm-clang-plugin.so"
// TWO: "{{[^"]*}}/ld"
// TWO-SAME: "-ldsm"
//
// dsm-clang++ drives clang++: C++ and libstdc++.
// RUN: dsm-clang++ -### %s -o %t/prog 2>&1 | FileCheck %s --check-prefix=CXX
// CXX: "-cc1"
// CXX-SAME: "-x" "c++"
// CXX: "{{[^"]*}}/ld"
// CXX-SAME: "-ldsm"
// CXX-SAME: "-lstdc++"
//
// --help and --version say what the driver adds.
// RUN: dsm-clang --help | FileCheck %s --check-prefix=HELP
// HELP: dsm-clang: the dsmkit compiler driver over /usr/bin/clang-14.
// HELP: -fplugin=<lib>/dsm-clang-plugin.so
// HELP: -fpass-plugin=<lib>/dsm-clang-plugin.so
// HELP: -no-pie <lib>/libdsm_main.a -Wl,--wrap=main -Wl,-T,<lib>/dsm_globals.ld
// HELP: -fno-dsm-auto-shared
// HELP: -fno-dsm-shared-heap
// HELP: OVERVIEW: clang LLVM compiler
// RUN: dsm-clang --version | FileCheck %s --check-prefix=VERSION
// VERSION: dsm-clang (dsmkit): adds the dsmkit plugin, OpenMP and libdsm from {{.*}}/lib
// VERSION: clang version 14

int main(void) { return 0; }
