// dsm-run, the job launcher: command line parsing and the job runner.
//
// A job is one dsm-hostd daemon plus N node processes running the same
// program. RunJob() starts the daemon, waits for its "ready" line, starts the
// nodes and supervises everything from one poll loop (pidfds for the
// children, a signalfd for SIGINT/SIGTERM/SIGHUP, a timerfd for --timeout,
// the nodes' output pipes with --tag-output) until the job ends; it never
// sleeps and never leaves a child, a file descriptor or its temporary
// directory behind. The exact contract is in UsageText().
//
// The daemon's --ready-fd pipe stays open after "ready": when the job ends
// the daemon writes one more line, "finished <status>" (node 0 finished the
// job) or "lost <node>" (that node left before it finished), before it tells
// any node. The loop reads that pipe before it looks at any exit, so a
// worker's exit is always judged knowing whether the job had finished, and a
// failure names the node that left rather than one that stopped because of
// it.
//
// Nothing here throws. Thread safety: ParseOptions(), FindProgram() and the
// text functions are thread-safe; RunJob() changes process-wide state (the
// signal mask, SIGPIPE's disposition, RLIMIT_NOFILE) for its duration and
// must run on the only thread of the process.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dsm/common/status.h"
#include "dsm/device/protocol.h"

namespace dsm::launcher {

inline constexpr const char* kVersionText = "dsm-run (dsmkit) 0.1.0";

inline constexpr uint32_t kMaxNodes = device::kMaxNodes;
inline constexpr uint64_t kMinMemory = device::kMinSpaceSize;
inline constexpr uint64_t kMaxMemory = device::kMaxSpaceSize;
inline constexpr uint64_t kDefaultMemory = device::kDefaultSpaceSize;
inline constexpr double kMaxTimeoutSeconds = 1e9;

// Exit statuses of dsm-run besides node 0's own.
inline constexpr int kExitFailure = 1;       // the job or dsm-run itself failed
inline constexpr int kExitUsage = 2;         // bad command line; nothing started
inline constexpr int kExitTimeout = 124;     // --timeout expired
inline constexpr int kExitCannotExec = 127;  // the program could not be executed

// Time limits of the supervision, in milliseconds.
inline constexpr int64_t kReadyTimeoutMs = 10000;   // dsm-hostd must say "ready" within this
inline constexpr int64_t kWindDownMs = 3000;        // after node 0 exited: others may take this long
inline constexpr int64_t kDaemonLingerMs = 500;     // after the last node: dsm-hostd may take this long
inline constexpr int64_t kLostGraceMs = 1000;       // after "lost K" from dsm-hostd: node K's exit may follow
inline constexpr int64_t kTermToKillMs = 1000;      // SIGTERM, then SIGKILL this much later
inline constexpr int64_t kEndBudgetMs = 1800;       // ending the job gives up waiting after this

struct Options {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  uint32_t nodes = 0;
  uint64_t memory = kDefaultMemory;
  uint64_t stack = 0;  // --stack: node 0's main stack; 0 = the daemon's default
  std::optional<double> timeout_seconds;
  std::string timeout_text;  // --timeout as given, for the message
  bool tag_output = false;
  bool stats = false;
  std::string trace;  // --trace FILE: the merged timeline of every node
  std::string hostd;  // --hostd; empty: dsm-hostd next to dsm-run
  std::string program;
  std::vector<std::string> args;  // the program's arguments, untouched
};

// Parses the arguments after argv[0]. Options end at "--" or at the first
// argument that is not an option (the program); all later arguments belong
// to the program. An error Status (code EINVAL) carries the message to print
// after "dsm-run: error: ". --help and --version win over any other problem
// found before them or after them among the options.
Result<Options> ParseOptions(const std::vector<std::string>& args);

// Resolves the program like execvp() would, without running it: a name with
// a '/' is taken as a path, any other name is searched in path_env (PATH;
// nullptr means the default "/usr/local/bin:/usr/bin:/bin"). Returns the path
// to exec, or an error naming what is wrong (not found, not executable, a
// directory).
Result<std::string> FindProgram(const std::string& program, const char* path_env);

// The default daemon: "dsm-hostd" in the directory of /proc/self/exe.
Result<std::string> DefaultHostdPath();

// The --help text and the one-line hint printed after usage errors.
std::string UsageText();
inline constexpr const char* kTryHelp = "Try 'dsm-run --help'.";

// Runs the job and returns dsm-run's exit status. program_path and
// hostd_path are the resolved executables (see FindProgram); options.program
// is what the nodes see as argv[0] and what messages name.
int RunJob(const Options& options, const std::string& program_path, const std::string& hostd_path);

}  // namespace dsm::launcher
