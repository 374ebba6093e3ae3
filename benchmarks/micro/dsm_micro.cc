// dsm_micro: dsmkit's basic costs, each next to its physical reference,
// measured in the same binary (docs/performance.md has a run and its
// reading).
//
//   rtt/...       one register round trip (kNop through a daemon process)
//                 vs an eventfd ping-pong between two processes; both with
//                 the two processes on one CPU and on two CPUs
//   lock/...      uncontended lock+unlock: the runtime's fast path (embedded
//                 one-node job), the daemon path (kLock/kUnlock without a
//                 lock table entry) vs a process-shared pthread mutex
//   barrier/...   kBarrier with 2 and 4 nodes (node processes) vs a
//                 process-shared pthread barrier with 2 and 4 processes
//   malloc64/...  dsm_malloc/dsm_free of 64 bytes vs glibc malloc/free
//
// Every measured loop runs in a forked driver process (process_group.h); the
// benchmark process itself never maps a shared space. The reported time is
// the driver's own wall-clock time per operation (manual time). Counters:
//   drv_cpu  CPU time the driver process used per operation (it shows when a
//            side spins instead of blocking)
//   x_ref    dsmkit time / reference time (dsmkit cases; the reference ran
//            earlier in the same process)
// The label names the reference of each dsmkit case.
//
// No wrap of main (-Wl,--wrap=main): nodes are driven explicitly through
// DeviceClient, and the embedded runtime starts on first use of the API.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <string>

#include "device_client.h"
#include "dsm/common/fd.h"
#include "dsm/device/protocol.h"
#include "dsm/dsm.h"
#include "dsm/hostd/daemon.h"
#include "process_group.h"
#include "runtime.h"

namespace {

namespace dev = dsm::device;
using dsm::runtime::DeviceClient;
using dsm_bench::BatchTime;
using dsm_bench::DriverOps;
using dsm_bench::kAnyCpu;
using dsm_bench::ProcessGroup;

constexpr int kConnectTimeoutMs = 10000;
constexpr uint32_t kLockId = 42;

// ---------------------------------------------------------------------------
// Placement of the two sides of a round trip.
enum class Placement { kSameCpu, kCrossCpu, kAny };

struct Cpus {
  int driver;
  int other;  // the daemon or the ping-pong peer
};

Cpus CpusOf(Placement p) {
  switch (p) {
    case Placement::kSameCpu: return {0, 0};
    case Placement::kCrossCpu: return {0, 1};
    case Placement::kAny: break;
  }
  return {kAnyCpu, kAnyCpu};
}

std::string CheckPlacement(Placement p) {
  if (p == Placement::kCrossCpu && dsm_bench::UsableCpus() < 2) return "needs 2 usable CPUs";
  return "";
}

// ---------------------------------------------------------------------------
// One benchmark: its name, the reference it is compared with ("" for a
// reference), and the operations the driver runs before measuring.
struct Case {
  std::string name;
  std::string reference;
  uint64_t warmup;
};

// ns per operation of the references measured so far, by name.
std::map<std::string, double>& ReferenceNs() {
  static std::map<std::string, double> m;
  return m;
}

// Builds the processes of one run and starts its driver; "" or an error.
using Builder = std::function<std::string(ProcessGroup& group)>;

void RunCase(benchmark::State& state, const Case& c, const Builder& build) {
  ProcessGroup group;  // its destructor kills and reaps whatever is left
  if (std::string e = build(group); !e.empty()) {
    state.SkipWithError(e.c_str());
    return;
  }
  BatchTime t;
  if (std::string e = group.RunBatch(c.warmup, &t); !e.empty()) {
    state.SkipWithError(("warm-up: " + e).c_str());
    return;
  }
  const auto n = static_cast<uint64_t>(state.max_iterations);
  double wall = 0, cpu = 0;
  // One batch of max_iterations operations, timed by the driver.
  while (state.KeepRunningBatch(state.max_iterations)) {
    if (std::string e = group.RunBatch(n, &t); !e.empty()) {
      state.SkipWithError(e.c_str());
      continue;  // KeepRunningBatch now returns false
    }
    state.SetIterationTime(t.wall_s);
    wall += t.wall_s;
    cpu += t.cpu_s;
  }
  if (state.error_occurred()) return;
  if (std::string e = group.Finish(); !e.empty()) {
    state.SkipWithError(("end of run: " + e).c_str());
    return;
  }
  state.counters["drv_cpu"] = benchmark::Counter(cpu, benchmark::Counter::kAvgIterations);
  const double ns = wall * 1e9 / static_cast<double>(n);
  if (c.reference.empty()) {
    ReferenceNs()[c.name] = ns;
    state.SetLabel("reference");
  } else {
    state.SetLabel("vs " + c.reference);
    auto it = ReferenceNs().find(c.reference);
    if (it != ReferenceNs().end() && it->second > 0) state.counters["x_ref"] = ns / it->second;
  }
}

// ---------------------------------------------------------------------------
// dsmkit pieces: a daemon process, nodes attached through DeviceClient.

std::string StatusText(int32_t status) {
  if (status == dsm::runtime::kDaemonGone) return "the daemon went away";
  return dev::StatusName(status);
}

std::string NewSocketName() {
  static int counter = 0;
  return "@dsm-bench-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

// A daemon process serving one job of `nodes` nodes; it exits by itself once
// the job finished and every peer left. Created after the fork.
std::string StartDaemon(ProcessGroup& g, const std::string& socket, uint32_t nodes, int cpu) {
  return g.SpawnAndWaitReady("daemon", cpu, [socket, nodes](const ProcessGroup::ReadyFn& ready) {
    // Quiet by default: at the end of every multi-node job the ivshmem server
    // warns about leave notices it could not send to peers that already
    // exited (see docs/performance.md). DSM_LOG set by the user wins.
    ::setenv("DSM_LOG", "error", 0);
    dsm::hostd::DaemonConfig config;
    config.socket_path = socket;
    config.space.num_nodes = nodes;
    config.space.size = dev::kMinSpaceSize;
    config.exit_when_done = true;
    auto daemon = dsm::hostd::Daemon::Create(config);
    if (!daemon.ok()) {
      ready("cannot create the daemon: " + daemon.status().message());
      return 1;
    }
    ready("");
    return daemon.value()->Run();
  });
}

// Connects to the daemon and attaches as node `id`.
std::string Attach(const std::string& socket, uint64_t id, std::unique_ptr<DeviceClient>* out) {
  auto client = DeviceClient::Connect(socket, kConnectTimeoutMs);
  if (!client.ok()) return client.status().message();
  auto r = client.value()->Call(dev::kAttach, {dev::kVersion, id, static_cast<uint64_t>(::getpid())});
  if (r.status != dev::kOk) return "attach as node " + std::to_string(id) + ": " + StatusText(r.status);
  if (r.results[0] != id) return "asked for node " + std::to_string(id) + ", got " + std::to_string(r.results[0]);
  *out = std::move(client).value();
  return "";
}

// Node 0 ends the job (the other nodes' requests then answer kJobFinished)
// and disconnects, so that the daemon sees it leave.
std::string FinishJob(std::unique_ptr<DeviceClient>* client) {
  auto r = (*client)->Call(dev::kFinish, {0});
  client->reset();
  if (r.status != dev::kOk) return "kFinish: " + StatusText(r.status);
  return "";
}

// Driver = node 0 of a daemon job, running op once per operation.
DriverOps Node0Driver(const std::string& socket, std::function<std::string(DeviceClient&)> op) {
  auto client = std::make_shared<std::unique_ptr<DeviceClient>>();
  DriverOps ops;
  ops.setup = [client, socket] { return Attach(socket, 0, client.get()); };
  ops.run = [client, op = std::move(op)](uint64_t n) {
    DeviceClient& c = **client;
    for (uint64_t i = 0; i < n; ++i) {
      if (std::string e = op(c); !e.empty()) return e;
    }
    return std::string();
  };
  ops.teardown = [client] { return FinishJob(client.get()); };
  return ops;
}

std::string CallOk(DeviceClient& c, uint32_t command, std::initializer_list<uint64_t> args) {
  auto r = c.Call(command, args);
  if (r.status == dev::kOk) return "";
  return std::string(dev::CommandName(command)) + ": " + StatusText(r.status);
}

// Node `id` of a barrier job: barriers until node 0 finished the job.
int BarrierHelper(const std::string& socket, uint64_t id) {
  std::unique_ptr<DeviceClient> c;
  if (std::string e = Attach(socket, id, &c); !e.empty()) {
    std::fprintf(stderr, "dsm_micro: helper node %d: %s\n", static_cast<int>(id), e.c_str());
    return 1;
  }
  for (;;) {
    auto r = c->Call(dev::kBarrier, {});
    if (r.status == dev::kJobFinished) return 0;
    if (r.status != dev::kOk) {
      std::fprintf(stderr, "dsm_micro: helper node %d: barrier: %s\n", static_cast<int>(id),
                   StatusText(r.status).c_str());
      return 1;
    }
  }
}

// The embedded one-node runtime, started in the driver by the first API call
// (Runtime::EnsureStarted: a daemon thread in the process, then attach).
std::string StartEmbeddedRuntime() {
  ::unsetenv("DSM_SOCKET");  // set, it would make EnsureStarted refuse
  ::unsetenv("DSM_NODE_ID");
  if (int n = dsm_num_nodes(); n != 1) return "embedded job has " + std::to_string(n) + " nodes";
  return "";
}

std::string StopEmbeddedRuntime() {
  dsm::runtime::Runtime::Get().Finish(0);
  return "";
}

// ---------------------------------------------------------------------------
// 1. Register round trip vs eventfd ping-pong.

std::string BuildEventfdPingPong(ProcessGroup& g, Placement p) {
  if (std::string e = CheckPlacement(p); !e.empty()) return e;
  dsm::UniqueFd a(::eventfd(0, EFD_CLOEXEC)), b(::eventfd(0, EFD_CLOEXEC));
  if (!a || !b) return std::string("eventfd: ") + std::strerror(errno);
  const int to_peer = a.get(), to_driver = b.get();
  // The peer answers every 1 it reads on A with a 1 on B; anything else ends it.
  std::string e = g.Spawn("eventfd peer", CpusOf(p).other, [to_peer, to_driver] {
    for (;;) {
      uint64_t v = 0, one = 1;
      if (::read(to_peer, &v, sizeof v) != sizeof v) return 1;
      if (v != 1) return 0;
      if (::write(to_driver, &one, sizeof one) != sizeof one) return 1;
    }
  });
  if (!e.empty()) return e;
  DriverOps ops;
  ops.run = [to_peer, to_driver](uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t one = 1, v = 0;
      if (::write(to_peer, &one, sizeof one) != sizeof one) return std::string("write eventfd: ") + std::strerror(errno);
      if (::read(to_driver, &v, sizeof v) != sizeof v) return std::string("read eventfd: ") + std::strerror(errno);
    }
    return std::string();
  };
  ops.teardown = [to_peer] {
    uint64_t stop = 2;
    if (::write(to_peer, &stop, sizeof stop) != sizeof stop) return std::string("write eventfd: ") + std::strerror(errno);
    return std::string();
  };
  return g.StartDriver("eventfd driver", CpusOf(p).driver, std::move(ops));
}

std::string BuildDsmNop(ProcessGroup& g, Placement p) {
  if (std::string e = CheckPlacement(p); !e.empty()) return e;
  std::string socket = NewSocketName();
  if (std::string e = StartDaemon(g, socket, 1, CpusOf(p).other); !e.empty()) return e;
  return g.StartDriver("node 0", CpusOf(p).driver,
                       Node0Driver(socket, [](DeviceClient& c) { return CallOk(c, dev::kNop, {}); }));
}

// ---------------------------------------------------------------------------
// 2. Uncontended lock + unlock.

std::string BuildPthreadMutex(ProcessGroup& g) {
  auto mutex = std::make_shared<pthread_mutex_t*>(nullptr);
  DriverOps ops;
  ops.setup = [mutex] {
    void* mem = ::mmap(nullptr, sizeof(pthread_mutex_t), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return std::string("mmap: ") + std::strerror(errno);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    *mutex = static_cast<pthread_mutex_t*>(mem);
    int rc = pthread_mutex_init(*mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc == 0 ? std::string() : std::string("pthread_mutex_init: ") + std::strerror(rc);
  };
  ops.run = [mutex](uint64_t n) {
    pthread_mutex_t* m = *mutex;
    for (uint64_t i = 0; i < n; ++i) {
      if (int rc = pthread_mutex_lock(m); rc != 0) return std::string("lock: ") + std::strerror(rc);
      if (int rc = pthread_mutex_unlock(m); rc != 0) return std::string("unlock: ") + std::strerror(rc);
    }
    return std::string();
  };
  return g.StartDriver("mutex driver", 0, std::move(ops));
}

std::string BuildDsmLockFastPath(ProcessGroup& g) {
  DriverOps ops;
  ops.setup = StartEmbeddedRuntime;
  ops.run = [](uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      dsm_lock(kLockId);  // misuse or failure ends the driver with a message
      dsm_unlock(kLockId);
    }
    return std::string();
  };
  ops.teardown = StopEmbeddedRuntime;
  return g.StartDriver("embedded node 0", 0, std::move(ops));
}

std::string BuildDsmLockDaemonPath(ProcessGroup& g, Placement p) {
  if (std::string e = CheckPlacement(p); !e.empty()) return e;
  std::string socket = NewSocketName();
  if (std::string e = StartDaemon(g, socket, 1, CpusOf(p).other); !e.empty()) return e;
  return g.StartDriver("node 0", CpusOf(p).driver, Node0Driver(socket, [](DeviceClient& c) {
                         if (std::string e = CallOk(c, dev::kLock, {kLockId, dev::kNoLockEntry}); !e.empty()) return e;
                         return CallOk(c, dev::kUnlock, {kLockId, dev::kNoLockEntry});
                       }));
}

// ---------------------------------------------------------------------------
// 3. Barriers.

// A process-shared barrier in an anonymous shared mapping. Ending: the driver
// stores stop_at = (its barrier count) + 1 and waits once more; a helper
// leaves after the barrier whose number equals stop_at. The store precedes
// that barrier, and no helper can have passed it, so all leave together.
struct SharedBarrier {
  pthread_barrier_t barrier;
  std::atomic<uint64_t> stop_at;
};

std::string BarrierWait(SharedBarrier* b) {
  int rc = pthread_barrier_wait(&b->barrier);
  if (rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD) return "";
  return std::string("pthread_barrier_wait: ") + std::strerror(rc);
}

std::string BuildPthreadBarrier(ProcessGroup& g, int procs) {
  void* mem = ::mmap(nullptr, sizeof(SharedBarrier), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return std::string("mmap: ") + std::strerror(errno);
  // The children inherit the mapping; the parent's own view goes at the end.
  std::unique_ptr<void, std::function<void(void*)>> unmap(mem, [](void* m) { ::munmap(m, sizeof(SharedBarrier)); });
  auto* b = new (mem) SharedBarrier;
  b->stop_at.store(0);
  pthread_barrierattr_t attr;
  pthread_barrierattr_init(&attr);
  pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  int rc = pthread_barrier_init(&b->barrier, &attr, static_cast<unsigned>(procs));
  pthread_barrierattr_destroy(&attr);
  if (rc != 0) return std::string("pthread_barrier_init: ") + std::strerror(rc);
  for (int k = 1; k < procs; ++k) {
    std::string e = g.Spawn("barrier process " + std::to_string(k), kAnyCpu, [b, k] {
      for (uint64_t passed = 1;; ++passed) {
        if (std::string err = BarrierWait(b); !err.empty()) {
          std::fprintf(stderr, "dsm_micro: barrier process %d: %s\n", k, err.c_str());
          return 1;
        }
        if (passed == b->stop_at.load(std::memory_order_acquire)) return 0;
      }
    });
    if (!e.empty()) return e;
  }
  auto passed = std::make_shared<uint64_t>(0);
  DriverOps ops;
  ops.run = [b, passed](uint64_t n) {
    for (uint64_t i = 0; i < n; ++i, ++*passed) {
      if (std::string e = BarrierWait(b); !e.empty()) return e;
    }
    return std::string();
  };
  ops.teardown = [b, passed] {
    b->stop_at.store(*passed + 1, std::memory_order_release);
    return BarrierWait(b);
  };
  return g.StartDriver("barrier process 0", kAnyCpu, std::move(ops));
}

std::string BuildDsmBarrier(ProcessGroup& g, int nodes) {
  std::string socket = NewSocketName();
  if (std::string e = StartDaemon(g, socket, static_cast<uint32_t>(nodes), kAnyCpu); !e.empty()) return e;
  for (int k = 1; k < nodes; ++k) {
    std::string e = g.Spawn("node " + std::to_string(k), kAnyCpu,
                            [socket, k] { return BarrierHelper(socket, static_cast<uint64_t>(k)); });
    if (!e.empty()) return e;
  }
  return g.StartDriver("node 0", kAnyCpu,
                       Node0Driver(socket, [](DeviceClient& c) { return CallOk(c, dev::kBarrier, {}); }));
}

// ---------------------------------------------------------------------------
// 4. 64-byte allocations.

std::string BuildGlibcMalloc(ProcessGroup& g) {
  DriverOps ops;
  ops.run = [](uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      void* p = std::malloc(64);
      benchmark::DoNotOptimize(p);
      if (p == nullptr) return std::string("malloc returned NULL");
      std::free(p);
    }
    return std::string();
  };
  return g.StartDriver("malloc driver", 0, std::move(ops));
}

std::string BuildDsmMalloc(ProcessGroup& g) {
  DriverOps ops;
  ops.setup = StartEmbeddedRuntime;
  ops.run = [](uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      void* p = dsm_malloc(64);
      benchmark::DoNotOptimize(p);
      if (p == nullptr) return std::string("dsm_malloc returned NULL");
      dsm_free(p);
    }
    return std::string();
  };
  ops.teardown = StopEmbeddedRuntime;
  return g.StartDriver("embedded node 0", 0, std::move(ops));
}

// ---------------------------------------------------------------------------

void Register(const Case& c, benchmark::TimeUnit unit, Builder build) {
  benchmark::RegisterBenchmark(c.name.c_str(),
                               [c, build = std::move(build)](benchmark::State& state) {
                                 RunCase(state, c, build);
                               })
      ->UseManualTime()
      ->Unit(unit);  // min time: the library's default (0.5 s), or --benchmark_min_time
}

void RegisterAll() {
  using benchmark::kMicrosecond;
  using benchmark::kNanosecond;
  const uint64_t kRoundTripWarmup = 200, kFastWarmup = 10000;
  for (Placement p : {Placement::kSameCpu, Placement::kCrossCpu}) {
    const std::string where = p == Placement::kSameCpu ? "same_cpu" : "cross_cpu";
    const std::string ref = "rtt/eventfd_pingpong/" + where;
    Register({ref, "", kRoundTripWarmup}, kMicrosecond,
             [p](ProcessGroup& g) { return BuildEventfdPingPong(g, p); });
    Register({"rtt/dsm_nop/" + where, ref, kRoundTripWarmup}, kMicrosecond,
             [p](ProcessGroup& g) { return BuildDsmNop(g, p); });
  }
  const std::string mutex = "lock/pthread_mutex_pshared";
  Register({mutex, "", kFastWarmup}, kNanosecond, BuildPthreadMutex);
  Register({"lock/dsm_fast_path", mutex, kFastWarmup}, kNanosecond, BuildDsmLockFastPath);
  for (Placement p : {Placement::kSameCpu, Placement::kCrossCpu}) {
    const std::string where = p == Placement::kSameCpu ? "same_cpu" : "cross_cpu";
    Register({"lock/dsm_daemon_path/" + where, mutex, kRoundTripWarmup}, kMicrosecond,
             [p](ProcessGroup& g) { return BuildDsmLockDaemonPath(g, p); });
  }
  for (int n : {2, 4}) {
    const std::string ref = "barrier/pthread_pshared/" + std::to_string(n);
    Register({ref, "", kRoundTripWarmup}, kMicrosecond,
             [n](ProcessGroup& g) { return BuildPthreadBarrier(g, n); });
    Register({"barrier/dsm/" + std::to_string(n), ref, kRoundTripWarmup}, kMicrosecond,
             [n](ProcessGroup& g) { return BuildDsmBarrier(g, n); });
  }
  Register({"malloc64/glibc", "", kFastWarmup}, kNanosecond, BuildGlibcMalloc);
  Register({"malloc64/dsm", "malloc64/glibc", kFastWarmup}, kNanosecond, BuildDsmMalloc);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a dead child shows as an error, not a dead benchmark
  RegisterAll();
  benchmark::AddCustomContext("usable_cpus", std::to_string(dsm_bench::UsableCpus()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
