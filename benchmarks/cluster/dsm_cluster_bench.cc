// dsm_cluster_bench: dsmkit's costs across hosts, each next to its physical
// reference, measured in the same run (docs/performance.md has a run and its
// reading).
//
//   ref/...      physical references: a TCP round trip between two processes
//                over loopback (the interface the daemons use), the same
//                through ZeroMQ (the daemons' library), a local SIGSEGV
//                whose handler maps the page with mprotect, a 4 KiB memcpy,
//                the matrix multiply in one plain process
//   lock/...     the one-host fast path; across 2 hosts: a lock last held
//                by the other host, a lock re-acquired on the host that holds
//                its token, a lock taken by the two hosts in turn, a counter
//                incremented under one lock by 2 hosts x 2 nodes
//   fault/...    remote read and write faults: one page, and runs of 256
//                consecutive pages (per page); the first write to a page
//                nobody touched (where its home is decided) on 1 and 2 hosts
//   barrier/...  1 host of 2 and 4 nodes; 2 and 3 hosts, with and without 16
//                dirty pages per node
//   false_sharing/...  16 pages written byte-interleaved by 2 hosts
//   matmul/...   512 x 512 doubles on 2 hosts, first (cold) and later (warm)
//                passes
//
// Every dsmkit case is a real job: this process runs `dsm-run --hosts H -n N
// -- dsm_cluster_node CASE` (cluster_job.h), whose daemons are real
// dsm-hostd processes joined over TCP on 127.0.0.1, and whose nodes time
// their own operations and report them through node 0's stdout
// (cluster_protocol.h). The references run in a forked driver process
// (../micro/process_group.h). Each call of a benchmark function starts a
// fresh job (or driver), runs a warm-up batch, then one timed batch of
// max_iterations operations. Time is manual time: what the nodes (or the
// driver) measured.
//
// Counters: x_ref (dsmkit time / reference time; the label names the
// reference, a sum when it has several parts), node_cpu / drv_cpu (CPU time
// per operation of the measuring processes, summed), ctxsw (context switches
// of the whole machine per operation during the batch, untimed steps
// between operations included: a count of the wake-ups an operation costs,
// when the machine is otherwise idle), and case-specific ones (see
// dsm_cluster_node.cc). After the benchmarks it prints the goals
// checked against this run's numbers.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "cluster_job.h"
#include "dsm/common/fd.h"
#include "matmul_kernel.h"
#include "process_group.h"

namespace {

using dsm_bench::BatchTime;
using dsm_bench::DriverOps;
using dsm_bench::kAnyCpu;
using dsm_bench::ProcessGroup;
using dsm_cluster::ClusterJob;
using dsm_cluster::JobSpec;

constexpr size_t kPage = 4096;
constexpr size_t kTcpMessage = 64;
constexpr size_t kMatrixDim = 512;

// ---------------------------------------------------------------------------
// A configuration under measurement: batches of n operations, each timed by
// the processes that run it.

struct Measured {
  double time_s = 0;
  std::map<std::string, double> counters;  // final values
};

class Batcher {
 public:
  virtual ~Batcher() = default;
  virtual std::string Run(uint64_t n, Measured* m) = 0;
  virtual std::string Finish() = 0;
};

// A reference in a forked driver (the group is already started).
class GroupBatcher : public Batcher {
 public:
  explicit GroupBatcher(std::unique_ptr<ProcessGroup> group) : group_(std::move(group)) {}
  std::string Run(uint64_t n, Measured* m) override {
    BatchTime t;
    if (std::string e = group_->RunBatch(n, &t); !e.empty()) return e;
    m->time_s = t.wall_s;
    m->counters = {{"drv_cpu", n > 0 ? t.cpu_s / static_cast<double>(n) : 0}};
    return "";
  }
  std::string Finish() override { return group_->Finish(); }

 private:
  std::unique_ptr<ProcessGroup> group_;
};

// A dsmkit job (already started: node 0 answered ready).
class JobBatcher : public Batcher {
 public:
  explicit JobBatcher(std::unique_ptr<ClusterJob> job) : job_(std::move(job)) {}
  std::string Run(uint64_t n, Measured* m) override {
    dsm_cluster::Reply r;
    if (std::string e = job_->Run(n, &r); !e.empty()) return e;
    m->time_s = r.time_s;
    m->counters = r.counters;
    return "";
  }
  std::string Finish() override { return job_->Finish(); }

 private:
  std::unique_ptr<ClusterJob> job_;
};

using Builder = std::function<std::string(std::unique_ptr<Batcher>* out)>;

struct Case {
  std::string name;
  std::vector<std::string> references;  // empty: this is a reference
  uint64_t warmup;
};

// ns per operation of every case measured so far (the last call), by name.
std::map<std::string, double>& MeasuredNs() {
  static std::map<std::string, double> m;
  return m;
}

std::string Join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : sep) + p;
  return s;
}

// Context switches of the whole machine so far (/proc/stat "ctxt"); 0 if
// unreadable.
uint64_t ContextSwitches() {
  std::ifstream f("/proc/stat");
  std::string key;
  uint64_t value = 0;
  while (f >> key) {
    if (key == "ctxt" && f >> value) return value;
    f.ignore(1 << 20, '\n');
  }
  return 0;
}

void RunCase(benchmark::State& state, const Case& c, const Builder& build) {
  std::unique_ptr<Batcher> batcher;
  if (std::string e = build(&batcher); !e.empty()) {
    state.SkipWithError(e.c_str());
    return;
  }
  Measured m;
  if (c.warmup > 0) {
    if (std::string e = batcher->Run(c.warmup, &m); !e.empty()) {
      state.SkipWithError(("warm-up: " + e).c_str());
      return;
    }
  }
  const auto n = static_cast<uint64_t>(state.max_iterations);
  double total = 0, switches = 0;
  while (state.KeepRunningBatch(state.max_iterations)) {
    const uint64_t ctxt0 = ContextSwitches();
    if (std::string e = batcher->Run(n, &m); !e.empty()) {
      state.SkipWithError(e.c_str());
      continue;  // KeepRunningBatch now returns false
    }
    switches += static_cast<double>(ContextSwitches() - ctxt0);
    state.SetIterationTime(m.time_s);
    total += m.time_s;
  }
  if (state.error_occurred()) return;
  if (std::string e = batcher->Finish(); !e.empty()) {
    state.SkipWithError(("end of run: " + e).c_str());
    return;
  }
  for (const auto& [key, value] : m.counters) state.counters[key] = value;
  state.counters["ctxsw"] = switches / static_cast<double>(n);
  const double ns = total * 1e9 / static_cast<double>(n);
  MeasuredNs()[c.name] = ns;
  if (c.references.empty()) {
    state.SetLabel("reference");
    return;
  }
  state.SetLabel("vs " + Join(c.references, " + "));
  double ref = 0;
  for (const auto& r : c.references) {
    auto it = MeasuredNs().find(r);
    if (it == MeasuredNs().end()) return;  // filtered out: no ratio
    ref += it->second;
  }
  if (ref > 0) state.counters["x_ref"] = ns / ref;
}

// ---------------------------------------------------------------------------
// Physical references.

enum class Cpus { kAny, kSame, kCross };

std::string StartGroup(ProcessGroup* g, const std::string& what, int cpu, DriverOps ops,
                       std::unique_ptr<ProcessGroup> owned, std::unique_ptr<Batcher>* out) {
  if (std::string e = g->StartDriver(what, cpu, std::move(ops)); !e.empty()) return e;
  *out = std::make_unique<GroupBatcher>(std::move(owned));
  return "";
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

void NoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A 64-byte message and its echo over a TCP connection on 127.0.0.1, with
// TCP_NODELAY (as the daemons' ZeroMQ sockets have), blocking reads.
std::string BuildTcpRoundTrip(Cpus where, std::unique_ptr<Batcher>* out) {
  if (where == Cpus::kCross && dsm_bench::UsableCpus() < 2) return "needs 2 usable CPUs";
  const int driver_cpu = where == Cpus::kAny ? kAnyCpu : 0;
  const int peer_cpu = where == Cpus::kAny ? kAnyCpu : (where == Cpus::kSame ? 0 : 1);
  dsm::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return Errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Errno("bind");
  if (::listen(listener.get(), 1) != 0) return Errno("listen");
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return Errno("getsockname");
  auto group = std::make_unique<ProcessGroup>();
  const int lfd = listener.get();
  std::string e = group->Spawn("tcp echo peer", peer_cpu, [lfd] {
    dsm::UniqueFd conn(::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return 1;
    NoDelay(conn.get());
    char buf[kTcpMessage];
    for (;;) {
      ssize_t n = ::read(conn.get(), buf, sizeof buf);
      if (n == 0) return 0;  // the driver closed: done
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || !dsm_bench::WriteAll(conn.get(), buf, static_cast<size_t>(n))) return 1;
    }
  });
  if (!e.empty()) return e;
  auto conn = std::make_shared<dsm::UniqueFd>();
  DriverOps ops;
  ops.setup = [conn, addr] {
    conn->reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!*conn) return Errno("socket");
    if (::connect(conn->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
      return Errno("connect");
    NoDelay(conn->get());
    return std::string();
  };
  ops.run = [conn](uint64_t n) {
    char buf[kTcpMessage] = {1};
    for (uint64_t i = 0; i < n; ++i) {
      if (!dsm_bench::WriteAll(conn->get(), buf, sizeof buf)) return Errno("write");
      if (!dsm_bench::ReadAll(conn->get(), buf, sizeof buf)) return std::string("read: the echo peer went away");
    }
    return std::string();
  };
  ops.teardown = [conn] {
    conn->reset();
    return std::string();
  };
  ProcessGroup* g = group.get();
  return StartGroup(g, "tcp driver", driver_cpu, std::move(ops), std::move(group), out);
}

// The same exchange through ZeroMQ as the daemons use it: a DEALER (the
// driver) and a ROUTER (the peer) over tcp://127.0.0.1, 64-byte messages,
// blocking receives. The difference from the raw round trip is what the
// library's I/O threads add (each side hands every message to and from its
// I/O thread).
std::string BuildZmqRoundTrip(std::unique_ptr<Batcher>* out) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Errno("pipe");
  dsm::UniqueFd endpoint_r(p[0]), endpoint_w(p[1]);
  auto group = std::make_unique<ProcessGroup>();
  const int wfd = endpoint_w.get();
  std::string e = group->Spawn("zmq router peer", kAnyCpu, [wfd] {
    zmq::context_t ctx(1);
    zmq::socket_t router(ctx, zmq::socket_type::router);
    router.set(zmq::sockopt::linger, 0);
    router.bind("tcp://127.0.0.1:*");
    std::string ep = router.get(zmq::sockopt::last_endpoint) + "\n";
    if (!dsm_bench::WriteAll(wfd, ep.data(), ep.size())) return 1;
    ::close(wfd);
    for (;;) {
      zmq::message_t id, body;
      if (!router.recv(id) || !id.more() || !router.recv(body)) return 1;
      if (body.size() != kTcpMessage) return 0;  // the driver's stop message
      router.send(id, zmq::send_flags::sndmore);
      router.send(body, zmq::send_flags::none);
    }
  });
  if (!e.empty()) return e;
  endpoint_w.reset();
  std::string endpoint;
  pollfd pfd{endpoint_r.get(), POLLIN, 0};
  for (char ch = 0; endpoint.empty() || endpoint.back() != '\n';) {
    if (::poll(&pfd, 1, 20000) <= 0 || ::read(endpoint_r.get(), &ch, 1) != 1) {
      return "the zmq peer did not say where it listens";
    }
    endpoint += ch;
  }
  endpoint.pop_back();
  struct Zmq {
    zmq::context_t ctx{1};
    zmq::socket_t dealer{ctx, zmq::socket_type::dealer};
  };
  auto z = std::make_shared<std::unique_ptr<Zmq>>();
  DriverOps ops;
  ops.setup = [z, endpoint] {
    *z = std::make_unique<Zmq>();
    (*z)->dealer.set(zmq::sockopt::linger, 1000);
    (*z)->dealer.connect(endpoint);
    return std::string();
  };
  ops.run = [z](uint64_t n) {
    char buf[kTcpMessage] = {1};
    zmq::socket_t& d = (*z)->dealer;
    for (uint64_t i = 0; i < n; ++i) {
      d.send(zmq::buffer(buf, sizeof buf), zmq::send_flags::none);
      zmq::message_t reply;
      if (!d.recv(reply) || reply.size() != kTcpMessage) return std::string("zmq: bad echo");
    }
    return std::string();
  };
  ops.teardown = [z] {
    char stop = 0;
    (*z)->dealer.send(zmq::buffer(&stop, 1), zmq::send_flags::none);
    z->reset();  // waits up to the linger for the stop message to leave
    return std::string();
  };
  ProcessGroup* g = group.get();
  return StartGroup(g, "zmq dealer driver", kAnyCpu, std::move(ops), std::move(group), out);
}

// The local fault: the region the handler may map (the driver process only).
struct FaultRegion {
  char* base = nullptr;
  size_t bytes = 0;
};
FaultRegion g_fault_region;  // read by the SIGSEGV handler

void MapOnFault(int, siginfo_t* info, void*) {
  auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  auto base = reinterpret_cast<uintptr_t>(g_fault_region.base);
  if (addr < base || addr >= base + g_fault_region.bytes) {
    std::signal(SIGSEGV, SIG_DFL);  // not ours: the retried access kills the process
    return;
  }
  ::mprotect(reinterpret_cast<void*>(addr & ~(kPage - 1)), kPage, PROT_READ);
}

// A read of a page mapped PROT_NONE: SIGSEGV, the handler maps the page
// read-only, the read is retried. The region is shared memory (like
// dsmkit's data area), filled first so that no page needs allocating; once
// every page has been read the region is protected again in one call.
std::string BuildLocalFault(std::unique_ptr<Batcher>* out) {
  constexpr size_t kPages = 16384;
  auto group = std::make_unique<ProcessGroup>();
  auto next = std::make_shared<size_t>(0);
  DriverOps ops;
  ops.setup = [] {
    void* mem = ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return Errno("mmap");
    std::memset(mem, 1, kPages * kPage);
    g_fault_region = {static_cast<char*>(mem), kPages * kPage};
    struct sigaction sa {};
    sa.sa_sigaction = MapOnFault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(SIGSEGV, &sa, nullptr) != 0) return Errno("sigaction");
    if (::mprotect(mem, kPages * kPage, PROT_NONE) != 0) return Errno("mprotect");
    return std::string();
  };
  ops.run = [next](uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      if (*next == kPages) {
        if (::mprotect(g_fault_region.base, g_fault_region.bytes, PROT_NONE) != 0) return Errno("mprotect");
        *next = 0;
      }
      char v = *reinterpret_cast<volatile char*>(g_fault_region.base + (*next)++ * kPage);
      if (v != 1) return std::string("the page read back wrong");
    }
    return std::string();
  };
  ProcessGroup* g = group.get();
  return StartGroup(g, "fault driver", kAnyCpu, std::move(ops), std::move(group), out);
}

std::string BuildMemcpy(std::unique_ptr<Batcher>* out) {
  auto group = std::make_unique<ProcessGroup>();
  DriverOps ops;
  ops.run = [](uint64_t n) {
    alignas(kPage) static char src[kPage], dst[kPage];
    std::memset(src, 3, sizeof src);
    for (uint64_t i = 0; i < n; ++i) {
      benchmark::DoNotOptimize(src);
      std::memcpy(dst, src, kPage);
      benchmark::DoNotOptimize(dst);
      benchmark::ClobberMemory();
    }
    return std::string();
  };
  ProcessGroup* g = group.get();
  return StartGroup(g, "memcpy driver", kAnyCpu, std::move(ops), std::move(group), out);
}

// The same loop as the dsmkit job's (matmul_kernel.h), every row, in one
// plain process: malloc'd matrices, no dsmkit at all.
std::string BuildPlainMatmul(std::unique_ptr<Batcher>* out) {
  auto group = std::make_unique<ProcessGroup>();
  auto mats = std::make_shared<std::vector<double>>();
  DriverOps ops;
  constexpr size_t d = kMatrixDim;
  ops.setup = [mats] {
    mats->assign(3 * d * d, 0);
    double* a = mats->data();
    for (size_t i = 0; i < d; ++i) {
      for (size_t j = 0; j < d; ++j) {
        a[i * d + j] = dsm_cluster::InitialA(i, j, 0);
        a[d * d + i * d + j] = dsm_cluster::InitialB(i, j, 0);
      }
    }
    return std::string();
  };
  ops.run = [mats](uint64_t n) {
    double* a = mats->data();
    for (uint64_t i = 0; i < n; ++i) {
      dsm_cluster::MultiplyRows(a, a + d * d, a + 2 * d * d, d, 0, d);
      benchmark::ClobberMemory();
    }
    return std::string();
  };
  ops.teardown = [mats] {
    const double* c = mats->data() + 2 * d * d;
    for (size_t i : {size_t{0}, d / 2, d - 1}) {
      if (c[i * d + 7] != dsm_cluster::ExpectedC(d, i, 7, 0)) return std::string("wrong product");
    }
    return std::string();
  };
  ProcessGroup* g = group.get();
  return StartGroup(g, "matmul driver", kAnyCpu, std::move(ops), std::move(group), out);
}

// ---------------------------------------------------------------------------
// dsmkit jobs.

Builder Job(uint32_t hosts, uint32_t nodes, std::vector<std::string> args, std::string home = "first-touch") {
  return [hosts, nodes, args, home](std::unique_ptr<Batcher>* out) {
    JobSpec spec;
    spec.dsm_run = DSM_RUN_PATH;
    spec.hosts = hosts;
    spec.nodes = nodes;
    spec.placement = "block";
    spec.home = home;
    spec.program = {DSM_CLUSTER_NODE_PATH};
    spec.program.insert(spec.program.end(), args.begin(), args.end());
    auto job = std::make_unique<ClusterJob>();
    if (std::string e = job->Start(spec); !e.empty()) return e;
    *out = std::make_unique<JobBatcher>(std::move(job));
    return std::string();
  };
}

// ---------------------------------------------------------------------------

benchmark::internal::Benchmark* Register(const Case& c, benchmark::TimeUnit unit, Builder build) {
  return benchmark::RegisterBenchmark(
             c.name.c_str(),
             [c, build = std::move(build)](benchmark::State& state) { RunCase(state, c, build); })
      ->UseManualTime()
      ->Unit(unit);
}

const char* const kRtt = "ref/tcp_rtt/any_cpu";
const char* const kRttSame = "ref/tcp_rtt/same_cpu";
const char* const kRttCross = "ref/tcp_rtt/cross_cpu";
const char* const kZmqRtt = "ref/zmq_rtt/any_cpu";
const char* const kLocalFault = "ref/fault_sigsegv_mprotect";
const char* const kFastPath = "lock/1host/fast_path";
const char* const kPlainMatmul = "ref/matmul512/plain";
const char* const kRemoteLock = "lock/2hosts/remote";
const char* const kCachedLock = "lock/2hosts/cached";
const char* const kRemoteRead = "fault/2hosts/read/1page";
const char* const kRunRead = "fault/2hosts/read/run256";
const char* const kBarrier2 = "barrier/2hosts";

void RegisterAll() {
  using benchmark::kMicrosecond;
  using benchmark::kMillisecond;
  using benchmark::kNanosecond;
  const std::string region = std::to_string(8192);  // pages (32 MiB) per fault round
  // References.
  Register({kRtt, {}, 200}, kMicrosecond, [](auto* out) { return BuildTcpRoundTrip(Cpus::kAny, out); });
  Register({kRttSame, {}, 200}, kMicrosecond, [](auto* out) { return BuildTcpRoundTrip(Cpus::kSame, out); });
  Register({kRttCross, {}, 200}, kMicrosecond,
           [](auto* out) { return BuildTcpRoundTrip(Cpus::kCross, out); });
  Register({kZmqRtt, {}, 200}, kMicrosecond, BuildZmqRoundTrip);
  Register({kLocalFault, {}, 1000}, kMicrosecond, BuildLocalFault);
  Register({"ref/memcpy4k", {}, 10000}, kNanosecond, BuildMemcpy);
  Register({kPlainMatmul, {}, 1}, kMillisecond, BuildPlainMatmul);
  Register({kFastPath, {}, 10000}, kNanosecond, Job(1, 1, {"lock_fast"}));
  // Locks.
  Register({kRemoteLock, {kRtt}, 20}, kMicrosecond, Job(2, 2, {"lock_remote"}));
  Register({kCachedLock, {kFastPath}, 10000}, kNanosecond, Job(2, 2, {"lock_cached"}));
  // Node 0 runs on the master stack, which lies in the shared space: its
  // every release has dirty pages (see docs/performance.md).
  Register({"lock/2hosts/cached_on_node0", {kFastPath}, 1000}, kNanosecond, Job(2, 2, {"lock_cached", "0"}));
  Register({"lock/2hosts/pingpong", {kRtt}, 50}, kMicrosecond, Job(2, 2, {"lock_pingpong"}));
  Register({"lock/2hostsx2/counter", {kRtt}, 100}, kMicrosecond, Job(2, 4, {"lock_counter"}));
  // Remote faults.
  Register({kRemoteRead, {kRtt, kLocalFault}, 16}, kMicrosecond, Job(2, 2, {"fault", "read", "1", region}));
  Register({"fault/2hosts/write/1page", {kRtt, kLocalFault}, 16}, kMicrosecond,
           Job(2, 2, {"fault", "write", "1", region}));
  // First touch: fixed batches of 16384 pages (64 MiB of fresh memory per job).
  const char* const kFirstTouch1 = "fault/1host/first_touch";
  Register({kFirstTouch1, {}, 0}, kMicrosecond, Job(1, 1, {"first_touch", "0"}))->Iterations(16384);
  Register({"fault/2hosts/first_touch/host0", {kFirstTouch1}, 0}, kMicrosecond,
           Job(2, 2, {"first_touch", "0"}))
      ->Iterations(16384);
  Register({"fault/2hosts/first_touch/host1", {kFirstTouch1}, 0}, kMicrosecond,
           Job(2, 2, {"first_touch", "1"}))
      ->Iterations(16384);
  Register({kRunRead, {kRtt}, 256}, kMicrosecond, Job(2, 2, {"fault", "read", "256", region}));
  Register({"fault/2hosts/write/run256", {kRtt}, 256}, kMicrosecond,
           Job(2, 2, {"fault", "write", "256", region}));
  // Barriers. On one host they run in the shared space (the host barrier).
  Register({"barrier/1host/2nodes", {}, 1000}, kMicrosecond, Job(1, 2, {"barrier", "0"}));
  Register({"barrier/1host/4nodes", {}, 1000}, kMicrosecond, Job(1, 4, {"barrier", "0"}));
  Register({kBarrier2, {kRtt}, 20}, kMicrosecond, Job(2, 2, {"barrier", "0"}));
  Register({"barrier/3hosts", {kRtt}, 20}, kMicrosecond, Job(3, 3, {"barrier", "0"}));
  Register({"barrier/2hosts/dirty16", {kRtt}, 20}, kMicrosecond, Job(2, 2, {"barrier", "16"}));
  Register({"barrier/3hosts/dirty16", {kRtt}, 20}, kMicrosecond, Job(3, 3, {"barrier", "16"}));
  // The same with homes migrating (dsm-run's default): each node's 16 pages,
  // homed on the next host and written by this one only, move to it at the
  // first barrier, and the barriers after need no diff.
  Register({"barrier/2hosts/dirty16/migrate", {"barrier/2hosts/dirty16"}, 20}, kMicrosecond,
           Job(2, 2, {"barrier", "16"}, "migrate"));
  // Applications.
  Register({"false_sharing/2hosts/16pages", {kRtt}, 5}, kMicrosecond, Job(2, 2, {"false_sharing", "16"}));
  const std::string dim = std::to_string(kMatrixDim);
  Register({"matmul512/2hosts/cold", {kPlainMatmul}, 1}, kMillisecond, Job(2, 2, {"matmul", "cold", dim}));
  Register({"matmul512/2hosts/warm", {kPlainMatmul}, 1}, kMillisecond, Job(2, 2, {"matmul", "warm", dim}));
}

// The goals of docs/performance.md, checked against this run. The raw round
// trip is the unpinned one (like the daemons); the same ratios with the
// same-CPU, cross-CPU and ZeroMQ round trips instead follow in brackets,
// since where the scheduler puts two processes changes the round trip 4x.
void PrintGoals() {
  const auto& m = MeasuredNs();
  struct Goal {
    const char* what;
    const char* numerator;
    std::vector<const char*> denominator;
    double limit;
  };
  const Goal goals[] = {
      {"remote lock / raw RT", kRemoteLock, {kRtt}, 1.3},
      {"cached re-acquire / one-host fast path", kCachedLock, {kFastPath}, 2.0},
      {"remote read fault / (raw RT + local fault)", kRemoteRead, {kRtt, kLocalFault}, 1.3},
      {"sequential remote read, per page / raw RT", kRunRead, {kRtt}, 0.5},
      {"barrier on 2 hosts / raw RT", kBarrier2, {kRtt}, 1.5},
  };
  // The ratio with `rtt` standing for the raw round trip; < 0 if a part is missing.
  auto ratio = [&](const Goal& g, const char* rtt) {
    auto num = m.find(g.numerator);
    if (num == m.end()) return -1.0;
    double den = 0;
    for (const char* d : g.denominator) {
      auto it = m.find(std::string(d) == kRtt ? rtt : d);
      if (it == m.end()) return -1.0;
      den += it->second;
    }
    return den > 0 ? num->second / den : -1.0;
  };
  std::printf("\nGoals (this run) [with the same-CPU, cross-CPU, ZeroMQ round trip as raw RT]:\n");
  for (const Goal& g : goals) {
    const double r = ratio(g, kRtt);
    if (r < 0) continue;
    std::printf("  %-44s %7.2f", g.what, r);
    if (g.denominator.front() == std::string(kRtt)) {
      std::printf(" [%.2f, %.2f, %.2f]", ratio(g, kRttSame), ratio(g, kRttCross), ratio(g, kZmqRtt));
    }
    std::printf("  goal <= %.2f%s: %s\n", g.limit, g.limit == 0.5 ? " ('well under 1')" : "",
                r <= g.limit ? "met" : "MISSED");
  }
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string one;
  f >> one;
  return one.empty() ? "?" : one;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a dead job shows as an error, not a dead benchmark
  RegisterAll();
  benchmark::AddCustomContext("usable_cpus", std::to_string(dsm_bench::UsableCpus()));
  benchmark::AddCustomContext("load_average_at_start", LoadAverage());
  benchmark::AddCustomContext("dsm_run", DSM_RUN_PATH);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  PrintGoals();
  return 0;
}
