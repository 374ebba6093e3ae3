// dsm_cluster_node: the node program of dsm_cluster_bench. dsm-run starts
// it as every node of a real job (real dsm-run, real dsm-hostd daemons
// joined over TCP, this program linked with libdsm like any user program);
// the benchmark drives node 0 through dsm-run's stdin and stdout with the
// line protocol of cluster_protocol.h.
//
//   dsm-run --hosts H -n N -- dsm_cluster_node CASE [ARGS...]
//
// Node 0 sets the case up, answers "ready", then runs one batch per "run n"
// line: a dsm_parallel region in which every node does its part of n
// operations and times its own part (CLOCK_MONOTONIC around the measured
// code only; setup steps between operations, such as making pages stale
// again, are outside). Each node leaves its times in a result slot of its
// own in shared memory; after the region node 0 combines them into one
// reply (what each case reports is written at its batch function below).
// Cases check what they can (counter totals, the bytes of every node, the
// values a remote read returns, matrix entries) and answer "error" when
// something is wrong.
//
// Cases (the benchmark passes the right job shape; see the checks in Setup):
//   lock_fast                 1 node: dsm_lock+dsm_unlock (one-host fast path)
//   lock_remote               2 hosts x 1: acquire+release of a lock last held
//                             by the other host, both directions in turn
//   lock_cached [K]           2 hosts x 1: node K (default: the last)
//                             re-acquires a lock whose token its host keeps
//   lock_pingpong             2 hosts x 1: the hosts take a lock in turn
//   lock_counter              H hosts x M: every node increments a counter
//                             under one lock
//   fault read|write R P      2 hosts x 1: the last node touches pages homed
//                             on host 0 that its host holds stale, R
//                             consecutive pages per operation, out of P
//   first_touch W             H hosts x 1: node W writes pages nobody
//                             touched before (one page per operation)
//   barrier D                 H hosts x 1: dsm_barrier, each node first
//                             writing D pages homed on the next host
//   false_sharing F           2 hosts x 1: F pages written byte-interleaved,
//                             each node its bytes under its own lock, then a
//                             barrier
//   matmul cold|warm DIM      2 hosts x 1: C = A x B, rows split
//
// Single-threaded (the node's main thread), as libdsm requires.
#include <dsm/dsm.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "cluster_protocol.h"
#include "matmul_kernel.h"

namespace {

constexpr size_t kPage = 4096;
constexpr unsigned kLockId = 7;
constexpr unsigned kFalseSharingLockBase = 100;  // node k uses lock 100 + k
constexpr uint64_t kPageStride = 1237;           // odd: a permutation of a power-of-two region
constexpr uint64_t kRunStride = 13;              // the same for runs

double WallNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Accumulates the wall-clock and CPU time of the intervals it is started and
// stopped around.
struct Timer {
  double wall = 0, cpu = 0, wall0 = 0, cpu0 = 0;
  void Start() {
    cpu0 = CpuNow();
    wall0 = WallNow();
  }
  void Stop() {
    wall += WallNow() - wall0;
    cpu += CpuNow() - cpu0;
  }
};

enum class Kind {
  kLockFast,
  kLockRemote,
  kLockCached,
  kLockPingPong,
  kLockCounter,
  kFault,
  kFirstTouch,
  kBarrier,
  kFalseSharing,
  kMatmul
};

// What one node leaves for node 0 after a region; one per node, each on a
// page of its own.
struct NodeResult {
  double busy_s;  // wall time of the node's measured intervals
  double cpu_s;   // the node's thread CPU time during them
  double ops;     // operations it measured
  double aux[3];  // case-specific
  int host;       // DSM_HOST_ID (0 without --hosts)
  char error[200];
};
static_assert(sizeof(NodeResult) <= kPage);

// The case and its state, in shared memory (node 0 allocates it; every
// region reads it after the region's start, an acquire). Only node 0 writes
// it, between regions.
struct Control {
  Kind kind;
  bool setup;     // the current region is the setup region
  uint64_t n;     // operations of the current batch
  uint64_t done;  // operations (lock_pingpong, lock_counter: hand-offs,
                  // increments; fault: rounds; false_sharing, matmul: passes)
                  // completed by earlier batches
  int nodes;
  // Parameters.
  bool write;             // fault
  uint64_t run_pages;     // fault
  uint64_t region_pages;  // fault, barrier (per node), false_sharing
  bool cold;              // matmul
  size_t dim;             // matmul
  int writer;             // first_touch, lock_cached: the node that measures
  // Data.
  char* region;  // page-aligned
  uint64_t* word;
  double *a, *b, *c;
  char* results;  // nodes pages
};

NodeResult& ResultOf(Control* c, int node) {
  return *reinterpret_cast<NodeResult*>(c->results + static_cast<size_t>(node) * kPage);
}

void SetError(NodeResult* r, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void SetError(NodeResult* r, const char* fmt, ...) {
  if (r->error[0] != '\0') return;  // the first error wins
  int len = std::snprintf(r->error, sizeof r->error, "node %d: ", dsm_node_id());
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(r->error + len, sizeof r->error - static_cast<size_t>(len), fmt, ap);
  va_end(ap);
}

// `pages` whole pages of shared memory, page-aligned, none of them touched
// yet (the allocator's block header sits in the page before): under
// first-touch their homes are the hosts of their first writers.
char* AllocPages(size_t pages) {
  auto* p = static_cast<char*>(dsm_malloc((pages + 1) * kPage));
  if (p == nullptr) return nullptr;
  auto addr = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<char*>((addr + kPage) & ~(kPage - 1));
}

uint64_t* PageWord(char* region, uint64_t page, size_t index = 0) {
  return reinterpret_cast<uint64_t*>(region + page * kPage) + index;
}

// ---------------------------------------------------------------------------
// The bodies: what every node runs in a region. `r` is the node's result.

void LockFastBody(Control* c, NodeResult* r) {
  Timer t;
  t.Start();
  for (uint64_t i = 0; i < c->n; ++i) {
    dsm_lock(kLockId);
    dsm_unlock(kLockId);
  }
  t.Stop();
  r->busy_s = t.wall;
  r->cpu_s = t.cpu;
  r->ops = static_cast<double>(c->n);
}

// Node 0 then node 1 take the lock, a barrier after each: every acquire
// finds the token on the other host. The setup region leaves it on host 1.
void LockRemoteBody(Control* c, NodeResult* r) {
  const int me = dsm_node_id();
  if (c->setup) {
    if (me == 1) {
      dsm_lock(kLockId);
      dsm_unlock(kLockId);
    }
    return;
  }
  Timer t;
  for (uint64_t i = 0; i < c->n; ++i) {
    for (int turn = 0; turn < 2; ++turn) {
      if (me == turn) {
        t.Start();
        dsm_lock(kLockId);
        dsm_unlock(kLockId);
        t.Stop();
      }
      dsm_barrier();
    }
  }
  r->busy_s = t.wall;
  r->cpu_s = t.cpu;
  r->ops = static_cast<double>(c->n);
}

// Node c->writer re-acquires the lock; its first acquire (untimed) brings
// the token to its host.
void LockCachedBody(Control* c, NodeResult* r) {
  if (dsm_node_id() != c->writer) return;
  dsm_lock(kLockId);
  dsm_unlock(kLockId);
  if (c->setup) return;
  Timer t;
  t.Start();
  for (uint64_t i = 0; i < c->n; ++i) {
    dsm_lock(kLockId);
    dsm_unlock(kLockId);
  }
  t.Stop();
  r->busy_s = t.wall;
  r->cpu_s = t.cpu;
  r->ops = static_cast<double>(c->n);
}

// Hand-off t (counted over the job) belongs to node t % 2. A node that takes
// the lock out of turn lets it go and yields its CPU (2 cores, 4 processes).
void LockPingPongBody(Control* c, NodeResult* r) {
  if (c->setup) return;
  const int me = dsm_node_id();
  const uint64_t first = c->done, end = c->done + c->n;
  uint64_t mine = 0;
  for (uint64_t t = first; t < end; ++t) mine += (t % 2 == static_cast<uint64_t>(me));
  uint64_t taken = 0, wasted = 0;
  Timer t;
  t.Start();
  while (taken < mine) {
    dsm_lock(kLockId);
    uint64_t turn = *c->word;
    bool ours = turn % 2 == static_cast<uint64_t>(me);
    if (ours) {
      *c->word = turn + 1;
      ++taken;
    }
    dsm_unlock(kLockId);
    if (!ours) {
      ++wasted;
      sched_yield();
    }
    if (turn >= end) {
      SetError(r, "turn counter %llu passed the batch's end %llu", static_cast<unsigned long long>(turn),
               static_cast<unsigned long long>(end));
      break;
    }
  }
  t.Stop();
  r->busy_s = t.wall;
  r->cpu_s = t.cpu;
  r->ops = static_cast<double>(mine);
  r->aux[0] = static_cast<double>(wasted);
}

void LockCounterBody(Control* c, NodeResult* r) {
  if (c->setup) return;
  Timer t;
  t.Start();
  for (uint64_t i = 0; i < c->n; ++i) {
    dsm_lock(kLockId);
    ++*c->word;
    dsm_unlock(kLockId);
  }
  t.Stop();
  r->busy_s = t.wall;
  r->cpu_s = t.cpu;
  r->ops = static_cast<double>(c->n);
}

// Operations per round of the fault case: every page of the region once.
uint64_t FaultOpsPerRound(const Control* c) { return c->region_pages / c->run_pages; }

// Runs (of run_pages pages) a batch of n pages takes: n rounded up.
uint64_t FaultRuns(const Control* c) { return (c->n + c->run_pages - 1) / c->run_pages; }

// First page of operation `op` of a round: single pages in a stride
// permutation, runs in a permutation of the runs, so that an operation never
// continues where the previous one ended (that would be read-ahead's
// sequential case).
uint64_t FaultFirstPage(const Control* c, uint64_t op) {
  if (c->run_pages == 1) return (op * kPageStride) & (c->region_pages - 1);
  return ((op * kRunStride) % FaultOpsPerRound(c)) * c->run_pages;
}

// Word 0 of every page holds the number of node 0's writes to it: 1 after
// setup, then one more per round. Node 0 writes every page (so the reader's
// host holds all of them stale after the barrier), then the reader touches
// them: a load of word 0 (checked) or a store to word 8.
void FaultBody(Control* c, NodeResult* r) {
  const int me = dsm_node_id(), reader = c->nodes - 1;
  const uint64_t pages = c->region_pages;
  if (c->setup) {
    if (me == reader) {  // the reader's host learns every home and fills its memory
      for (uint64_t p = 0; p < pages; ++p) (void)__atomic_load_n(PageWord(c->region, p), __ATOMIC_RELAXED);
    }
    return;
  }
  const uint64_t per_round = FaultOpsPerRound(c), runs = FaultRuns(c);
  uint64_t round = c->done;
  Timer t;
  for (uint64_t done = 0; done < runs; ++round) {
    if (me == 0) {
      for (uint64_t p = 0; p < pages; ++p) ++*PageWord(c->region, p);
    }
    dsm_barrier();
    const uint64_t k = std::min(per_round, runs - done);
    if (me == reader) {
      const uint64_t expect = round + 2;
      for (uint64_t op = 0; op < k; ++op) {
        const uint64_t first = FaultFirstPage(c, op);
        uint64_t wrong = UINT64_MAX, seen = 0;
        t.Start();
        if (c->write) {
          for (uint64_t p = first; p < first + c->run_pages; ++p) {
            __atomic_store_n(PageWord(c->region, p, 8), round, __ATOMIC_RELAXED);
          }
        } else {
          for (uint64_t p = first; p < first + c->run_pages; ++p) {
            uint64_t v = __atomic_load_n(PageWord(c->region, p), __ATOMIC_RELAXED);
            if (v != expect) wrong = p, seen = v;
          }
        }
        t.Stop();
        if (wrong != UINT64_MAX) {
          SetError(r, "page %llu read %llu, expected %llu", static_cast<unsigned long long>(wrong),
                   static_cast<unsigned long long>(seen), static_cast<unsigned long long>(expect));
        }
      }
      r->ops += static_cast<double>(k * c->run_pages);
    }
    done += k;
    dsm_barrier();
  }
  r->busy_s = t.wall;
  r->cpu_s = t.cpu;
}

// The writer's first write to pages nobody touched yet (they become homed
// on its host): fresh regions of up to kFirstTouchChunk pages, allocated
// between the timed loops.
constexpr uint64_t kFirstTouchChunk = 4096;

void FirstTouchBody(Control* c, NodeResult* r) {
  if (c->setup || dsm_node_id() != c->writer) return;
  Timer t;
  for (uint64_t left = c->n; left > 0;) {
    const uint64_t k = std::min(left, kFirstTouchChunk);
    char* region = AllocPages(k);
    if (region == nullptr) {
      SetError(r, "dsm_malloc of %llu pages failed", static_cast<unsigned long long>(k));
      break;
    }
    t.Start();
    for (uint64_t p = 0; p < k; ++p) *PageWord(region, p) = p;
    t.Stop();
    left -= k;
    r->ops += static_cast<double>(k);
  }
  r->busy_s = t.wall;
  r->cpu_s = t.cpu;
}

// Node k writes word k of every page of the next node's block (homed on
// that node's host: the setup region has each node touch its own block
// first), then enters the barrier.
void BarrierBody(Control* c, NodeResult* r) {
  const int me = dsm_node_id();
  const uint64_t pages = c->region_pages;
  if (c->setup) {
    for (uint64_t p = 0; p < pages; ++p) *PageWord(c->region, static_cast<uint64_t>(me) * pages + p) = 0;
    return;
  }
  char* block = c->region + static_cast<size_t>((me + 1) % c->nodes) * pages * kPage;
  Timer t, in_barrier;
  t.Start();
  for (uint64_t i = 0; i < c->n; ++i) {
    for (uint64_t p = 0; p < pages; ++p) *PageWord(block, p, static_cast<size_t>(me)) = i;
    in_barrier.Start();
    dsm_barrier();
    in_barrier.Stop();
  }
  t.Stop();
  r->busy_s = t.wall;
  r->cpu_s = t.cpu;
  r->ops = static_cast<double>(c->n);
  r->aux[0] = in_barrier.wall;
}

uint8_t FalseSharingByte(uint64_t pass, int node) {
  return static_cast<uint8_t>(pass * 7 + static_cast<uint64_t>(node) + 1);
}

void FalseSharingBody(Control* c, NodeResult* r) {
  if (c->setup) return;
  const int me = dsm_node_id(), nodes = c->nodes;
  const size_t bytes = c->region_pages * kPage;
  Timer t;
  t.Start();
  for (uint64_t i = 0; i < c->n; ++i) {
    const uint8_t v = FalseSharingByte(c->done + i + 1, me);
    dsm_lock(kFalseSharingLockBase + static_cast<unsigned>(me));
    for (size_t b = static_cast<size_t>(me); b < bytes; b += static_cast<size_t>(nodes)) {
      reinterpret_cast<volatile uint8_t*>(c->region)[b] = v;
    }
    dsm_unlock(kFalseSharingLockBase + static_cast<unsigned>(me));
    dsm_barrier();
  }
  t.Stop();
  r->busy_s = t.wall;
  r->cpu_s = t.cpu;
  r->ops = static_cast<double>(c->n);
}

// Rows [lo, hi) of node `me`: an even split.
void RowsOf(const Control* c, int me, size_t* lo, size_t* hi) {
  *lo = c->dim * static_cast<size_t>(me) / static_cast<size_t>(c->nodes);
  *hi = c->dim * static_cast<size_t>(me + 1) / static_cast<size_t>(c->nodes);
}

void InitMatrices(Control* c, uint64_t seed) {
  for (size_t i = 0; i < c->dim; ++i) {
    for (size_t j = 0; j < c->dim; ++j) {
      c->a[i * c->dim + j] = dsm_cluster::InitialA(i, j, seed);
      c->b[i * c->dim + j] = dsm_cluster::InitialB(i, j, seed);
    }
  }
}

// Cold: node 0 writes A and B anew (seed = pass number), so that the other
// host fetches them again. Warm: the same matrices every pass; the setup
// region made one untimed pass. A pass is timed from the barrier after the
// initialisation to the barrier after the multiply.
void MatmulBody(Control* c, NodeResult* r) {
  const int me = dsm_node_id();
  size_t lo, hi;
  RowsOf(c, me, &lo, &hi);
  if (c->setup) {
    // Each node touches its rows of C first: they are homed on its host.
    std::memset(c->c + lo * c->dim, 0, (hi - lo) * c->dim * sizeof(double));
    if (!c->cold) {
      dsm_barrier();
      dsm_cluster::MultiplyRows(c->a, c->b, c->c, c->dim, lo, hi);
    }
    return;
  }
  Timer t;
  for (uint64_t pass = 0; pass < c->n; ++pass) {
    if (c->cold && me == 0) InitMatrices(c, c->done + pass + 1);
    dsm_barrier();
    t.Start();
    dsm_cluster::MultiplyRows(c->a, c->b, c->c, c->dim, lo, hi);
    dsm_barrier();
    t.Stop();
  }
  r->busy_s = t.wall;
  r->cpu_s = t.cpu;
  r->ops = static_cast<double>(c->n);
}

void Body(void* arg) {
  auto* c = static_cast<Control*>(arg);
  NodeResult* r = &ResultOf(c, dsm_node_id());
  NodeResult fresh{};
  const char* host = std::getenv("DSM_HOST_ID");
  fresh.host = host != nullptr ? std::atoi(host) : 0;
  *r = fresh;
  switch (c->kind) {
    case Kind::kLockFast:
      return LockFastBody(c, r);
    case Kind::kLockRemote:
      return LockRemoteBody(c, r);
    case Kind::kLockCached:
      return LockCachedBody(c, r);
    case Kind::kLockPingPong:
      return LockPingPongBody(c, r);
    case Kind::kLockCounter:
      return LockCounterBody(c, r);
    case Kind::kFault:
      return FaultBody(c, r);
    case Kind::kFirstTouch:
      return FirstTouchBody(c, r);
    case Kind::kBarrier:
      return BarrierBody(c, r);
    case Kind::kFalseSharing:
      return FalseSharingBody(c, r);
    case Kind::kMatmul:
      return MatmulBody(c, r);
  }
}

// ---------------------------------------------------------------------------
// Node 0: setup, batches, replies.

// Runs one region; "" or the first node's error.
std::string RunRegion(Control* c) {
  dsm_parallel(Body, c);
  for (int k = 0; k < c->nodes; ++k) {
    if (ResultOf(c, k).error[0] != '\0') return ResultOf(c, k).error;
  }
  return "";
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Parses the case, allocates its data and runs the setup region. "" or an error.
std::string Setup(int argc, char** argv, Control* c) {
  const std::string kind = argc > 1 ? argv[1] : "";
  const int nodes = dsm_num_nodes();
  auto arg = [&](int i) -> std::string { return argc > i ? argv[i] : ""; };
  auto number = [&](int i) -> uint64_t { return std::strtoull(arg(i).c_str(), nullptr, 10); };
  c->nodes = nodes;
  size_t need_nodes = 2;  // at least
  bool one_per_host = true, several_hosts = true;
  if (kind == "lock_fast") {
    c->kind = Kind::kLockFast;
    need_nodes = 1;
    several_hosts = false;
  } else if (kind == "first_touch") {
    c->kind = Kind::kFirstTouch;
    c->writer = static_cast<int>(number(2));
    if (arg(2).empty()) return "usage: first_touch WRITER_NODE";
    need_nodes = static_cast<size_t>(c->writer) + 1;
    several_hosts = false;
  } else if (kind == "lock_remote") {
    c->kind = Kind::kLockRemote;
  } else if (kind == "lock_cached") {
    c->kind = Kind::kLockCached;
    c->writer = arg(2).empty() ? nodes - 1 : static_cast<int>(number(2));
    if (c->writer >= nodes) return "usage: lock_cached [NODE]";
  } else if (kind == "lock_pingpong") {
    c->kind = Kind::kLockPingPong;
  } else if (kind == "lock_counter") {
    c->kind = Kind::kLockCounter;
    one_per_host = false;
  } else if (kind == "fault") {
    c->kind = Kind::kFault;
    c->write = arg(2) == "write";
    c->run_pages = number(3);
    c->region_pages = number(4);
    if ((arg(2) != "read" && arg(2) != "write") || !IsPowerOfTwo(c->run_pages) ||
        !IsPowerOfTwo(c->region_pages) || c->region_pages < c->run_pages) {
      return "usage: fault read|write RUN_PAGES REGION_PAGES (powers of two, run <= region)";
    }
  } else if (kind == "barrier") {
    c->kind = Kind::kBarrier;
    c->region_pages = number(2);
    if (arg(2).empty()) return "usage: barrier DIRTY_PAGES";
    // Dirty pages are homed on the next host; without them any placement.
    if (c->region_pages == 0) one_per_host = several_hosts = false;
  } else if (kind == "false_sharing") {
    c->kind = Kind::kFalseSharing;
    c->region_pages = number(2);
    if (c->region_pages == 0) return "usage: false_sharing PAGES";
  } else if (kind == "matmul") {
    c->kind = Kind::kMatmul;
    c->cold = arg(2) == "cold";
    c->dim = number(3);
    if ((arg(2) != "cold" && arg(2) != "warm") || c->dim == 0 || c->dim * sizeof(double) % kPage != 0) {
      return "usage: matmul cold|warm DIM (DIM a multiple of 512)";
    }
  } else {
    return "unknown case '" + kind + "'";
  }
  if (static_cast<size_t>(nodes) < need_nodes)
    return kind + " needs at least " + std::to_string(need_nodes) + " nodes";
  c->results = AllocPages(static_cast<size_t>(nodes));
  c->word = reinterpret_cast<uint64_t*>(AllocPages(1));
  if (c->results == nullptr || c->word == nullptr) return "dsm_malloc failed";
  *c->word = 0;
  if (c->kind == Kind::kFault || c->kind == Kind::kFalseSharing) {
    c->region = AllocPages(c->region_pages);
    if (c->region == nullptr) return "dsm_malloc of the region failed";
    for (uint64_t p = 0; p < c->region_pages; ++p) *PageWord(c->region, p) = 1;  // homed on host 0
  } else if (c->kind == Kind::kBarrier && c->region_pages > 0) {
    c->region = AllocPages(c->region_pages * static_cast<size_t>(nodes));
    if (c->region == nullptr) return "dsm_malloc of the region failed";
  } else if (c->kind == Kind::kMatmul) {
    const size_t pages = c->dim * c->dim * sizeof(double) / kPage;
    c->a = reinterpret_cast<double*>(AllocPages(pages));
    c->b = reinterpret_cast<double*>(AllocPages(pages));
    c->c = reinterpret_cast<double*>(AllocPages(pages));
    if (c->a == nullptr || c->b == nullptr || c->c == nullptr) return "dsm_malloc of the matrices failed";
    InitMatrices(c, 0);  // homed on host 0
  }
  c->setup = true;
  if (std::string e = RunRegion(c); !e.empty()) return "setup: " + e;
  c->setup = false;
  if (one_per_host) {
    for (int k = 1; k < nodes; ++k) {
      if (ResultOf(c, k).host == ResultOf(c, k - 1).host) {
        return kind + " wants one node per host; nodes " + std::to_string(k - 1) + " and " +
               std::to_string(k) + " share host " + std::to_string(ResultOf(c, k).host);
      }
    }
  }
  if (several_hosts && ResultOf(c, nodes - 1).host == 0) return kind + " wants several hosts";
  return "";
}

// Runs a batch of n operations and fills the reply. "" or an error.
std::string Batch(Control* c, uint64_t n, double* time_s, std::map<std::string, double>* counters) {
  c->n = n;
  if (std::string e = RunRegion(c); !e.empty()) return e;
  const int nodes = c->nodes;
  double max_busy = 0, min_busy = 1e300, sum_busy = 0, sum_cpu = 0, sum_ops = 0;
  for (int k = 0; k < nodes; ++k) {
    const NodeResult& r = ResultOf(c, k);
    max_busy = std::max(max_busy, r.busy_s);
    min_busy = std::min(min_busy, r.busy_s);
    sum_busy += r.busy_s;
    sum_cpu += r.cpu_s;
    sum_ops += r.ops;
  }
  const double dn = static_cast<double>(n);
  // node_cpu: CPU time per operation of the nodes that measured, summed
  // over them; close to Time when they spun, lower when they slept.
  (*counters)["node_cpu"] = sum_cpu / dn;
  switch (c->kind) {
    case Kind::kLockFast:
    case Kind::kLockCached:
    case Kind::kFirstTouch:
      *time_s = max_busy;  // the one node that measured
      break;
    case Kind::kLockRemote: {
      // Time: the mean of the two directions.
      *time_s = sum_busy / 2;
      (*counters)["to_h0_us"] = ResultOf(c, 0).busy_s / dn * 1e6;
      (*counters)["to_h1_us"] = ResultOf(c, 1).busy_s / dn * 1e6;
      break;
    }
    case Kind::kLockPingPong: {
      // An operation is one hand-off; both nodes run until the last one.
      *time_s = max_busy;
      double wasted = ResultOf(c, 0).aux[0] + ResultOf(c, 1).aux[0];
      (*counters)["wasted_per_op"] = wasted / dn;
      if (*c->word != c->done + n)
        return "turn counter " + std::to_string(*c->word) + ", expected " + std::to_string(c->done + n);
      c->done += n;
      break;
    }
    case Kind::kLockCounter: {
      // An operation is one increment by every node; Time is per increment
      // of the slowest node, min_node_us that of the fastest.
      *time_s = max_busy;
      (*counters)["max_node_us"] = max_busy / dn * 1e6;
      (*counters)["min_node_us"] = min_busy / dn * 1e6;
      (*counters)["job_us"] = max_busy / (dn * nodes) * 1e6;  // per increment, all nodes together
      const uint64_t expect = c->done + n * static_cast<uint64_t>(nodes);
      if (*c->word != expect)
        return "counter " + std::to_string(*c->word) + ", expected " + std::to_string(expect);
      c->done = expect;
      break;
    }
    case Kind::kFault: {
      // An operation is one page. The reader touches whole runs (n rounded
      // up to a multiple of the run); the time is scaled back to n pages.
      const double pages = sum_ops;
      if (pages < dn) return "the reader touched " + std::to_string(pages) + " pages of " + std::to_string(n);
      *time_s = sum_busy * dn / pages;
      (*counters)["node_cpu"] = sum_cpu / pages;
      c->done += (FaultRuns(c) + FaultOpsPerRound(c) - 1) / FaultOpsPerRound(c);  // rounds
      break;
    }
    case Kind::kBarrier: {
      *time_s = max_busy;
      double in_barrier = 0;
      for (int k = 0; k < nodes; ++k) in_barrier += ResultOf(c, k).aux[0];
      (*counters)["in_barrier_us"] = in_barrier / nodes / dn * 1e6;
      break;
    }
    case Kind::kFalseSharing: {
      *time_s = max_busy;
      const uint64_t last = c->done + n;
      for (size_t b = 0; b < c->region_pages * kPage; ++b) {
        const uint8_t want = FalseSharingByte(last, static_cast<int>(b % static_cast<size_t>(nodes)));
        const uint8_t got = reinterpret_cast<volatile uint8_t*>(c->region)[b];
        if (got != want) {
          return "byte " + std::to_string(b) + " is " + std::to_string(got) + ", expected " +
                 std::to_string(want);
        }
      }
      c->done = last;
      break;
    }
    case Kind::kMatmul: {
      *time_s = max_busy;
      const uint64_t seed = c->cold ? c->done + n : 0;
      const size_t d = c->dim;
      const size_t rows[] = {0, d / 2 - 1, d / 2, d - 1, d / 3, 2 * d / 3 + 1};
      for (size_t i : rows) {
        for (size_t j : {size_t{0}, d / 2, d - 1, i % d}) {
          const double want = dsm_cluster::ExpectedC(d, i, j, seed), got = c->c[i * d + j];
          if (got != want) {
            return "C[" + std::to_string(i) + "][" + std::to_string(j) + "] = " + std::to_string(got) +
                   ", expected " + std::to_string(want);
          }
        }
      }
      c->done += n;
      break;
    }
  }
  return "";
}

void Reply(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  auto* c = static_cast<Control*>(dsm_calloc(1, sizeof(Control)));
  if (c == nullptr) {
    Reply(dsm_cluster::FormatError("dsm_calloc of the control block failed"));
    return 1;
  }
  if (std::string e = Setup(argc, argv, c); !e.empty()) {
    Reply(dsm_cluster::FormatError(e));
    return 2;
  }
  Reply(dsm_cluster::FormatReady());
  char line[256];
  while (std::fgets(line, sizeof line, stdin) != nullptr) {
    std::string command(line);
    if (!command.empty() && command.back() == '\n') command.pop_back();
    if (command == dsm_cluster::kEnd) return 0;
    const uint64_t n = dsm_cluster::ParseRun(command);
    if (n == 0) {
      Reply(dsm_cluster::FormatError("bad command '" + command + "'"));
      return 2;
    }
    double time_s = 0;
    std::map<std::string, double> counters;
    if (std::string e = Batch(c, n, &time_s, &counters); !e.empty()) {
      Reply(dsm_cluster::FormatError(e));
      return 1;
    }
    Reply(dsm_cluster::FormatOk(time_s, counters));
  }
  return 1;  // stdin closed without "end": the benchmark went away
}
