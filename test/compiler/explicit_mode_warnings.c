// Explicit mode (-fno-dsm-auto-shared) warns about every global or static a
// parallel region uses (directly, through the functions of the file it calls,
// in its data-sharing clauses) that is not shared: each node would have its
// own copy. Shared, read-only, thread-local and `#pragma dsm private` ones are
// fine. Zero-annotation mode shares everything: no warning.
// RUN: dsm-clang -fno-dsm-auto-shared -fsyntax-only -Xclang -verify %s
// RUN: dsm-clang -fsyntax-only -Xclang -verify=auto %s
//
// -w silences it, -Werror and -Werror=dsm-private-global make it an error,
// -Wno-dsm-private-global and -Wno-error=dsm-private-global win over those.
// RUN: dsm-clang -fno-dsm-auto-shared -fsyntax-only -w -Xclang -verify=auto %s
// RUN: dsm-clang -fno-dsm-auto-shared -fsyntax-only -Werror -Wno-dsm-private-global -Xclang -verify=auto %s
// RUN: not dsm-clang -fno-dsm-auto-shared -fsyntax-only -Werror %s 2>&1 | FileCheck %s --check-prefix=ERROR
// RUN: not dsm-clang -fno-dsm-auto-shared -fsyntax-only -Werror=dsm-private-global %s 2>&1 | FileCheck %s --check-prefix=ERROR
// RUN: dsm-clang -fno-dsm-auto-shared -fsyntax-only -Werror -Wno-error=dsm-private-global %s 2>&1 | FileCheck %s --check-prefix=WARNING
// ERROR: error: parallel region uses global variable 'counter', which is not shared: every node has its own copy [-Wdsm-private-global]
// ERROR-NOT: warning:
// WARNING: warning: parallel region uses global variable 'counter'
// WARNING-NOT: error:
//
// auto-no-diagnostics

#include <dsm/dsm.h>
#include <stdio.h>

int counter; // expected-note 4 {{'counter' is declared here; '#pragma dsm shared' shares it, '#pragma dsm private' keeps a copy per node}}
static double hidden[8]; // expected-note 2 {{'hidden' is declared here}}
extern int elsewhere; // expected-note {{'elsewhere' is declared here}}
int reduced, last, linear_step, first; // expected-note {{'reduced' is declared here}} expected-note {{'last' is declared here}} expected-note {{'linear_step' is declared here}} expected-note {{'first' is declared here}}
int unused_in_regions;
int privatised;

#pragma dsm shared
int shared_counter;
int shared_later;
extern int shared_elsewhere;
#pragma dsm shared(shared_elsewhere)
DSM_SHARED int shared_by_attribute;
#pragma dsm private
int mine;
const int limit = 8;
const double table[2] = {1, 2};
_Thread_local int per_thread;
int per_thread_omp;
#pragma omp threadprivate(per_thread_omp)

static void leaf(void) {
  hidden[0] += 1; // expected-warning {{parallel region uses global variable 'hidden', which is not shared}}
  leaf();  // recursion is followed once
}
static void middle(void) {
  leaf(); // expected-note {{in 'leaf', called here}}
  // The first region uses counter directly (reported there), the last only here.
  counter += limit; // expected-warning {{uses global variable 'counter'}}
}
static void recount(void) {
  middle(); // expected-note {{in 'middle', called here}}
}

void regions(int n) {
  static int calls; // expected-note {{'calls' is declared here}}
  unused_in_regions = (int)sizeof(counter);
#pragma omp parallel
  {
    counter++; // expected-warning {{parallel region uses global variable 'counter', which is not shared: every node has its own copy}}
    counter++; // once per region
    calls++; // expected-warning {{parallel region uses static local variable 'calls'}}
    elsewhere++; // expected-warning {{parallel region uses global variable 'elsewhere'}}
    shared_counter++, shared_later++, shared_elsewhere++, shared_by_attribute++;
    mine++, per_thread++, per_thread_omp++;
    printf("%d %f %zu\n", limit, table[1], sizeof(hidden));
    middle(); // expected-note {{in 'middle', called from a parallel region here}}
  }

  // Clauses every node evaluates on the globals themselves.
#pragma omp parallel for reduction(+ : reduced) lastprivate(last) linear(linear_step) // expected-warning {{uses global variable 'reduced'}} expected-warning {{uses global variable 'last'}} expected-warning {{uses global variable 'linear_step'}}
  for (int i = 0; i < n; i++) {
    reduced += i;
    last = i;
    linear_step++;
  }

  // private(v): the region has its own v. A task and a dsm spelling.
#pragma dsm parallel private(privatised) num_threads(n)
  {
    privatised = 1;
#pragma omp task
    counter--; // expected-warning {{uses global variable 'counter'}}
#pragma omp single firstprivate(first) // expected-warning {{uses global variable 'first'}}
    first++;
  }

  // Reached through another path: leaf's use was reported already.
#pragma omp parallel
  recount(); // expected-note {{in 'recount', called from a parallel region here}}
}

// A function handed to dsm_parallel is a region too.
static void body(void *arg) {
  hidden[1] = counter; // expected-warning {{uses global variable 'hidden'}} expected-warning {{uses global variable 'counter'}}
}
void run(void) {
  dsm_parallel(body, 0); // expected-note 2 {{in 'body', run as a parallel region by dsm_parallel here}}
  counter = 0;
}

int shared_later = 1;
#pragma dsm shared(shared_later)
