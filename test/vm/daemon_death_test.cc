// A guest notices on its own that its host daemon died. Nothing closes inside
// a guest when dsm-hostd goes away (QEMU's socket to the daemon is outside
// it): a waiting guest node learns it only from the daemon's heartbeat in
// SpaceHeader standing still (runtime/src/guest_device.h, docs/vm.md).
//
// A real dsm program (vm_node, linked with libdsm) boots in a TCG guest on a
// real dsm-hostd's ivshmem-doorbell device as node 0 of a two-node job whose
// node 1 never comes, so it waits in the start barrier. The test kills the
// daemon (SIGKILL: no goodbye of any kind) and then only waits, on QEMU's
// pidfd with a deadline: the program must end with the runtime's message for
// a daemon that went away, the init's exit line must carry the job-failed
// status, and the guest must power off, all within the heartbeat's limit plus
// slack. No dsm-run is involved: it would notice the daemon's death itself.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dsm/common/exit_status.h"
#include "dsm/device/protocol.h"
#include "file_util.h"
#include "image.h"
#include "qemu.h"
#include "vm_test_child.h"

extern char** environ;

namespace dsm::image {
namespace {

namespace fs = std::filesystem;
using vmtest::Child;
using vmtest::HaveQemu;
using vmtest::ReadUntil;
using vmtest::Slurp;
using vmtest::TempDir;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

// The first pages of a daemon's shared space (its header and the register
// pages), read-only, through its file in /proc/PID/fd (a memfd or an
// unlinked file of a private tmpfs, both named dsm-shared-space).
class SpaceView {
 public:
  explicit SpaceView(pid_t daemon) {
    const std::string fds = "/proc/" + std::to_string(daemon) + "/fd";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fds, ec)) {
      if (fs::read_symlink(e.path(), ec).string().find("dsm-shared-space") == std::string::npos) continue;
      int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      void* p = ::mmap(nullptr, kBytes, PROT_READ, MAP_SHARED, fd, 0);
      ::close(fd);
      if (p != MAP_FAILED) base_ = p;
      break;
    }
  }
  ~SpaceView() {
    if (base_ != nullptr) ::munmap(base_, kBytes);
  }
  SpaceView(const SpaceView&) = delete;
  SpaceView& operator=(const SpaceView&) = delete;
  [[nodiscard]] bool ok() const { return base_ != nullptr; }

  // Whether some node sleeps in a barrier: its request to sleep in the host
  // barrier made and not answered, its waiting flag set (what
  // DeviceClient::Wait does before it sleeps on its doorbell).
  [[nodiscard]] bool NodeWaitsInBarrier() const {
    for (uint32_t slot = 1; slot < device::kMaxSlots; ++slot) {
      const device::RegisterFile* r = device::RegisterPage(base_, slot);
      if (__atomic_load_n(&r->command, __ATOMIC_ACQUIRE) == device::kBarrierSleep &&
          __atomic_load_n(&r->node_flags, __ATOMIC_ACQUIRE) == device::kNodeWaiting &&
          __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE) != __atomic_load_n(&r->done_seq, __ATOMIC_ACQUIRE)) {
        return true;
      }
    }
    return false;
  }

 private:
  static constexpr size_t kBytes = 1 << 20;  // the header and the register pages (64M space)
  void* base_ = nullptr;
};

std::string WaitStatusText(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

TEST(GuestDaemonDeath, AWaitingGuestNoticesFromTheHeartbeatAlone) {
  // Fail, not skip, without the inputs: a skipped test would count as a pass.
  REQUIRE_IMAGE_INPUTS();
  if (!HaveQemu()) FAIL() << "no qemu-system-x86_64: run scripts/bootstrap";
  TempDir dir("dsm-vm-death");
  BuildOptions options;
  options.cache_dir = dir.path() + "/cache";
  // Libraries are looked for as dsm-run looks for them (LD_LIBRARY_PATH first).
  options.search = SearchFromEnvironment();
  auto image = BuildImage(DSM_VM_NODE, options);
  ASSERT_TRUE(image.ok()) << image.status().message();

  // The daemon of a two-node job.
  const std::string socket = dir.path() + "/h.sock";
  const std::string daemon_log = dir.path() + "/hostd.log";
  int status_pipe[2];
  ASSERT_EQ(::pipe2(status_pipe, O_CLOEXEC), 0);
  struct CloseFd {
    int fd;
    ~CloseFd() { ::close(fd); }
  } close_status{status_pipe[0]};
  Child daemon;
  const bool daemon_started = daemon.SpawnLogged(
      {DSM_HOSTD_PATH, "--socket", socket, "--nodes", "2", "--memory", "64M", "--ready-fd", "3"}, daemon_log,
      status_pipe[1]);
  ::close(status_pipe[1]);
  ASSERT_TRUE(daemon_started) << "cannot start " << DSM_HOSTD_PATH << ": " << std::strerror(errno);
  const std::string ready = ReadUntil(status_pipe[0], "ready\n", Clock::now() + seconds(10));
  ASSERT_EQ(ready, "ready\n") << "dsm-hostd did not become ready; its log:\n" << Slurp(daemon_log);

  // Node 0 of the two, in a guest: vm_node's main would only exit, but node 0
  // never gets there without node 1.
  const std::string job_file = dir.path() + "/node0.job";
  {
    std::ofstream job(job_file);
    job << GuestJobScript({"DSM_NODE_ID=0", "DSM_NUM_NODES=2"}, "/", {"exit", "0"}, false, false);
    ASSERT_TRUE(job.good());
  }
  BootOptions boot;
  boot.ivshmem_socket = socket;
  boot.job_file = job_file;
  boot.console_path = dir.path() + "/console";
  boot.stdout_path = dir.path() + "/stdout";
  boot.stderr_path = dir.path() + "/stderr";
  auto cmd = QemuCommand(*image, boot);
  ASSERT_TRUE(cmd.ok()) << cmd.status().message();
  const std::string qemu_log = dir.path() + "/qemu.log";
  Child qemu;
  const bool qemu_started = qemu.SpawnLogged(*cmd, qemu_log);
  ASSERT_TRUE(qemu_started) << "cannot start QEMU: " << std::strerror(errno);

  // The daemon says when the guest attached (a boot takes 2-5 s under TCG;
  // generous on a loaded machine, it only matters when something hangs).
  const std::string attached = ReadUntil(status_pipe[0], "attached 0\n", Clock::now() + seconds(45));
  ASSERT_EQ(attached, "attached 0\n") << "the guest did not attach; its stderr:\n"
                                      << Slurp(boot.stderr_path) << "\nits console:\n"
                                      << Slurp(boot.console_path) << "\nQEMU:\n"
                                      << Slurp(qemu_log) << "\nthe daemon's log:\n"
                                      << Slurp(daemon_log);

  // "attached" comes before the guest is answered: wait until it sleeps in
  // the start barrier (node 1 never comes), looking at its register page
  // between short waits on QEMU's end. Killing the daemon earlier would
  // test the attach's failure instead.
  SpaceView space(daemon.pid());
  ASSERT_TRUE(space.ok()) << "cannot map the daemon's shared space through /proc";
  const auto barrier_deadline = Clock::now() + seconds(15);
  bool waiting = false;
  while (!(waiting = space.NodeWaitsInBarrier()) && Clock::now() < barrier_deadline) {
    ASSERT_FALSE(qemu.ExitedWithin(10)) << "the guest ended before it reached the start barrier; its stderr:\n"
                                        << Slurp(boot.stderr_path);
  }
  ASSERT_TRUE(waiting) << "the guest did not wait in the start barrier; its stderr:\n" << Slurp(boot.stderr_path);

  // Kill the daemon; from here on the guest is on its own.
  ASSERT_TRUE(daemon.Kill(SIGKILL));
  const auto killed_at = Clock::now();
  auto daemon_status = daemon.WaitUntil(killed_at + seconds(5));
  ASSERT_TRUE(daemon_status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*daemon_status) && WTERMSIG(*daemon_status) == SIGKILL);

  // The heartbeat is declared dead after 3 s unchanged, checked every 0.5 s;
  // then the program exits, the init reports and powers off. 20 s leaves a
  // loaded machine room and still fails a guest that never notices.
  auto qemu_status = qemu.WaitUntil(killed_at + seconds(20));
  const double took = std::chrono::duration<double>(Clock::now() - killed_at).count();
  const std::string out = Slurp(boot.stdout_path);
  const std::string err = Slurp(boot.stderr_path);
  const std::string console = Slurp(boot.console_path);
  ASSERT_TRUE(qemu_status.has_value()) << "the guest did not notice its daemon's death within 20 s; its stderr:\n"
                                       << err << "\nits console:\n"
                                       << console;
  std::printf("the guest powered off %.1f s after its daemon was killed\n", took);
  EXPECT_TRUE(WIFEXITED(*qemu_status) && WEXITSTATUS(*qemu_status) == 0)
      << "QEMU: " << WaitStatusText(*qemu_status) << "; it said:\n"
      << Slurp(qemu_log);
  EXPECT_GE(took, 2.0) << "too fast for the heartbeat's 3 s: something else ended the guest";

  // The runtime's own words for a request that returned kDaemonGone
  // (Runtime::HandleEnd), and nothing else: main never ran.
  EXPECT_EQ(err, "dsm[node 0]: error: the host daemon went away; ending\n");
  EXPECT_EQ(out, "");
  EXPECT_EQ(ParseExitStatus(console), kExitJobFailed) << "the console:\n" << console;
}

}  // namespace
}  // namespace dsm::image
