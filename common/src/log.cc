#include "dsm/common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "dsm/common/thread_annotations.h"

namespace dsm {
namespace {

// Longest prefix kept (longer ones are cut), as before.
constexpr size_t kMaxPrefix = 63;

// Every distinct prefix ever set, one copy each, never changed or freed once
// published: a thread that loaded an old prefix pointer keeps reading a
// complete, unchanging string however often the prefix changes after.
// Memory grows with the number of distinct prefixes only (a process uses one
// or two).
class PrefixTable {
 public:
  // The table's copy of `prefix`; allocates the first time it is seen.
  const char* Intern(std::string_view prefix) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    for (const auto& s : strings_) {
      if (prefix == s.get()) return s.get();
    }
    auto copy = std::make_unique<char[]>(prefix.size() + 1);
    std::memcpy(copy.get(), prefix.data(), prefix.size());
    copy[prefix.size()] = '\0';
    strings_.push_back(std::move(copy));
    return strings_.back().get();
  }

 private:
  Mutex mu_;
  std::vector<std::unique_ptr<char[]>> strings_ GUARDED_BY(mu_);
};

PrefixTable& Prefixes() {
  // Never destroyed: threads (an embedded daemon) may log while the process
  // exits, after static destructors ran.
  static PrefixTable* table = new PrefixTable();
  return *table;
}

// The current prefix: a string of the PrefixTable (or the literal default).
// Readers load it once per line without taking any lock, so that logging
// stays usable on a Fatal path, from a signal handler or while another
// thread is stopped anywhere (including inside SetLogPrefix).
std::atomic<const char*> g_prefix{"dsm"};
static_assert(std::atomic<const char*>::is_always_lock_free);

// -1 until first read. Computing it twice is harmless (same value), so no
// lock and no guard variable: a first log call from a signal handler cannot
// deadlock on initialisation.
std::atomic<int> g_level{-1};

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
  int level = g_level.load(std::memory_order_relaxed);
  if (level < 0) {
    level = LevelFromEnv();
    g_level.store(level, std::memory_order_relaxed);
  }
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
  std::string_view p = prefix != nullptr ? prefix : "";
  if (p.size() > kMaxPrefix) p = p.substr(0, kMaxPrefix);
  // Release: a reader that sees the pointer sees the characters behind it.
  g_prefix.store(Prefixes().Intern(p), std::memory_order_release);
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
  std::snprintf(prefix, sizeof prefix, "%s: %s: ", g_prefix.load(std::memory_order_acquire),
                LevelName(level));
  va_list ap;
  va_start(ap, fmt);
  WriteLine(prefix, fmt, ap);
  va_end(ap);
}

}  // namespace dsm
