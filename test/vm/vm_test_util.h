// What the VM tests share: a temporary directory, reading a pipe until some
// text arrives, a whole file, whether QEMU and the image's inputs are there
// (vm_test_child.h: a child process). Header-
// only; each test uses it from its own thread.
#pragma once

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace dsm::vmtest {

using Clock = std::chrono::steady_clock;

// A fresh directory under the system's temporary directory, removed with
// everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "dsm-vm-test") {
    std::string t = (std::filesystem::temp_directory_path() / (prefix + ".XXXXXX")).string();
    EXPECT_NE(::mkdtemp(t.data()), nullptr);
    path_ = t;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Reads fd until `want` has arrived (an empty want: until end of file), end
// of file, or the deadline.
inline std::string ReadUntil(int fd, const std::string& want, Clock::time_point deadline) {
  std::string got;
  while (want.empty() || got.find(want) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 0)));
    if (r < 0 && errno == EINTR) continue;
    if (r != 1) break;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// The file's bytes ("" if it cannot be read).
inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Whether qemu-system-x86_64 is on PATH.
inline bool HaveQemu() { return ::system("command -v qemu-system-x86_64 >/dev/null 2>&1") == 0; }

}  // namespace dsm::vmtest

// Fails the calling test when this machine lacks what a guest image needs (a
// skip would count as a pass; scripts/bootstrap installs it all). For files
// that include image.h.
#define REQUIRE_IMAGE_INPUTS()                                                                   \
  do {                                                                                           \
    if (!::dsm::image::FindKernel("").ok() || !::dsm::image::FindBusybox().ok()) {               \
      FAIL() << "no guest kernel or busybox-static: run scripts/bootstrap";                      \
    }                                                                                            \
  } while (0)
