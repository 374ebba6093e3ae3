// OpenMP runtime ABI, part 4: memory allocators (omp_alloc and friends,
// omp_init_allocator, the default-allocator ICV) and the entry points Clang
// calls for the allocate clause and directive and for depobj (__kmpc_alloc,
// __kmpc_free, ...).
//
// In OpenMP every thread may use memory any thread allocated, so all of it
// comes from the job's shared heap (dsm_malloc): a block from omp_alloc on
// one node is valid on every node. The memory spaces and traits of the
// predefined allocators mean nothing here (one kind of memory); an
// allocator made by omp_init_allocator honours the alignment trait and
// ignores the others. Allocators made by omp_init_allocator live in shared
// memory too, so their handles are valid on every node.
//
// Each block starts with a header just before the address handed out: the
// address the heap returned (differs when aligned further) and the size
// asked for (omp_realloc copies it).
//
// Thread safety: the node's main thread only. Not for the SIGSEGV handler.
#include <cstdint>
#include <cstring>

#include "omp_internal.h"
#include "runtime.h"

using dsm::runtime::Runtime;

namespace {

using Handle = uintptr_t;  // omp_allocator_handle_t / omp_memspace_handle_t

constexpr Handle kNullAllocator = 0;
constexpr Handle kDefaultMemAlloc = 1;
constexpr Handle kLastPredefined = 8;  // omp_thread_mem_alloc
constexpr Handle kFirstTargetAllocator = 100;  // llvm_omp_target_*_mem_alloc
constexpr Handle kLastTargetAllocator = 102;
constexpr uintptr_t kTraitAlignment = 2;  // omp_atk_alignment

struct Trait {
  int32_t key;
  uintptr_t value;
};

// What omp_init_allocator returns a pointer to (in shared memory).
struct Allocator {
  uint64_t magic;
  size_t alignment;
};
constexpr uint64_t kAllocatorMagic = 0x6f6d70616c6c6f63ull;  // "ompalloc"

struct BlockHeader {
  void* raw;    // what the heap returned
  size_t size;  // bytes asked for
};
static_assert(sizeof(BlockHeader) == 16);

// The default allocator of this node's thread (def-allocator-var).
Handle g_default_allocator = kDefaultMemAlloc;

// The alignment an allocator guarantees at least; 0 for a handle that is
// not an allocator.
size_t AllocatorAlignment(Handle a, const char* fn) {
  if (a == kNullAllocator) a = g_default_allocator;
  if (a <= kLastPredefined) return 16;
  if (a >= kFirstTargetAllocator && a <= kLastTargetAllocator) {
    Runtime::Get().Fatal("%s: device memory allocators are not supported by dsmkit", fn);
  }
  const auto* alloc = reinterpret_cast<const Allocator*>(a);
  if (alloc->magic != kAllocatorMagic) {
    Runtime::Get().Fatal("%s: %p is not an allocator (omp_init_allocator)", fn,
                         reinterpret_cast<const void*>(alloc));
  }
  return alloc->alignment;
}

bool PowerOfTwo(size_t v) { return v != 0 && (v & (v - 1)) == 0; }

void* Allocate(size_t align, size_t size, Handle a, const char* fn) {
  size_t min_align = AllocatorAlignment(a, fn);
  if (size == 0) return nullptr;
  if (align < min_align) align = min_align;
  if (!PowerOfTwo(align)) return nullptr;
  const size_t extra = sizeof(BlockHeader) + (align > 16 ? align : 0);
  if (size > SIZE_MAX - extra) return nullptr;
  void* raw = Runtime::Get().Malloc(size + extra);
  if (raw == nullptr) return nullptr;
  uintptr_t user = reinterpret_cast<uintptr_t>(raw) + sizeof(BlockHeader);
  user = (user + align - 1) & ~(uintptr_t{align} - 1);
  auto* h = reinterpret_cast<BlockHeader*>(user) - 1;
  h->raw = raw;
  h->size = size;
  return reinterpret_cast<void*>(user);
}

void Release(void* p) {
  if (p == nullptr) return;
  Runtime::Get().Free((static_cast<BlockHeader*>(p) - 1)->raw);
}

void* Reallocate(void* p, size_t size, Handle a, Handle free_a, const char* fn) {
  if (p == nullptr) return Allocate(0, size, a, fn);
  if (size == 0) {
    Release(p);
    return nullptr;
  }
  void* q = Allocate(0, size, a != kNullAllocator ? a : free_a, fn);
  if (q == nullptr) return nullptr;  // p stays valid, as the specification asks
  size_t old = (static_cast<BlockHeader*>(p) - 1)->size;
  std::memcpy(q, p, old < size ? old : size);
  Release(p);
  return q;
}

}  // namespace

extern "C" {

// omp_init_allocator(memspace, ntraits, traits): an allocator over the
// shared heap; the alignment trait is honoured, the others ignored.
Handle omp_init_allocator(Handle, int ntraits, const Trait* traits) {
  size_t alignment = 16;
  for (int i = 0; i < ntraits; ++i) {
    if (traits[i].key != static_cast<int32_t>(kTraitAlignment)) continue;
    if (!PowerOfTwo(traits[i].value)) return kNullAllocator;
    if (traits[i].value > alignment) alignment = traits[i].value;
  }
  auto* a = static_cast<Allocator*>(Runtime::Get().Calloc(1, sizeof(Allocator)));
  if (a == nullptr) return kNullAllocator;
  a->magic = kAllocatorMagic;
  a->alignment = alignment;
  return reinterpret_cast<Handle>(a);
}
void omp_destroy_allocator(Handle a) {
  if (a <= kLastPredefined || (a >= kFirstTargetAllocator && a <= kLastTargetAllocator)) return;
  auto* alloc = reinterpret_cast<Allocator*>(a);
  if (alloc->magic != kAllocatorMagic) return;
  alloc->magic = 0;
  Runtime::Get().Free(alloc);
}
void omp_set_default_allocator(Handle a) {
  if (a != kNullAllocator) g_default_allocator = a;
}
Handle omp_get_default_allocator(void) { return g_default_allocator; }

void* omp_alloc(size_t size, Handle a) { return Allocate(0, size, a, "omp_alloc"); }
void* omp_aligned_alloc(size_t align, size_t size, Handle a) {
  return Allocate(align, size, a, "omp_aligned_alloc");
}
void* omp_calloc(size_t n, size_t size, Handle a) {
  if (size != 0 && n > SIZE_MAX / size) return nullptr;
  void* p = Allocate(0, n * size, a, "omp_calloc");
  if (p != nullptr) std::memset(p, 0, n * size);
  return p;
}
void* omp_aligned_calloc(size_t align, size_t n, size_t size, Handle a) {
  if (size != 0 && n > SIZE_MAX / size) return nullptr;
  void* p = Allocate(align, n * size, a, "omp_aligned_calloc");
  if (p != nullptr) std::memset(p, 0, n * size);
  return p;
}
void* omp_realloc(void* p, size_t size, Handle a, Handle free_a) {
  return Reallocate(p, size, a, free_a, "omp_realloc");
}
void omp_free(void* p, Handle) { Release(p); }

// The compiler's entry points: the allocate clause and directive (private
// copies and locals in an allocator's memory) and depobj objects.
// `gtid` is unused.
void* __kmpc_alloc(int, size_t size, Handle a) { return Allocate(0, size, a, "allocate"); }
void* __kmpc_aligned_alloc(int, size_t align, size_t size, Handle a) {
  return Allocate(align, size, a, "allocate");
}
void* __kmpc_calloc(int, size_t n, size_t size, Handle a) { return omp_calloc(n, size, a); }
void* __kmpc_realloc(int, void* p, size_t size, Handle a, Handle free_a) {
  return Reallocate(p, size, a, free_a, "allocate");
}
void __kmpc_free(int, void* p, Handle) { Release(p); }
// uses_allocators (allocators made for a construct).
Handle __kmpc_init_allocator(int, Handle memspace, int ntraits, const Trait* traits) {
  return omp_init_allocator(memspace, ntraits, traits);
}
void __kmpc_destroy_allocator(int, Handle a) { omp_destroy_allocator(a); }

}  // extern "C"
