// The system calls that copy between a program's buffer and the kernel,
// wrapped in libdsm.so: read, pread, readv, preadv, recv, recvfrom (the
// kernel writes the buffer) and write, pwrite, writev, pwritev, send,
// sendto (it reads it).
//
// In a job of several hosts a shared page this node has not used yet is
// mapped without access, and one it has only read is read-only, until the
// program's own load or store faults it in (coherence_client.h). The kernel
// does not fault on the program's behalf: read(2) into such a page fails
// with EFAULT. Each wrapper first faults in the pages of the buffer this
// node cannot yet access that way (PrepareKernelAccess: a load, or a store
// of the byte that is there), then calls the C library's function. Outside
// a multi-host job, or for private buffers, that is one range check.
//
// libdsm.so defines these names, so the dynamic linker binds the program's
// calls (and other libraries') to them ahead of the C library's; the C
// library's internal calls (stdio refilling its private buffers) are not
// seen and need not be; stdio's reads and writes that bypass its buffer
// are, through fread and fwrite (syscall_wrap_structs.cc, with the calls
// that fill structures or read paths).
//
// Thread-safe and async-signal-safe as the wrapped functions are: the real
// functions are looked up once (dlsym is not async-signal-safe, so the
// lookup happens in a constructor, with a fallback on first use).
#include "syscall_wrap.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

using dsm::runtime::PrepareKernelAccess;
using dsm::runtime::wrap::Next;

using ReadFn = ssize_t (*)(int, void*, size_t);
using WriteFn = ssize_t (*)(int, const void*, size_t);
using PreadFn = ssize_t (*)(int, void*, size_t, off_t);
using PwriteFn = ssize_t (*)(int, const void*, size_t, off_t);
using ReadvFn = ssize_t (*)(int, const iovec*, int);
using PreadvFn = ssize_t (*)(int, const iovec*, int, off_t);
using RecvFn = ssize_t (*)(int, void*, size_t, int);
using RecvfromFn = ssize_t (*)(int, void*, size_t, int, sockaddr*, socklen_t*);
using SendFn = ssize_t (*)(int, const void*, size_t, int);
using SendtoFn = ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t);

ReadFn g_read;
WriteFn g_write;
PreadFn g_pread, g_pread64;
PwriteFn g_pwrite, g_pwrite64;
ReadvFn g_readv, g_writev;
PreadvFn g_preadv, g_pwritev;
RecvFn g_recv;
RecvfromFn g_recvfrom;
SendFn g_send;
SendtoFn g_sendto;

__attribute__((constructor)) void ResolveTheRealFunctions() {
  Next(&g_read, "read");
  Next(&g_write, "write");
  Next(&g_pread, "pread");
  Next(&g_pread64, "pread64");
  Next(&g_pwrite, "pwrite");
  Next(&g_pwrite64, "pwrite64");
  Next(&g_readv, "readv");
  Next(&g_writev, "writev");
  Next(&g_preadv, "preadv");
  Next(&g_pwritev, "pwritev");
  Next(&g_recv, "recv");
  Next(&g_recvfrom, "recvfrom");
  Next(&g_send, "send");
  Next(&g_sendto, "sendto");
}

void PrepareIov(const iovec* iov, int count, bool write_access) {
  if (count > 0) dsm::runtime::wrap::PrepareIov(iov, static_cast<size_t>(count), write_access);
}

}  // namespace

extern "C" {

ssize_t read(int fd, void* buf, size_t n) {
  PrepareKernelAccess(buf, n, true);
  return Next(&g_read, "read")(fd, buf, n);
}

ssize_t write(int fd, const void* buf, size_t n) {
  PrepareKernelAccess(buf, n, false);
  return Next(&g_write, "write")(fd, buf, n);
}

ssize_t pread(int fd, void* buf, size_t n, off_t offset) {
  PrepareKernelAccess(buf, n, true);
  return Next(&g_pread, "pread")(fd, buf, n, offset);
}

ssize_t pread64(int fd, void* buf, size_t n, off_t offset) {
  PrepareKernelAccess(buf, n, true);
  return Next(&g_pread64, "pread64")(fd, buf, n, offset);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  PrepareKernelAccess(buf, n, false);
  return Next(&g_pwrite, "pwrite")(fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) {
  PrepareKernelAccess(buf, n, false);
  return Next(&g_pwrite64, "pwrite64")(fd, buf, n, offset);
}

ssize_t readv(int fd, const iovec* iov, int count) {
  PrepareIov(iov, count, true);
  return Next(&g_readv, "readv")(fd, iov, count);
}

ssize_t writev(int fd, const iovec* iov, int count) {
  PrepareIov(iov, count, false);
  return Next(&g_writev, "writev")(fd, iov, count);
}

ssize_t preadv(int fd, const iovec* iov, int count, off_t offset) {
  PrepareIov(iov, count, true);
  return Next(&g_preadv, "preadv")(fd, iov, count, offset);
}

ssize_t pwritev(int fd, const iovec* iov, int count, off_t offset) {
  PrepareIov(iov, count, false);
  return Next(&g_pwritev, "pwritev")(fd, iov, count, offset);
}

ssize_t recv(int fd, void* buf, size_t n, int flags) {
  PrepareKernelAccess(buf, n, true);
  return Next(&g_recv, "recv")(fd, buf, n, flags);
}

ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from, socklen_t* from_len) {
  PrepareKernelAccess(buf, n, true);
  return Next(&g_recvfrom, "recvfrom")(fd, buf, n, flags, from, from_len);
}

ssize_t send(int fd, const void* buf, size_t n, int flags) {
  PrepareKernelAccess(buf, n, false);
  return Next(&g_send, "send")(fd, buf, n, flags);
}

ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to, socklen_t to_len) {
  PrepareKernelAccess(buf, n, false);
  return Next(&g_sendto, "sendto")(fd, buf, n, flags, to, to_len);
}

}  // extern "C"
