// The system calls that fill a structure in the program's memory or read a
// path from it, wrapped in libdsm.so like read and write are
// (syscall_wrap.cc, whose comment says why): a shared page the kernel is
// about to touch is faulted in first, as a load or store of the program's
// would. The common ones:
//   structures the kernel fills: stat, lstat, fstat, fstatat (and their
//     64 names), statx, statfs, fstatfs, pipe, pipe2, socketpair, poll,
//     ppoll, select, pselect, recvmsg, sendmsg, accept, accept4,
//     getsockname, getpeername, getsockopt, epoll_wait, getrusage,
//     getrlimit, uname, sysinfo, times, nanosleep, clock_nanosleep, wait,
//     waitpid, wait4, getcwd, readlink, readlinkat;
//   paths the kernel reads: open, open64, openat, creat, access, unlink,
//     mkdir, rmdir, rename, chdir, opendir, fopen, fopen64 (and the stat
//     family's, readlink's);
//   stdio's transfers that bypass its private buffer (a large fread or
//     fwrite goes straight to read or write inside the C library, where no
//     wrapper sees it): fread and fwrite.
// Anything else the kernel reads or writes in user memory (ioctl, an
// unusual call) still fails with EFAULT on a shared page this node has not
// used yet: docs/design.md, "Limits and costs".
//
// glibc declares some of these noexcept (__THROW); their definitions here
// must say so too.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "syscall_wrap.h"

namespace {

using dsm::runtime::wrap::Next;
using dsm::runtime::wrap::Prepare;
using dsm::runtime::wrap::PrepareIov;
using dsm::runtime::wrap::PrepareString;

// Every wrapped name, once: the slots of the real functions and their
// lookup at load time both come from this list (libdsm.map exports them).
#define DSM_WRAPPED(X)                                                                                  \
  X(stat) X(stat64) X(lstat) X(lstat64) X(fstat) X(fstat64) X(fstatat) X(fstatat64) X(statx) X(statfs)   \
  X(fstatfs) X(pipe) X(pipe2) X(socketpair) X(poll) X(ppoll) X(select) X(pselect) X(recvmsg) X(sendmsg)  \
  X(accept) X(accept4) X(getsockname) X(getpeername) X(getsockopt) X(epoll_wait) X(getrusage)           \
  X(getrlimit) X(uname) X(sysinfo) X(times) X(nanosleep) X(clock_nanosleep) X(wait) X(waitpid) X(wait4) \
  X(getcwd) X(readlink) X(readlinkat) X(open) X(open64) X(openat) X(creat) X(access) X(unlink) X(mkdir) \
  X(rmdir) X(rename) X(chdir) X(opendir) X(fopen) X(fopen64) X(fread) X(fwrite)

#define DSM_SLOT(name) decltype(&::name) g_##name = nullptr;
DSM_WRAPPED(DSM_SLOT)
#undef DSM_SLOT

#define DSM_RESOLVE(name) Next(&g_##name, #name);
__attribute__((constructor)) void ResolveTheRealFunctions() { DSM_WRAPPED(DSM_RESOLVE) }
#undef DSM_RESOLVE

// The part of an fd_set select reads and writes: nfds bits, in longs.
size_t FdSetBytes(int nfds) {
  if (nfds <= 0) return 0;
  const size_t bits = 8 * sizeof(long);
  const size_t bytes = (static_cast<size_t>(nfds) + bits - 1) / bits * sizeof(long);
  return bytes < sizeof(fd_set) ? bytes : sizeof(fd_set);
}

void PrepareFdSets(int nfds, fd_set* r, fd_set* w, fd_set* e) {
  const size_t n = FdSetBytes(nfds);
  Prepare(r, n, true);
  Prepare(w, n, true);
  Prepare(e, n, true);
}

// An address buffer whose length the kernel reads from *len and writes
// back.
void PrepareAddress(void* addr, socklen_t* len) {
  if (len == nullptr) return;
  Prepare(len, sizeof *len, true);
  Prepare(addr, *len, true);
}

void PrepareMessage(const msghdr* m, bool receive) {
  if (m == nullptr) return;
  Prepare(m, sizeof *m, receive);  // recvmsg writes its lengths and flags back
  Prepare(m->msg_name, m->msg_namelen, receive);
  PrepareIov(m->msg_iov, m->msg_iovlen, receive);
  Prepare(m->msg_control, m->msg_controllen, receive);
}

// size * n, or SIZE_MAX when it overflows (the C library then fails the
// call without touching the buffer).
size_t Product(size_t size, size_t n) { return n != 0 && size > SIZE_MAX / n ? SIZE_MAX : size * n; }

// open's optional mode argument.
mode_t ModeOf(int flags, va_list ap) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

}  // namespace

#define DSM_CALL(name) Next(&g_##name, #name)

extern "C" {

// --- stat and friends -------------------------------------------------------

int stat(const char* path, struct stat* buf) noexcept {
  PrepareString(path);
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(stat)(path, buf);
}

int stat64(const char* path, struct stat64* buf) noexcept {
  PrepareString(path);
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(stat64)(path, buf);
}

int lstat(const char* path, struct stat* buf) noexcept {
  PrepareString(path);
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(lstat)(path, buf);
}

int lstat64(const char* path, struct stat64* buf) noexcept {
  PrepareString(path);
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(lstat64)(path, buf);
}

int fstat(int fd, struct stat* buf) noexcept {
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(fstat)(fd, buf);
}

int fstat64(int fd, struct stat64* buf) noexcept {
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(fstat64)(fd, buf);
}

int fstatat(int dirfd, const char* path, struct stat* buf, int flags) noexcept {
  PrepareString(path);
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(fstatat)(dirfd, path, buf, flags);
}

int fstatat64(int dirfd, const char* path, struct stat64* buf, int flags) noexcept {
  PrepareString(path);
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(fstatat64)(dirfd, path, buf, flags);
}

int statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* buf) noexcept {
  PrepareString(path);
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(statx)(dirfd, path, flags, mask, buf);
}

int statfs(const char* path, struct statfs* buf) noexcept {
  PrepareString(path);
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(statfs)(path, buf);
}

int fstatfs(int fd, struct statfs* buf) noexcept {
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(fstatfs)(fd, buf);
}

// --- descriptors, polling, sockets ------------------------------------------

int pipe(int fds[2]) noexcept {
  Prepare(fds, 2 * sizeof(int), true);
  return DSM_CALL(pipe)(fds);
}

int pipe2(int fds[2], int flags) noexcept {
  Prepare(fds, 2 * sizeof(int), true);
  return DSM_CALL(pipe2)(fds, flags);
}

int socketpair(int domain, int type, int protocol, int fds[2]) noexcept {
  Prepare(fds, 2 * sizeof(int), true);
  return DSM_CALL(socketpair)(domain, type, protocol, fds);
}

int poll(pollfd* fds, nfds_t n, int timeout) {
  Prepare(fds, Product(sizeof *fds, n), true);
  return DSM_CALL(poll)(fds, n, timeout);
}

int ppoll(pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* mask) {
  Prepare(fds, Product(sizeof *fds, n), true);
  Prepare(timeout, sizeof *timeout, false);
  Prepare(mask, sizeof *mask, false);
  return DSM_CALL(ppoll)(fds, n, timeout, mask);
}

int select(int nfds, fd_set* r, fd_set* w, fd_set* e, timeval* timeout) {
  PrepareFdSets(nfds, r, w, e);
  Prepare(timeout, sizeof *timeout, true);  // Linux writes the time left
  return DSM_CALL(select)(nfds, r, w, e, timeout);
}

int pselect(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* timeout, const sigset_t* mask) {
  PrepareFdSets(nfds, r, w, e);
  Prepare(timeout, sizeof *timeout, false);
  Prepare(mask, sizeof *mask, false);
  return DSM_CALL(pselect)(nfds, r, w, e, timeout, mask);
}

ssize_t recvmsg(int fd, msghdr* m, int flags) {
  PrepareMessage(m, true);
  return DSM_CALL(recvmsg)(fd, m, flags);
}

ssize_t sendmsg(int fd, const msghdr* m, int flags) {
  PrepareMessage(m, false);
  return DSM_CALL(sendmsg)(fd, m, flags);
}

int accept(int fd, sockaddr* addr, socklen_t* len) {
  PrepareAddress(addr, len);
  return DSM_CALL(accept)(fd, addr, len);
}

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  PrepareAddress(addr, len);
  return DSM_CALL(accept4)(fd, addr, len, flags);
}

int getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept {
  PrepareAddress(addr, len);
  return DSM_CALL(getsockname)(fd, addr, len);
}

int getpeername(int fd, sockaddr* addr, socklen_t* len) noexcept {
  PrepareAddress(addr, len);
  return DSM_CALL(getpeername)(fd, addr, len);
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept {
  PrepareAddress(value, len);
  return DSM_CALL(getsockopt)(fd, level, name, value, len);
}

int epoll_wait(int epfd, epoll_event* events, int max, int timeout) {
  if (max > 0) Prepare(events, Product(sizeof *events, static_cast<size_t>(max)), true);
  return DSM_CALL(epoll_wait)(epfd, events, max, timeout);
}

// --- the process and time ---------------------------------------------------

int getrusage(int who, rusage* usage) noexcept {
  Prepare(usage, sizeof *usage, true);
  return DSM_CALL(getrusage)(who, usage);
}

int getrlimit(int resource, rlimit* limit) noexcept {
  Prepare(limit, sizeof *limit, true);
  return DSM_CALL(getrlimit)(static_cast<__rlimit_resource_t>(resource), limit);
}

int uname(utsname* name) noexcept {
  Prepare(name, sizeof *name, true);
  return DSM_CALL(uname)(name);
}

int sysinfo(struct sysinfo* info) noexcept {
  Prepare(info, sizeof *info, true);
  return DSM_CALL(sysinfo)(info);
}

clock_t times(tms* buf) noexcept {
  Prepare(buf, sizeof *buf, true);
  return DSM_CALL(times)(buf);
}

int nanosleep(const timespec* req, timespec* rem) {
  Prepare(req, sizeof *req, false);
  Prepare(rem, sizeof *rem, true);
  return DSM_CALL(nanosleep)(req, rem);
}

int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
  Prepare(req, sizeof *req, false);
  Prepare(rem, sizeof *rem, true);
  return DSM_CALL(clock_nanosleep)(clock, flags, req, rem);
}

pid_t wait(int* status) {
  Prepare(status, sizeof *status, true);
  return DSM_CALL(wait)(status);
}

pid_t waitpid(pid_t pid, int* status, int options) {
  Prepare(status, sizeof *status, true);
  return DSM_CALL(waitpid)(pid, status, options);
}

pid_t wait4(pid_t pid, int* status, int options, rusage* usage) noexcept {
  Prepare(status, sizeof *status, true);
  Prepare(usage, sizeof *usage, true);
  return DSM_CALL(wait4)(pid, status, options, usage);
}

// --- paths --------------------------------------------------------------------

char* getcwd(char* buf, size_t size) noexcept {
  Prepare(buf, size, true);  // none when the C library allocates it
  return DSM_CALL(getcwd)(buf, size);
}

ssize_t readlink(const char* path, char* buf, size_t size) noexcept {
  PrepareString(path);
  Prepare(buf, size, true);
  return DSM_CALL(readlink)(path, buf, size);
}

ssize_t readlinkat(int dirfd, const char* path, char* buf, size_t size) noexcept {
  PrepareString(path);
  Prepare(buf, size, true);
  return DSM_CALL(readlinkat)(dirfd, path, buf, size);
}

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeOf(flags, ap);
  va_end(ap);
  PrepareString(path);
  return DSM_CALL(open)(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeOf(flags, ap);
  va_end(ap);
  PrepareString(path);
  return DSM_CALL(open64)(path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeOf(flags, ap);
  va_end(ap);
  PrepareString(path);
  return DSM_CALL(openat)(dirfd, path, flags, mode);
}

int creat(const char* path, mode_t mode) {
  PrepareString(path);
  return DSM_CALL(creat)(path, mode);
}

int access(const char* path, int mode) noexcept {
  PrepareString(path);
  return DSM_CALL(access)(path, mode);
}

int unlink(const char* path) noexcept {
  PrepareString(path);
  return DSM_CALL(unlink)(path);
}

int mkdir(const char* path, mode_t mode) noexcept {
  PrepareString(path);
  return DSM_CALL(mkdir)(path, mode);
}

int rmdir(const char* path) noexcept {
  PrepareString(path);
  return DSM_CALL(rmdir)(path);
}

int rename(const char* from, const char* to) noexcept {
  PrepareString(from);
  PrepareString(to);
  return DSM_CALL(rename)(from, to);
}

int chdir(const char* path) noexcept {
  PrepareString(path);
  return DSM_CALL(chdir)(path);
}

DIR* opendir(const char* path) {
  PrepareString(path);
  return DSM_CALL(opendir)(path);
}

FILE* fopen(const char* path, const char* mode) {
  PrepareString(path);
  return DSM_CALL(fopen)(path, mode);
}

FILE* fopen64(const char* path, const char* mode) {
  PrepareString(path);
  return DSM_CALL(fopen64)(path, mode);
}

// --- stdio's direct transfers -------------------------------------------------

size_t fread(void* buf, size_t size, size_t n, FILE* f) {
  Prepare(buf, Product(size, n), true);
  return DSM_CALL(fread)(buf, size, n, f);
}

size_t fwrite(const void* buf, size_t size, size_t n, FILE* f) {
  Prepare(buf, Product(size, n), false);
  return DSM_CALL(fwrite)(buf, size, n, f);
}

}  // extern "C"
