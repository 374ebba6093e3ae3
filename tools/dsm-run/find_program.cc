#include "find_program.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace dsm::launcher {
namespace {

Status UsageErr(std::string message) { return Status(EINVAL, std::move(message)); }

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// 0 if path is a regular file we may execute, else an errno value.
int CheckExecutable(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (!S_ISREG(st.st_mode)) return EACCES;
  if (::access(path.c_str(), X_OK) != 0) return errno;
  return 0;
}

}  // namespace

Result<std::string> FindProgram(const std::string& program, const char* path_env) {
  if (program.empty()) return UsageErr("empty program name");
  if (program.find('/') != std::string::npos) {
    int err = CheckExecutable(program);
    if (err != 0) return UsageErr("cannot run " + Quote(program) + ": " + std::strerror(err));
    return program;
  }
  std::string_view path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  int other_error = 0;
  for (;;) {
    size_t colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    std::string candidate = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + program;
    int err = CheckExecutable(candidate);
    if (err == 0) return candidate;
    if (err != ENOENT && err != ENOTDIR && other_error == 0) other_error = err;
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  if (other_error != 0) {
    return UsageErr("cannot run " + Quote(program) + ": " + std::strerror(other_error));
  }
  return UsageErr("program " + Quote(program) + " not found in PATH");
}

Result<std::string> DefaultHostdPath() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) return Status::FromErrno("readlink /proc/self/exe");
  std::string self(buf, static_cast<size_t>(n));
  size_t slash = self.rfind('/');
  std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
  if (dir.empty()) dir = "/";
  return dir + "/dsm-hostd";
}

}  // namespace dsm::launcher
