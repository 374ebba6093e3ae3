// dsm_page_bench: what it costs a process to map a page of shared memory,
// the price every node of a job on one host pays for each page another node
// touched first (each node is a process with page tables of its own; the
// threads of an OpenMP program share one). docs/performance-splash2.md, "One host".
//
// A memfd, or the daemon's own kind of space file, stands for the shared
// space; a second mapping of it in this
// process has page tables of its own, like a second node. Each iteration
// maps a fresh 64 MiB region; `us_per_page` is the time per 4 KiB page.
//
//   first_touch/shmem     write to each page of a fresh memfd (allocates)
//   first_touch/anon      the same on private anonymous memory (a thread's
//                         first touch of malloc'd memory)
//   existing/write_fault  write to each page another mapping allocated
//   existing/read_fault   read each page another mapping allocated (the
//                         kernel's fault-around maps 16 pages per fault)
//   existing/populate_write, existing/populate_read
//                         madvise(MADV_POPULATE_WRITE / _READ) over the region
//   existing/mincore      mincore over the region (what finding the pages
//                         another node allocated would cost)
//   huge/memfd/existing/write_fault
//                         as existing/write_fault with MADV_HUGEPAGE on both
//                         mappings (huge pages only where
//                         transparent_hugepage/shmem_enabled allows; the
//                         label says the mode)
//   huge/space/first_touch, huge/space/existing/write_fault
//                         first touch and write fault on the daemon's own
//                         kind of space file (hostd/space_file.h: a private
//                         tmpfs mounted huge=advise where it can make one;
//                         the label says what it got) with MADV_HUGEPAGE,
//                         as the nodes of a one-host job map it
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "dsm/hostd/space_file.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kRegion = size_t{64} << 20;
constexpr size_t kPages = kRegion / kPage;
// 2 MiB-aligned addresses, so that huge pages can be mapped.
char* const kFirst = reinterpret_cast<char*>(0x300000000000ULL);
char* const kSecond = reinterpret_cast<char*>(0x310000000000ULL);

std::string ShmemHugePageMode() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  std::string text;
  std::getline(f, text);
  auto open = text.find('['), close = text.find(']');
  return open != std::string::npos && close > open ? text.substr(open + 1, close - open - 1) : "unknown";
}

// How a region's file is made and mapped.
enum class Backing {
  kMemfd,      // a memfd, 4 KiB pages
  kMemfdHuge,  // a memfd, both mappings MADV_HUGEPAGE
  kSpace,      // the daemon's CreateSpaceFile, both mappings MADV_HUGEPAGE
};

// A fresh file mapped twice (first: the node that allocates; second: the
// node that maps what the first allocated). Unmapped and closed at the end.
struct Region {
  explicit Region(Backing backing) {
    if (backing == Backing::kSpace) {
      auto f = dsm::hostd::CreateSpaceFile(kRegion, true);
      if (!f.ok()) return;
      label = dsm::hostd::DescribeSpaceFile(f.value());
      fd = f.value().fd.release();
    } else {
      fd = memfd_create("dsm_page_bench", MFD_CLOEXEC);
      if (fd < 0 || ftruncate(fd, kRegion) != 0) return;
      label = "shmem_enabled=" + ShmemHugePageMode();
    }
    first = Map(kFirst);
    second = Map(kSecond);
    if (backing != Backing::kMemfd && first != nullptr && second != nullptr) {
      madvise(first, kRegion, MADV_HUGEPAGE);
      madvise(second, kRegion, MADV_HUGEPAGE);
    }
  }
  ~Region() {
    if (first != nullptr) munmap(first, kRegion);
    if (second != nullptr) munmap(second, kRegion);
    if (fd >= 0) close(fd);
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  char* Map(char* at) const {
    void* p = mmap(at, kRegion, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
    return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  [[nodiscard]] bool ok() const { return first != nullptr && second != nullptr; }
  void Allocate() const {
    for (size_t i = 0; i < kRegion; i += kPage) first[i] = 1;
  }

  int fd = -1;
  char* first = nullptr;
  char* second = nullptr;
  std::string label;  // what the huge page modes gave
};

using Clock = std::chrono::steady_clock;

// Runs `measure` on a fresh region per iteration (prepared by `prepare`,
// untimed) and reports the time per page.
void Measure(benchmark::State& state, Backing backing, const std::function<void(Region&)>& prepare,
             const std::function<bool(Region&)>& measure) {
  double seconds = 0;
  uint64_t pages = 0;
  std::string label;
  for (auto _ : state) {
    Region r(backing);
    if (!r.ok()) {
      state.SkipWithError("cannot make the file or map it at the fixed addresses");
      return;
    }
    label = r.label;
    prepare(r);
    auto start = Clock::now();
    bool ok = measure(r);
    double s = std::chrono::duration<double>(Clock::now() - start).count();
    if (!ok) {
      state.SkipWithError("the system call failed (kernel older than 5.14?)");
      return;
    }
    state.SetIterationTime(s);
    seconds += s;
    pages += kPages;
  }
  if (pages > 0) state.counters["us_per_page"] = seconds * 1e6 / static_cast<double>(pages);
  if (backing != Backing::kMemfd) state.SetLabel(label);
}

void Nothing(Region&) {}
void Allocated(Region& r) { r.Allocate(); }

void BM_FirstTouchShmem(benchmark::State& state, Backing backing) {
  Measure(state, backing, Nothing, [](Region& r) {
    for (size_t i = 0; i < kRegion; i += kPage) r.second[i] = 1;
    return true;
  });
}

void BM_FirstTouchAnon(benchmark::State& state) {
  Measure(state, Backing::kMemfd, Nothing, [](Region&) {
    void* p = mmap(nullptr, kRegion, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    auto* a = static_cast<char*>(p);
    for (size_t i = 0; i < kRegion; i += kPage) a[i] = 1;
    munmap(p, kRegion);  // timed too: small beside the faults
    return true;
  });
}

void BM_WriteFault(benchmark::State& state, Backing backing) {
  Measure(state, backing, Allocated, [](Region& r) {
    for (size_t i = 0; i < kRegion; i += kPage) r.second[i] = 2;
    return true;
  });
}

void BM_ReadFault(benchmark::State& state) {
  Measure(state, Backing::kMemfd, Allocated, [](Region& r) {
    uint64_t sum = 0;
    for (size_t i = 0; i < kRegion; i += kPage) sum += *reinterpret_cast<volatile char*>(r.second + i);
    benchmark::DoNotOptimize(sum);
    return true;
  });
}

void BM_Populate(benchmark::State& state, int advice) {
  Measure(state, Backing::kMemfd, Allocated, [advice](Region& r) { return madvise(r.second, kRegion, advice) == 0; });
}

void BM_Mincore(benchmark::State& state) {
  std::vector<unsigned char> v(kPages);
  Measure(state, Backing::kMemfd, Allocated, [&v](Region& r) { return mincore(r.second, kRegion, v.data()) == 0; });
}

void Register() {
  auto add = [](const char* name, auto fn) {
    benchmark::RegisterBenchmark(name, fn)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(8);
  };
  add("first_touch/shmem", [](benchmark::State& s) { BM_FirstTouchShmem(s, Backing::kMemfd); });
  add("first_touch/anon", BM_FirstTouchAnon);
  add("existing/write_fault", [](benchmark::State& s) { BM_WriteFault(s, Backing::kMemfd); });
  add("existing/read_fault", BM_ReadFault);
  add("existing/populate_write", [](benchmark::State& s) { BM_Populate(s, MADV_POPULATE_WRITE); });
  add("existing/populate_read", [](benchmark::State& s) { BM_Populate(s, MADV_POPULATE_READ); });
  add("existing/mincore", BM_Mincore);
  add("huge/memfd/existing/write_fault", [](benchmark::State& s) { BM_WriteFault(s, Backing::kMemfdHuge); });
  add("huge/space/first_touch", [](benchmark::State& s) { BM_FirstTouchShmem(s, Backing::kSpace); });
  add("huge/space/existing/write_fault", [](benchmark::State& s) { BM_WriteFault(s, Backing::kSpace); });
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
