// The C API of include/dsm/dsm.h, and the entry point that __wrap_main
// (wrap_main.c, linked into every program) calls before the program's main.
#include <time.h>

#include "dsm/dsm.h"
#include "runtime.h"

using dsm::runtime::Runtime;

extern "C" {

// Called by __wrap_main in place of main. Never returns.
[[noreturn]] __attribute__((visibility("default"))) void __dsm_start(dsm::runtime::MainFn main,
                                                                    int argc, char** argv,
                                                                    char** envp) {
  Runtime::Get().Main(main, argc, argv, envp);
}

// Called by libdsm_main.a's constructor (priority 101, before the program's
// constructors): the program's shared-globals window (see GlobalsWindow),
// then an early start on node 0.
__attribute__((visibility("default"))) void __dsm_init(char* window_begin, char* window_end,
                                                      char* data_end, char* any_section) {
  Runtime& rt = Runtime::Get();
  rt.SetGlobals(window_begin, window_end, data_end, any_section);
  rt.EarlyStart();
}

int dsm_node_id(void) {
  Runtime& rt = Runtime::Get();
  rt.EnsureStarted();
  return rt.node_id();
}

int dsm_num_nodes(void) {
  Runtime& rt = Runtime::Get();
  rt.EnsureStarted();
  return rt.num_nodes();
}

void* dsm_malloc(size_t size) { return Runtime::Get().Malloc(size); }
void* dsm_calloc(size_t n, size_t size) { return Runtime::Get().Calloc(n, size); }
void dsm_free(void* p) { Runtime::Get().Free(p); }
void dsm_lock(unsigned id) { Runtime::Get().Lock(id); }
void dsm_unlock(unsigned id) { Runtime::Get().Unlock(id); }
void dsm_barrier(void) { Runtime::Get().Barrier(); }
void dsm_parallel(void (*fn)(void*), void* arg) { Runtime::Get().Parallel(fn, arg); }

double dsm_wtime(void) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // extern "C"
