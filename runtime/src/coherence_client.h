// A node's side of the coherence engine (jobs of several hosts only; a
// single-host job never creates one). It keeps the node's own view of the
// data area in its page protections:
//   none       the page may be stale here: the first access faults;
//   read-only  readable; the first write faults so the host can twin it;
//   read-write written since this node's last release (dirty), or a page
//              homed on this host that no other host has a copy of
//              (untracked: stays writable across releases, never logged).
// and serves the faults that these protections raise:
// - a read fault maps the page read-only at once when the host's copy is
//   valid (PageMeta in the shared space says so); otherwise it asks the
//   daemon (kFault), which fetches it from its home;
// - a write fault asks the daemon for a twin unless this host is the
//   page's home, records the page as dirty and maps it read-write; a page
//   homed here whose PageMeta::copied is clear is mapped read-write
//   untracked instead.
// Release() (before an unlock or a barrier) first tracks again every
// untracked page that the daemon copied to another host since the node's
// last release (the host's invalidation ring lists them; a seq_cst fence
// before reading it pairs with the daemon's before its copy), then hands the
// dirty pages to the daemon (kRelease: diffs to the homes, write notices;
// pages homed here through the home-release log) and maps them read-only
// again. Acquire() (after a lock or a barrier) drops this node's mappings of
// every page the daemon invalidated since the node last looked, from the
// same ring (pages homed here, listed there for Release, are skipped); a
// node that fell more than the ring's size behind drops all its mappings
// (one mprotect), which costs only faults that the daemon need not see.
//
// Private state: a byte of protection state per data page and the list of
// dirty pages, both anonymous mappings sized for the whole data area (16
// MiB of address space for 16 GiB of data, touched as used).
//
// Invariant: every write to a shared page is recorded by a fault (the page
// is read-only or unmapped until its first write in an interval), so that a
// page without a twin or dirty mapping holds nothing unsent and may be
// replaced whole by a fetched copy — except untracked pages, which are homed
// here (never replaced) and need no notice as long as every other host's
// copy of them is made stale by a notice recorded since (see Release()).
//
// Thread safety: the node's main thread. OnFault() is async-signal-safe
// (atomics, mprotect, and the device request path, which the fault can never
// interrupt: that path touches no data page). Acquire() and Release() are
// not, and never run inside the handler.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "device_client.h"
#include "dsm/common/status.h"
#include "trace.h"

namespace dsm::runtime {

class CoherenceClient {
 public:
  // How the client reaches the daemon: the runtime's request path, which
  // ends the node with a message when the job is over or the daemon gone.
  class Caller {
   public:
    virtual ~Caller() = default;
    virtual DeviceClient::Reply CallDaemon(uint32_t command, std::initializer_list<uint64_t> args) = 0;
    // Ends the node: `what` failed for `page`; status is a device status,
    // or -errno for a failed system call.
    [[noreturn]] virtual void Fail(const char* what, uint64_t page, int32_t status) = 0;
  };

  // Takes over the data area of `device`: protects it entirely and routes
  // its faults here. One per process.
  Status Start(DeviceClient* device, Caller* caller, device::NodeCounters* counters);

  // Before Start: data pages [first, first + count) are used through a
  // second mapping at `at` (the program's shared globals; see
  // GlobalsWindow), never through the space's own mapping. Faults and
  // protections of those pages are at `at`.
  void SetAlias(char* at, uint64_t first, uint64_t count) {
    alias_ = at;
    alias_first_ = first;
    alias_end_ = first + count;
  }

  // The fault handler's part; see the class comment.
  bool OnFault(uintptr_t addr, bool write);

  // Before a system call that writes (write_access) or reads [p, p + n):
  // faults in every page of it that this node cannot access that way yet,
  // as the program's own store or load would, since the kernel gets EFAULT
  // where user space would fault (see syscall_wrap.cc). Pages outside the
  // shared data are left alone. Main thread; async-signal-safe.
  void PrepareKernelAccess(const void* p, size_t n, bool write_access);
  void Acquire();
  void Release();
  // Records the faults that ask the daemon and the releases in `trace`
  // (nullptr, the default: nothing is recorded, at the cost of one branch).
  // Main thread, outside the handler.
  void set_trace(Trace* trace) { trace_ = trace; }

 private:
  // state_ bits.
  static constexpr uint8_t kReadable = 1;
  static constexpr uint8_t kWritable = 2;
  static constexpr uint8_t kDirty = 4;
  // Homed here, mapped read-write, not in the dirty list (see the class
  // comment). Never together with kDirty.
  static constexpr uint8_t kUntracked = 8;

  void Protect(uint64_t first, uint64_t count, int prot);
  // mprotect of pages [first, first + count) where they are used (the alias
  // or the space's mapping); false with errno set when one call failed.
  bool ProtectPages(uint64_t first, uint64_t count, int prot);
  bool InAlias(uint64_t page) const { return page >= alias_first_ && page < alias_end_; }
  char* PageAddress(uint64_t page) const {
    return InAlias(page) ? alias_ + (page - alias_first_) * device::kPageSize
                         : data_ + page * device::kPageSize;
  }
  void DropAll();
  // An untracked page becomes dirty (stays mapped as it is): this interval's
  // writes to it are released like any other's.
  void Track(uint64_t page);
  void TrackAll();
  // Release()'s first step: tracks the untracked pages that the ring lists
  // since release_cursor_ (all of them if it fell behind).
  void TrackCopied();
  // keep_stack: written master-stack pages stay writable and dirty (they are
  // homed here, so releasing them again costs a log entry).
  void ReleaseNow(bool keep_stack);
  static void ReleaseEntry();
  bool InMasterStack(uint64_t page) const { return page >= stack_first_ && page < stack_end_; }
  // Master-stack pages a release keeps writable at most.
  static constexpr uint64_t kKeepStackPages = 32;

  DeviceClient* device_ = nullptr;
  Caller* caller_ = nullptr;
  device::NodeCounters* counters_ = nullptr;
  Trace* trace_ = nullptr;
  device::SpaceHeader* header_ = nullptr;
  const device::PageMeta* meta_ = nullptr;
  const uint32_t* ring_ = nullptr;
  uint32_t* list_ = nullptr;  // this slot's page list in the shared space
  device::HomeLog* home_log_ = nullptr;  // this slot's home-release log
  uint64_t stack_first_ = 0, stack_end_ = 0;  // node 0's master stack (data pages)
  char* data_ = nullptr;
  uint64_t pages_ = 0;
  char* alias_ = nullptr;  // see SetAlias; alias_first_ == alias_end_: none
  uint64_t alias_first_ = 0;
  uint64_t alias_end_ = 0;
  uint8_t* state_ = nullptr;
  // The dirty list, and a second one that Release() swaps in before it
  // re-protects: the release runs on node 0's stack, which is shared data,
  // so its own stack writes fault and must land in a fresh list.
  uint32_t* dirty_ = nullptr;
  uint32_t* spare_ = nullptr;
  uint64_t dirty_count_ = 0;
  uint64_t cursor_ = 0;  // invalidation ring entries seen by Acquire()
  uint64_t release_cursor_ = 0;  // and by Release()
  uint64_t untracked_count_ = 0;  // pages with kUntracked
  // A private stack for Release() when it is called on node 0's master
  // stack, which is shared data: every write to a shared page must be seen
  // by a fault, and the release's own stack writes, made between sending the
  // list and re-protecting it, would not be.
  char* release_stack_ = nullptr;
};

// CoherenceClient::PrepareKernelAccess of the process's client, if coherence
// has started (a job of several hosts); nothing otherwise.
void PrepareKernelAccess(const void* p, size_t n, bool write_access);

}  // namespace dsm::runtime
