#include "qemu.h"

#include <array>
#include <string_view>

namespace dsm::image {

namespace {

constexpr char kEof = 0x04;    // ^D
constexpr char kLnext = 0x16;  // ^V

// QEMU's option syntax doubles a comma inside a value.
std::string OptionValue(const std::string& v) {
  std::string escaped;
  for (char c : v) {
    escaped += c;
    if (c == ',') escaped += ',';
  }
  return escaped;
}

std::string Chardev(const std::string& id, const std::string& path, int fd) {
  if (fd >= 0) return "socket,id=" + id + ",fd=" + std::to_string(fd);
  return "file,id=" + id + ",path=" + OptionValue(path);
}

// 'text' for the shell, any bytes kept.
std::string ShellQuote(std::string_view text) {
  std::string q = "'";
  for (char c : text) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

bool IsShellName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// The host's values of these mean nothing in a guest (its PATH and HOME are
// the init's; libraries are where the image put them).
constexpr std::array<std::string_view, 9> kHostOnly = {"PATH",   "HOME",            "PWD",        "OLDPWD",    "SHLVL",
                                                       "TMPDIR", "LD_LIBRARY_PATH", "LD_PRELOAD", "DSM_SOCKET"};

}  // namespace

Result<std::vector<std::string>> QemuCommand(const GuestImage& image, const BootOptions& o) {
  const bool node = !o.ivshmem_socket.empty();
  // no_timer_check: a guest slowed down by a loaded host otherwise may find
  // its timer interrupt late at boot and panic ("timer doesn't work through
  // Interrupt-remapped IO-APIC").
  std::string append = "console=ttyS0 panic=-1 rdinit=/init no_timer_check";
  // loglevel=1 still shows a panic (KERN_EMERG), which names why a guest died.
  append += o.kernel_messages ? " loglevel=7" : " quiet loglevel=1";
  if (node) append += " intel_iommu=on";
  if (o.job_file.empty()) {
    append += " --";
    for (const auto& a : o.args) {
      if (a.empty()) return Status(EINVAL, "an empty argument cannot be passed to a guest");
      for (unsigned char c : a) {
        if (c == '"' || c < 0x20 || c == 0x7f) {
          return Status(EINVAL, "argument '" + a + "' cannot be passed to a guest (a quote or a control character)");
        }
      }
      append += a.find(' ') != std::string::npos ? " \"" + a + "\"" : " " + a;
    }
  }
  if (append.size() >= 2048) {
    return Status(EINVAL, "the program's arguments are too long for a guest's kernel command line");
  }
  // TCG makes a guest's atomic instructions real host atomics only when the
  // guest may have several CPUs; with one it emits plain loads and stores,
  // which other QEMUs sharing the ivshmem memory would race with (a lock
  // word taken twice). maxcpus=2 keeps them atomic at no cost.
  std::string smp = std::to_string(o.cpus);
  if (node && o.cpus < 2) smp += ",maxcpus=2";
  std::vector<std::string> cmd = {o.qemu, "-accel", o.accel, "-M", node ? "q35" : "pc", "-m",
                                  std::to_string(o.memory_mb), "-smp", smp, "-nodefaults",
                                  "-no-user-config", "-display", "none", "-no-reboot"};
  if (node) {
    // The IOMMU comes before the device it translates for. Interrupt
    // remapping lets the guest's VFIO hand MSI-X to user space safely.
    cmd.insert(cmd.end(), {"-device", "intel-iommu,intremap=on", "-chardev",
                           "socket,id=dsm,path=" + OptionValue(o.ivshmem_socket), "-device",
                           "ivshmem-doorbell,chardev=dsm,vectors=1"});
  }
  if (!o.job_file.empty()) cmd.insert(cmd.end(), {"-fw_cfg", "name=opt/dsmkit/job,file=" + OptionValue(o.job_file)});
  if (!o.share_dir.empty()) {
    cmd.insert(cmd.end(), {"-fsdev", "local,id=dsmshare,security_model=none,path=" + OptionValue(o.share_dir),
                           "-device", "virtio-9p-pci,fsdev=dsmshare,mount_tag=dsmshare"});
  }
  cmd.insert(cmd.end(), {"-kernel", image.kernel, "-initrd", image.initramfs, "-append", append,
                         "-chardev", Chardev("con", o.console_path, o.console_fd), "-serial", "chardev:con",
                         "-chardev", Chardev("out", o.stdout_path, o.stdout_fd), "-serial", "chardev:out",
                         "-chardev", Chardev("err", o.stderr_path, o.stderr_fd), "-serial", "chardev:err"});
  if (!o.trace_path.empty()) {
    cmd.insert(cmd.end(), {"-chardev", Chardev("trc", o.trace_path, -1), "-serial", "chardev:trc"});
  }
  return cmd;
}

std::string GuestJobScript(const std::vector<std::string>& env, const std::string& cwd,
                           const std::vector<std::string>& args, bool stdin_from_port, bool trace,
                           const std::string& share) {
  std::string s = "# dsmkit job file for the guest's init (sourced)\n";
  for (const std::string& e : env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos) continue;
    std::string_view name(e.data(), eq);
    if (!IsShellName(name)) continue;
    bool host_only = false;
    for (std::string_view h : kHostOnly) host_only = host_only || name == h;
    if (host_only || name == "DSM_TRACE") continue;
    s += "export " + std::string(name) + "=" + ShellQuote(std::string_view(e).substr(eq + 1)) + "\n";
  }
  s += "set --";
  for (const std::string& a : args) s += " " + ShellQuote(a);
  s += "\ndsm_dir=" + ShellQuote(cwd.empty() ? "/" : cwd) + "\n";
  s += std::string("dsm_stdin=") + (stdin_from_port ? "port" : "null") + "\n";
  if (trace) s += "export DSM_TRACE=" + std::string(kGuestTracePrefix) + "\ndsm_trace=1\n";
  if (!share.empty()) s += "dsm_share=" + ShellQuote(share) + "\n";
  return s;
}

void StdinEncoder::Encode(std::string_view data, std::string* out) {
  for (char c : data) {
    if (c == '\0' || c == kEof || c == kLnext) *out += kLnext;
    *out += c;
    if (c == '\n') {
      line_ = 0;
    } else if (++line_ >= kMaxLine) {
      *out += kEof;  // hands the partial line over; not an end of file
      line_ = 0;
    }
  }
}

void StdinEncoder::Finish(std::string* out) {
  if (line_ > 0) *out += kEof;
  *out += kEof;
  line_ = 0;
}

std::optional<int> ParseExitStatus(std::string_view console) {
  size_t at = 0;
  while ((at = console.find(kExitLine, at)) != std::string_view::npos) {
    if (at == 0 || console[at - 1] == '\n') {
      int v = 0;
      size_t i = at + kExitLine.size();
      const size_t start = i;
      while (i < console.size() && console[i] >= '0' && console[i] <= '9' && v < 1000) {
        v = v * 10 + (console[i++] - '0');
      }
      if (i > start && i < console.size() && (console[i] == '\r' || console[i] == '\n')) return v;
    }
    at += kExitLine.size();
  }
  return std::nullopt;
}

}  // namespace dsm::image
