// Diagnostics on stderr, one line per call, prefixed with the program's role
// ("dsm-hostd", "dsm[node 2]"). Verbosity comes from DSM_LOG (error, warn,
// info, debug; default warn).
//
// Thread safety: every function may be called from any thread at any time.
// A line is one write(2), so lines from several threads never mix, and it
// carries either the prefix before or the one after a concurrent
// SetLogPrefix, in full. Log, LogEnabled and WriteLine take no lock and do
// not allocate (a stack buffer, snprintf, write): usable on a Fatal path and,
// with snprintf's caveat, from a signal handler. SetLogPrefix takes a mutex
// and allocates (the first time it sees a prefix); not async-signal-safe.
#pragma once

#include <cstdarg>

namespace dsm {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// Prefix of every later line (cut at 63 characters). Each distinct prefix is
// kept for the life of the process (lines being written may still use it).
void SetLogPrefix(const char* prefix);
bool LogEnabled(LogLevel level);
[[gnu::format(printf, 2, 3)]] void Log(LogLevel level, const char* fmt, ...);

// Writes "<prefix><formatted text>\n" to stderr in one write(2) (cut at 2 KiB),
// whatever the verbosity: for tools' own messages to their users.
[[gnu::format(printf, 2, 0)]] void WriteLine(const char* prefix, const char* fmt, va_list ap);

}  // namespace dsm

#define DSM_LOG_ERROR(...) ::dsm::Log(::dsm::LogLevel::kError, __VA_ARGS__)
#define DSM_LOG_WARN(...) ::dsm::Log(::dsm::LogLevel::kWarn, __VA_ARGS__)
#define DSM_LOG_INFO(...) \
  do { if (::dsm::LogEnabled(::dsm::LogLevel::kInfo)) ::dsm::Log(::dsm::LogLevel::kInfo, __VA_ARGS__); } while (0)
#define DSM_LOG_DEBUG(...) \
  do { if (::dsm::LogEnabled(::dsm::LogLevel::kDebug)) ::dsm::Log(::dsm::LogLevel::kDebug, __VA_ARGS__); } while (0)
