// Zero-annotation mode, C++: global containers built by constructors before
// main (node 0's, in the shared heap: libstdc++'s own out-of-line code
// allocates through the program's operator new too) are read by every node
// in a parallel region; `new`ed objects (plain, array, over-aligned) are
// linked into one shared list under omp critical; node 0 checks everything
// exactly and deletes it all. The destructors of the globals run after main
// returns, while the job still runs, and the job's status is main's.
// RUN: dsm-clang++ -std=c++17 -fsized-deallocation -O0 %s -o %t.O0
// RUN: dsm-clang++ -std=c++17 -fsized-deallocation -O2 %s -o %t.O2
// RUN: dsm-run -n 4 %t.O0 | FileCheck %s --check-prefixes=CHECK,FOUR -DNODES=4 -DLIST=40
// RUN: dsm-run -n 4 %t.O2 | FileCheck %s --check-prefixes=CHECK,FOUR -DNODES=4 -DLIST=40
// RUN: dsm-run --hosts 2 -n 4 %t.O0 | FileCheck %s --check-prefixes=CHECK,FOUR -DNODES=4 -DLIST=40
// RUN: dsm-run --hosts 2 -n 4 %t.O2 | FileCheck %s --check-prefixes=CHECK,FOUR -DNODES=4 -DLIST=40
// RUN: %t.O2 | FileCheck %s -DNODES=1 -DLIST=10
// RUN: dsm-run --hosts 2 -n 4 %t.O2 7 > %t.out; echo "status $?" >> %t.out
// RUN: FileCheck %s --check-prefix=STATUS < %t.out
//
// CHECK: node 0: sum=24995000 names=3/101 title=41 shared=yes
// FOUR-NEXT: node 1: sum=24995000 names=3/101 title=41 shared=yes
// FOUR-NEXT: node 2: sum=24995000 names=3/101 title=41 shared=yes
// FOUR-NEXT: node 3: sum=24995000 names=3/101 title=41 shared=yes
// CHECK-NEXT: list=[[LIST]] values=ok aligned=ok arrays=ok
// CHECK-NEXT: destructor: nodes=[[NODES]] shared=yes
// STATUS: destructor: nodes=4 shared=yes
// STATUS-NEXT: status 7
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

std::vector<double> values = [] {
  std::vector<double> v;
  for (int i = 0; i < 5000; ++i) v.push_back(i * 0.2);  // grows: several reallocations
  return v;
}();
std::map<int, std::string> names = {
    {1, "one, a string longer than the small-string buffer"},
    {2, "two"},
    {3, "three, also a long string beyond the small buffer"}};
std::string title = std::string("a title longer than fifteen chars, ") + "joined";

struct Item {
  int node;
  int k;
  Item* next;
};
struct alignas(256) Wide {
  char bytes[300];
};

Item* head;
double sums[64];
size_t name_bytes[64], name_count[64], title_len[64];
bool in_shared[64];

// Inside the shared space (mapped at 0x200000000000 on every node; private
// mmaps lie elsewhere).
bool Shared(const void* p) {
  return reinterpret_cast<uintptr_t>(p) - 0x200000000000u < 0x10000000000u;
}

// Runs after main returns: the job is still there (a parallel region
// works; this function's locals are not on main's shared stack, so it
// counts in a global), and what it allocates and frees is shared.
int exit_nodes;
struct AtExit {
  ~AtExit() {
#pragma omp parallel
    {
#pragma omp atomic
      exit_nodes += 1;
    }
    std::vector<int>* scratch = new std::vector<int>(1000, 1);
    std::printf("destructor: nodes=%d shared=%s\n", exit_nodes,
                Shared(scratch) && Shared(scratch->data()) ? "yes" : "no");
    delete scratch;
    std::fflush(stdout);
  }
} at_exit;

int main(int argc, char** argv) {
  int wide_ok = 1;
#pragma omp parallel reduction(& : wide_ok)
  {
    const int t = omp_get_thread_num();
    double s = 0;
    for (double d : values) s += d;
    sums[t] = s;
    for (const auto& [key, name] : names) {
      name_bytes[t] += name.size();
      name_count[t] += key > 0;
    }
    title_len[t] = title.size();
    in_shared[t] = Shared(values.data()) && Shared(names.at(1).data()) && Shared(title.data());
    for (int k = 0; k < 10; ++k) {
      Item* item = new Item{t, k, nullptr};
#pragma omp critical
      {
        item->next = head;
        head = item;
      }
    }
    Wide* w = new Wide;
    wide_ok &= reinterpret_cast<uintptr_t>(w) % 256 == 0 && Shared(w);
    delete w;
  }
  const int nodes = omp_get_max_threads();
  for (int t = 0; t < nodes; ++t) {
    std::printf("node %d: sum=%.0f names=%zu/%zu title=%zu shared=%s\n", t, sums[t] * 10,
                name_count[t], name_bytes[t], title_len[t], in_shared[t] ? "yes" : "no");
  }
  int count = 0, seen[64][10] = {};
  bool values_ok = true;
  for (Item* p = head; p != nullptr;) {
    values_ok &= p->node >= 0 && p->node < nodes && p->k >= 0 && p->k < 10 && Shared(p);
    if (values_ok) ++seen[p->node][p->k];
    ++count;
    Item* next = p->next;
    delete p;
    p = next;
  }
  for (int t = 0; t < nodes; ++t) {
    for (int k = 0; k < 10; ++k) values_ok &= seen[t][k] == 1;
  }
  // Arrays and the nothrow and sized forms.
  int* numbers = new int[1000];
  for (int i = 0; i < 1000; ++i) numbers[i] = i;
  long total = 0;
#pragma omp parallel for reduction(+ : total)
  for (int i = 0; i < 1000; ++i) total += numbers[i];
  delete[] numbers;
  Item* nothrow_item = new (std::nothrow) Item{0, 0, nullptr};
  const bool arrays_ok = total == 499500 && nothrow_item != nullptr && Shared(nothrow_item);
  ::operator delete(nothrow_item, sizeof(Item));
  std::printf("list=%d values=%s aligned=%s arrays=%s\n", count, values_ok ? "ok" : "BAD",
              wide_ok ? "ok" : "BAD", arrays_ok ? "ok" : "BAD");
  std::fflush(stdout);
  return argc > 1 ? std::atoi(argv[1]) : 0;
}
