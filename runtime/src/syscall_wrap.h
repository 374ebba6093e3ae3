// What libdsm.so's system call wrappers share (syscall_wrap.cc: buffers
// copied by read, write and friends; syscall_wrap_structs.cc: structures and
// paths the kernel reads or fills). Each wrapper faults in, the way user
// space would, the shared pages the kernel is about to touch, then calls the
// C library's function found with dlsym(RTLD_NEXT).
//
// Thread-safe and async-signal-safe as the wrapped functions are, once the
// real function was looked up (each file's constructor looks its functions
// up; dlsym is not async-signal-safe).
#pragma once

#include <dlfcn.h>
#include <sys/uio.h>

#include <cstring>

#include "coherence_client.h"

namespace dsm::runtime::wrap {

// The next definition of `name` (the C library's), looked up once.
template <typename F>
F Next(F* slot, const char* name) {
  F f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (f == nullptr) {
    f = reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
    __atomic_store_n(slot, f, __ATOMIC_RELEASE);
  }
  return f;
}

// The kernel reads (write_access false) or writes n bytes at p.
inline void Prepare(const void* p, size_t n, bool write_access) {
  if (p != nullptr) PrepareKernelAccess(p, n, write_access);
}

// The kernel reads or writes the buffers of an iovec array (and reads the
// array itself).
inline void PrepareIov(const iovec* iov, size_t count, bool write_access) {
  if (iov == nullptr) return;
  PrepareKernelAccess(iov, count * sizeof *iov, false);
  for (size_t i = 0; i < count; ++i) PrepareKernelAccess(iov[i].iov_base, iov[i].iov_len, write_access);
}

// The kernel reads a NUL-terminated string (a path). strlen reads it in
// user space first, which faults its pages in like any load.
inline void PrepareString(const char* s) {
  if (s != nullptr) PrepareKernelAccess(s, std::strlen(s) + 1, false);
}

}  // namespace dsm::runtime::wrap
