// The node runtime: one instance per process (the only file-scope mutable
// state of libdsm). It attaches to the host daemon before main, runs node 0's
// main on a stack inside the shared space, keeps the other nodes in the
// worker loop that runs parallel regions, and implements the C API of
// include/dsm/dsm.h on top of the device client.
//
// Thread safety: the node's main thread only. Not async-signal-safe.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "arena.h"
#include "coherence_client.h"
#include "dsm/common/exit_status.h"
#include "device_client.h"
#include "func_ref.h"
#include "globals.h"
#include "trace.h"

namespace dsm::hostd {
class Daemon;
}

namespace dsm::runtime {

using dsm::kExitJobFailed;

using MainFn = int (*)(int, char**, char**);

// The runtime control page: the first page of the data area
// (dsm/device/runtime_layout.h, included by func_ref.h).
using ControlBlock = device::ControlBlock;

class Runtime : private ChunkSource, private CoherenceClient::Caller {
 public:
  static Runtime& Get();

  // Called by __wrap_main: attaches, then runs main on node 0 and the
  // worker loop elsewhere. Never returns (exits the process).
  [[noreturn]] void Main(MainFn main, int argc, char** argv, char** envp);

  // Starts a one-node embedded job if no Main ran (API used from a program
  // linked without the wrap).
  void EnsureStarted();

  // Called by libdsm_main.a's constructor, before the program's own: where
  // the program's shared globals are (see GlobalsWindow), and then an early
  // start on the node that will be node 0 (DSM_NODE_ID=0, or an embedded
  // job), so that its constructors already run on the shared globals and
  // heap. Other nodes attach in Main, after their constructors.
  void SetGlobals(char* begin, char* end, char* data_end, char* any_section);
  void EarlyStart();

  int node_id() const { return node_id_; }
  int num_nodes() const { return num_nodes_; }

  void* Malloc(size_t size);
  void* Calloc(size_t n, size_t size);
  // align: a power of two (Arena::AllocateAligned).
  void* AlignedMalloc(size_t size, size_t align);
  // from_program: the program's free (program_heap.h), not dsm_free, for
  // the error message.
  void Free(void* p, bool from_program = false);
  void Lock(uint32_t id);
  void Unlock(uint32_t id);
  void Barrier();
  void Parallel(void (*fn)(void*), void* arg);

  // Prints "dsm[node K]: error: ..." and ends this node with kExitJobFailed.
  [[noreturn, gnu::format(printf, 2, 3)]] void Fatal(const char* fmt, ...);

  // node 0's exit: tells the daemon the job finished. Registered with
  // on_exit when node 0 attaches, so it runs after the destructors of the
  // program's global objects (registered later, run earlier).
  void Finish(int status);

 private:
  // How this node reaches its daemon: DSM_SOCKET (a native node of a job),
  // the ivshmem PCI device (a node inside a QEMU guest), or an embedded
  // daemon of its own (a lone program).
  enum class Attach { kSocket, kGuest, kEmbedded };

  Runtime() = default;
  Attach HowToAttach();
  Status Start();
  Status StartEmbeddedDaemon(std::string* socket_path);
  DeviceClient::Reply Call(uint32_t command, std::initializer_list<uint64_t> args);
  void HandleEnd(const DeviceClient::Reply& r);
  void SyncBarrier();
  // The barrier of a job on one host: in the shared space (HostBarrier),
  // spinning for up to barrier_spin_ns_, then asleep in the daemon.
  void HostBarrierWait();
  [[noreturn]] void WorkerLoop();
  // Runs one parallel region's function on this node (and traces it).
  void RunRegion(void (*fn)(void*), void* arg);
  device::LockEntry* FindLock(uint32_t id, uint64_t* index);
  ControlBlock* control() const;
  // Where this node's shared globals are; 0 if it has none.
  uint64_t GlobalsAt() const;

  void* AllocChunk(size_t bytes) override;
  bool FreeChunk(void* chunk) override;
  // CoherenceClient::Caller: may run inside the fault handler.
  DeviceClient::Reply CallDaemon(uint32_t command, std::initializer_list<uint64_t> args) override;
  [[noreturn]] void Fail(const char* what, uint64_t page, int32_t status) override;
  // Release before a release point, acquire after an acquire point (no-ops
  // in single-host jobs).
  void ReleasePoint() {
    if (coherent_) coherence_.Release();
  }
  void AcquirePoint() {
    if (coherent_) coherence_.Acquire();
  }

  std::unique_ptr<DeviceClient> client_;
  std::optional<std::string> guest_device_;  // HowToAttach found this ivshmem device
  std::unique_ptr<hostd::Daemon> embedded_;
  std::thread embedded_thread_;
  Arena arena_{this};
  GlobalsWindow globals_;
  CoherenceClient coherence_;
  bool coherent_ = false;  // a job of several hosts
  bool host_barrier_ = false;  // a job on one host: barriers run in the space
  uint64_t barrier_spin_ns_ = 0;
  int barrier_yield_every_ = 64;  // spins between sched_yield calls
  int node_id_ = 0;
  int num_nodes_ = 1;
  bool started_ = false;
  bool in_parallel_ = false;
  bool finished_ = false;
  int finish_status_ = 0;  // node 0's exit status, once finished_
  device::NodeCounters* counters_ = nullptr;
  Trace trace_;
};

}  // namespace dsm::runtime
