// Diagnostics on stderr, one line per call, prefixed with the program's role
// ("dsm-hostd", "dsm[node 2]"). Thread-safe (one write(2) per line).
// Verbosity comes from DSM_LOG (error, warn, info, debug; default warn).
#pragma once

#include <cstdarg>

namespace dsm {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

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
