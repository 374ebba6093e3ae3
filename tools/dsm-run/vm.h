// dsm-run --vm: what a job of QEMU guests needs besides what native nodes
// need. The checks made before anything boots (QEMU, the host's memory, a
// program that can go into an image), and reading a guest's console: its
// exit line, a kernel panic, the init's own complaints (docs/vm.md).
//
// The job runner (job_vm.cc) starts one QEMU per node on its host's daemon
// socket and judges a guest's end from its console and QEMU's exit.
//
// Nothing here starts anything. Thread-compatible values; functions are
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dsm/common/status.h"
#include "spawn.h"

namespace dsm::launcher {

// What a guest costs the host beyond its RAM: QEMU itself and TCG's
// translation cache (dsm-run caps it at kTcgCacheMiB).
inline constexpr uint64_t kGuestOverhead = 160ULL << 20;
inline constexpr unsigned kTcgCacheMiB = 64;

// --qemu if given (it must be executable), else qemu-system-x86_64 on PATH.
// Errors name the package to install.
Result<std::string> FindQemu(const std::string& option);

// Enough memory for guests guests of memory bytes each (MemAvailable in
// meminfo, /proc/meminfo by default). The error says how much is needed and
// what to change.
Status CheckHostMemory(uint32_t guests, uint64_t memory, const std::string& meminfo = "/proc/meminfo");

// A program can go into a guest image only if it can join a job there: it
// must be linked with libdsm (a DT_NEEDED libdsm.so, or libdsm.a's code in
// a static program).
Status CheckLinkedWithLibdsm(const std::string& program);

// A guest's console as it arrives: lines from the init ("dsm-init: ...")
// and, with forward_kernel, every other line too, go to stderr after
// prefix; the exit line is kept; the last kTailBytes are kept for the end.
class GuestConsole {
 public:
  static constexpr size_t kTailBytes = 16384;
  GuestConsole(std::string prefix, bool forward_kernel)
      : prefix_(std::move(prefix)), forward_kernel_(forward_kernel) {}

  void Feed(std::string_view bytes);
  // The unterminated rest as a line.
  void Flush();
  // The program's exit status from the init's line, if it came.
  [[nodiscard]] std::optional<int> exit_status() const { return exit_status_; }
  // "Kernel panic - not syncing: ..." if the kernel said so.
  [[nodiscard]] std::optional<std::string> panic() const { return panic_; }
  // The guest's init is ready for node 0's standard input (kStdinReadyLine).
  [[nodiscard]] bool stdin_ready() const { return stdin_ready_; }

 private:
  void Line(std::string line);

  std::string prefix_;
  bool forward_kernel_;
  std::string partial_;
  std::optional<int> exit_status_;
  std::optional<std::string> panic_;
  bool stdin_ready_ = false;
};

// How a guest ended, for messages and for the job: what its console said,
// else how QEMU ended (qemu_stderr: the end of what QEMU printed).
struct GuestEnd {
  ExitInfo exit;    // the program's status, or QEMU's / a kill for a guest that died
  std::string how;  // "exited with status 3", "its guest kernel panicked (...)"
  bool died = false;  // the guest itself died (no exit line)
};
GuestEnd JudgeGuestEnd(const GuestConsole& console, const ExitInfo& qemu, std::string_view qemu_stderr);

}  // namespace dsm::launcher
