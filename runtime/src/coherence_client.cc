#include "coherence_client.h"

#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <string>

#include "dsm/common/clock.h"
#include "fault.h"

namespace dsm::runtime {

using namespace dsm::device;

namespace {

CoherenceClient* g_client = nullptr;  // the one the fault handler serves
constexpr size_t kReleaseStack = 256 * 1024;
// Clean neighbours of a page the daemon fetched that one read fault maps
// (the daemon's read-ahead window is 64 pages).
constexpr uint64_t kMapAhead = 64;
ucontext_t g_release_caller, g_release_callee;

bool OnPageFault(uintptr_t addr, bool write) { return g_client->OnFault(addr, write); }

void* MapPrivate(uint64_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

Status CoherenceClient::Start(DeviceClient* device, Caller* caller, NodeCounters* counters) {
  device_ = device;
  caller_ = caller;
  counters_ = counters;
  header_ = device->header();
  char* base = device->base();
  meta_ = PageMetaTable(base);
  ring_ = InvalRing(base);
  list_ = PageList(base, static_cast<uint32_t>(device->peer_id()));
  home_log_ = HomeLogOf(base, static_cast<uint32_t>(device->peer_id()));
  const PinnedPages pinned = PinnedPagesOf(header_);
  stack_first_ = pinned.stack_begin;
  stack_end_ = pinned.stack_end;
  data_ = base + header_->data_offset;
  pages_ = header_->data_pages;
  if (pages_ == 0 || header_->data_offset + pages_ * kPageSize > device->space_size() ||
      !IsPowerOfTwo(header_->inval_entries) || alias_end_ > pages_) {
    return Status(EPROTO, "shared space header describes no usable data area");
  }
  state_ = static_cast<uint8_t*>(MapPrivate(pages_));
  dirty_ = static_cast<uint32_t*>(MapPrivate(pages_ * sizeof(uint32_t)));
  spare_ = static_cast<uint32_t*>(MapPrivate(pages_ * sizeof(uint32_t)));
  release_stack_ = static_cast<char*>(MapPrivate(kReleaseStack));
  if (state_ == nullptr || dirty_ == nullptr || spare_ == nullptr || release_stack_ == nullptr) {
    return Status::FromErrno("mmap page state");
  }
  cursor_ = LoadAcquire(&header_->inval_head);
  release_cursor_ = cursor_;
  g_client = this;
  if (!InstallFaultHandler()) return Status::FromErrno("install the fault handler");
  SetPageFaultHandler(OnPageFault);
  if (::mprotect(data_, pages_ * kPageSize, PROT_NONE) != 0 ||
      (alias_end_ > alias_first_ &&
       ::mprotect(alias_, (alias_end_ - alias_first_) * kPageSize, PROT_NONE) != 0)) {
    return Status::FromErrno("protect the data area");
  }
  return Status::Ok();
}

bool CoherenceClient::ProtectPages(uint64_t first, uint64_t count, int prot) {
  // Split where the run crosses the alias's bounds.
  while (count > 0) {
    uint64_t n = count;
    if (first < alias_first_ && first + n > alias_first_) n = alias_first_ - first;
    if (InAlias(first) && first + n > alias_end_) n = alias_end_ - first;
    if (::mprotect(PageAddress(first), n * kPageSize, prot) != 0) return false;
    first += n;
    count -= n;
  }
  return true;
}

void CoherenceClient::Protect(uint64_t first, uint64_t count, int prot) {
  if (ProtectPages(first, count, prot)) return;
  if (errno != ENOMEM) caller_->Fail("mprotect", first, -errno);
  // Every run of pages with one protection is a kernel mapping, and a
  // process may have only so many (vm.max_map_count, 65530 by default):
  // scattered accesses over a large area run out of them. Unmapping the
  // whole data area takes them back in one call; the pages fault in again.
  DropAll();
  if (prot == PROT_NONE) return;
  if (!ProtectPages(first, count, prot)) caller_->Fail("mprotect", first, -errno);
  uint8_t bits = ((prot & PROT_READ) ? kReadable : 0) | ((prot & PROT_WRITE) ? kWritable : 0);
  for (uint64_t p = first; p < first + count; ++p) state_[p] = (state_[p] & kDirty) | bits;
}

void CoherenceClient::PrepareKernelAccess(const void* p, size_t n, bool write_access) {
  if (state_ == nullptr || n == 0) return;
  const auto lo = reinterpret_cast<uintptr_t>(data_);
  const auto alias = reinterpret_cast<uintptr_t>(alias_);
  const uint64_t alias_bytes = (alias_end_ - alias_first_) * kPageSize;
  const auto begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t end = begin + n < begin ? UINTPTR_MAX : begin + n;
  const uint8_t need = write_access ? kWritable : kReadable;
  // Only the parts of [begin, end) inside the data area or its alias: a
  // private buffer costs nothing however long the program says it is.
  auto visit = [&](uintptr_t area, uint64_t area_bytes, uint64_t first_page, bool skip_alias) {
    const uintptr_t from = begin > area ? begin : area;
    const uintptr_t to = end < area + area_bytes ? end : area + area_bytes;
    for (uintptr_t a = from & ~(kPageSize - 1); a < to; a += kPageSize) {
      const uint64_t page = first_page + (a - area) / kPageSize;
      if (skip_alias && InAlias(page)) continue;  // used only through the alias
      if ((__atomic_load_n(&state_[page], __ATOMIC_RELAXED) & need) != 0) continue;
      // The first byte of the range on this page: a store of what is there
      // (atomic: another thread may write it) or a load, faulting as the
      // program would.
      auto* byte = reinterpret_cast<uint8_t*>(a < begin ? begin : a);
      if (write_access) {
        // A locked OR of 0 in assembly: the compiler turns __atomic_fetch_or
        // of 0 into a load, which faults for reading only.
        asm volatile("lock orb $0, %0" : "+m"(*byte) : : "memory");
      } else {
        (void)__atomic_load_n(byte, __ATOMIC_RELAXED);
      }
    }
  };
  visit(lo, pages_ * kPageSize, 0, true);
  if (alias_bytes != 0) visit(alias, alias_bytes, alias_first_, false);
}

bool CoherenceClient::OnFault(uintptr_t addr, bool write) {
  auto lo = reinterpret_cast<uintptr_t>(data_);
  auto alias = reinterpret_cast<uintptr_t>(alias_);
  uint64_t page;
  if (addr >= alias && addr < alias + (alias_end_ - alias_first_) * kPageSize) {
    page = alias_first_ + (addr - alias) / kPageSize;
  } else if (addr >= lo && addr < lo + pages_ * kPageSize) {
    page = (addr - lo) / kPageSize;
    if (InAlias(page)) return false;  // used only through the alias
  } else {
    return false;
  }
  uint64_t start = MonotonicNs();
  uint32_t st = LoadAcquire(&meta_[page].state);
  uint8_t& mine = state_[page];
  int64_t answer = -1;  // the PageState kFault answered; -1: not asked
  if (write) {
    ++counters_->write_faults;
    if (st != kPageHome) {
      ++counters_->daemon_faults;
      auto r = caller_->CallDaemon(kFault, {page, 1});
      if (r.status != kOk) caller_->Fail("write fault", page, r.status);
      answer = static_cast<int64_t>(r.results[0]);
    }
    const bool home = st == kPageHome || answer == kPageHome;
    if ((mine & kUntracked) ||
        (home && !(mine & kDirty) && __atomic_load_n(&meta_[page].copied, __ATOMIC_ACQUIRE) == 0)) {
      // Homed here and no other host has a copy that a write notice would
      // have to make stale: writable for good, never logged, until a copy
      // leaves (Release() finds it in the ring then).
      ++counters_->untracked_faults;
      if (!(mine & kUntracked)) ++untracked_count_;
      mine = kReadable | kWritable | kUntracked;
    } else {
      if (!(mine & kDirty)) dirty_[dirty_count_++] = static_cast<uint32_t>(page);
      mine = kReadable | kWritable | kDirty;
    }
    Protect(page, 1, PROT_READ | PROT_WRITE);
  } else {
    ++counters_->read_faults;
    if (st != kPageHome && st != kPageValid) {
      ++counters_->daemon_faults;
      auto r = caller_->CallDaemon(kFault, {page, 0});
      if (r.status != kOk) caller_->Fail("read fault", page, r.status);
      answer = static_cast<int64_t>(r.results[0]);
    }
    if (mine & (kDirty | kUntracked)) {
      mine |= kReadable | kWritable;
      Protect(page, 1, PROT_READ | PROT_WRITE);
    } else {
      // Map the clean unmapped neighbours that are valid here (the daemon
      // fetches ahead) with the same call: one fault for a whole run of a
      // sequential reader. As safe as the fast path above: a page valid here
      // is mapped read-only, and an acquire drops it again if it goes stale.
      uint64_t run = 1;
      while (run < kMapAhead && page + run < pages_ && state_[page + run] == 0) {
        uint32_t next = LoadAcquire(&meta_[page + run].state);
        if (next != kPageValid && next != kPageHome) break;
        ++run;
      }
      for (uint64_t p = page; p < page + run; ++p) state_[p] |= kReadable;
      Protect(page, run, PROT_READ);
    }
  }
  const uint64_t end = MonotonicNs();
  counters_->fault_ns += end - start;
  if (trace_ != nullptr && answer >= 0) {
    trace_->AddFault(start, end, page, write, st != kPageValid && answer == kPageValid);
  }
  return true;
}

void CoherenceClient::ReleaseEntry() { g_client->ReleaseNow(false); }

void CoherenceClient::Release() {
  TrackCopied();
  if (dirty_count_ == 0) return;
  char probe;
  auto sp = reinterpret_cast<uintptr_t>(&probe);
  auto lo = reinterpret_cast<uintptr_t>(data_);
  if (sp < lo || sp >= lo + pages_ * kPageSize) {
    ReleaseNow(false);
    return;
  }
  // On the master stack (node 0). Its pages are homed here: a release of
  // them is a log entry, so the few that are written stay writable and are
  // logged at every release (see ReleaseNow), and the release runs right
  // here. Only a deep stack, many pages of which were written, is
  // re-protected like other data, on the private stack.
  uint64_t stack_pages = 0;
  for (uint64_t i = 0; i < dirty_count_; ++i) stack_pages += InMasterStack(dirty_[i]);
  if (stack_pages <= kKeepStackPages) {
    ReleaseNow(true);
    return;
  }
  if (::getcontext(&g_release_callee) != 0) caller_->Fail("getcontext", 0, -errno);
  g_release_callee.uc_stack.ss_sp = release_stack_;
  g_release_callee.uc_stack.ss_size = kReleaseStack;
  g_release_callee.uc_link = &g_release_caller;
  ::makecontext(&g_release_callee, ReleaseEntry, 0);
  if (::swapcontext(&g_release_caller, &g_release_callee) != 0) caller_->Fail("swapcontext", 0, -errno);
}

void CoherenceClient::ReleaseNow(bool keep_stack) {  // From here on, writes fault into a fresh list (see spare_).
  uint32_t* list = dirty_;
  const uint64_t count = dirty_count_;
  dirty_ = spare_;
  spare_ = list;
  dirty_count_ = 0;
  std::sort(list, list + count);
  // Pages homed on this host go to the home-release log (no request; the
  // daemon drains the log before any notice leaves the host); the rest, and
  // home pages that do not fit in the log, into the page list, which goes to
  // the daemon (kRelease) whenever it is full, and at the end.
  const uint64_t start = trace_ != nullptr ? MonotonicNs() : 0;
  uint64_t head = home_log_->head;
  const uint64_t limit = LoadAcquire(&home_log_->tail) + kHomeLogEntries;
  uint64_t listed = 0;
  auto send_list = [&] {
    if (head != home_log_->head) StoreRelease(&home_log_->head, head);
    auto r = caller_->CallDaemon(kRelease, {listed});
    if (r.status != kOk) caller_->Fail("release", list_[0], r.status);
    listed = 0;
  };
  for (uint64_t i = 0; i < count; ++i) {
    const uint32_t p = list[i];
    if (head < limit && LoadAcquire(&meta_[p].state) == kPageHome) {
      __atomic_store_n(&home_log_->pages[head % kHomeLogEntries], p, __ATOMIC_RELAXED);
      ++head;
      continue;
    }
    __atomic_store_n(&list_[listed++], p, __ATOMIC_RELAXED);
    if (listed == kListEntries) send_list();
  }
  if (listed != 0) send_list();
  if (head != home_log_->head) StoreRelease(&home_log_->head, head);
  if (trace_ != nullptr) trace_->AddRelease(start, MonotonicNs(), count);
  ++counters_->releases;
  counters_->pages_released += count;
  // Written pages become read-only again (the next write is a new
  // interval's); pages an acquire dropped meanwhile stay unmapped. The state
  // is updated before the protection: a write in between (only this code's
  // own stack frames can write) does not fault and is not recorded, which
  // loses nothing, since nobody reads a returned frame; every later write
  // faults. Runs of neighbours take one mprotect.
  uint64_t run_start = 0, run_len = 0;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t p = list[i];
    uint8_t& mine = state_[p];
    if (keep_stack && InMasterStack(p) && (mine & kWritable)) {
      // Stays writable, and counts as written in the next interval too.
      dirty_[dirty_count_++] = static_cast<uint32_t>(p);
      continue;
    }
    if (mine & kWritable) mine = kReadable;  // was mapped: becomes read-only
    else if (!(mine & kReadable)) mine = 0;  // dropped by an acquire: stays unmapped
    if (!(mine & kReadable)) continue;
    if (run_len != 0 && p == run_start + run_len) {
      ++run_len;
      continue;
    }
    if (run_len != 0) Protect(run_start, run_len, PROT_READ);
    run_start = p;
    run_len = 1;
  }
  if (run_len != 0) Protect(run_start, run_len, PROT_READ);
}

void CoherenceClient::Track(uint64_t page) {
  state_[page] = static_cast<uint8_t>((state_[page] & ~kUntracked) | kDirty);
  dirty_[dirty_count_++] = static_cast<uint32_t>(page);
  --untracked_count_;
  ++counters_->untracked_shared;
}

void CoherenceClient::TrackAll() {
  for (uint64_t p = 0; p < pages_ && untracked_count_ > 0; ++p) {
    if (state_[p] & kUntracked) Track(p);
  }
}

void CoherenceClient::TrackCopied() {
  if (untracked_count_ == 0) {
    // Nothing to track. A page that becomes untracked later was listed
    // here, if at all, after the daemon set its `copied` flag: the fault
    // sees the flag (this load synchronises with the ring's head), or a
    // notice recorded since then, which makes every copy stale anyway.
    release_cursor_ = LoadAcquire(&header_->inval_head);
    return;
  }
  // Dekker with the daemon (Coherence::OnFetch): it lists a page in the
  // ring, fences, then copies it; this node wrote, fences, then reads the
  // ring. Either the copy includes this interval's writes, or this release
  // sees the entry and the page's writes are released like any other's.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint64_t head = LoadAcquire(&header_->inval_head);
  const uint64_t capacity = header_->inval_entries;
  if (head - release_cursor_ > capacity) {
    TrackAll();  // entries were overwritten: any page may have been copied
  } else {
    const uint64_t mask = capacity - 1;
    for (uint64_t i = release_cursor_; i < head && untracked_count_ > 0; ++i) {
      uint32_t p = __atomic_load_n(&ring_[i & mask], __ATOMIC_RELAXED);
      if (p < pages_ && (state_[p] & kUntracked)) Track(p);
    }
    // The daemon may have lapped us while we read.
    if (LoadAcquire(&header_->inval_head) - release_cursor_ > capacity) TrackAll();
  }
  release_cursor_ = head;
}

void CoherenceClient::DropAll() {
  // Untracked pages cannot stay untracked unmapped (their next write must
  // not be lost to a release): they become dirty first.
  TrackAll();
  if (::mprotect(data_, pages_ * kPageSize, PROT_NONE) != 0) caller_->Fail("mprotect", 0, -errno);
  if (alias_end_ > alias_first_ && ::mprotect(alias_, (alias_end_ - alias_first_) * kPageSize, PROT_NONE) != 0) {
    caller_->Fail("mprotect", alias_first_, -errno);
  }
  for (uint64_t p = 0; p < pages_; ++p) state_[p] &= kDirty;
  ++counters_->drop_all;
}

void CoherenceClient::Acquire() {
  const uint64_t head = LoadAcquire(&header_->inval_head);
  if (head == cursor_) return;
  const uint64_t capacity = header_->inval_entries;
  if (head - cursor_ > capacity) {
    DropAll();
    cursor_ = head;
    return;
  }
  const uint64_t mask = capacity - 1;
  uint64_t run_start = 0, run_len = 0;
  for (uint64_t i = cursor_; i < head; ++i) {
    uint32_t p = __atomic_load_n(&ring_[i & mask], __ATOMIC_RELAXED);
    if (p >= pages_) continue;  // cannot happen unless the ring was overwritten (checked below)
    uint8_t& mine = state_[p];
    if (!(mine & kReadable)) continue;
    // A page homed here was listed because the daemon copied it out (for
    // Release()); the home's copy is never stale, and an untracked page
    // stays untracked.
    if (LoadAcquire(&meta_[p].state) == kPageHome) continue;
    if (mine & kUntracked) {
      // Its home moved to another host at the barrier this acquire ends
      // (home migration), whose copy has every write this node made (else
      // this node's release would have tracked the page and the home would
      // not have moved). From now on it is written like any remote page.
      mine = 0;
      --untracked_count_;
    }
    mine &= kDirty;
    ++counters_->pages_dropped;
    if (run_len != 0 && p == run_start + run_len) {
      ++run_len;
      continue;
    }
    if (run_len != 0) Protect(run_start, run_len, PROT_NONE);
    run_start = p;
    run_len = 1;
  }
  if (run_len != 0) Protect(run_start, run_len, PROT_NONE);
  // The daemon may have lapped us while we read: then some entries were
  // overwritten before we saw them.
  if (LoadAcquire(&header_->inval_head) - cursor_ > capacity) DropAll();
  cursor_ = head;
}

void PrepareKernelAccess(const void* p, size_t n, bool write_access) {
  CoherenceClient* c = __atomic_load_n(&g_client, __ATOMIC_ACQUIRE);
  if (c != nullptr) c->PrepareKernelAccess(p, n, write_access);
}

}  // namespace dsm::runtime
