// The process harness of dsm_micro: every measured loop runs in a forked
// "driver" process, next to the other processes of its configuration (a host
// daemon, helper nodes, a ping-pong peer), all forked by the benchmark
// process for one benchmark run and reaped at its end.
//
// Why a driver process: a process can map the dsmkit shared space only once
// (at device::kFixedBase), and the embedded one-node runtime keeps its mapping
// until the process exits. So the benchmark process itself never touches
// dsmkit; each configuration gets fresh processes forked from a clean parent.
//
// The driver serves batches: the parent writes an iteration count n, the
// driver runs n operations, times them itself and answers with the elapsed
// wall-clock and CPU time. The pipe round trip is outside the measurement.
//
// No sleeps: every wait is a blocking read or poll on a pipe or a pidfd,
// bounded by a hang timeout after which every child of the group is killed
// (by pid) and reaped, and the benchmark reports the hang as an error.
//
// Thread safety: none; use from the benchmark thread only. The parent must be
// single-threaded when it forks (the benchmark process is).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dsm_bench {

// Writes (reads) exactly len bytes, retrying on EINTR; false on error or
// end of file.
bool WriteAll(int fd, const void* data, size_t len);
bool ReadAll(int fd, void* data, size_t len);

constexpr int kAnyCpu = -1;

// Pins the calling thread (and the threads it creates later) to one CPU;
// kAnyCpu leaves the affinity alone. Returns an error message or "".
std::string PinToCpu(int cpu);
// CPUs this process may run on.
int UsableCpus();

// What a driver process does. Each function runs in the driver and returns
// an error message or "".
struct DriverOps {
  std::function<std::string()> setup;          // before the first batch (untimed)
  std::function<std::string(uint64_t n)> run;  // n operations (timed)
  std::function<std::string()> teardown;       // after the last batch (untimed)
};

struct BatchTime {
  double wall_s = 0;  // elapsed wall-clock time of the batch, in the driver
  double cpu_s = 0;   // CPU time the driver process used during the batch
};

class ProcessGroup {
 public:
  explicit ProcessGroup(int hang_timeout_ms = 20000) : timeout_ms_(hang_timeout_ms) {}
  ~ProcessGroup();  // Abort()
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  // Forks a process pinned to cpu that runs fn and _exits with its result.
  // `what` names the process in error messages.
  std::string Spawn(const std::string& what, int cpu, std::function<int()> fn);

  // Like Spawn, but fn gets a `ready` callback that it calls once it can
  // serve (with "" or an error message); returns when it did (or failed).
  using ReadyFn = std::function<void(const std::string& error)>;
  std::string SpawnAndWaitReady(const std::string& what, int cpu,
                                std::function<int(const ReadyFn& ready)> fn);

  // Forks the driver (after every other process of the group, so that no
  // other child holds its pipes) and waits for its setup.
  std::string StartDriver(const std::string& what, int cpu, DriverOps ops);

  // One batch of n operations in the driver.
  std::string RunBatch(uint64_t n, BatchTime* time);

  // Ends the group: the driver's teardown, then waits for every child (the
  // driver first, then the others newest first) and checks that each exited
  // with status 0.
  std::string Finish();

  // Kills every child not yet reaped (SIGKILL, by pid, newest first) and
  // reaps it.
  void Abort();

 private:
  struct Child {
    std::string what;
    pid_t pid = -1;
    int pidfd = -1;
    bool reaped = false;
  };
  // Waits (bounded) for child i to exit; "" when it exited with status 0.
  std::string Reap(size_t i);
  std::string ReadReply(int64_t* value, int64_t* cpu_ns);
  // Forks; in the child pins it and returns 0 (exits 120 when pinning fails).
  pid_t ForkChild(const std::string& what, int cpu);

  int timeout_ms_;
  std::vector<Child> children_;
  size_t driver_ = SIZE_MAX;
  int cmd_fd_ = -1;  // parent -> driver: batch sizes (0 = stop)
  int res_fd_ = -1;  // driver -> parent: replies
};

}  // namespace dsm_bench
