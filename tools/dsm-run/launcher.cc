#include "launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "dsm/common/exit_status.h"
#include "dsm/common/fd.h"
#include "dsm/common/job_status.h"
#include "dsm/common/log.h"
#include "dsm/common/parse.h"
#include "dsm/device/protocol.h"

extern char** environ;

namespace dsm::launcher {
namespace {

Status UsageErr(std::string message) { return Status(EINVAL, std::move(message)); }

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// --timeout: a plain decimal number of seconds ("2", "0.5", ".25", "3.").
std::optional<double> ParseSeconds(std::string_view text) {
  if (text.empty() || text == ".") return std::nullopt;
  bool dot = false;
  for (char c : text) {
    if (c == '.') {
      if (dot) return std::nullopt;
      dot = true;
    } else if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  std::string copy(text);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

Result<Options> ParseOptions(const std::vector<std::string>& args) {
  Options o;
  bool have_nodes = false;
  bool help = false;
  bool version = false;
  std::optional<Status> error;  // the first problem; --help/--version still win
  auto fail = [&](std::string message) {
    if (!error) error = UsageErr(std::move(message));
  };

  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // the program ("-" included)

    std::string name = arg;
    std::optional<std::string> inline_value;
    if (arg.starts_with("--")) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        name = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
      }
    } else if (arg.starts_with("-n") && arg.size() > 2) {
      name = "-n";
      inline_value = arg.substr(2);
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < args.size()) return args[++i];
      fail("option " + Quote(name) + " needs a value");
      return std::nullopt;
    };
    auto flag = [&]() {
      if (inline_value) fail("option " + Quote(name) + " takes no value");
    };

    if (name == "--help" || name == "-h") {
      flag();
      help = true;
    } else if (name == "--version") {
      flag();
      version = true;
    } else if (name == "-n" || name == "--nodes") {
      auto v = value();
      if (!v) continue;
      auto n = ParseUint(*v);
      if (!n) {
        fail("invalid value " + Quote(*v) + " for " + name + ": not a number");
      } else if (*n < 1 || *n > kMaxNodes) {
        fail("invalid value " + Quote(*v) + " for " + name + ": the number of nodes must be 1 to " +
             std::to_string(kMaxNodes));
      } else {
        o.nodes = static_cast<uint32_t>(*n);
        have_nodes = true;
      }
    } else if (name == "--memory") {
      auto v = value();
      if (!v) continue;
      auto n = ParseSize(*v);
      std::string what = "invalid value " + Quote(*v) + " for --memory: ";
      if (!n) {
        fail(what + "not a size (examples: 256M, 1G)");
      } else if (*n < kMinMemory) {
        fail(what + "below the minimum of 64M");
      } else if (*n > kMaxMemory) {
        fail(what + "above the maximum of 1T");
      } else if ((*n & (*n - 1)) != 0) {
        fail(what + "not a power of two");
      } else {
        o.memory = *n;
      }
    } else if (name == "--stack") {
      auto v = value();
      if (!v) continue;
      auto n = ParseSize(*v);
      if (!n || *n == 0) {
        fail("invalid value " + Quote(*v) + " for --stack: not a size (examples: 64M, 1G)");
      } else {
        o.stack = *n;
      }
    } else if (name == "--timeout") {
      auto v = value();
      if (!v) continue;
      auto s = ParseSeconds(*v);
      std::string what = "invalid value " + Quote(*v) + " for --timeout: ";
      if (!s) {
        fail(what + "not a number of seconds");
      } else if (*s <= 0) {
        fail(what + "must be positive");
      } else if (*s > kMaxTimeoutSeconds) {
        fail(what + "too large (at most 1000000000)");
      } else {
        o.timeout_seconds = *s;
        o.timeout_text = *v;
      }
    } else if (name == "--tag-output") {
      flag();
      o.tag_output = true;
    } else if (name == "--stats") {
      flag();
      o.stats = true;
    } else if (name == "--trace") {
      auto v = value();
      if (!v) continue;
      if (v->empty()) {
        fail("invalid value '' for --trace: empty path");
      } else {
        o.trace = *v;
      }
    } else if (name == "--hostd") {
      auto v = value();
      if (!v) continue;
      if (v->empty()) {
        fail("invalid value '' for --hostd: empty path");
      } else {
        o.hostd = *v;
      }
    } else {
      fail("unknown option " + Quote(name));
    }
  }

  if (help) {
    o.action = Options::Action::kHelp;
    return o;
  }
  if (version) {
    o.action = Options::Action::kVersion;
    return o;
  }
  if (!error && o.stack != 0 && !device::LayoutFits(o.memory, o.stack)) {
    fail("invalid value for --stack: " + std::to_string(o.stack) +
         " bytes must be between 64K and 4G and leave 16M of heap in the " + std::to_string(o.memory >> 20) +
         "M shared space (--memory)");
  }
  if (error) return *error;
  if (!have_nodes) return UsageErr("missing option -n/--nodes (the number of nodes)");
  if (i >= args.size()) return UsageErr("missing program to run");
  o.program = args[i];
  o.args.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  return o;
}

namespace {

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

std::string UsageText() {
  return R"(usage: dsm-run -n N [options] [--] PROGRAM [ARGS...]

Runs a dsmkit job on this host: starts the host daemon dsm-hostd, then N
copies of PROGRAM (the nodes of the job), and supervises them until the job
ends. Options end at '--' or at PROGRAM; every argument after PROGRAM is
passed to it untouched, even one that looks like an option.

options:
  -n, --nodes N      number of nodes, 1..1024 (required)
  --memory SIZE      size of the shared space: a power of two from 64M to 1T,
                     with a K, M, G or T suffix (default 1G)
  --stack SIZE       size of node 0's main stack, which lives in the shared
                     space (default 16M; 64K..4G, leaving 16M of heap)
  --timeout S        end the job S seconds after dsm-run started (fractions
                     allowed) and exit with status 124
  --tag-output       prefix every line the nodes print with "[node K] " (their
                     stdout goes to dsm-run's stdout, their stderr to its
                     stderr, one whole line at a time; lines longer than
                     64 KiB are split). Without it the nodes write to
                     dsm-run's stdout and stderr directly.
  --stats            have dsm-hostd print per-node statistics on stderr at exit
  --trace FILE       write a timeline of every node (parallel regions,
                     barriers, lock waits) to FILE in Chrome's trace event
                     format: open it in Perfetto (ui.perfetto.dev) or
                     chrome://tracing
  --hostd PATH       the daemon to run (default: dsm-hostd in the directory
                     of the dsm-run executable)
  -h, --help         print this help and exit
  --version          print the version and exit

Each node runs PROGRAM with dsm-run's environment plus:
  DSM_SOCKET=PATH    the daemon's UNIX socket (in a private directory under
                     $TMPDIR, default /tmp, removed when the job ends)
  DSM_NODE_ID=K      the node's number, 0..N-1
  DSM_NUM_NODES=N    the number of nodes
Node 0 reads dsm-run's standard input; the other nodes read /dev/null.
dsm-run itself reads TMPDIR, and DSM_LOG (DSM_LOG=debug traces what it does).

dsm-hostd has 10 seconds to report that it is ready; when the job ends it
tells dsm-run whether node 0 finished it or which node left it early. The
job ends when node 0 exits: once node 0 has finished the job, the other
nodes learn it from dsm-hostd and exit with status 0; those still running 3
seconds after node 0 exited are killed. If a process of the job (another
node, dsm-hostd, or node 0 by a signal) ends before the job finished, even
with status 0, or a node leaves the job early, dsm-run names it and ends the
job: SIGTERM to every process, SIGKILL one second later. When a node leaves
early the others stop with status 3; dsm-run names the node that left, not
them (if it keeps running, it is named after one second). Likewise a node
that stops with status 3 on its own account (the daemon went away) is named
only if no cause shows up within one second. A node that exits without ever
joining the job (dsm-hostd reports each node that attaches) is named with
the likely cause: PROGRAM is not linked with libdsm. SIGINT, SIGTERM
and SIGHUP sent to dsm-run end the job the same way; a second one kills it
at once.

Exit status:
  node 0's exit status   node 0 exited (the job finished)
  its status, or 128+S   another process of the job failed first: its exit
                         status, or 128+S if signal S killed it (1 if it
                         exited with status 0 or left the job but kept
                         running)
  1                      dsm-hostd failed to start, or dsm-run itself failed
  2                      bad command line; nothing was started
  124                    the --timeout expired
  127                    PROGRAM could not be executed
  128+S                  dsm-run received signal S
)";
}

// --------------------------------------------------------------------------
// The job runner.

namespace {

constexpr int64_t kMs = 1000000;        // nanoseconds
constexpr int64_t kDrainMs = 500;       // reading the last output after every process ended
constexpr size_t kMaxLine = 64 * 1024;  // longer lines are split in --tag-output
constexpr int kReadyFdInChild = 3;

bool IsReadyLine(const std::string& text) {
  auto line = jobstatus::Parse(text);
  return line.ok() && line->kind == jobstatus::Kind::kReady;
}

int64_t NowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {  // someone gave us a non-blocking fd
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
    } else {
      return false;
    }
  }
  return true;
}

// One line "dsm-run: ..." on stderr, in one write.
[[gnu::format(printf, 1, 2)]] void Say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  WriteLine("dsm-run: ", fmt, ap);
  va_end(ap);
}

std::string SignalText(int sig) {
  const char* name = ::strsignal(sig);
  return "signal " + std::to_string(sig) + " (" + (name != nullptr ? name : "?") + ")";
}

struct ExitInfo {
  bool signaled = false;
  int value = 0;  // exit status or signal number
  bool core = false;
};

std::string Describe(const ExitInfo& e) {
  if (e.signaled) return "was killed by " + SignalText(e.value) + (e.core ? " (core dumped)" : "");
  return "exited with status " + std::to_string(e.value);
}

int ExitCodeOf(const ExitInfo& e) {
  if (e.signaled) return 128 + e.value;
  return e.value != 0 ? e.value : kExitFailure;
}

struct Child {
  std::string label;  // "dsm-hostd", "node 2"
  int node = -1;      // -1: the daemon
  pid_t pid = -1;
  UniqueFd pidfd;  // reset once the exit status is collected
  bool exited = false;
  ExitInfo exit;
};

struct Stream {
  UniqueFd fd;
  int dest = STDOUT_FILENO;
  std::string prefix;
  std::string partial;
};

struct SpawnSpec {
  const char* path = nullptr;
  std::vector<char*> argv;  // null-terminated
  char** envp = nullptr;
  int stdin_fd = -1;  // -1: inherit
  int stdout_fd = -1;
  int stderr_fd = -1;
  int ready_fd = -1;  // given to the child as fd 3
  pid_t pgid = -1;    // -1: stay in dsm-run's group, 0: lead a new group, >0: join it
};

struct Spawned {
  pid_t pid = -1;
  UniqueFd pidfd;
  int exec_errno = 0;  // != 0: execve failed and the child is exiting with 127
};

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  p.reserve(strings.size() + 1);
  for (std::string& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

class Job {
 public:
  Job(const Options& options, std::string program_path, std::string hostd_path)
      : o_(options), program_path_(std::move(program_path)), hostd_path_(std::move(hostd_path)) {}
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  int Run();

 private:
  enum class Phase { kStarting, kRunning, kWindDown, kEnding };
  enum class Kind { kSignal, kTimer, kReady, kChild, kStream };

  Status Setup();
  void StartDaemon();
  void StartNodes();
  Result<Spawned> Spawn(const SpawnSpec& spec);
  [[noreturn]] void ExecChild(const SpawnSpec& spec, pid_t parent, int err_fd);
  void Loop();
  void Teardown();
  std::string TracePrefix() const;
  void WriteTrace();

  void HandleSignals();
  void HandleTimer();
  void DrainStatus();
  void OnStatusLine(const std::string& line);
  void OnLost(uint32_t node);
  void NotADsmProgram(size_t index);
  void HandleExits(const std::vector<size_t>& ready);
  void HandleStream(size_t index);
  void OnDeadlines(int64_t now);
  bool Done(int64_t now);
  int64_t NextDeadline() const;

  void StartFailed(const std::string& why);
  void Fail(size_t child);
  void FailLeft(size_t child);
  void BeginWindDown(int status);
  void BeginEnding();
  void MaybeLetDaemonGo();
  void SignalAll(int sig);
  void KillGroup(int sig) const;
  void Emit(Stream& s, bool eof);
  void Write(int dest, const std::string& text);
  bool AllExited() const;

  const Options& o_;
  const std::string program_path_;
  const std::string hostd_path_;

  Phase phase_ = Phase::kStarting;
  int exit_code_ = 0;

  // Process-wide state to restore.
  bool mask_saved_ = false;
  sigset_t old_mask_{};
  bool pipe_saved_ = false;
  struct sigaction old_pipe_ {};
  bool chld_saved_ = false;
  struct sigaction old_chld_ {};
  bool rlimit_saved_ = false;
  rlimit old_nofile_{};

  UniqueFd sigfd_;
  UniqueFd timer_;
  UniqueFd devnull_;
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, FileCloser> trace_out_;  // --trace, opened before anything starts
  // dsm-hostd's --ready-fd: "ready", then "finished <status>" or "lost <node>".
  UniqueFd ready_r_;
  std::string status_buf_;     // an incomplete line
  bool status_skip_ = false;   // dropping the rest of an overlong line
  bool ready_seen_ = false;
  bool ready_eof_ = false;
  bool finished_ = false;      // "finished": workers may exit with status 0
  std::vector<bool> attached_; // "attached K": node K joined the job
  size_t lost_child_ = 0;      // != 0: "lost" named this child (1 + node)
  size_t secondary_child_ = 0; // != 0: first node that ended because the job failed elsewhere
  bool stdin_is_tty_ = false;
  std::string dir_;
  std::string socket_path_;
  pid_t job_pgid_ = -1;
  std::vector<Child> children_;  // [0] the daemon, [1 + k] node k
  std::vector<Stream> streams_;
  bool dest_broken_[3] = {false, false, false};

  // Deadlines on CLOCK_MONOTONIC in ns; 0 = not set.
  int64_t ready_deadline_ = 0;
  int64_t lost_deadline_ = 0;  // the node that left has not exited yet
  int64_t secondary_deadline_ = 0;  // no cause seen yet for secondary_child_'s exit
  int64_t daemon_term_at_ = 0;
  int64_t winddown_kill_at_ = 0;
  int64_t kill_at_ = 0;
  int64_t give_up_at_ = 0;
  int64_t drain_until_ = 0;
  bool final_kill_done_ = false;
  bool escalated_ = false;
};

int Job::Run() {
  if (!o_.trace.empty()) {
    // Fail before starting anything if the trace cannot be written.
    trace_out_.reset(std::fopen(o_.trace.c_str(), "w"));
    if (!trace_out_) {
      Say("error: cannot write the trace file %s: %s", o_.trace.c_str(), std::strerror(errno));
      return kExitUsage;
    }
  }
  Status s = Setup();
  if (!s.ok()) {
    Say("error: %s", s.message().c_str());
    exit_code_ = kExitFailure;
  } else {
    StartDaemon();
    Loop();
  }
  Teardown();
  return exit_code_;
}

Status Job::Setup() {
  // Nothing works if the standard descriptors are closed: fill the holes.
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      int nfd = ::open("/dev/null", O_RDWR);
      if (nfd >= 0 && nfd != fd) ::close(nfd);
    }
  }
  stdin_is_tty_ = ::isatty(STDIN_FILENO) == 1;

  // A pidfd per process, two pipes per node with --tag-output.
  rlim_t needed = static_cast<rlim_t>(o_.nodes) * (o_.tag_output ? 3 : 1) + 64;
  if (::getrlimit(RLIMIT_NOFILE, &old_nofile_) != 0) return Status::FromErrno("getrlimit");
  rlimit_saved_ = true;
  if (old_nofile_.rlim_cur != RLIM_INFINITY && old_nofile_.rlim_cur < needed) {
    if (old_nofile_.rlim_max != RLIM_INFINITY && old_nofile_.rlim_max < needed) {
      return Status(EMFILE, std::to_string(o_.nodes) + " nodes need " + std::to_string(needed) +
                                " file descriptors, but the hard limit (ulimit -Hn) is " +
                                std::to_string(old_nofile_.rlim_max));
    }
    rlimit raised = old_nofile_;
    raised.rlim_cur = needed;
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) return Status::FromErrno("setrlimit");
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  if (::sigprocmask(SIG_BLOCK, &mask, &old_mask_) != 0) return Status::FromErrno("sigprocmask");
  mask_saved_ = true;
  sigfd_.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd_) return Status::FromErrno("signalfd");
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  if (::sigaction(SIGPIPE, &ignore, &old_pipe_) != 0) return Status::FromErrno("sigaction");
  pipe_saved_ = true;
  // An inherited SIGCHLD = SIG_IGN would have the kernel reap our children
  // before we learn their status.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  if (::sigaction(SIGCHLD, &dfl, &old_chld_) != 0) return Status::FromErrno("sigaction");
  chld_saved_ = true;

  devnull_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull_) return Status::FromErrno("open /dev/null");

  if (o_.timeout_seconds) {
    timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer_) return Status::FromErrno("timerfd_create");
    double secs = *o_.timeout_seconds;
    itimerspec its{};
    its.it_value.tv_sec = static_cast<time_t>(secs);
    its.it_value.tv_nsec = static_cast<long>((secs - std::floor(secs)) * 1e9);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    if (::timerfd_settime(timer_.get(), 0, &its, nullptr) != 0) return Status::FromErrno("timerfd_settime");
  }

  const char* tmp = std::getenv("TMPDIR");
  std::string base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::string templ = base + "/dsm-XXXXXX";
  if (templ.size() + sizeof "/hostd.sock" > sizeof(sockaddr_un{}.sun_path)) {
    return Status(ENAMETOOLONG,
                  "the socket path under " + base +
                      " would be too long for a UNIX socket; set TMPDIR to a shorter directory");
  }
  if (::mkdtemp(templ.data()) == nullptr) return Status::FromErrno("cannot create a directory in " + base);
  dir_ = templ;
  socket_path_ = dir_ + "/hostd.sock";
  children_.reserve(o_.nodes + 1);
  attached_.assign(o_.nodes, false);
  return Status::Ok();
}

[[noreturn]] void Job::ExecChild(const SpawnSpec& s, pid_t parent, int err_fd) {
  // Between fork and exec: system calls only.
  if (err_fd <= kReadyFdInChild) err_fd = ::fcntl(err_fd, F_DUPFD_CLOEXEC, kReadyFdInChild + 1);
  if (s.pgid >= 0) ::setpgid(0, s.pgid);
  // Die with dsm-run; if it is already gone, the signal will never come.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(kExitFailure);
  int err = 0;
  if (s.stdin_fd >= 0 && ::dup2(s.stdin_fd, STDIN_FILENO) < 0) err = errno;
  if (s.stdout_fd >= 0 && ::dup2(s.stdout_fd, STDOUT_FILENO) < 0) err = errno;
  if (s.stderr_fd >= 0 && ::dup2(s.stderr_fd, STDERR_FILENO) < 0) err = errno;
  if (s.ready_fd >= 0) {
    if (s.ready_fd == kReadyFdInChild) {
      if (::fcntl(kReadyFdInChild, F_SETFD, 0) != 0) err = errno;
    } else if (::dup2(s.ready_fd, kReadyFdInChild) < 0) {
      err = errno;
    }
  }
  if (err == 0) {
    ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    ::sigaction(SIGPIPE, &old_pipe_, nullptr);
    ::sigaction(SIGCHLD, &old_chld_, nullptr);
    ::setrlimit(RLIMIT_NOFILE, &old_nofile_);
    ::execve(s.path, s.argv.data(), s.envp);
    err = errno;
  }
  ssize_t ignored = ::write(err_fd, &err, sizeof err);
  (void)ignored;
  ::_exit(kExitCannotExec);
}

Result<Spawned> Job::Spawn(const SpawnSpec& spec) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno("pipe2");
  UniqueFd err_r(p[0]);
  UniqueFd err_w(p[1]);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno("fork");
  if (pid == 0) ExecChild(spec, parent, err_w.get());
  err_w.reset();
  // Also here, so that the group exists whoever runs first.
  if (spec.pgid >= 0) ::setpgid(pid, spec.pgid == 0 ? pid : spec.pgid);
  // The child cannot be reaped behind our back, so its pid is stable.
  Spawned out;
  out.pid = pid;
  out.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  int pidfd_errno = errno;
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_r.get(), &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) out.exec_errno = exec_errno != 0 ? exec_errno : EIO;
  if (!out.pidfd) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return Status::FromErrno("pidfd_open", pidfd_errno);
  }
  return out;
}

void Job::StartDaemon() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    StartFailed(std::string("pipe2: ") + std::strerror(errno));
    return;
  }
  ready_r_.reset(p[0]);
  UniqueFd ready_w(p[1]);
  if (::fcntl(ready_r_.get(), F_SETFL, O_NONBLOCK) != 0) {
    StartFailed(std::string("fcntl: ") + std::strerror(errno));
    return;
  }

  std::vector<std::string> args = {hostd_path_,
                                   "--socket",
                                   socket_path_,
                                   "--nodes",
                                   std::to_string(o_.nodes),
                                   "--memory",
                                   std::to_string(o_.memory),
                                   "--ready-fd",
                                   std::to_string(kReadyFdInChild),
                                   "--exit-when-done"};
  if (o_.stats) args.emplace_back("--stats");
  if (o_.stack != 0) {
    args.emplace_back("--stack");
    args.push_back(std::to_string(o_.stack));
  }
  SpawnSpec spec;
  spec.path = hostd_path_.c_str();
  spec.argv = Pointers(args);
  spec.envp = environ;
  spec.stdin_fd = devnull_.get();
  spec.ready_fd = ready_w.get();
  spec.pgid = 0;
  auto r = Spawn(spec);
  ready_w.reset();
  if (!r.ok()) {
    StartFailed(r.status().message());
    return;
  }
  job_pgid_ = r->pid;
  children_.push_back(Child{"dsm-hostd", -1, r->pid, std::move(r->pidfd), false, {}});
  DSM_LOG_DEBUG("started dsm-hostd, pid %d, socket %s", r->pid, socket_path_.c_str());
  if (r->exec_errno != 0) {
    StartFailed("cannot execute " + hostd_path_ + ": " + std::strerror(r->exec_errno));
    return;
  }
  ready_deadline_ = NowNs() + kReadyTimeoutMs * kMs;
}

void Job::StartNodes() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.starts_with("DSM_SOCKET=") || v.starts_with("DSM_NODE_ID=") || v.starts_with("DSM_NUM_NODES=") ||
        v.starts_with("DSM_TRACE=")) {
      continue;
    }
    env.emplace_back(v);
  }
  env.push_back("DSM_SOCKET=" + socket_path_);
  env.push_back("DSM_NUM_NODES=" + std::to_string(o_.nodes));
  if (!o_.trace.empty()) env.push_back("DSM_TRACE=" + TracePrefix());
  env.emplace_back();  // DSM_NODE_ID, per node
  std::vector<std::string> args;
  args.push_back(o_.program);
  args.insert(args.end(), o_.args.begin(), o_.args.end());
  std::vector<char*> argv = Pointers(args);

  for (uint32_t k = 0; k < o_.nodes; ++k) {
    env.back() = "DSM_NODE_ID=" + std::to_string(k);
    std::vector<char*> envp = Pointers(env);
    std::string label = "node " + std::to_string(k);

    UniqueFd out_r, out_w, err_r, err_w;
    if (o_.tag_output) {
      int a[2], b[2];
      if (::pipe2(a, O_CLOEXEC) != 0) {
        Say("error: cannot start %s: pipe2: %s", label.c_str(), std::strerror(errno));
        exit_code_ = kExitFailure;
        BeginEnding();
        return;
      }
      out_r.reset(a[0]);
      out_w.reset(a[1]);
      if (::pipe2(b, O_CLOEXEC) != 0) {
        Say("error: cannot start %s: pipe2: %s", label.c_str(), std::strerror(errno));
        exit_code_ = kExitFailure;
        BeginEnding();
        return;
      }
      err_r.reset(b[0]);
      err_w.reset(b[1]);
      ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
      ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
    }

    SpawnSpec spec;
    spec.path = program_path_.c_str();
    spec.argv = argv;
    spec.envp = envp.data();
    spec.stdin_fd = k == 0 ? -1 : devnull_.get();
    spec.stdout_fd = out_w.get();
    spec.stderr_fd = err_w.get();
    // A process outside the terminal's foreground group is stopped when it
    // reads the terminal, so node 0 stays in ours when it may do that.
    spec.pgid = (k == 0 && stdin_is_tty_) ? -1 : job_pgid_;
    auto r = Spawn(spec);
    out_w.reset();
    err_w.reset();
    if (!r.ok()) {
      Say("error: cannot start %s: %s", label.c_str(), r.status().message().c_str());
      exit_code_ = kExitFailure;
      BeginEnding();
      return;
    }
    DSM_LOG_DEBUG("started %s, pid %d", label.c_str(), r->pid);
    children_.push_back(Child{label, static_cast<int>(k), r->pid, std::move(r->pidfd), false, {}});
    if (o_.tag_output) {
      std::string prefix = "[" + label + "] ";
      streams_.push_back(Stream{std::move(out_r), STDOUT_FILENO, prefix, {}});
      streams_.push_back(Stream{std::move(err_r), STDERR_FILENO, prefix, {}});
    }
    if (r->exec_errno != 0) {
      Say("error: cannot execute %s: %s", o_.program.c_str(), std::strerror(r->exec_errno));
      exit_code_ = kExitCannotExec;
      BeginEnding();
      return;
    }
  }
  phase_ = Phase::kRunning;
}

void Job::Loop() {
  std::vector<pollfd> fds;
  std::vector<std::pair<Kind, size_t>> tags;
  std::vector<size_t> exits;
  for (;;) {
    int64_t now = NowNs();
    OnDeadlines(now);
    if (Done(now)) return;

    fds.clear();
    tags.clear();
    auto add = [&](int fd, Kind kind, size_t index) {
      fds.push_back(pollfd{fd, POLLIN, 0});
      tags.emplace_back(kind, index);
    };
    add(sigfd_.get(), Kind::kSignal, 0);
    if (timer_) add(timer_.get(), Kind::kTimer, 0);
    if (ready_r_) add(ready_r_.get(), Kind::kReady, 0);
    for (size_t i = 0; i < children_.size(); ++i) {
      if (children_[i].pidfd) add(children_[i].pidfd.get(), Kind::kChild, i);
    }
    for (size_t i = 0; i < streams_.size(); ++i) {
      if (streams_[i].fd) add(streams_[i].fd.get(), Kind::kStream, i);
    }

    int timeout = -1;
    if (int64_t next = NextDeadline(); next != 0) {
      int64_t ms = (std::max<int64_t>(next - now, 0) + kMs - 1) / kMs;
      timeout = static_cast<int>(std::min<int64_t>(ms, INT_MAX));
    }
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      Say("error: poll: %s", std::strerror(errno));
      if (phase_ != Phase::kEnding) exit_code_ = kExitFailure;
      BeginEnding();
      give_up_at_ = NowNs();
      continue;
    }
    if (n == 0) continue;

    // Fixed order: signals and the timeout first, then dsm-hostd's status
    // pipe, exits after it, output last. The pipe is read in every round,
    // whatever poll said about it: a line written before a process exited
    // may have arrived after poll looked at the pipe but before it looked at
    // that process.
    exits.clear();
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      switch (tags[i].first) {
        case Kind::kSignal: HandleSignals(); break;
        case Kind::kTimer: HandleTimer(); break;
        case Kind::kChild: exits.push_back(tags[i].second); break;
        case Kind::kReady:
        case Kind::kStream: break;
      }
    }
    if (ready_r_) DrainStatus();
    if (!exits.empty()) HandleExits(exits);
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0 && tags[i].first == Kind::kStream) HandleStream(tags[i].second);
    }
  }
}

void Job::HandleSignals() {
  signalfd_siginfo si;
  while (::read(sigfd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    int sig = static_cast<int>(si.ssi_signo);
    if (phase_ == Phase::kEnding) {
      if (!escalated_) {
        escalated_ = true;
        Say("received %s while ending the job; killing it now", SignalText(sig).c_str());
        SignalAll(SIGKILL);
      }
      continue;
    }
    Say("received %s; ending the job", SignalText(sig).c_str());
    exit_code_ = 128 + sig;
    BeginEnding();
  }
}

void Job::HandleTimer() {
  uint64_t expirations;
  if (::read(timer_.get(), &expirations, sizeof expirations) != sizeof expirations) return;
  timer_.reset();
  if (phase_ == Phase::kStarting || phase_ == Phase::kRunning) {
    Say("timeout after %s s; ending the job", o_.timeout_text.c_str());
    exit_code_ = kExitTimeout;
    BeginEnding();
  }
}

// Reads whatever dsm-hostd wrote on its --ready-fd, line by line.
void Job::DrainStatus() {
  for (int reads = 0; ready_r_ && reads < 64; ++reads) {
    char buf[512];
    ssize_t n = ::read(ready_r_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      // End of file (dsm-hostd exited or closed it), or an error.
      if (n < 0) DSM_LOG_DEBUG("reading dsm-hostd's --ready-fd: %s", std::strerror(errno));
      ready_r_.reset();
      std::string rest;
      rest.swap(status_buf_);
      bool skipping = status_skip_;
      status_skip_ = false;
      // A last line without its newline counts, except as a bad first line:
      // then the daemon's exit status says more.
      if (!rest.empty() && !skipping && (ready_seen_ || IsReadyLine(rest))) OnStatusLine(rest);
      if (phase_ == Phase::kStarting && !ready_seen_) {
        // The daemon is probably exiting: give it a moment so that we can
        // report its exit status rather than just the closed pipe.
        ready_eof_ = true;
        ready_deadline_ = std::min(ready_deadline_, NowNs() + kDrainMs * kMs);
      }
      return;
    }
    status_buf_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = status_buf_.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (status_skip_) {
        status_skip_ = false;
      } else {
        OnStatusLine(status_buf_.substr(start, nl - start));
      }
    }
    status_buf_.erase(0, start);
    if (status_buf_.size() >= jobstatus::kMaxLineLength) {
      if (!status_skip_) {
        if (ready_seen_) {
          DSM_LOG_DEBUG("dsm-hostd wrote an overlong line; ignored");
        } else {
          OnStatusLine(status_buf_);  // not "ready"
        }
      }
      status_skip_ = true;
      status_buf_.clear();
    }
  }
}

void Job::OnStatusLine(const std::string& line) {
  auto parsed = jobstatus::Parse(line);
  if (!ready_seen_) {
    if (phase_ != Phase::kStarting) return;  // ended before the daemon was ready
    if (parsed.ok() && parsed->kind == jobstatus::Kind::kReady) {
      ready_seen_ = true;
      ready_deadline_ = 0;
      DSM_LOG_DEBUG("dsm-hostd is ready");
      StartNodes();
    } else {
      StartFailed("it wrote " + Quote(line.substr(0, 64)) + " instead of 'ready'");
    }
    return;
  }
  if (!parsed.ok()) {
    DSM_LOG_DEBUG("dsm-hostd wrote %s on its --ready-fd (%s); ignored", Quote(line.substr(0, 64)).c_str(),
                  parsed.status().message().c_str());
    return;
  }
  const jobstatus::Line& l = parsed.value();
  switch (l.kind) {
    case jobstatus::Kind::kFinished:
      DSM_LOG_DEBUG("dsm-hostd: node 0 finished the job with status %u", l.number);
      if (lost_child_ == 0) finished_ = true;
      return;
    case jobstatus::Kind::kAttached:
      if (l.number < o_.nodes) {
        attached_[l.number] = true;
        return;
      }
      break;
    case jobstatus::Kind::kLost:
      if (l.number < o_.nodes) {
        DSM_LOG_DEBUG("dsm-hostd: node %u left the job before it finished", l.number);
        OnLost(l.number);
        return;
      }
      break;
    case jobstatus::Kind::kReady:
    case jobstatus::Kind::kListening:
    case jobstatus::Kind::kLostHost:
      break;
  }
  DSM_LOG_DEBUG("dsm-hostd wrote %s on its --ready-fd; ignored", Quote(line.substr(0, 64)).c_str());
}

// Node `node` left the job before it finished: it is the culprit, whatever
// the others do now (they exit with status 3 because of it). Its own exit
// says how it left; wait a moment for that if it has not been seen yet.
void Job::OnLost(uint32_t node) {
  size_t i = 1 + static_cast<size_t>(node);
  if (finished_ || lost_child_ != 0 || i >= children_.size()) return;
  lost_child_ = i;
  if (phase_ != Phase::kRunning && phase_ != Phase::kWindDown) return;
  if (children_[i].exited) {
    Fail(i);
  } else {
    lost_deadline_ = NowNs() + kLostGraceMs * kMs;
  }
}

void Job::HandleExits(const std::vector<size_t>& ready) {
  std::vector<size_t> exited;
  for (size_t i : ready) {
    Child& c = children_[i];
    siginfo_t si{};
    if (::waitid(P_PID, static_cast<id_t>(c.pid), &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      // Cannot happen for our own unreaped child; do not spin on it.
      Say("warning: waitid for %s (pid %d): %s", c.label.c_str(), c.pid, std::strerror(errno));
      si.si_pid = c.pid;
      si.si_code = CLD_KILLED;
      si.si_status = SIGKILL;
    }
    if (si.si_pid == 0) continue;
    c.exited = true;
    c.pidfd.reset();
    c.exit.signaled = si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
    c.exit.core = si.si_code == CLD_DUMPED;
    c.exit.value = si.si_status;
    DSM_LOG_DEBUG("%s (pid %d) %s", c.label.c_str(), c.pid, Describe(c.exit).c_str());
    exited.push_back(i);
  }

  if (phase_ == Phase::kStarting) {
    for (size_t i : exited) {
      if (children_[i].node < 0) {
        StartFailed(Describe(children_[i].exit));
        return;
      }
    }
  }

  if (lost_child_ != 0 && (phase_ == Phase::kRunning || phase_ == Phase::kWindDown)) {
    // dsm-hostd named the node that left: only its own exit is news; the
    // others (node 0 included) are stopping because of it.
    for (size_t i : exited) {
      if (i == lost_child_) {
        Fail(i);
        break;
      }
    }
  } else if (phase_ == Phase::kRunning) {
    // Without word from dsm-hostd, report the likeliest root cause: deaths
    // by a signal first, then other failures, then node 0's normal exit,
    // then processes that exited with status 0, which is a failure unless
    // dsm-hostd said that node 0 finished the job (workers exit with status
    // 0 when it tells them, which may be before we see node 0 go). A node
    // exiting with kExitJobFailed before the job finished stopped because
    // of a failure elsewhere (typically the daemon died): the cause is
    // awaited for a moment before that node is named.
    auto rank = [&](size_t i) {
      const Child& c = children_[i];
      if (c.exit.signaled) return 0;
      // The runtime's own failure status: a dsmkit program, joined or not
      // (it could not reach the daemon, say), that reported its reason.
      if (c.node >= 0 && !finished_ && c.exit.value == kExitJobFailed) return 5;
      // dsm-hostd says "attached K" before node K can go on: a node that
      // exits otherwise without it never joined the job (not a dsmkit
      // program).
      if (c.node >= 0 && !attached_[static_cast<size_t>(c.node)]) return 6;
      if (c.exit.value != 0 && c.node != 0) return 1;
      if (c.node == 0) return 2;
      return finished_ ? 4 : 3;
    };
    std::stable_sort(exited.begin(), exited.end(), [&](size_t a, size_t b) { return rank(a) < rank(b); });
    for (size_t i : exited) {
      if (phase_ != Phase::kRunning) break;
      const Child& c = children_[i];
      int r = rank(i);
      if (r == 6) {
        NotADsmProgram(i);
      } else if (r == 2) {
        BeginWindDown(c.exit.value);
      } else if (r == 5) {
        if (secondary_child_ == 0) {
          secondary_child_ = i;
          secondary_deadline_ = NowNs() + kLostGraceMs * kMs;
        }
      } else if (r != 4) {
        Fail(i);
      }
    }
  }

  if (phase_ == Phase::kWindDown) MaybeLetDaemonGo();
}

void Job::HandleStream(size_t index) {
  Stream& s = streams_[index];
  char buf[65536];
  ssize_t n = ::read(s.fd.get(), buf, sizeof buf);
  if (n > 0) {
    s.partial.append(buf, static_cast<size_t>(n));
    Emit(s, false);
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    Emit(s, true);
    s.fd.reset();
  }
}

void Job::Emit(Stream& s, bool eof) {
  std::string out;
  size_t start = 0;
  for (;;) {
    size_t nl = s.partial.find('\n', start);
    if (nl == std::string::npos) break;
    out += s.prefix;
    out.append(s.partial, start, nl + 1 - start);
    start = nl + 1;
  }
  s.partial.erase(0, start);
  while (s.partial.size() >= kMaxLine || (eof && !s.partial.empty())) {
    size_t len = std::min(s.partial.size(), kMaxLine);
    out += s.prefix;
    out.append(s.partial, 0, len);
    out += '\n';
    s.partial.erase(0, len);
  }
  if (!out.empty()) Write(s.dest, out);
}

void Job::Write(int dest, const std::string& text) {
  if (dest_broken_[dest]) return;
  if (!WriteAll(dest, text.data(), text.size())) {
    dest_broken_[dest] = true;  // e.g. EPIPE: keep draining the nodes, drop their output
    if (dest != STDERR_FILENO) {
      Say("warning: cannot write to stdout (%s); dropping the nodes' output", std::strerror(errno));
    }
  }
}

void Job::OnDeadlines(int64_t now) {
  if (phase_ == Phase::kStarting && ready_deadline_ != 0 && now >= ready_deadline_) {
    ready_deadline_ = 0;
    StartFailed(ready_eof_ ? "it closed its --ready-fd without writing 'ready'"
                           : "no 'ready' from it within " + std::to_string(kReadyTimeoutMs / 1000) + " s");
  }
  if ((phase_ == Phase::kRunning || phase_ == Phase::kWindDown) && lost_deadline_ != 0 &&
      now >= lost_deadline_) {
    lost_deadline_ = 0;
    FailLeft(lost_child_);
  }
  if (phase_ == Phase::kRunning && secondary_deadline_ != 0 && now >= secondary_deadline_) {
    secondary_deadline_ = 0;
    Fail(secondary_child_);
  }

  if (phase_ == Phase::kWindDown && daemon_term_at_ != 0 && now >= daemon_term_at_) {
    daemon_term_at_ = 0;
    Child& d = children_[0];
    if (!d.exited) {
      DSM_LOG_DEBUG("every node is gone; stopping dsm-hostd");
      ::syscall(SYS_pidfd_send_signal, d.pidfd.get(), SIGTERM, nullptr, 0);
    }
  }
  if (phase_ == Phase::kWindDown && winddown_kill_at_ != 0 && now >= winddown_kill_at_) {
    winddown_kill_at_ = 0;
    for (const Child& c : children_) {
      if (!c.exited) {
        Say("warning: %s (pid %d) still running %lld s after node 0 exited; killing it", c.label.c_str(),
            c.pid, static_cast<long long>(kWindDownMs / 1000));
      }
    }
    SignalAll(SIGKILL);
  }
  if (phase_ == Phase::kEnding && kill_at_ != 0 && now >= kill_at_) {
    kill_at_ = 0;
    SignalAll(SIGKILL);
  }
}

int64_t Job::NextDeadline() const {
  int64_t next = 0;
  auto consider = [&](int64_t t) {
    if (t != 0 && (next == 0 || t < next)) next = t;
  };
  consider(ready_deadline_);
  consider(lost_deadline_);
  consider(secondary_deadline_);
  consider(daemon_term_at_);
  consider(winddown_kill_at_);
  consider(kill_at_);
  consider(give_up_at_);
  consider(drain_until_);
  return next;
}

bool Job::AllExited() const {
  return std::all_of(children_.begin(), children_.end(), [](const Child& c) { return c.exited; });
}

bool Job::Done(int64_t now) {
  if (phase_ == Phase::kStarting || phase_ == Phase::kRunning) return false;
  bool procs_done = final_kill_done_ || AllExited() || (give_up_at_ != 0 && now >= give_up_at_);
  if (!procs_done) return false;
  if (!final_kill_done_) {
    // Whatever the nodes left behind in the job's process group goes too.
    // Safe: the group's leader is an unreaped child of ours.
    final_kill_done_ = true;
    give_up_at_ = 0;
    kill_at_ = 0;
    winddown_kill_at_ = 0;
    daemon_term_at_ = 0;
    SignalAll(SIGKILL);
    drain_until_ = now + kDrainMs * kMs;
  }
  bool streams_open =
      std::any_of(streams_.begin(), streams_.end(), [](const Stream& s) { return s.fd.valid(); });
  return !streams_open || now >= drain_until_;
}

void Job::StartFailed(const std::string& why) {
  Say("error: dsm-hostd failed to start (%s)", why.c_str());
  exit_code_ = kExitFailure;
  BeginEnding();
}

void Job::Fail(size_t index) {
  const Child& c = children_[index];
  std::string what = c.exit.signaled ? Describe(c.exit) : Describe(c.exit) + " before the job finished";
  Say("%s (pid %d) %s; ending the job", c.label.c_str(), c.pid, what.c_str());
  exit_code_ = ExitCodeOf(c.exit);
  BeginEnding();
}

void Job::NotADsmProgram(size_t index) {
  const Child& c = children_[index];
  Say("%s (pid %d) %s without joining the job: is %s linked with libdsm (CMake target dsm::dsm, "
      "'pkg-config --libs dsm', or dsm-clang)?",
      c.label.c_str(), c.pid, Describe(c.exit).c_str(), o_.program.c_str());
  exit_code_ = c.exit.value != 0 ? c.exit.value : kExitFailure;
  BeginEnding();
}

// dsm-hostd said that the node left the job, and it has not exited since.
void Job::FailLeft(size_t index) {
  const Child& c = children_[index];
  Say("%s (pid %d) left the job before it finished; ending the job", c.label.c_str(), c.pid);
  exit_code_ = kExitFailure;
  BeginEnding();
}

void Job::BeginWindDown(int status) {
  exit_code_ = status;
  phase_ = Phase::kWindDown;
  int64_t now = NowNs();
  winddown_kill_at_ = now + kWindDownMs * kMs;
  give_up_at_ = winddown_kill_at_ + (kEndBudgetMs - kTermToKillMs) * kMs;
  MaybeLetDaemonGo();
}

// Once every node is gone, dsm-hostd (--exit-when-done) exits by itself; if
// it does not soon (the job never started, or it is not the real daemon),
// ask it to.
void Job::MaybeLetDaemonGo() {
  if (daemon_term_at_ != 0 || children_.empty() || children_[0].exited) return;
  for (size_t i = 1; i < children_.size(); ++i) {
    if (!children_[i].exited) return;
  }
  daemon_term_at_ = NowNs() + kDaemonLingerMs * kMs;
}

void Job::BeginEnding() {
  if (phase_ == Phase::kEnding) return;
  phase_ = Phase::kEnding;
  ready_deadline_ = 0;
  lost_deadline_ = 0;
  secondary_deadline_ = 0;
  daemon_term_at_ = 0;
  winddown_kill_at_ = 0;
  int64_t now = NowNs();
  kill_at_ = now + kTermToKillMs * kMs;
  give_up_at_ = now + kEndBudgetMs * kMs;
  SignalAll(SIGTERM);
}

void Job::SignalAll(int sig) {
  for (const Child& c : children_) {
    if (!c.exited) ::syscall(SYS_pidfd_send_signal, c.pidfd.get(), sig, nullptr, 0);
  }
  KillGroup(sig);
}

void Job::KillGroup(int sig) const {
  if (job_pgid_ > 0) ::kill(-job_pgid_, sig);
}

void Job::Teardown() {
  for (Child& c : children_) {
    if (c.exited) {
      ::waitpid(c.pid, nullptr, 0);  // a zombie: returns at once
      continue;
    }
    // Survived SIGKILL for the whole budget (uninterruptible sleep?): leave
    // it to init rather than hang.
    ::syscall(SYS_pidfd_send_signal, c.pidfd.get(), SIGKILL, nullptr, 0);
    if (::waitpid(c.pid, nullptr, WNOHANG) != c.pid) {
      Say("warning: %s (pid %d) did not end after SIGKILL; not waiting for it", c.label.c_str(), c.pid);
    }
  }
  children_.clear();
  for (Stream& s : streams_) {
    if (s.fd) Emit(s, true);
  }
  streams_.clear();
  ready_r_.reset();
  timer_.reset();
  devnull_.reset();
  sigfd_.reset();
  if (trace_out_) WriteTrace();
  if (!dir_.empty()) {
    if (::unlink(socket_path_.c_str()) != 0 && errno != ENOENT) {
      Say("warning: cannot remove %s: %s", socket_path_.c_str(), std::strerror(errno));
    }
    if (::rmdir(dir_.c_str()) != 0) Say("warning: cannot remove %s: %s", dir_.c_str(), std::strerror(errno));
    dir_.clear();
  }
  if (pipe_saved_) ::sigaction(SIGPIPE, &old_pipe_, nullptr);
  if (chld_saved_) ::sigaction(SIGCHLD, &old_chld_, nullptr);
  if (rlimit_saved_) ::setrlimit(RLIMIT_NOFILE, &old_nofile_);
  if (mask_saved_) ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
}

std::string Job::TracePrefix() const { return dir_ + "/trace"; }

// Merges the nodes' trace files (one event object per line, each ending in a
// comma) into one Chrome trace, names each node's track, and removes them.
void Job::WriteTrace() {
  std::FILE* out = trace_out_.get();
  std::fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", out);
  std::fputs("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"dsm job\"}}", out);
  for (uint32_t k = 0; k < o_.nodes; ++k) {
    std::fprintf(out, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"node %u\"}}",
                 k, k);
    if (dir_.empty()) continue;
    std::string path = TracePrefix() + ".node" + std::to_string(k) + ".json";
    std::FILE* in = std::fopen(path.c_str(), "r");
    if (in == nullptr) continue;  // the node never got far enough to write one
    char line[1024];
    while (std::fgets(line, sizeof line, in) != nullptr) {
      size_t len = std::strlen(line);
      while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ',')) line[--len] = '\0';
      if (len == 0 || line[0] != '{' || line[len - 1] != '}') continue;  // torn or foreign line
      std::fputs(",\n", out);
      std::fputs(line, out);
    }
    std::fclose(in);
    ::unlink(path.c_str());
  }
  std::fputs("\n]}\n", out);
  if (std::fclose(trace_out_.release()) != 0) {
    Say("warning: cannot write the trace file %s: %s", o_.trace.c_str(), std::strerror(errno));
  }
}

}  // namespace

int RunJob(const Options& options, const std::string& program_path, const std::string& hostd_path) {
  Job job(options, program_path, hostd_path);
  return job.Run();
}

}  // namespace dsm::launcher
