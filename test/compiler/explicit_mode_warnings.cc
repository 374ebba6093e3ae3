// Explicit mode in C++: static data members (defined out of line, inline, or
// marked in the class), namespace members, static locals of templates,
// constructors, member functions, lambdas (also called from the standard
// library), const objects with mutable members, worksharing loops and tasks.
// RUN: dsm-clang++ -std=c++17 -fno-dsm-auto-shared -fsyntax-only -Xclang -verify %s
// RUN: dsm-clang++ -std=c++17 -fsyntax-only -Xclang -verify=auto %s
// auto-no-diagnostics
//
// A static data member marked in its class body is shared like the others.
// RUN: dsm-clang++ -std=c++17 -fno-dsm-auto-shared -c %s -o %t.o
// RUN: llvm-objdump -t %t.o | FileCheck %s
// CHECK-DAG: O dsm_shared_bss {{[0-9a-f]+}} _ZN5Stats11marked_hitsE
// CHECK-DAG: O dsm_shared_bss {{[0-9a-f]+}} _ZN3app12shared_totalE
// CHECK-DAG: O .bss {{[0-9a-f]+}} _ZN5Stats4hitsE

#include <algorithm>
#include <atomic>
#include <vector>

namespace app {
int total; // expected-note {{'app::total' is declared here}}
#pragma dsm shared
int shared_total;
#pragma dsm private
int per_node_total;
}  // namespace app

struct Stats {
  static long hits;
  static inline int inline_hits = 0; // expected-note {{'Stats::inline_hits' is declared here}}
#pragma dsm shared
  static inline int marked_hits = 0;
  static constexpr int kLimit = 4;
  Stats() { hits++; } // expected-warning {{parallel region uses static data member 'Stats::hits', which is not shared}}
  ~Stats() { inline_hits--; } // expected-warning {{parallel region uses static data member 'Stats::inline_hits'}}
  void Bump() { marked_hits += kLimit; }
};
long Stats::hits; // expected-note {{'Stats::hits' is declared here}}

struct Cache {
  mutable int lookups = 0;
};
const Cache cache{}; // expected-note {{'cache' is declared here}}
const std::vector<int> kSizes = {1, 2, 3};
std::atomic<long> events; // expected-note {{'events' is declared here}}
int compared; // expected-note {{'compared' is declared here}}
int reduced; // expected-note {{'reduced' is declared here}}

template <typename T>
T Twice(T v) {
  static T last; // expected-note {{'last' is declared here}}
  last = v; // expected-warning {{parallel region uses static local variable 'last'}}
  return v * 2;
}

void Run(std::vector<int>& v) {
#pragma omp parallel for reduction(+ : reduced) // expected-warning {{uses global variable 'reduced'}}
  for (int i = 0; i < Stats::kLimit; i++) {
    reduced += i + kSizes[0];
    app::total += Twice(i); // expected-warning {{uses global variable 'app::total'}} expected-note {{in 'Twice<int>', called from a parallel region here}}
  }
#pragma omp parallel
  {
    Stats s; // expected-note {{in 'Stats::Stats', called from a parallel region here}} expected-note {{in 'Stats::~Stats', called from a parallel region here}}
    s.Bump();
    cache.lookups++; // expected-warning {{uses global variable 'cache'}}
    std::sort(v.begin(), v.end(), [](int a, int b) {
      compared++; // expected-warning {{uses global variable 'compared'}}
      return a < b;
    });
#pragma omp task
    {
      events.fetch_add(1); // expected-warning {{uses global variable 'events'}}
      app::shared_total++;
      app::per_node_total++;
    }
  }
}
