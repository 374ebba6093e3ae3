// The program's own heap in zero-annotation mode: which allocations of the
// program go to the shared heap (Runtime's Arena) and which to the C
// library.
//
// dsm-clang links libdsm_heap.a (heap_wrap.c, heap_new.cc) with
// -Wl,--wrap=malloc,... so that the program's malloc, free, operator new and
// friends call the __dsm_heap_* entry points below first; the C library's
// own internal allocations are not redirected. A request is served by the
// shared heap when the node is attached, on the thread that attached it (the
// node's main thread, which runs main and every parallel region), not for
// libdsm's own code (its caller lies outside libdsm.so's text, and the
// runtime is not inside its heap code), and before node 0 finished the job;
// anything else (the embedded daemon's thread, the program's own threads, a
// constructor of a node that has not attached yet, libdsm's own objects,
// exit-time code after the job finished) gets memory from the C library. free, realloc and
// malloc_usable_size decide by address: a pointer inside the shared space is
// a shared block.
//
// The routing state is constant-initialised: the entry points may be called
// before any constructor has run (libstdc++'s own start-up allocates through
// the program's operator new) and before the Runtime exists.
//
// Thread safety: every entry point may be called on any thread. A shared
// block freed on another thread (or by a signal handler interrupting the
// heap) is queued and freed by the main thread at its next heap call. Not
// async-signal-safe beyond that.
#pragma once

#include <cstddef>

namespace dsm::runtime {

// The main thread, once attached (end of Runtime::Start): the shared space
// is [begin, end), and the calling thread serves shared allocations.
void OpenProgramHeap(const char* begin, const char* end);
// node 0 tells the daemon the job finished: from now on allocations go to
// the C library and frees of shared blocks are ignored (the process exits).
void CloseProgramHeap();

}  // namespace dsm::runtime

// The ABI libdsm_heap.a calls (exported from libdsm.so, see libdsm.map).
extern "C" {
// Returns 1 when the shared heap serves this request: *out is a block
// aligned to `align` (0: 16 bytes), or null with errno ENOMEM (or EINVAL for
// a bad alignment). Returns 0 when the caller must use the C library.
// `caller`: the return address of the program's malloc or operator new.
int __dsm_heap_alloc(size_t size, size_t align, const void* caller, void** out);
// Returns 1 when p is inside the shared space (the block is freed, queued,
// or ignored after the job finished; a pointer that is not a block ends the
// job with a message), 0 when the caller must give p to the C library.
int __dsm_heap_free(void* p);
// Returns 1 and the usable bytes of the shared block p in *out when p is
// inside the shared space, 0 otherwise.
int __dsm_heap_usable_size(const void* p, size_t* out);
}
