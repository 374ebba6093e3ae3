#include "runtime.h"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "dsm/common/clock.h"
#include "dsm/common/log.h"
#include "dsm/common/parse.h"
#include "atomics.h"
#include "dsm/hostd/daemon.h"
#include "fault.h"
#include "program_heap.h"

namespace dsm::runtime {

using namespace dsm::device;

namespace {

constexpr int kConnectTimeoutMs = 10000;
// Fast-path attempts on a held lock before asking the daemon to queue us.
constexpr int kLockSpin = 100;
// How long a node waits in a host barrier before it sleeps in the daemon
// (DSM_BARRIER_SPIN_US): long enough that the wake-up round trip (~40 us
// native) is a small part of any wait that outlasts it. A guest spins less:
// under TCG its spinning takes a host CPU from the other guests.
constexpr uint64_t kBarrierSpinUs = 1000;
constexpr uint64_t kGuestBarrierSpinUs = 200;

inline void CpuRelax() { __builtin_ia32_pause(); }

// Node 0's main, run on the shared stack through ucontext.
struct MasterCall {
  MainFn main;
  int argc;
  char** argv;
  char** envp;
  int result;
  ucontext_t caller;
  ucontext_t master;
} g_master;

void MasterEntry() { g_master.result = g_master.main(g_master.argc, g_master.argv, g_master.envp); }

void OnMasterExit(int status, void*) { Runtime::Get().Finish(status); }

}  // namespace

Runtime& Runtime::Get() {
  static Runtime* instance = new Runtime();  // never destroyed: used until _exit
  return *instance;
}

Status Runtime::StartEmbeddedDaemon(std::string* socket_path) {
  hostd::DaemonConfig config;
  std::random_device rd;
  char name[64];
  std::snprintf(name, sizeof name, "@dsm-embedded-%d-%08x", static_cast<int>(::getpid()), rd());
  config.socket_path = name;
  config.space.num_nodes = 1;
  config.space.job_id = rd();
  config.space.globals_size = globals_.size();
  if (const char* mem = std::getenv("DSM_MEMORY")) {
    auto size = ParseSize(mem);
    if (!size) return Status(EINVAL, std::string("DSM_MEMORY='") + mem + "' is not a size");
    config.space.size = *size;
  }
  if (const char* stack = std::getenv("DSM_STACK_SIZE")) {
    auto size = ParseSize(stack);
    if (!size) return Status(EINVAL, std::string("DSM_STACK_SIZE='") + stack + "' is not a size");
    config.space.stack_size = *size;
  }
  auto daemon = hostd::Daemon::Create(config);
  if (!daemon.ok()) return daemon.status();
  embedded_ = std::move(daemon).value();
  *socket_path = name;
  hostd::Daemon* d = embedded_.get();
  // The daemon thread must not take the program's signals.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  embedded_thread_ = std::thread([d] { d->Run(); });
  embedded_thread_.detach();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return Status::Ok();
}

Status Runtime::Start() {
  if (started_) return Status::Ok();
  started_ = true;
  std::string socket_path;
  uint64_t wanted = kAnyNode;
  const Attach how = HowToAttach();
  if (how != Attach::kEmbedded) {
    if (how == Attach::kSocket) socket_path = std::getenv("DSM_SOCKET");
    if (const char* id = std::getenv("DSM_NODE_ID")) {
      auto v = ParseUint(id);
      if (!v || *v >= kMaxNodes) return Status(EINVAL, std::string("DSM_NODE_ID='") + id + "' is not a node id");
      wanted = *v;
    }
  } else {
    if (Status s = StartEmbeddedDaemon(&socket_path); !s.ok()) {
      return Status(s.code(), "cannot start the embedded daemon: " + s.message());
    }
  }
  if (Status s = globals_.CheckPlacement(); !s.ok()) return s;
  Result<std::unique_ptr<DeviceClient>> client = Status(EINVAL, "");
  if (how == Attach::kGuest) {
    auto wait = GuestWaitFromEnv();
    if (!wait.ok()) return wait.status();
    client = DeviceClient::ConnectGuest(*guest_device_, *wait);
  } else {
    client = DeviceClient::Connect(socket_path, kConnectTimeoutMs);
  }
  if (!client.ok()) return client.status();
  client_ = std::move(client).value();
  counters_ = &client_->regs()->counters;
  auto r = client_->Call(kAttach, {kVersion, wanted, static_cast<uint64_t>(::getpid())});
  if (r.status == kAttachRefused) {
    return Status(EPROTO, "the host daemon refused node id " +
                              (wanted == kAnyNode ? std::string("(any)") : std::to_string(wanted)) +
                              ": taken, or outside 0.." + std::to_string(client_->header()->num_nodes - 1));
  }
  if (r.status != kOk) {
    return Status(EPROTO, std::string("attach refused by the host daemon: ") +
                              (r.status == kDaemonGone ? "daemon went away" : StatusName(r.status)));
  }
  node_id_ = static_cast<int>(r.results[0]);
  num_nodes_ = static_cast<int>(r.results[1]);
  if (uint32_t found; !AgreeOnRuntimeLayout(control(), &found)) {
    return Status(EPROTO, "another node of this job uses runtime layout version " +
                              std::to_string(found) + " in shared memory, this libdsm version " +
                              std::to_string(kRuntimeLayoutVersion));
  }
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "dsm[node %d]", node_id_);
  SetLogPrefix(prefix);
  const SpaceHeader* h = client_->header();
  if (globals_.size() > 0 && (h->globals_offset != kGlobalsOffset || h->globals_size < globals_.size())) {
    return Status(EINVAL, "this program has " + std::to_string(globals_.size()) +
                              " bytes of shared globals but the job's shared space reserves " +
                              std::to_string(h->globals_size) +
                              ": dsm-run sizes it from the program it starts; when that is a "
                              "script (a libtool wrapper, say), give dsm-run the real executable "
                              "(libtool --mode=execute dsm-run ...) or more --memory; dsm-hostd "
                              "takes --globals " + std::to_string(globals_.size()));
  }
  if (globals_.size() > 0) {
    // The space's globals pages are mapped over this process's own copy:
    // node 0 keeps its initial values first (Publish writes them in below).
    if (node_id_ == 0) {
      if (Status s = globals_.Save(); !s.ok()) return s;
    }
    if (Status s = client_->MapAlias(globals_.begin(), h->globals_offset, globals_.size()); !s.ok()) return s;
    coherence_.SetAlias(globals_.begin(), (h->globals_offset - h->data_offset) / kPageSize,
                        globals_.size() / kPageSize);
    AddAtomicsAlias(globals_.begin(), globals_.begin() + globals_.size());
  }
  host_barrier_ = r.results[3] == 1;
  barrier_spin_ns_ = (how == Attach::kGuest ? kGuestBarrierSpinUs : kBarrierSpinUs) * 1000;
  if (const char* spin = std::getenv("DSM_BARRIER_SPIN_US"); spin != nullptr && *spin != '\0') {
    auto v = ParseUint(spin);
    if (!v || *v > 10'000'000) {
      return Status(EINVAL, std::string("DSM_BARRIER_SPIN_US='") + spin +
                                "' is not a number of microseconds up to 10000000");
    }
    barrier_spin_ns_ = *v * 1000;
  }
  if (host_barrier_ && how != Attach::kGuest && (client_->header()->flags & kSpaceHugePages) != 0) {
    // One host: nothing protects the data area page by page, so it may be
    // mapped with huge pages. Each node is a process with page tables of its
    // own: with 4 KiB pages every node takes a fault on every page it
    // touches, threads one per page for all; with 2 MiB pages a node maps
    // 512 pages in one fault. The daemon's space is a tmpfs mounted
    // huge=advise where it could make one (hostd/space_file.h), which grants
    // them to this request; a memfd gets them only where the machine's
    // transparent_hugepage/shmem_enabled allows. (A guest's BAR is mapped by
    // VFIO; a job of several hosts protects 4 KiB pages.)
    const SpaceHeader* sh = client_->header();
    (void)::madvise(client_->base() + sh->data_offset, sh->data_size, MADV_HUGEPAGE);
  }
  // More nodes than CPUs: a spinning node gives its CPU away often, since
  // the node it waits for may be waiting for that CPU.
  if (long cpus = ::sysconf(_SC_NPROCESSORS_ONLN); cpus > 0 && num_nodes_ >= cpus) barrier_yield_every_ = 4;
  if (r.results[3] > 1) {
    // Several hosts: page protections keep this node's view coherent.
    if (Status s = coherence_.Start(client_.get(), this, counters_); !s.ok()) return s;
    coherent_ = true;
  }
  ConfigureAtomics(client_->base() + client_->header()->data_offset,
                   client_->base() + client_->space_size(), coherent_);
  trace_.Open(node_id_);
  if (coherent_ && trace_.enabled()) coherence_.set_trace(&trace_);
  // Node 0's initial values of the shared globals win; the others see them
  // after the barrier below, and check that theirs are at the same address.
  if (node_id_ == 0) {
    globals_.Publish();
    control()->globals_at = GlobalsAt();
  }
  // Every node is present before node 0's main starts.
  SyncBarrier();
  if (control()->globals_at != GlobalsAt()) {
    return Status(EINVAL, "this program's shared globals are at a different address on node 0: "
                          "is it a position-independent executable? Link it with -no-pie "
                          "(dsm-clang does)");
  }
  // From here on the program's malloc and new (dsm-clang's libdsm_heap.a)
  // use the shared heap on this thread.
  OpenProgramHeap(client_->base(), client_->base() + client_->space_size());
  // Node 0 ends the job when it exits, after the destructors of the
  // program's globals: those are registered after this (by constructors,
  // which run after an early start), so they run first.
  if (node_id_ == 0) ::on_exit(OnMasterExit, nullptr);
  return Status::Ok();
}

uint64_t Runtime::GlobalsAt() const {
  return globals_.size() > 0 ? reinterpret_cast<uint64_t>(globals_.begin()) : 0;
}

void Runtime::SetGlobals(char* begin, char* end, char* data_end, char* any_section) {
  if (!started_) globals_.Set(begin, end, data_end, any_section);
}

Runtime::Attach Runtime::HowToAttach() {
  if (const char* s = std::getenv("DSM_SOCKET"); s != nullptr && *s != '\0') return Attach::kSocket;
  // Inside a QEMU guest (no daemon socket, an ivshmem device): the device.
  if (!guest_device_) guest_device_ = FindIvshmemDevice();
  return guest_device_ ? Attach::kGuest : Attach::kEmbedded;
}

void Runtime::EarlyStart() {
  if (started_) return;
  const char* id = std::getenv("DSM_NODE_ID");
  if (HowToAttach() != Attach::kEmbedded && (id == nullptr || std::strcmp(id, "0") != 0)) return;
  if (Status s = Start(); !s.ok()) Fatal("%s", s.message().c_str());
}

void Runtime::EnsureStarted() {
  if (started_) return;
  if (HowToAttach() != Attach::kEmbedded) {
    Fatal("this program was linked without libdsm's link options (-Wl,--wrap=main): link it "
          "through the CMake target dsm::dsm, 'pkg-config --libs dsm', or dsm-clang");
  }
  if (Status s = Start(); !s.ok()) Fatal("%s", s.message().c_str());
}

void Runtime::Main(MainFn main, int argc, char** argv, char** envp) {
  if (Status s = Start(); !s.ok()) Fatal("%s", s.message().c_str());
  if (node_id_ != 0) WorkerLoop();
  // main runs on a stack inside the shared space, so that its locals can be
  // handed to parallel regions. A guard page below it stays inaccessible.
  SpaceHeader* h = client_->header();
  char* stack = client_->base() + h->stack_offset;
  if (::mprotect(stack - kPageSize, kPageSize, PROT_NONE) != 0) {
    Fatal("cannot protect the guard page of the master stack: %s", std::strerror(errno));
  }
  SetStackGuard(reinterpret_cast<uintptr_t>(stack - kPageSize), reinterpret_cast<uintptr_t>(stack),
                h->stack_size, node_id_);
  if (!InstallFaultHandler()) Fatal("cannot install the fault handler: %s", std::strerror(errno));
  g_master.main = main;
  g_master.argc = argc;
  g_master.argv = argv;
  g_master.envp = envp;
  if (::getcontext(&g_master.master) != 0) Fatal("getcontext: %s", std::strerror(errno));
  g_master.master.uc_stack.ss_sp = stack;
  g_master.master.uc_stack.ss_size = h->stack_size;
  g_master.master.uc_link = &g_master.caller;
  ::makecontext(&g_master.master, MasterEntry, 0);
  if (::swapcontext(&g_master.caller, &g_master.master) != 0) Fatal("swapcontext: %s", std::strerror(errno));
  std::exit(g_master.result);
}

void Runtime::Finish(int status) {
  if (finished_ || client_ == nullptr || node_id_ != 0) return;
  finished_ = true;
  finish_status_ = status & 0xff;
  // Past this point the daemon answers every request with kJobFinished:
  // the program's heap calls no longer reach the shared heap.
  CloseProgramHeap();
  // Leak checkers scan the program's data segments at exit, the shared
  // globals' window among them, whose pages the coherence client may have
  // left inaccessible: the job is over, let them be read.
  if (coherent_ && globals_.size() > 0) ::mprotect(globals_.begin(), globals_.size(), PROT_READ);
  trace_.Write();
  auto r = client_->Call(kFinish, {static_cast<uint64_t>(status & 0xff)});
  if (r.status != kOk && r.status != kJobFinished) {
    DSM_LOG_WARN("could not tell the daemon that the job finished: %s",
                 r.status == kDaemonGone ? "daemon went away" : StatusName(r.status));
  }
}

void Runtime::Fatal(const char* fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  DSM_LOG_ERROR("%s", msg);
  trace_.Write();
  std::fflush(nullptr);
  ::_exit(kExitJobFailed);
}

DeviceClient::Reply Runtime::Call(uint32_t command, std::initializer_list<uint64_t> args) {
  auto r = client_->Call(command, args);
  HandleEnd(r);
  return r;
}

DeviceClient::Reply Runtime::CallDaemon(uint32_t command, std::initializer_list<uint64_t> args) {
  return Call(command, args);
}

void Runtime::Fail(const char* what, uint64_t page, int32_t status) {
  if (status < 0) {  // an errno from a system call
    Fatal("%s failed for shared page %" PRIu64 ": %s", what, page, std::strerror(-status));
  }
  Fatal("%s of shared page %" PRIu64 " (address %p) failed: %s", what, page,
        static_cast<void*>(client_->base() + client_->header()->data_offset + page * kPageSize),
        StatusName(status));
}

void Runtime::HandleEnd(const DeviceClient::Reply& r) {
  switch (r.status) {
    case kJobFinished:
      // Node 0 finished: a worker ends quietly. Node 0 itself gets this
      // only from a request made after its Finish (exit-time code): it ends
      // with the status it finished with, never a made-up 0.
      if (node_id_ == 0 && !finished_) Fatal("the job ended before node 0 finished");
      trace_.Write();
      std::fflush(nullptr);
      ::_exit(node_id_ == 0 ? finish_status_ : 0);
    case kNodeLost:
      Fatal("node %" PRIu64 " left the job before it finished; ending", r.results[0]);
    case kHostLost:
      Fatal("lost contact with host %" PRIu64 "'s daemon; ending", r.results[0]);
    case kDaemonGone:
      Fatal("the host daemon went away; ending");
    default:
      return;
  }
}

ControlBlock* Runtime::control() const {
  return reinterpret_cast<ControlBlock*>(client_->base() + client_->header()->control_offset);
}

void Runtime::SyncBarrier() {
  if (num_nodes_ == 1) return;
  uint64_t start = trace_.enabled() ? MonotonicNs() : 0;
  if (host_barrier_) {
    HostBarrierWait();
  } else {
    ReleasePoint();
    auto r = Call(kBarrier, {});
    if (r.status != kOk) Fatal("barrier failed: %s", StatusName(r.status));
    AcquirePoint();
  }
  ++counters_->barriers;
  if (trace_.enabled()) trace_.Add("barrier", start, MonotonicNs());
}

void Runtime::HostBarrierWait() {
  HostBarrier* b = HostBarrierOf(client_->base());
  const uint64_t start = MonotonicNs();
  // The generation cannot move on before this node arrives.
  const uint64_t generation = LoadAcquire(&b->state) >> 1;
  const uint64_t arrived = __atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL);
  const auto nodes = static_cast<uint64_t>(num_nodes_);
  if (arrived > nodes) {
    Fatal("barrier: %" PRIu64 " arrivals counted in a job of %d nodes (the host barrier in shared "
          "memory was overwritten)", arrived, num_nodes_);
  }
  if (arrived == nodes) {
    __atomic_store_n(&b->arrived, uint64_t{0}, __ATOMIC_RELAXED);
    const uint64_t old = __atomic_exchange_n(&b->state, (generation + 1) << 1, __ATOMIC_ACQ_REL);
    if (old & kBarrierSleepers) {
      auto r = Call(kBarrierWake, {});
      if (r.status != kOk) Fatal("barrier: waking the sleeping nodes failed: %s", StatusName(r.status));
    }
  } else {
    const uint64_t deadline = start + barrier_spin_ns_;
    for (uint64_t i = 1;; ++i) {
      uint64_t state = LoadAcquire(&b->state);
      if ((state >> 1) != generation) break;
      if (i % 64 == 0 && MonotonicNs() >= deadline) {
        // Ask to be woken, unless the barrier completes meanwhile.
        if (!(state & kBarrierSleepers) && !CompareExchange(&b->state, &state, state | kBarrierSleepers)) {
          continue;
        }
        auto r = Call(kBarrierSleep, {generation});
        if (r.status != kOk) Fatal("barrier failed: %s", StatusName(r.status));
        continue;
      }
      if (i % barrier_yield_every_ == 0) {
        sched_yield();
      } else {
        CpuRelax();
      }
    }
  }
  counters_->barrier_wait_ns += MonotonicNs() - start;
}

void Runtime::Barrier() {
  EnsureStarted();
  // Outside a parallel region only node 0 runs: a team of one.
  if (!in_parallel_) return;
  SyncBarrier();
}

void Runtime::Parallel(void (*fn)(void*), void* arg) {
  EnsureStarted();
  if (node_id_ != 0) {
    Fatal("dsm_parallel called on node %d: only node 0 starts parallel regions", node_id_);
  }
  if (in_parallel_) Fatal("nested dsm_parallel: parallel regions cannot be nested");
  ControlBlock* cb = control();
  FuncRef ref;
  if (!EncodeFunc(reinterpret_cast<const void*>(fn), &ref)) {
    Fatal("dsm_parallel: function %p is not in any loaded object", reinterpret_cast<void*>(fn));
  }
  cb->fn = ref;
  cb->arg = reinterpret_cast<uint64_t>(arg);
  ++cb->generation;
  ++counters_->parallel_regions;
  in_parallel_ = true;
  SyncBarrier();  // start: workers read the control block after it
  RunRegion(fn, arg);
  SyncBarrier();  // end: the implicit barrier
  in_parallel_ = false;
}

void Runtime::WorkerLoop() {
  for (;;) {
    SyncBarrier();
    ControlBlock* cb = control();
    void* fn = DecodeFunc(cb->fn);
    if (fn == nullptr) Fatal("parallel region: function not found in this process (binaries differ?)");
    ++counters_->parallel_regions;
    in_parallel_ = true;
    RunRegion(reinterpret_cast<void (*)(void*)>(fn), reinterpret_cast<void*>(cb->arg));
    in_parallel_ = false;
    SyncBarrier();
  }
}

void Runtime::RunRegion(void (*fn)(void*), void* arg) {
  if (!trace_.enabled()) {
    fn(arg);
    return;
  }
  uint64_t start = MonotonicNs();
  fn(arg);
  trace_.Add("parallel region", start, MonotonicNs());
}

LockEntry* Runtime::FindLock(uint32_t id, uint64_t* index) {
  return FindLockEntry(client_->base(), id, index);
}

void Runtime::Lock(uint32_t id) {
  EnsureStarted();
  uint64_t index;
  LockEntry* e = FindLock(id, &index);
  const uint64_t me = static_cast<uint64_t>(node_id_) + 1;
  uint64_t wait_start = 0;  // traced: the first failed attempt (no wait, no event)
  if (e != nullptr) {
    for (int i = 0; i < kLockSpin; ++i) {
      uint64_t w = LoadAcquire(&e->word);
      if (w == 0) {
        if (CompareExchange(&e->word, &w, me)) {
          ++counters_->lock_fast;
          if (wait_start != 0) trace_.AddLockWait(wait_start, MonotonicNs(), id, false);
          AcquirePoint();
          return;
        }
      } else if ((w & kLockOwnerMask) == me) {
        Fatal("dsm_lock(%u): this node already holds the lock (locks are not recursive)", id);
      } else if (w & kLockWaiters) {
        break;  // others are queued: join the queue (FIFO)
      }
      if (wait_start == 0 && trace_.enabled()) wait_start = MonotonicNs();
      // With more nodes than cores the holder may be waiting for our core.
      if (i % 16 == 15) sched_yield();
      CpuRelax();
    }
  }
  if (wait_start == 0 && trace_.enabled()) wait_start = MonotonicNs();
  auto r = Call(kLock, {id, index});
  if (trace_.enabled()) trace_.AddLockWait(wait_start, MonotonicNs(), id, true);
  if (r.status == kAlreadyHeld) {
    Fatal("dsm_lock(%u): this node already holds the lock (locks are not recursive)", id);
  }
  if (r.status != kOk) Fatal("dsm_lock(%u) failed: %s", id, StatusName(r.status));
  ++counters_->lock_slow;
  AcquirePoint();
}

void Runtime::Unlock(uint32_t id) {
  EnsureStarted();
  ReleasePoint();
  uint64_t index;
  LockEntry* e = FindLock(id, &index);
  const uint64_t me = static_cast<uint64_t>(node_id_) + 1;
  if (e != nullptr) {
    uint64_t w = LoadAcquire(&e->word);
    if ((w & kLockOwnerMask) != me) Fatal("dsm_unlock(%u): this node does not hold the lock", id);
    if (!(w & kLockWaiters) && CompareExchange(&e->word, &w, uint64_t{0})) return;
  }
  auto r = Call(kUnlock, {id, index});
  if (r.status == kNotHeld) Fatal("dsm_unlock(%u): this node does not hold the lock", id);
  if (r.status != kOk) Fatal("dsm_unlock(%u) failed: %s", id, StatusName(r.status));
  ++counters_->unlock_slow;
}

void* Runtime::AllocChunk(size_t bytes) {
  auto r = Call(kAlloc, {bytes, kPageSize});
  if (r.status != kOk) return nullptr;
  return client_->base() + r.results[0];
}

bool Runtime::FreeChunk(void* chunk) {
  auto offset = static_cast<uint64_t>(static_cast<char*>(chunk) - client_->base());
  return Call(kFree, {offset}).status == kOk;
}

void* Runtime::Malloc(size_t size) {
  EnsureStarted();
  void* p = arena_.Allocate(size);
  if (p != nullptr) ++counters_->mallocs;
  return p;
}

void* Runtime::Calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = Malloc(total);
  if (p != nullptr) std::memset(p, 0, total);
  return p;
}

void* Runtime::AlignedMalloc(size_t size, size_t align) {
  EnsureStarted();
  void* p = arena_.AllocateAligned(size, align);
  if (p != nullptr) ++counters_->mallocs;
  return p;
}

void Runtime::Free(void* p, bool from_program) {
  if (p == nullptr) return;
  EnsureStarted();
  const char* api = from_program ? "free" : "dsm_free";
  char* base = client_->base();
  if (static_cast<char*>(p) < base || static_cast<char*>(p) >= base + client_->space_size()) {
    Fatal("%s(%p): not a pointer into shared memory", api, p);
  }
  switch (arena_.Free(p)) {
    case Arena::FreeResult::kOk:
      ++counters_->frees;
      return;
    case Arena::FreeResult::kDoubleFree:
      Fatal("%s(%p): block freed twice", api, p);
    case Arena::FreeResult::kNotAllocated:
      Fatal("%s(%p): not a block returned by %s", api, p,
            from_program ? "malloc or new (the shared heap)" : "dsm_malloc");
  }
}

}  // namespace dsm::runtime
