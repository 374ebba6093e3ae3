// OpenMP runtime ABI, part 1: parallel regions, team synchronisation
// (barrier, critical, single, master/masked, reduction, flush, copyprivate),
// tasks (run at once) and threadprivate data. See omp_internal.h for the
// model (one thread per node). Each entry point is documented with its
// parameters and when Clang's code calls it; `loc` is the source location
// and `gtid` the value __kmpc_global_thread_num returned (the node id) in
// every entry below, and neither is used unless said.
#include <link.h>
#include <sched.h>
#include <strings.h>

#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "omp_internal.h"
#include "runtime.h"

using dsm::runtime::EncodeFunc;
using dsm::runtime::Runtime;

namespace dsm::runtime::omp {

namespace {

Icvs g_icvs;
Frame g_frame;
OmpShared* g_shared = nullptr;
// Node 0's own arguments of the region it is starting (see RegionEntry).
const uint64_t* g_master_args = nullptr;
// Frames saved by serialized (team of one) regions inside a region.
constexpr int kMaxDepth = 64;
Frame g_saved[kMaxDepth];
int g_depth = 0;

using Micro = void (*)(int32_t*, int32_t*, ...);

// Calls the outlined function with its arguments (pointers or pointer-sized
// values), the way the compiler declared it.
void Invoke(void* fn, int32_t* gtid, int32_t* btid, int argc, const uint64_t* a) {
  auto f = reinterpret_cast<Micro>(fn);
  auto p = [a](int i) { return reinterpret_cast<void*>(a[i]); };
  switch (argc) {
    case 0: f(gtid, btid); return;
    case 1: f(gtid, btid, p(0)); return;
    case 2: f(gtid, btid, p(0), p(1)); return;
    case 3: f(gtid, btid, p(0), p(1), p(2)); return;
    case 4: f(gtid, btid, p(0), p(1), p(2), p(3)); return;
    case 5: f(gtid, btid, p(0), p(1), p(2), p(3), p(4)); return;
    case 6: f(gtid, btid, p(0), p(1), p(2), p(3), p(4), p(5)); return;
    case 7: f(gtid, btid, p(0), p(1), p(2), p(3), p(4), p(5), p(6)); return;
    case 8: f(gtid, btid, p(0), p(1), p(2), p(3), p(4), p(5), p(6), p(7)); return;
    default: break;
  }
  // More than 8: pass all kMaxArgs slots; the callee reads only its own.
  f(gtid, btid, p(0), p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8), p(9), p(10), p(11),
    p(12), p(13), p(14), p(15), p(16), p(17), p(18), p(19), p(20), p(21), p(22), p(23), p(24),
    p(25), p(26), p(27), p(28), p(29), p(30), p(31));
}

// Runs on every node (through Runtime::Parallel) with the shared block.
void RegionEntry(void* arg) {
  auto* s = static_cast<OmpShared*>(arg);
  Runtime& rt = Runtime::Get();
  g_shared = s;
  const int me = rt.node_id();
  if (me >= s->team) return;  // not in this team: straight to the end barrier
  Icvs& ic = g_icvs;
  ic.sched_kind = s->sched_kind;
  ic.sched_chunk = s->sched_chunk;
  ic.sched_read = true;
  ic.max_threads = s->max_threads;
  ic.dynamic = s->dynamic != 0;
  Frame saved = g_frame;
  g_frame = Frame{};
  g_frame.level = s->level;
  g_frame.active = s->active_level;
  g_frame.team = s->team;
  g_frame.thread_num = me;
  void* fn = DecodeFunc(s->microtask);
  if (fn == nullptr) rt.Fatal("OpenMP parallel region: outlined function not found in this process");
  int32_t gtid = me, btid = me;
  // Node 0 passes its own arguments; the others get the shared copy, where
  // addresses of node 0's threadprivate variables point to snapshots.
  Invoke(fn, &gtid, &btid, s->argc, me == 0 && g_master_args != nullptr ? g_master_args : s->args);
  g_frame = saved;
}

// copyin: Clang passes the address of the master's copy of each copyin
// variable (its thread-local storage) as an argument of the region, and each
// thread whose own copy is elsewhere copies from that address. Node 0's
// thread-local storage is private to its process, so for the other nodes
// such an argument is redirected to a snapshot, in shared memory, of the
// whole thread-local block it points into (taken now, as copyin asks: the
// values at the region's start). Other arguments are shared addresses or
// values and stay as they are. Returns the snapshots to free after the
// region (at most one per loaded object with thread-local storage).
struct TlsBlock {
  uintptr_t begin, end;
  void* snapshot;
};
constexpr int kMaxTlsBlocks = 64;
struct TlsBlocks {
  TlsBlock block[kMaxTlsBlocks];
  int count = 0;
};

int CollectTlsBlock(dl_phdr_info* info, size_t, void* out) {
  auto* blocks = static_cast<TlsBlocks*>(out);
  if (info->dlpi_tls_data == nullptr || blocks->count == kMaxTlsBlocks) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    if (info->dlpi_phdr[i].p_type != PT_TLS) continue;
    auto begin = reinterpret_cast<uintptr_t>(info->dlpi_tls_data);
    blocks->block[blocks->count++] = {begin, begin + info->dlpi_phdr[i].p_memsz, nullptr};
  }
  return 0;
}

bool MayBeNodePrivate(uint64_t v) {
  return v >= 4096 && v - device::kFixedBase >= (uint64_t{1} << 44);
}

void RedirectThreadLocals(uint64_t* args, int argc, TlsBlocks* blocks) {
  Runtime& rt = Runtime::Get();
  bool collected = false;
  for (int i = 0; i < argc; ++i) {
    if (!MayBeNodePrivate(args[i])) continue;
    if (!collected) {
      dl_iterate_phdr(CollectTlsBlock, blocks);
      collected = true;
    }
    for (int b = 0; b < blocks->count; ++b) {
      TlsBlock& tls = blocks->block[b];
      if (args[i] < tls.begin || args[i] >= tls.end) continue;
      if (tls.snapshot == nullptr) {
        tls.snapshot = rt.Malloc(tls.end - tls.begin);
        if (tls.snapshot == nullptr) rt.Fatal("OpenMP copyin: no shared memory for a snapshot");
        std::memcpy(tls.snapshot, reinterpret_cast<void*>(tls.begin), tls.end - tls.begin);
      }
      args[i] = reinterpret_cast<uint64_t>(tls.snapshot) + (args[i] - tls.begin);
      break;
    }
  }
}

void PushFrame() {
  if (g_depth == kMaxDepth) Runtime::Get().Fatal("OpenMP: parallel regions nested deeper than %d", kMaxDepth);
  g_saved[g_depth++] = g_frame;
  Frame f;
  f.level = g_frame.level + 1;
  f.active = g_frame.active;
  f.team = 1;
  f.thread_num = 0;
  g_frame = f;
}

void PopFrame() {
  if (g_depth == 0) Runtime::Get().Fatal("OpenMP: end of a serialized region that did not begin");
  g_frame = g_saved[--g_depth];
}

// Locks a region-wide lock and re-reads shared state after it.
struct Held {
  explicit Held(uint32_t id) : id_(id) { Runtime::Get().Lock(id_); }
  ~Held() { Runtime::Get().Unlock(id_); }
  uint32_t id_;
};

uint32_t CriticalId(const void* name) {
  // The critical's name is a common symbol of the program: its place in the
  // binary (loaded object, offset) is the same in every process of the job,
  // also for position-independent programs, unlike a name lookup (the
  // symbol is not in the dynamic symbol table).
  FuncRef ref;
  uint64_t h = reinterpret_cast<uintptr_t>(name);
  if (EncodeFunc(name, &ref)) h = (uint64_t{ref.object} << 48) ^ (uint64_t{ref.name_hash} << 20) ^ ref.offset;
  h *= 0x9e3779b97f4a7c15ull;
  return kCriticalBase | (static_cast<uint32_t>(h >> 40) & kCriticalMask);
}

}  // namespace

Icvs& icvs() { return g_icvs; }
Frame& frame() { return g_frame; }

const Frame* AncestorFrame(int level) {
  if (level == g_frame.level) return &g_frame;
  for (int d = g_depth - 1; d >= 0; --d) {
    if (g_saved[d].level == level) return &g_saved[d];
  }
  return nullptr;  // a region of one thread started by node 0 before this team
}

OmpShared* shared() {
  if (g_shared == nullptr) {
    Runtime& rt = Runtime::Get();
    if (rt.node_id() != 0) rt.Fatal("OpenMP: team state used outside a parallel region");
    g_shared = static_cast<OmpShared*>(rt.Calloc(1, sizeof(OmpShared)));
    if (g_shared == nullptr) rt.Fatal("OpenMP: no shared memory for the team state");
  }
  return g_shared;
}

void ReadEnvironment() {
  Icvs& ic = g_icvs;
  Runtime& rt = Runtime::Get();
  if (ic.max_threads == 0) {
    ic.max_threads = rt.num_nodes();
    if (const char* v = std::getenv("OMP_NUM_THREADS"); v != nullptr && *v != '\0') {
      char* end;
      long n = std::strtol(v, &end, 10);  // a list "4,2": the first level only
      if (end == v || n <= 0) rt.Fatal("OMP_NUM_THREADS='%s' is not a positive number", v);
      if (n > rt.num_nodes()) {
        rt.Fatal("OMP_NUM_THREADS=%ld but the job has %d nodes (one OpenMP thread per node): "
                 "start it with dsm-run -n %ld or lower OMP_NUM_THREADS", n, rt.num_nodes(), n);
      }
      ic.max_threads = static_cast<int32_t>(n);
    }
    if (const char* v = std::getenv("OMP_DYNAMIC"); v != nullptr && *v != '\0') {
      if (strcasecmp(v, "true") == 0 || std::strcmp(v, "1") == 0) {
        ic.dynamic = true;
      } else if (strcasecmp(v, "false") == 0 || std::strcmp(v, "0") == 0) {
        ic.dynamic = false;
      } else {
        rt.Fatal("OMP_DYNAMIC='%s' is not true or false", v);
      }
    }
  }
  if (!ic.sched_read) {
    ic.sched_read = true;
    ic.sched_kind = kSchedStatic;
    ic.sched_chunk = 0;
    if (const char* v = std::getenv("OMP_SCHEDULE"); v != nullptr && *v != '\0') {
      const char* p = v;
      while (*p == ' ') ++p;
      if (std::strncmp(p, "monotonic:", 10) == 0) p += 10;
      if (std::strncmp(p, "nonmonotonic:", 13) == 0) p += 13;
      size_t len = std::strcspn(p, ", ");
      if (len == 6 && std::strncmp(p, "static", 6) == 0) ic.sched_kind = kSchedStatic;
      else if (len == 7 && std::strncmp(p, "dynamic", 7) == 0) ic.sched_kind = kSchedDynamic;
      else if (len == 6 && std::strncmp(p, "guided", 6) == 0) ic.sched_kind = kSchedGuided;
      else if (len == 4 && std::strncmp(p, "auto", 4) == 0) ic.sched_kind = kSchedAuto;
      else rt.Fatal("OMP_SCHEDULE='%s': the kind is not static, dynamic, guided or auto", v);
      p += len;
      while (*p == ' ' || *p == ',') ++p;
      if (*p != '\0') {
        char* end;
        long c = std::strtol(p, &end, 10);
        if (c <= 0 || *end != '\0') rt.Fatal("OMP_SCHEDULE='%s': the chunk is not a positive number", v);
        ic.sched_chunk = static_cast<int32_t>(c);
      }
    }
  }
}

void ResetRegionCounters() {
  OmpShared* s = shared();
  s->singles_claimed = 0;
  s->barrier_arrived = 0;
  s->copy_block = nullptr;
  for (DispatchSlot& d : s->slots) d = DispatchSlot{};
  s->doacross = DoacrossSlot{};
}

void TeamBarrier() {
  Runtime& rt = Runtime::Get();
  if (g_frame.team <= 1) return;
  if (g_frame.team == rt.num_nodes()) {
    rt.Barrier();
    return;
  }
  // A partial team: a counting barrier under a job-wide lock; waiters poll the
  // generation under the same lock (each lock acquires the others' writes).
  OmpShared* s = g_shared;
  uint64_t gen;
  {
    Held h(kTeamBarrierLock);
    gen = s->barrier_generation;
    if (++s->barrier_arrived == static_cast<uint64_t>(g_frame.team)) {
      s->barrier_arrived = 0;
      ++s->barrier_generation;
      return;
    }
  }
  for (;;) {
    sched_yield();
    Held h(kTeamBarrierLock);
    if (s->barrier_generation != gen) return;
  }
}

}  // namespace dsm::runtime::omp

using namespace dsm::runtime::omp;

extern "C" {

using kmp_int32 = int32_t;
using kmpc_micro = void (*)(kmp_int32*, kmp_int32*, ...);

// __kmpc_global_thread_num: the caller's global thread id. Called at the
// start of functions that use OpenMP constructs; the value is passed back as
// `gtid` to the other entry points. Here: the node id.
kmp_int32 __kmpc_global_thread_num(ident_t*) { return Runtime::Get().node_id(); }

// __kmpc_global_num_threads: threads in the job (the nodes).
kmp_int32 __kmpc_global_num_threads(ident_t*) { return Runtime::Get().num_nodes(); }

// __kmpc_bound_thread_num / __kmpc_bound_num_threads: this thread's number in
// its team, and the team's size.
kmp_int32 __kmpc_bound_thread_num(ident_t*) { return g_frame.thread_num; }
kmp_int32 __kmpc_bound_num_threads(ident_t*) { return g_frame.team; }

// __kmpc_in_parallel: nonzero inside an active (team > 1) parallel region.
kmp_int32 __kmpc_in_parallel(ident_t*) { return g_frame.active > 0; }

// __kmpc_begin / __kmpc_end: program start and end (only with -fopenmp
// options that emit them); nothing to do.
void __kmpc_begin(ident_t*, kmp_int32) {}
void __kmpc_end(ident_t*) {}

// __kmpc_ok_to_fork: always yes.
kmp_int32 __kmpc_ok_to_fork(ident_t*) { return 1; }

// __kmpc_push_num_threads(loc, gtid, num_threads): the num_threads clause of
// the next parallel construct this thread encounters. More than the job's
// nodes ends the job with a message; fewer runs the region on nodes
// 0..num_threads-1 while the others wait at its end.
void __kmpc_push_num_threads(ident_t*, kmp_int32, kmp_int32 num_threads) {
  Runtime& rt = Runtime::Get();
  if (num_threads > rt.num_nodes()) {
    rt.Fatal("num_threads(%d) but the job has %d nodes (one OpenMP thread per node): start it "
             "with dsm-run -n %d", num_threads, rt.num_nodes(), num_threads);
  }
  g_icvs.pushed_threads = num_threads > 0 ? num_threads : 0;
}

// __kmpc_push_proc_bind(loc, gtid, proc_bind): the proc_bind clause of the
// next parallel construct. Nodes are processes the system places: ignored.
void __kmpc_push_proc_bind(ident_t*, kmp_int32, int) {}

// __kmpc_fork_call(loc, argc, microtask, args...): a parallel construct.
// Called by the encountering thread; microtask is the outlined body, called
// on every team member as microtask(&gtid, &btid, args...) with the argc
// pointer-sized arguments (addresses of shared variables, firstprivate
// scalars by value). Returns after the region's implicit barrier. The
// arguments are copied into shared memory (addresses of shared variables
// must themselves point to shared memory: main's locals or dsm_malloc'd
// data). On node 0 at level 0 the team is the job's nodes (or the
// num_threads clause / omp_set_num_threads / OMP_NUM_THREADS); nested
// inside a region, the team is the encountering node alone.
void __kmpc_fork_call(ident_t*, kmp_int32 argc, kmpc_micro microtask, ...) {
  Runtime& rt = Runtime::Get();
  if (argc < 0 || argc > kMaxArgs) {
    rt.Fatal("OpenMP parallel region with %d arguments: at most %d are supported", argc, kMaxArgs);
  }
  uint64_t args[kMaxArgs] = {};
  va_list ap;
  va_start(ap, microtask);
  for (int i = 0; i < argc; ++i) args[i] = reinterpret_cast<uint64_t>(va_arg(ap, void*));
  va_end(ap);
  ReadEnvironment();
  int32_t want = g_icvs.pushed_threads > 0 ? g_icvs.pushed_threads : g_icvs.max_threads;
  g_icvs.pushed_threads = 0;
  if (g_frame.active > 0 || rt.node_id() != 0 || want <= 1) {
    // Nested in an active region (or a team of one): run here, a team of one.
    PushFrame();
    int32_t gtid = rt.node_id(), btid = 0;
    Invoke(reinterpret_cast<void*>(microtask), &gtid, &btid, argc, args);
    PopFrame();
    return;
  }
  if (want > rt.num_nodes()) {
    rt.Fatal("a parallel region wants %d threads but the job has %d nodes (one OpenMP thread per "
             "node): start it with dsm-run -n %d", want, rt.num_nodes(), want);
  }
  OmpShared* s = shared();
  if (!EncodeFunc(reinterpret_cast<const void*>(microtask), &s->microtask)) {
    rt.Fatal("OpenMP parallel region: outlined function %p is not in any loaded object",
             reinterpret_cast<void*>(microtask));
  }
  s->argc = argc;
  s->team = want;
  s->sched_kind = g_icvs.sched_kind;
  s->sched_chunk = g_icvs.sched_chunk;
  s->max_threads = g_icvs.max_threads;
  s->dynamic = g_icvs.dynamic ? 1 : 0;
  s->level = g_frame.level + 1;
  s->active_level = g_frame.active + 1;
  std::memcpy(s->args, args, sizeof args);
  TlsBlocks tls;
  RedirectThreadLocals(s->args, argc, &tls);
  ResetRegionCounters();
  g_master_args = args;
  rt.Parallel(RegionEntry, s);
  g_master_args = nullptr;
  for (int b = 0; b < tls.count; ++b) {
    if (tls.block[b].snapshot != nullptr) rt.Free(tls.block[b].snapshot);
  }
}

// __kmpc_fork_teams / __kmpc_push_num_teams: `teams` is not supported.
void __kmpc_fork_teams(ident_t*, kmp_int32, kmpc_micro, ...) {
  Runtime::Get().Fatal("OpenMP 'teams' constructs are not supported by dsmkit");
}
void __kmpc_push_num_teams(ident_t*, kmp_int32, kmp_int32, kmp_int32) {
  Runtime::Get().Fatal("OpenMP 'teams' constructs are not supported by dsmkit");
}

// __kmpc_serialized_parallel / __kmpc_end_serialized_parallel: a parallel
// construct that runs on the encountering thread alone (if(false) clause);
// the compiler calls the outlined function itself between the two.
void __kmpc_serialized_parallel(ident_t*, kmp_int32) { PushFrame(); }
void __kmpc_end_serialized_parallel(ident_t*, kmp_int32) { PopFrame(); }

// __kmpc_barrier: an explicit barrier, or the implicit one at the end of a
// worksharing construct without nowait. All team members.
void __kmpc_barrier(ident_t*, kmp_int32) { TeamBarrier(); }

// __kmpc_critical(loc, gtid, crit) / __kmpc_end_critical: enter and leave a
// critical section. crit is the address of the compiler's common symbol
// `.gomp_critical_user_<name>.var` (unnamed sections share one); it becomes
// a job-wide lock id from the symbol's place in the binary (CriticalId). Two
// names that hash alike only exclude each other more than needed.
void __kmpc_critical(ident_t*, kmp_int32, void* crit) { Runtime::Get().Lock(CriticalId(crit)); }
void __kmpc_end_critical(ident_t*, kmp_int32, void* crit) {
  Runtime::Get().Unlock(CriticalId(crit));
}
// __kmpc_critical_with_hint: critical with a hint(...) clause (ignored).
void __kmpc_critical_with_hint(ident_t* loc, kmp_int32 gtid, void* crit, uint32_t) {
  __kmpc_critical(loc, gtid, crit);
}

// __kmpc_single: start of a single construct, called by every team member;
// 1 for the one that runs the block (the first to arrive), else 0. The k-th
// single of a region is claimed by raising a shared counter to k.
kmp_int32 __kmpc_single(ident_t*, kmp_int32) {
  if (g_frame.team <= 1) return 1;
  uint64_t k = ++g_frame.singles_seen;
  Held h(kSingleLock);
  if (g_shared->singles_claimed >= k) return 0;
  g_shared->singles_claimed = k;
  return 1;
}
// __kmpc_end_single: by the thread that ran the block (the barrier, unless
// nowait, is a separate __kmpc_barrier).
void __kmpc_end_single(ident_t*, kmp_int32) {}

// __kmpc_master / __kmpc_end_master: 1 on the team's thread 0.
kmp_int32 __kmpc_master(ident_t*, kmp_int32) { return g_frame.thread_num == 0; }
void __kmpc_end_master(ident_t*, kmp_int32) {}
// __kmpc_masked(loc, gtid, filter) / __kmpc_end_masked: 1 on thread `filter`.
kmp_int32 __kmpc_masked(ident_t*, kmp_int32, kmp_int32 filter) {
  return g_frame.thread_num == filter;
}
void __kmpc_end_masked(ident_t*, kmp_int32) {}

// __kmpc_reduce_nowait(loc, gtid, num_vars, reduce_size, reduce_data,
// reduce_func, lck) / __kmpc_reduce: the end of a construct with a reduction
// clause, on every team member. Always the critical-section method: returns
// 1 holding a job-wide reduction lock, the caller then combines its private
// copies into the shared variables and calls __kmpc_end_reduce(_nowait),
// which releases the lock (and, for __kmpc_end_reduce, waits at the
// construct's barrier). reduce_data/reduce_func (the tree method) are unused.
kmp_int32 __kmpc_reduce_nowait(ident_t*, kmp_int32, kmp_int32, size_t, void*,
                               void (*)(void*, void*), void*) {
  Runtime::Get().Lock(kReduceLock);
  return 1;
}
void __kmpc_end_reduce_nowait(ident_t*, kmp_int32, void*) { Runtime::Get().Unlock(kReduceLock); }
kmp_int32 __kmpc_reduce(ident_t*, kmp_int32, kmp_int32, size_t, void*, void (*)(void*, void*),
                        void*) {
  Runtime::Get().Lock(kReduceLock);
  return 1;
}
void __kmpc_end_reduce(ident_t*, kmp_int32, void*) {
  Runtime::Get().Unlock(kReduceLock);
  TeamBarrier();
}

// __kmpc_flush: a flush construct. Under release consistency: release this
// node's writes and acquire those released by others, through one job-wide
// lock (lock = acquire, unlock = release).
void __kmpc_flush(ident_t*) {
  Runtime& rt = Runtime::Get();
  rt.Lock(kFlushLock);
  rt.Unlock(kFlushLock);
}

// __kmpc_copyprivate(loc, gtid, cpy_size, cpy_data, cpy_func, didit): the
// end of `single copyprivate(...)`, on every team member. cpy_data is an
// array of cpy_size bytes of pointers to this thread's variables; cpy_func
// (dst, src) assigns each variable of src to dst. didit is 1 on the thread
// that ran the block. Its variables are private to its node, so their bytes
// go through shared memory: their sizes are measured by letting cpy_func
// write into two scratch buffers filled with different bytes (a byte
// written differs from at least one filling).
void __kmpc_copyprivate(ident_t*, kmp_int32, size_t cpy_size, void* cpy_data,
                        void (*cpy_func)(void*, void*), kmp_int32 didit) {
  Runtime& rt = Runtime::Get();
  if (g_frame.team <= 1) return;
  const size_t n = cpy_size / sizeof(void*);
  constexpr size_t kScratch = 64 * 1024;
  if (didit) {
    void** src = static_cast<void**>(cpy_data);
    auto* a = static_cast<unsigned char*>(std::malloc(n * kScratch));
    auto* b = static_cast<unsigned char*>(std::malloc(n * kScratch));
    void** pa = static_cast<void**>(std::malloc(n * sizeof(void*)));
    void** pb = static_cast<void**>(std::malloc(n * sizeof(void*)));
    if (a == nullptr || b == nullptr || pa == nullptr || pb == nullptr) rt.Fatal("copyprivate: out of memory");
    std::memset(a, 0x00, n * kScratch);
    std::memset(b, 0xff, n * kScratch);
    for (size_t i = 0; i < n; ++i) {
      pa[i] = a + i * kScratch;
      pb[i] = b + i * kScratch;
    }
    cpy_func(pa, src);
    cpy_func(pb, src);
    size_t total = 0;
    size_t sizes[kMaxArgs];
    if (n > kMaxArgs) rt.Fatal("copyprivate of %zu variables: at most %d", n, kMaxArgs);
    for (size_t i = 0; i < n; ++i) {
      size_t len = 0;
      for (size_t j = kScratch; j > 0; --j) {
        if (a[i * kScratch + j - 1] != 0x00 || b[i * kScratch + j - 1] != 0xff) {
          len = j;
          break;
        }
      }
      if (len == kScratch) rt.Fatal("copyprivate: a variable larger than %zu bytes", kScratch - 1);
      sizes[i] = (len + 15) & ~size_t{15};
      total += sizes[i];
    }
    // Block: n pointers, then the variables' bytes.
    auto* block = static_cast<unsigned char*>(rt.Malloc(n * sizeof(void*) + total + 16));
    if (block == nullptr) rt.Fatal("copyprivate: no shared memory");
    void** ptrs = reinterpret_cast<void**>(block);
    unsigned char* data = block + ((n * sizeof(void*) + 15) & ~size_t{15});
    for (size_t i = 0; i < n; ++i) {
      std::memcpy(data, a + i * kScratch, sizes[i]);
      ptrs[i] = data;
      data += sizes[i];
    }
    std::free(a);
    std::free(b);
    std::free(pa);
    std::free(pb);
    Held h(kCopyLock);
    g_shared->copy_block = block;
  }
  TeamBarrier();
  void* block;
  {
    Held h(kCopyLock);
    block = g_shared->copy_block;
  }
  if (!didit) cpy_func(cpy_data, block);
  TeamBarrier();
  if (didit) {
    Held h(kCopyLock);
    g_shared->copy_block = nullptr;
    rt.Free(block);
  }
}

// __kmpc_threadprivate_cached(loc, gtid, data, size, cache): the address of
// this thread's copy of threadprivate variable `data`. One thread per node
// and each node's globals are its own: the variable itself.
void* __kmpc_threadprivate_cached(ident_t*, kmp_int32, void* data, size_t, void***) { return data; }
void* __kmpc_threadprivate(ident_t*, kmp_int32, void* data, size_t) { return data; }
// __kmpc_threadprivate_register: constructors of C++ threadprivate objects;
// the original object (already constructed) is the node's copy.
void __kmpc_threadprivate_register(ident_t*, void*, void*, void*, void*) {}

}  // extern "C"
