#include "vm.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "dsm/common/parse.h"
#include "elf_deps.h"
#include "qemu.h"
#include "output.h"

namespace dsm::launcher {

namespace {

constexpr std::string_view kPanic = "Kernel panic - not syncing";
constexpr std::string_view kInitSays = "dsm-init: ";

bool IsExecutable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t start = 0;
  while (start < s.size() && s[start] == ' ') ++start;
  return s.substr(start);
}

// "[   12.345678] text" -> "text".
std::string WithoutTimestamp(const std::string& line) {
  if (!line.empty() && line[0] == '[') {
    size_t close = line.find("] ");
    if (close != std::string::npos) return line.substr(close + 2);
  }
  return line;
}

}  // namespace

Result<std::string> FindQemu(const std::string& option) {
  if (!option.empty()) {
    if (!IsExecutable(option)) return Status(ENOENT, "--qemu " + option + " is not an executable file");
    return option;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::stringstream ss(dirs);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/qemu-system-x86_64";
    if (IsExecutable(candidate)) return candidate;
  }
  return Status(ENOENT, "qemu-system-x86_64 is not on PATH: install Debian's qemu-system-x86 "
                        "(scripts/bootstrap does) or name it with --qemu");
}

Status CheckHostMemory(uint32_t guests, uint64_t memory, const std::string& meminfo) {
  std::ifstream in(meminfo);
  std::string key;
  uint64_t kib = 0;
  bool found = false;
  while (in >> key) {
    if (key == "MemAvailable:") {
      found = static_cast<bool>(in >> kib);
      break;
    }
    std::string rest;
    std::getline(in, rest);
  }
  if (!found) return Status::Ok();  // nothing to go by: let QEMU try
  const uint64_t available = kib << 10;
  const uint64_t need = guests * (memory + kGuestOverhead);
  if (need > available) {
    return Status(ENOMEM, std::to_string(guests) + " guests of " + std::to_string(memory >> 20) +
                              " MiB need about " + std::to_string(need >> 20) + " MiB, but this machine has " +
                              std::to_string(available >> 20) +
                              " MiB available: use fewer nodes, more hosts' worth of machines, or a smaller "
                              "--vm-memory");
  }
  return Status::Ok();
}

Status CheckLinkedWithLibdsm(const std::string& program) {
  auto elf = image::ReadElf(program);
  if (!elf.ok()) return Status(elf.status().code(), "cannot put " + program + " in a guest image: " + elf.status().message());
  const std::string hint = program + " is not linked with libdsm, so it cannot join a job in a guest (build it "
                                     "with dsm-clang, the CMake target dsm::dsm or 'pkg-config --libs dsm')";
  if (elf->interpreter.empty()) {
    // A static program: libdsm.a's code is in it. Its messages name it.
    std::ifstream in(program, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (bytes.str().find("libdsm") == std::string::npos) return Status(EINVAL, hint);
    return Status::Ok();
  }
  auto libs = image::CollectLibraries(program, image::SearchFromEnvironment());
  if (!libs.ok()) return Status(libs.status().code(), "cannot put " + program + " in a guest image: " + libs.status().message());
  for (const auto& lib : *libs) {
    if (lib.soname.starts_with("libdsm.so")) return Status::Ok();
  }
  return Status(EINVAL, hint);
}

void GuestConsole::Feed(std::string_view bytes) {
  partial_.append(bytes);
  size_t start = 0;
  for (;;) {
    size_t nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    Line(partial_.substr(start, nl - start));
    start = nl + 1;
  }
  partial_.erase(0, start);
  if (partial_.size() > kTailBytes) {
    Line(partial_);
    partial_.clear();
  }
}

void GuestConsole::Flush() {
  if (!partial_.empty()) Line(partial_);
  partial_.clear();
}

void GuestConsole::Line(std::string line) {
  line = Trim(std::move(line));
  if (line.empty()) return;
  if (!exit_status_) {
    auto status = image::ParseExitStatus(line + "\n");
    if (status) {
      exit_status_ = status;
      return;
    }
  }
  if (line == image::kStdinReadyLine) {
    stdin_ready_ = true;
    return;
  }
  std::string text = WithoutTimestamp(line);
  if (!panic_ && text.starts_with(kPanic)) panic_ = text;
  if (forward_kernel_ || text.starts_with(kInitSays)) {
    std::string out = prefix_ + text + "\n";
    ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
    (void)ignored;
  }
}

GuestEnd JudgeGuestEnd(const GuestConsole& console, const ExitInfo& qemu, std::string_view qemu_stderr) {
  GuestEnd end;
  if (auto status = console.exit_status()) {
    // The init's shell reports a program killed by signal S as 128 + S.
    if (*status > 128 && *status < 128 + 65) {
      end.exit.signaled = true;
      end.exit.value = *status - 128;
    } else {
      end.exit.value = *status;
    }
    end.how = Describe(end.exit) + " in its guest";
    return end;
  }
  end.died = true;
  end.exit.signaled = true;
  end.exit.value = qemu.signaled ? qemu.value : SIGKILL;
  if (auto panic = console.panic()) {
    end.how = "lost its guest: the guest kernel panicked (" + *panic + ")";
  } else if (qemu.signaled) {
    end.how = "lost its guest: QEMU " + Describe(qemu);
  } else {
    std::string said = Trim(std::string(qemu_stderr.substr(qemu_stderr.rfind('\n', qemu_stderr.size() - 2) + 1)));
    end.how = "lost its guest: QEMU " + Describe(qemu) + " without the guest reporting an exit";
    if (!said.empty()) end.how += " (QEMU said: " + said + ")";
  }
  return end;
}

}  // namespace dsm::launcher
