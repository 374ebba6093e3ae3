// dsm_diff_bench: the coherence engine's page operations (hostd/page_diff.h)
// next to their physical reference, a 4 KiB memcpy, measured in the same
// process on L1-resident pages.
//
//   ref/memcpy4k           memcpy of one page (the reference; runs first)
//   copy/page              CopyPage (word-by-word relaxed atomic copy)
//   equal/page             PagesEqual of two equal pages
//   diff/{dense,sparse,unchanged}
//                          MakeDiffAndUpdateTwin of a page where every byte,
//                          8 whole words, or nothing changed since the twin
//   apply/{dense,sparse,empty}
//                          ApplyDiff of those diffs (validation included)
//   twoway/{dense,sparse,unchanged}
//                          TwoWayApply of a fetched copy that differs from
//                          the twin in every byte, in 8 words, or not at all
//
// Every case alternates between two pages so that each operation does the
// same work (a diff makes the twin equal to the page; the next one diffs the
// other page against it). Counters:
//   x_memcpy    CPU time per operation / the memcpy's (measured earlier in
//               the same process; CPU time, so that a busy machine
//               disturbs the ratio less than the wall-clock columns)
//   diff_bytes  encoded diff length (diff and apply cases)
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <ctime>
#include <random>
#include <string>

#include "dsm/hostd/page_diff.h"

namespace {

using dsm::hostd::kDiffPageSize;

struct alignas(4096) Page {
  uint8_t bytes[kDiffPageSize];
};

// Two versions of a page (a, b) differing as the case says, and scratch
// pages for the operations.
struct Pages {
  Page a, b, page, twin, home;
};

enum class Change { kDense, kSparse, kNone };

void Fill(Pages* p, Change change) {
  std::mt19937_64 rng(42);
  for (auto& byte : p->a.bytes) byte = static_cast<uint8_t>(rng());
  std::memcpy(p->b.bytes, p->a.bytes, kDiffPageSize);
  if (change == Change::kDense) {
    for (auto& byte : p->b.bytes) byte ^= 0x5a;  // every byte differs
  } else if (change == Change::kSparse) {
    for (size_t w = 0; w < 8; ++w) {  // 8 whole words, spread over the page
      for (size_t i = 0; i < 8; ++i) p->b.bytes[w * 512 + 24 + i] ^= 0xa5;
    }
  }
}

double& ReferenceNs() {
  static double ns = 0;
  return ns;
}

double ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Runs op once per iteration and reports its cost relative to the memcpy.
template <typename Op>
void Measure(benchmark::State& state, bool reference, Op op) {
  const double start = ThreadCpuNs();
  for (auto _ : state) op();
  const double ns = (ThreadCpuNs() - start) / static_cast<double>(state.iterations());
  if (reference) {
    ReferenceNs() = ns;
    state.SetLabel("reference");
  } else if (ReferenceNs() > 0) {
    state.counters["x_memcpy"] = ns / ReferenceNs();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kDiffPageSize));
}

void BM_Memcpy(benchmark::State& state) {
  static Pages p;
  Fill(&p, Change::kDense);
  Measure(state, true, [&] {
    std::memcpy(p.page.bytes, p.a.bytes, kDiffPageSize);
    benchmark::DoNotOptimize(p.page.bytes);
    benchmark::ClobberMemory();
  });
}

void BM_CopyPage(benchmark::State& state) {
  static Pages p;
  Fill(&p, Change::kDense);
  Measure(state, false, [&] {
    dsm::hostd::CopyPage(p.page.bytes, p.a.bytes);
    benchmark::ClobberMemory();
  });
}

void BM_PagesEqual(benchmark::State& state) {
  static Pages p;
  Fill(&p, Change::kNone);
  Measure(state, false, [&] {
    benchmark::DoNotOptimize(dsm::hostd::PagesEqual(p.a.bytes, p.b.bytes));
  });
}

void BM_Diff(benchmark::State& state, Change change) {
  static Pages p;
  Fill(&p, change);
  std::memcpy(p.twin.bytes, p.b.bytes, kDiffPageSize);
  std::string out;
  out.reserve(dsm::hostd::kMaxDiffBytes);
  bool odd = false;
  size_t bytes = 0;
  Measure(state, false, [&] {
    out.clear();
    bytes = dsm::hostd::MakeDiffAndUpdateTwin(odd ? p.b.bytes : p.a.bytes, p.twin.bytes, &out);
    benchmark::DoNotOptimize(out.data());
    odd = !odd;
  });
  state.counters["diff_bytes"] = static_cast<double>(bytes);
}

void BM_Apply(benchmark::State& state, Change change) {
  static Pages p;
  Fill(&p, change);
  std::string to_a, to_b;  // b -> a, a -> b
  std::memcpy(p.twin.bytes, p.b.bytes, kDiffPageSize);
  dsm::hostd::MakeDiffAndUpdateTwin(p.a.bytes, p.twin.bytes, &to_a);
  dsm::hostd::MakeDiffAndUpdateTwin(p.b.bytes, p.twin.bytes, &to_b);
  std::memcpy(p.home.bytes, p.b.bytes, kDiffPageSize);
  bool odd = false;
  bool ok = true;
  Measure(state, false, [&] {
    ok &= dsm::hostd::ApplyDiff(p.home.bytes, odd ? to_b : to_a);
    benchmark::ClobberMemory();
    odd = !odd;
  });
  if (!ok) state.SkipWithError("ApplyDiff rejected a diff");
  state.counters["diff_bytes"] = static_cast<double>(to_a.size());
}

void BM_TwoWay(benchmark::State& state, Change change) {
  static Pages p;
  Fill(&p, change);
  std::memcpy(p.twin.bytes, p.b.bytes, kDiffPageSize);
  std::memcpy(p.page.bytes, p.b.bytes, kDiffPageSize);
  bool odd = false;
  Measure(state, false, [&] {
    dsm::hostd::TwoWayApply(p.page.bytes, p.twin.bytes, odd ? p.b.bytes : p.a.bytes);
    benchmark::ClobberMemory();
    odd = !odd;
  });
}

BENCHMARK(BM_Memcpy)->Name("ref/memcpy4k");
BENCHMARK(BM_CopyPage)->Name("copy/page");
BENCHMARK(BM_PagesEqual)->Name("equal/page");
BENCHMARK_CAPTURE(BM_Diff, dense, Change::kDense)->Name("diff/dense");
BENCHMARK_CAPTURE(BM_Diff, sparse, Change::kSparse)->Name("diff/sparse");
BENCHMARK_CAPTURE(BM_Diff, unchanged, Change::kNone)->Name("diff/unchanged");
BENCHMARK_CAPTURE(BM_Apply, dense, Change::kDense)->Name("apply/dense");
BENCHMARK_CAPTURE(BM_Apply, sparse, Change::kSparse)->Name("apply/sparse");
BENCHMARK_CAPTURE(BM_Apply, empty, Change::kNone)->Name("apply/empty");
BENCHMARK_CAPTURE(BM_TwoWay, dense, Change::kDense)->Name("twoway/dense");
BENCHMARK_CAPTURE(BM_TwoWay, sparse, Change::kSparse)->Name("twoway/sparse");
BENCHMARK_CAPTURE(BM_TwoWay, unchanged, Change::kNone)->Name("twoway/unchanged");

}  // namespace

BENCHMARK_MAIN();
