// Booting a guest image (image.h) with QEMU: the command line, the job file
// the guest's init reads, the encoding of node 0's standard input for the
// guest's serial port, and the guest's exit-status line (docs/vm.md).
//
// The guest's serial ports: ttyS0 is the kernel console and carries the
// init's exit line (kernel messages too, when asked for); ttyS1 is the
// program's stdout (and, for node 0 of a job, its stdin) and ttyS2 its
// stderr, both passing bytes unchanged.
//
// Functions only; thread-safe. StdinEncoder is a value used by one thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dsm/common/status.h"
#include "image.h"

namespace dsm::image {

struct BootOptions {
  std::string qemu = "qemu-system-x86_64";
  std::string accel = "tcg";  // "tcg" or "kvm"
  unsigned memory_mb = 256;
  unsigned cpus = 1;
  // The program's arguments (after argv[0]) on the kernel command line, for
  // a guest without a job file (a few plain words; see QemuCommand).
  std::vector<std::string> args;
  // Each port goes to a file (path) or to a connected socket QEMU inherits
  // as this descriptor (fd >= 0, which wins).
  std::string console_path, stdout_path, stderr_path;
  int console_fd = -1, stdout_fd = -1, stderr_fd = -1;
  bool kernel_messages = false;  // print the kernel's messages on the console
  // A node of a job: the daemon's ivshmem socket (QEMU's ivshmem-doorbell
  // device on it, behind an emulated IOMMU so the guest can drive it with
  // VFIO), and the job file (GuestJobScript) handed over by fw_cfg.
  std::string ivshmem_socket;
  std::string job_file;
  // A host directory the guest mounts (virtio-9p, tag "dsmshare"), read and
  // written as the host user; GuestJobScript's share says where.
  std::string share_dir;
  // A fourth port (ttyS3) written to this file: the node's trace, which the
  // init copies there after the program ended (GuestJobScript's trace).
  std::string trace_path;
};

// Errors (EINVAL): without a job file, an argument the kernel command line
// cannot carry (empty, or holding a double quote or a control character),
// or a command line longer than the kernel's 2048 bytes.
Result<std::vector<std::string>> QemuCommand(const GuestImage& image, const BootOptions& options);

// What the guest's init needs to run a node as dsm-run runs a native one: a
// shell fragment it sources, exporting env ("NAME=value" strings; names that
// are not shell identifiers, and the host-only PATH, HOME, PWD, OLDPWD,
// SHLVL, TMPDIR, LD_LIBRARY_PATH, LD_PRELOAD and DSM_SOCKET are left out),
// making and entering cwd, and setting the program's arguments. With
// stdin_from_port the program reads ttyS1, in the mode StdinEncoder writes
// for; otherwise /dev/null. With trace, the runtime writes its trace
// (DSM_TRACE) inside the guest and the init copies it to ttyS3 at the end.
// With a share path, the init mounts the directory QEMU shares
// (BootOptions::share_dir) there before entering cwd. Any bytes in values
// and arguments are kept.
std::string GuestJobScript(const std::vector<std::string>& env, const std::string& cwd,
                           const std::vector<std::string>& args, bool stdin_from_port, bool trace,
                           const std::string& share = "");

// Where the runtime in a guest writes its trace (DSM_TRACE's prefix).
inline constexpr std::string_view kGuestTracePrefix = "/tmp/dsm-trace";

// Node 0's standard input reaches the guest through a serial port, which has
// no end of file; the init puts the port in canonical mode with every
// special character off except VEOF (^D) and VLNEXT (^V), and this encoder
// turns a byte stream into what the line discipline gives back unchanged:
// ^V before every NUL, ^D and ^V byte, a ^D after at most kMaxLine bytes
// without a newline (it hands a partial line over without ending the
// input), and at the end a ^D at the start of a line, which read(2) in the
// guest sees as end of file.
class StdinEncoder {
 public:
  static constexpr size_t kMaxLine = 1024;
  // Appends the encoding of data to out.
  void Encode(std::string_view data, std::string* out);
  // Appends the end of the input to out.
  void Finish(std::string* out);

 private:
  size_t line_ = 0;  // bytes since the last newline or flush
};

// The init writes "dsm-guest-exit STATUS" on a line of its own on the
// console after the program has ended and its output has drained.
inline constexpr std::string_view kExitLine = "dsm-guest-exit ";
// With the program's stdin on ttyS1, the init says this on the console once
// the port is in the mode StdinEncoder writes for; nothing may come before.
inline constexpr std::string_view kStdinReadyLine = "dsm-stdin-ready";
// The program's exit status from the console's bytes; nullopt when the line
// is missing (the guest died first: a panic, QEMU killed).
std::optional<int> ParseExitStatus(std::string_view console);

}  // namespace dsm::image
