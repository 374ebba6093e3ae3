// A hostile guest against the real daemon: guest_abuse.cc runs inside a QEMU
// guest (TCG) on a real dsm-hostd's ivshmem-doorbell device and writes
// garbage commands, jumped, stale and duplicate sequence numbers, doorbells
// to a peer and vectors that do not exist, garbage attach requests and, once
// attached, arguments out of range; then it finishes the one-node job. The test checks every step's
// line from the guest, the guest's exit status, that the daemon ended the job
// normally (exit 0, "finished 0"), and that its log shows what it saw.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

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


// Every check guest_abuse.cc makes, in its order.
// clang-format off
const char* const kSteps[] = {
    "setup", "fresh-page",
    // (a) .. (e): before attaching
    "unknown-command", "command-none", "command-past-the-last", "finish-before-attach",
    "lock-before-attach", "jumped-sequence", "stale-sequence", "duplicate-sequence",
    "doorbell-no-peer", "doorbell-no-vector", "doorbell-last-vector", "doorbell-last-peer",
    "doorbell-self", "still-served", "attach-out-of-range", "attach-garbage-node-id",
    "attach-bad-version",
    // attached
    "attach", "alloc-zero-bytes", "alloc-bad-alignment", "free-garbage-offset",
    "lock-id-too-large", "lock-no-such-entry", "alloc-too-large", "unlock-not-held",
    "attach-twice", "finish",
};
// clang-format on

TEST(GuestAbuse, TheDaemonsValidationHoldsAgainstAHostileGuest) {
  // Fail, not skip, without the inputs: a skipped test would count as a pass.
  REQUIRE_IMAGE_INPUTS();
  if (!HaveQemu()) FAIL() << "no qemu-system-x86_64: run scripts/bootstrap";
  TempDir dir("dsm-vm-abuse");
  BuildOptions options;
  options.cache_dir = dir.path() + "/cache";
  auto image = BuildImage(DSM_GUEST_ABUSE, options);
  ASSERT_TRUE(image.ok()) << image.status().message();

  // The daemon: one node, debug logging (the stale sequence is a debug line).
  const std::string socket = dir.path() + "/h.sock";
  const std::string daemon_log = dir.path() + "/hostd.log";
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  std::vector<std::string> env_s = {"DSM_LOG=debug"};
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "DSM_LOG=", 8) != 0) env_s.emplace_back(*e);
  }
  std::vector<char*> env;
  for (auto& e : env_s) env.push_back(e.data());
  env.push_back(nullptr);
  Child daemon;
  const bool daemon_started = daemon.SpawnLogged({DSM_HOSTD_PATH, "--socket", socket, "--nodes", "1", "--memory",
                                                  "64M", "--ready-fd", "3", "--exit-when-done"},
                                                 daemon_log, ready[1], env.data());
  ::close(ready[1]);
  const int ready_fd = ready[0];
  struct CloseFd {
    int fd;
    ~CloseFd() { ::close(fd); }
  } close_ready{ready_fd};
  ASSERT_TRUE(daemon_started) << "cannot start " << DSM_HOSTD_PATH << ": " << std::strerror(errno);
  const std::string started = ReadUntil(ready_fd, "ready\n", Clock::now() + std::chrono::seconds(10));
  ASSERT_EQ(started, "ready\n") << "dsm-hostd did not become ready; its log:\n" << Slurp(daemon_log);

  // The guest.
  BootOptions boot;
  boot.ivshmem_socket = socket;
  boot.console_path = dir.path() + "/console";
  boot.stdout_path = dir.path() + "/stdout";
  boot.stderr_path = dir.path() + "/stderr";
  auto cmd = QemuCommand(*image, boot);
  ASSERT_TRUE(cmd.ok()) << cmd.status().message();
  const std::string qemu_log = dir.path() + "/qemu.log";
  Child qemu;
  const bool qemu_started = qemu.SpawnLogged(*cmd, qemu_log);
  ASSERT_TRUE(qemu_started) << "cannot start QEMU: " << std::strerror(errno);

  // The guest powers off after the program; the daemon exits once the job
  // ended and its one peer (QEMU) left. Generous deadlines: TCG on a loaded
  // machine is slow, and they only matter when something hangs.
  auto qemu_status = qemu.WaitUntil(Clock::now() + std::chrono::seconds(90));
  const std::string out = Slurp(boot.stdout_path);
  const std::string err = Slurp(boot.stderr_path);
  const std::string console = Slurp(boot.console_path);
  ASSERT_TRUE(qemu_status.has_value()) << "the guest did not power off within 90 s; its output so far:\n"
                                       << out << err << "\nthe daemon's log:\n"
                                       << Slurp(daemon_log);
  auto daemon_status = daemon.WaitUntil(Clock::now() + std::chrono::seconds(15));
  const std::string status_lines = ReadUntil(ready_fd, "", Clock::now() + std::chrono::seconds(1));
  const std::string log = Slurp(daemon_log);
  RecordProperty("guest_stdout", out);
  std::printf("the guest's output:\n%s%s", out.c_str(), err.c_str());

  EXPECT_TRUE(WIFEXITED(*qemu_status) && WEXITSTATUS(*qemu_status) == 0)
      << "QEMU's wait status " << *qemu_status << "; its output:\n"
      << Slurp(qemu_log);
  // Every check held, in the guest.
  for (const char* step : kSteps) {
    EXPECT_NE(out.find(std::string("ok: ") + step + ": "), std::string::npos)
        << "no ok line for " << step << " in:\n"
        << out << err;
  }
  EXPECT_EQ(out.find("FAILED"), std::string::npos) << out;
  EXPECT_NE(out.find("guest_abuse: all "), std::string::npos) << out;
  EXPECT_EQ(err, "");
  EXPECT_EQ(ParseExitStatus(console), 0) << console;

  // The daemon ended the job normally: node 0 attached and finished with 0.
  ASSERT_TRUE(daemon_status.has_value()) << "the daemon did not exit after the guest left; its log:\n" << log;
  EXPECT_TRUE(WIFEXITED(*daemon_status) && WEXITSTATUS(*daemon_status) == 0)
      << "dsm-hostd's wait status " << *daemon_status << "; its log:\n"
      << log;
  EXPECT_EQ(status_lines, "attached 0\nfinished 0\n");
  // What it saw: the jump (5 served requests, then 1005), the stale number
  // (505), the refused attach requests.
  EXPECT_NE(log.find("sequence jumped from 5 to 1005"), std::string::npos) << log;
  EXPECT_NE(log.find("stale sequence 505 (last 1005) ignored"), std::string::npos) << log;
  EXPECT_NE(log.find("asked for node id 1, which is out of range"), std::string::npos) << log;
  EXPECT_NE(log.find("speaks protocol version"), std::string::npos) << log;
}

}  // namespace
}  // namespace dsm::image
