#include "dsm/common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dsm {
namespace {

char g_prefix[64] = "dsm";

int LevelFromEnv() {
  const char* v = std::getenv("DSM_LOG");
  if (v == nullptr) return static_cast<int>(LogLevel::kWarn);
  if (std::strcmp(v, "error") == 0) return 0;
  if (std::strcmp(v, "warn") == 0) return 1;
  if (std::strcmp(v, "info") == 0) return 2;
  if (std::strcmp(v, "debug") == 0) return 3;
  return static_cast<int>(LogLevel::kWarn);
}

int CurrentLevel() {
  static const int level = LevelFromEnv();
  return level;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarn: return "warning";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "?";
}

}  // namespace

void SetLogPrefix(const char* prefix) {
  std::snprintf(g_prefix, sizeof g_prefix, "%s", prefix);
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) <= CurrentLevel(); }

void WriteLine(const char* prefix, const char* fmt, va_list ap) {
  char line[2048];
  int n = std::snprintf(line, sizeof line, "%s", prefix);
  if (n < 0) return;
  if (static_cast<size_t>(n) > sizeof line - 2) n = sizeof line - 2;
  int m = std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n), fmt, ap);
  size_t len = static_cast<size_t>(n) + (m > 0 ? static_cast<size_t>(m) : 0);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, line, len);
  (void)ignored;
}

void Log(LogLevel level, const char* fmt, ...) {
  if (!LogEnabled(level)) return;
  char prefix[128];
  std::snprintf(prefix, sizeof prefix, "%s: %s: ", g_prefix, LevelName(level));
  va_list ap;
  va_start(ap, fmt);
  WriteLine(prefix, fmt, ap);
  va_end(ap);
}

}  // namespace dsm
