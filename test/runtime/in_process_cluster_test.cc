// A whole daemon and its nodes in one process: the daemon's event loop on a
// thread, and four nodes on threads, each with its own device client (mapped
// anywhere) speaking the real register protocol over the real ivshmem
// handshake. This is the seam later tests use for several hosts.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "device_client.h"
#include "dsm/device/protocol.h"
#include "dsm/hostd/daemon.h"

namespace dsm::runtime {
namespace {

using namespace dsm::device;

std::string UniqueSocket() {
  static std::atomic<int> n{0};
  return "@dsm-cluster-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

// A daemon for `nodes` nodes running on its own thread; it ends by itself
// once the job ended and every client is gone. join() returns its status.
class DaemonThread {
 public:
  explicit DaemonThread(uint32_t nodes) {
    hostd::DaemonConfig cfg;
    cfg.socket_path = UniqueSocket();
    cfg.space.num_nodes = nodes;
    cfg.space.size = kMinSpaceSize;
    cfg.exit_when_done = true;
    socket_ = cfg.socket_path;
    auto d = hostd::Daemon::Create(cfg);
    if (!d.ok()) {
      error_ = d.status().message();
      return;
    }
    daemon_ = std::move(d).value();
    thread_ = std::thread([this] { status_ = daemon_->Run(); });
  }
  ~DaemonThread() {
    if (thread_.joinable()) {
      daemon_->RequestStop();
      thread_.join();
    }
  }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] const std::string& socket() const { return socket_; }
  int join() {
    thread_.join();
    return status_;
  }

 private:
  std::string socket_, error_;
  std::unique_ptr<hostd::Daemon> daemon_;
  std::thread thread_;
  int status_ = -1;
};

TEST(InProcessCluster, DaemonAndFourNodesShareLocksBarriersAndMemory) {
  constexpr int kNodes = 4;
  constexpr int kIncrements = 2000;
  DaemonThread daemon(kNodes);
  ASSERT_EQ(daemon.error(), "");

  std::atomic<uint64_t> counter_offset{0};
  std::vector<std::string> errors(kNodes);
  std::vector<uint64_t> seen(kNodes, 0);
  auto node = [&](int id) {
    auto fail = [&](const std::string& what) { errors[static_cast<size_t>(id)] = what; };
    auto client = DeviceClient::Connect(daemon.socket(), 5000, DeviceClient::Placement::kAnywhere);
    if (!client.ok()) return fail(client.status().message());
    DeviceClient& c = *client.value();
    auto r = c.Call(kAttach, {kVersion, static_cast<uint64_t>(id), static_cast<uint64_t>(::getpid())});
    if (r.status != kOk) return fail(std::string("attach: ") + StatusName(r.status));
    if (id == 0) {
      r = c.Call(kAlloc, {kPageSize, kPageSize});
      if (r.status != kOk) return fail("alloc");
      counter_offset = r.results[0];
    }
    if (c.Call(kBarrier, {}).status != kOk) return fail("barrier 1");
    // Every client maps the space at its own address: offsets are shared.
    auto* counter = reinterpret_cast<volatile uint64_t*>(c.base() + counter_offset.load());
    for (int i = 0; i < kIncrements; ++i) {
      if (c.Call(kLock, {7, kNoLockEntry}).status != kOk) return fail("lock");
      *counter = *counter + 1;
      if (c.Call(kUnlock, {7, kNoLockEntry}).status != kOk) return fail("unlock");
    }
    if (c.Call(kBarrier, {}).status != kOk) return fail("barrier 2");
    seen[static_cast<size_t>(id)] = *counter;
    if (c.Call(kBarrier, {}).status != kOk) return fail("barrier 3");
    if (id == 0) {
      if (c.Call(kFinish, {0}).status != kOk) return fail("finish");
    } else if (c.Call(kBarrier, {}).status != kJobFinished) {
      return fail("a worker was not told that the job finished");
    }
  };
  std::vector<std::thread> nodes;
  for (int id = 0; id < kNodes; ++id) nodes.emplace_back(node, id);
  for (auto& t : nodes) t.join();
  // The clients are gone (their sockets closed): the daemon ends by itself.
  int daemon_status = daemon.join();
  for (int id = 0; id < kNodes; ++id) {
    EXPECT_EQ(errors[static_cast<size_t>(id)], "") << "node " << id;
    EXPECT_EQ(seen[static_cast<size_t>(id)], uint64_t{kNodes} * kIncrements) << "node " << id;
  }
  EXPECT_EQ(daemon_status, 0);
}

TEST(InProcessCluster, ClientLeavingEarlyFailsTheJobForTheOthers) {
  DaemonThread daemon(2);
  ASSERT_EQ(daemon.error(), "");
  auto a = DeviceClient::Connect(daemon.socket(), 5000, DeviceClient::Placement::kAnywhere);
  auto b = DeviceClient::Connect(daemon.socket(), 5000, DeviceClient::Placement::kAnywhere);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a.value()->Call(kAttach, {kVersion, 0, 1}).status, kOk);
  ASSERT_EQ(b.value()->Call(kAttach, {kVersion, 1, 2}).status, kOk);
  std::thread waiter([&] {
    auto r = a.value()->Call(kBarrier, {});
    EXPECT_EQ(r.status, kNodeLost);
    EXPECT_EQ(r.results[0], 1u);  // names the node that left
  });
  b.value().reset();  // node 1 goes away without finishing
  waiter.join();
  a.value().reset();
  EXPECT_EQ(daemon.join(), 1);
}

}  // namespace
}  // namespace dsm::runtime
