// The program's heap routing (see program_heap.h).
#include "program_heap.h"

#include <link.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "runtime.h"

namespace dsm::runtime {
namespace {

// Shared blocks freed off the main thread wait here (lock-free slots, so a
// signal handler may free too). When every slot is taken the block is left
// allocated: a leak, never a race on the arena.
constexpr int kDeferredSlots = 256;

struct HeapState {
  std::atomic<bool> open{false};    // the main thread serves shared allocations
  std::atomic<bool> closed{false};  // the job finished: shared frees are ignored
  std::atomic<uintptr_t> begin{0};  // the shared space; empty before attach
  std::atomic<uintptr_t> end{0};
  uintptr_t self_begin = 0;         // libdsm.so's code (empty when linked statically),
  uintptr_t self_end = 0;           // written before `open` (release)
  pthread_t owner{};                // written before `open` (release)
  std::atomic<bool> busy{false};    // the main thread is inside the shared heap
  std::atomic<int> deferred_count{0};
  std::atomic<void*> deferred[kDeferredSlots] = {};
};

// The only state: constant-initialised, used before any constructor runs
// (libstdc++'s start-up allocates through the program's operator new).
constinit HeapState g_heap;

bool InSpace(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  return a >= g_heap.begin.load(std::memory_order_relaxed) &&
         a < g_heap.end.load(std::memory_order_relaxed);
}

// The main thread outside the heap, before the job finished.
bool Serving() {
  return g_heap.open.load(std::memory_order_acquire) &&
         pthread_equal(pthread_self(), g_heap.owner) &&
         !g_heap.busy.load(std::memory_order_relaxed);
}

bool CalledFromLibdsm(const void* caller) {
  const auto a = reinterpret_cast<uintptr_t>(caller);
  return a >= g_heap.self_begin && a < g_heap.self_end;
}

// The executable segment of the loaded object holding this code, unless
// that object is the program itself (libdsm.a linked statically).
int FindOwnCode(dl_phdr_info* info, size_t, void* data) {
  auto* range = static_cast<uintptr_t*>(data);
  const auto self = reinterpret_cast<uintptr_t>(&FindOwnCode);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    const uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (self < lo || self >= lo + ph.p_memsz) continue;
    if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0') {
      range[0] = lo;
      range[1] = lo + ph.p_memsz;
    }
    return 1;
  }
  return 0;
}

// Marks the main thread as inside the shared heap: allocations the runtime
// makes meanwhile (operator new of its own objects) go to the C library.
class BusyScope {
 public:
  BusyScope() {
    g_heap.busy.store(true, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  ~BusyScope() {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    g_heap.busy.store(false, std::memory_order_relaxed);
  }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;
};

void Defer(void* p) {
  for (auto& slot : g_heap.deferred) {
    void* expected = nullptr;
    if (slot.compare_exchange_strong(expected, p, std::memory_order_release,
                                     std::memory_order_relaxed)) {
      g_heap.deferred_count.fetch_add(1, std::memory_order_release);
      return;
    }
  }
}

// Main thread, busy.
void FreeDeferred(Runtime& rt) {
  if (g_heap.deferred_count.load(std::memory_order_acquire) == 0) return;
  for (auto& slot : g_heap.deferred) {
    void* p = slot.exchange(nullptr, std::memory_order_acquire);
    if (p == nullptr) continue;
    g_heap.deferred_count.fetch_sub(1, std::memory_order_relaxed);
    rt.Free(p, /*from_program=*/true);
  }
}

}  // namespace

void OpenProgramHeap(const char* begin, const char* end) {
  uintptr_t own_code[2] = {0, 0};
  dl_iterate_phdr(FindOwnCode, own_code);
  g_heap.self_begin = own_code[0];
  g_heap.self_end = own_code[1];
  g_heap.owner = pthread_self();
  g_heap.begin.store(reinterpret_cast<uintptr_t>(begin), std::memory_order_relaxed);
  g_heap.end.store(reinterpret_cast<uintptr_t>(end), std::memory_order_relaxed);
  g_heap.open.store(true, std::memory_order_release);
}

void CloseProgramHeap() {
  g_heap.closed.store(true, std::memory_order_relaxed);
  g_heap.open.store(false, std::memory_order_release);
}

}  // namespace dsm::runtime

using dsm::runtime::g_heap;
using dsm::runtime::Runtime;

extern "C" {

__attribute__((visibility("default"))) int __dsm_heap_alloc(size_t size, size_t align,
                                                           const void* caller, void** out) {
  if (!dsm::runtime::Serving() || dsm::runtime::CalledFromLibdsm(caller)) return 0;
  dsm::runtime::BusyScope busy;
  Runtime& rt = Runtime::Get();
  dsm::runtime::FreeDeferred(rt);
  *out = align <= 16 ? rt.Malloc(size) : rt.AlignedMalloc(size, align);
  return 1;
}

__attribute__((visibility("default"))) int __dsm_heap_free(void* p) {
  if (!dsm::runtime::InSpace(p)) return 0;
  if (g_heap.closed.load(std::memory_order_relaxed)) return 1;
  if (!dsm::runtime::Serving()) {
    dsm::runtime::Defer(p);
    return 1;
  }
  dsm::runtime::BusyScope busy;
  Runtime& rt = Runtime::Get();
  dsm::runtime::FreeDeferred(rt);
  rt.Free(p, /*from_program=*/true);
  return 1;
}

__attribute__((visibility("default"))) int __dsm_heap_usable_size(const void* p, size_t* out) {
  if (!dsm::runtime::InSpace(p)) return 0;
  *out = dsm::runtime::Arena::UsableSize(p);
  return 1;
}

}  // extern "C"
