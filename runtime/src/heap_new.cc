// The program's C++ heap in zero-annotation mode: every replaceable global
// operator new and delete (plain, array, nothrow, sized, aligned), part of
// libdsm_heap.a. Linked into the executable, they replace libstdc++'s
// process-wide: the program's `new`, its containers, libstdc++'s own
// allocations and libdsm's all come here. libdsm decides with the caller's
// address (program_heap.h): the shared heap on the node's main thread once
// attached, the C library elsewhere and for libdsm's own objects. Deletes
// call free, which the same link wraps (heap_wrap.c) and which decides by
// address.
//
// A separate member of the archive, so that C programs (which do not link
// libstdc++) never pull it in; dsm-clang++ pulls it in through the
// __dsm_heap_cxx marker even when the program itself names no operator new
// (libstdc++'s out-of-line std::string code still allocates).
//
// Thread safety: as malloc. Compiled with exceptions: operator new throws
// std::bad_alloc, as the standard requires.
#include <cstdlib>
#include <new>

extern "C" {
// Referenced by dsm-clang++'s -Wl,--undefined=__dsm_heap_cxx.
__attribute__((used)) extern const int __dsm_heap_cxx = 1;

int __dsm_heap_alloc(std::size_t size, std::size_t align, const void* caller, void** out);
void* __real_malloc(std::size_t size);
void* __real_aligned_alloc(std::size_t align, std::size_t size);
}

#define CALLER __builtin_return_address(0)

namespace {

void* Allocate(std::size_t size, std::size_t align, const void* caller) {
  void* p;
  if (__dsm_heap_alloc(size, align, caller, &p)) return p;
  return align == 0 ? __real_malloc(size) : __real_aligned_alloc(align, size);
}

void* AllocateOrThrow(std::size_t size, const void* caller) {
  if (size == 0) size = 1;
  for (;;) {
    if (void* p = Allocate(size, 0, caller)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* AllocateAlignedOrThrow(std::size_t size, std::align_val_t align, const void* caller) {
  const auto a = static_cast<std::size_t>(align);
  if (size == 0) size = 1;
  for (;;) {
    if (void* p = Allocate(size, a, caller)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

}  // namespace

void* operator new(std::size_t size) { return AllocateOrThrow(size, CALLER); }
void* operator new[](std::size_t size) { return AllocateOrThrow(size, CALLER); }

void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return AllocateOrThrow(size, CALLER);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return AllocateOrThrow(size, CALLER);
  } catch (...) {
    return nullptr;
  }
}

void* operator new(std::size_t size, std::align_val_t align) {
  return AllocateAlignedOrThrow(size, align, CALLER);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return AllocateAlignedOrThrow(size, align, CALLER);
}

void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  try {
    return AllocateAlignedOrThrow(size, align, CALLER);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  try {
    return AllocateAlignedOrThrow(size, align, CALLER);
  } catch (...) {
    return nullptr;
  }
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
