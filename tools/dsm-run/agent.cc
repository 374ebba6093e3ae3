#include "agent.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "dsm/common/clock.h"
#include "dsm/common/fd.h"
#include "dsm/common/job_keys.h"
#include "dsm/common/job_status.h"
#include "dsm/common/parse.h"
#include "remote.h"
#include "spawn.h"

extern char** environ;

namespace dsm::launcher {
namespace {

constexpr int kTermToKillMs = 1000;
constexpr uint64_t kMaxStageBytes = 16ULL << 30;

struct AgentArgs {
  bool daemon = false;
  std::string dir_name;
  std::string cwd;
  bool keys = false;
  std::string stage_name;
  uint64_t stage_size = 0;
  bool stage = false;
  std::vector<std::string> env;
  std::string label = "process";
  std::string resolve;  // --resolve NAME: kHostAddressPlaceholder's value
  std::string stats;    // --stats NAME: the daemon's statistics file in the directory, sent back
  std::string traces;   // --traces NAME: the nodes' timelines NAME.node<K>.json there, sent back
  std::vector<std::string> argv;
};

std::string g_label;  // for Complain

[[gnu::format(printf, 1, 2)]] void Complain(const char* fmt, ...) {
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::string line = "dsm-run: on " + std::string(host) + ": " + g_label + ": " + msg + "\n";
  ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  (void)n;
}

std::optional<AgentArgs> Parse(const std::vector<std::string>& args) {
  AgentArgs a;
  if (args.empty() || (args[0] != "daemon" && args[0] != "node")) return std::nullopt;
  a.daemon = args[0] == "daemon";
  size_t i = 1;
  for (; i < args.size(); ++i) {
    const std::string& s = args[i];
    auto next = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
    if (s == "--") {
      ++i;
      break;
    }
    const std::string* v = nullptr;
    if (s == "--dir" && (v = next())) {
      a.dir_name = *v;
    } else if (s == "--cwd" && (v = next())) {
      a.cwd = *v;
    } else if (s == "--keys") {
      a.keys = true;
    } else if (s == "--stage" && (v = next())) {
      a.stage_name = *v;
      const std::string* size = next();
      auto n = size ? ParseUint(*size) : std::nullopt;
      if (!n || *n > kMaxStageBytes) return std::nullopt;
      a.stage_size = *n;
      a.stage = true;
    } else if (s == "--env" && (v = next())) {
      a.env.push_back(*v);
    } else if (s == "--traces" && (v = next())) {
      a.traces = *v;
    } else if (s == "--resolve" && (v = next())) {
      a.resolve = *v;
    } else if (s == "--stats" && (v = next())) {
      a.stats = *v;
    } else if (s == "--label" && (v = next())) {
      a.label = *v;
    } else {
      return std::nullopt;
    }
  }
  a.argv.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  if (a.argv.empty() || a.dir_name.empty() || a.dir_name.find('/') != std::string::npos ||
      a.stage_name.find('/') != std::string::npos || a.stats.find('/') != std::string::npos) {
    return std::nullopt;
  }
  return a;
}

// Writes exactly n bytes to fd (blocking); false on an error (errno set) or
// a descriptor that takes nothing.
bool WriteFull(int fd, const char* buf, size_t n) {
  while (n > 0) {
    ssize_t put = ::write(fd, buf, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    buf += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

// Reads the whole file at path into *text, at most `limit` bytes. False
// when it is absent (ENOENT, quietly) or cannot be read or is larger (named).
bool ReadWhole(const std::string& path, uint64_t limit, const char* what, std::string* text) {
  // Not following a link, not blocking on a FIFO: only a regular file is read.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    if (errno != ENOENT) Complain("cannot read the %s %s: %s", what, path.c_str(), std::strerror(errno));
    return false;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    Complain("cannot send the %s %s: not a regular file", what, path.c_str());
    return false;
  }
  char buf[65536];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || text->size() + static_cast<size_t>(n) > limit) {
      Complain("cannot send the %s %s: %s", what, path.c_str(), n < 0 ? std::strerror(errno) : "too large");
      return false;
    }
    text->append(buf, static_cast<size_t>(n));
  }
  return true;
}

// The daemon's statistics file, if it wrote one, to dsm-run on the status
// channel (our standard output): "stats-json <n>" and the n bytes
// (dsm/common/job_status.h). A file too large or unreadable is named and
// not sent; dsm-run then says the host's statistics are missing.
void SendStats(const std::string& path) {
  std::string text;
  if (!ReadWhole(path, jobstatus::kMaxStatsJsonBytes, "statistics", &text)) return;
  const std::string header = jobstatus::FormatStatsJsonHeader(text.size());
  // Fails only when dsm-run is gone.
  if (WriteFull(STDOUT_FILENO, header.data(), header.size())) (void)WriteFull(STDOUT_FILENO, text.data(), text.size());
}

// The timelines this host's nodes wrote in dir ("<name>.node<K>.json", the
// runtime's DSM_TRACE files), each to dsm-run as a "trace-json" record with
// this machine's clocks (job_status.h). Nodes write theirs before they
// exit, and the daemon exits after its last node: they are complete now.
void SendTraces(const std::string& dir, const std::string& name) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  jobstatus::TraceJsonHeader h;
  h.mono_ns = MonotonicNs();
  h.real_ns = RealtimeNs();
  const std::string prefix = name + ".node", suffix = ".json";
  while (dirent* e = ::readdir(d)) {
    std::string_view file(e->d_name);
    if (!file.starts_with(prefix) || !file.ends_with(suffix) || file.size() <= prefix.size() + suffix.size()) continue;
    auto node = ParseUint(file.substr(prefix.size(), file.size() - prefix.size() - suffix.size()));
    if (!node || *node > UINT32_MAX) continue;
    std::string text;
    if (!ReadWhole(dir + "/" + std::string(file), jobstatus::kMaxTraceJsonBytes, "timeline", &text)) continue;
    h.node = static_cast<uint32_t>(*node);
    h.bytes = text.size();
    const std::string header = jobstatus::FormatTraceJsonHeader(h);
    if (!WriteFull(STDOUT_FILENO, header.data(), header.size()) ||
        !WriteFull(STDOUT_FILENO, text.data(), text.size())) {
      break;  // dsm-run is gone
    }
  }
  ::closedir(d);
}

std::string Replace(std::string s, std::string_view what, const std::string& with) {
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) {
    s.replace(at, what.size(), with);
  }
  return s;
}

// The server's address of this ssh session: SSH_CONNECTION is "client_ip
// client_port server_ip server_port".
std::string SshServerAddress() {
  const char* c = std::getenv("SSH_CONNECTION");
  if (c == nullptr) return {};
  std::string_view v(c);
  for (int skip = 0; skip < 2; ++skip) {
    size_t sp = v.find(' ');
    if (sp == std::string_view::npos) return {};
    v.remove_prefix(sp + 1);
  }
  std::string addr(v.substr(0, v.find(' ')));
  if (addr.find(':') != std::string::npos) addr = "[" + addr + "]";  // IPv6
  return addr;
}

// The address NAME has on this host, numeric (IPv6 in brackets): the first
// one getaddrinfo gives that is not a loopback address.
Result<std::string> ResolveHere(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &list); rc != 0) {
    return Status(EINVAL, "cannot resolve " + name + ": " + ::gai_strerror(rc));
  }
  std::string found, loopback;
  for (addrinfo* ai = list; ai != nullptr && found.empty(); ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = "";
    bool is_loopback = false;
    if (ai->ai_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(ai->ai_addr);
      ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
      is_loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (ai->ai_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(ai->ai_addr);
      ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      is_loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    } else {
      continue;
    }
    if (is_loopback) {
      loopback = text;
    } else {
      found = ai->ai_family == AF_INET6 ? "[" + std::string(text) + "]" : text;
    }
  }
  ::freeaddrinfo(list);
  if (found.empty()) {
    return Status(EINVAL, name + " resolves to " + (loopback.empty() ? "no address" : "the loopback address " + loopback) +
                              " here, where the other hosts cannot reach a daemon; give the node an address "
                              "(NodeAddr in slurm.conf)");
  }
  return found;
}

// Reads exactly n bytes from fd (blocking).
bool ReadFull(int fd, char* buf, size_t n) {
  while (n > 0) {
    ssize_t got = ::read(fd, buf, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    buf += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// The key block: two lines, read one byte at a time so nothing after them is
// taken from stdin.
bool ReadKeyBlock(std::string* block) {
  int lines = 0;
  while (lines < 2 && block->size() < jobkeys::kMaxBlockBytes) {
    char c;
    if (!ReadFull(STDIN_FILENO, &c, 1)) return false;
    block->push_back(c);
    if (c == '\n') ++lines;
  }
  return lines == 2;
}

Status StageProgram(const std::string& path, uint64_t size) {
  UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700));
  if (!out) return Status::FromErrno("cannot create " + path);
  std::vector<char> buf(1 << 16);
  while (size > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(size, buf.size()));
    if (!ReadFull(STDIN_FILENO, buf.data(), n)) return Status(EIO, "the staged program ended early");
    if (!WriteFull(out.get(), buf.data(), n)) return Status::FromErrno("cannot write " + path);
    size -= n;
  }
  if (::close(out.release()) != 0) return Status::FromErrno("cannot write " + path);
  return Status::Ok();
}

// Removes what is in dir (one level of subdirectories is enough for what
// the job makes there), then dir.
void RemoveTree(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string path = dir + "/" + name;
      if (::unlink(path.c_str()) != 0 && errno == EISDIR) RemoveTree(path);
    }
    ::closedir(d);
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) Complain("cannot remove %s: %s", dir.c_str(), std::strerror(errno));
}

int64_t NowMs() { return static_cast<int64_t>(MonotonicNs() / 1000000); }

}  // namespace

int RunAgent(const std::vector<std::string>& args) {
  auto parsed = Parse(args);
  g_label = parsed ? parsed->label : "agent";
  if (!parsed) {
    Complain("bad agent arguments (dsm-run --agent is started by dsm-run over ssh)");
    return 2;
  }
  AgentArgs& a = *parsed;
  // sshd gone: the same as the session gone.
  pid_t parent = ::getppid();
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent) return 1;

  ChildRestore restore;
  sigset_t mask;
  sigemptyset(&mask);
  // SIGUSR1 is how dsm-run ends an srun session (remote.h).
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&mask, sig);
  ::sigprocmask(SIG_BLOCK, &mask, &restore.mask);
  UniqueFd sigfd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  struct sigaction ignore {}, dfl {};
  ignore.sa_handler = SIG_IGN;
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &ignore, &restore.sigpipe);
  ::sigaction(SIGCHLD, &dfl, &restore.sigchld);
  ::getrlimit(RLIMIT_NOFILE, &restore.nofile);

  const char* tmp = std::getenv("TMPDIR");
  std::string base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  const std::string dir = base + "/" + a.dir_name;
  const std::string ssh_address = SshServerAddress();
  std::string host_address;
  if (!a.resolve.empty()) {
    auto resolved = ResolveHere(a.resolve);
    if (!resolved.ok()) {
      Complain("%s", resolved.status().message().c_str());
      return 1;
    }
    host_address = *resolved;
  }
  auto expand = [&](const std::string& s) -> std::optional<std::string> {
    std::string r = Replace(s, kDirPlaceholder, dir);
    if (r.find(kHostAddressPlaceholder) != std::string::npos) {
      if (host_address.empty()) return std::nullopt;
      r = Replace(r, kHostAddressPlaceholder, host_address);
    }
    if (r.find(kSshAddressPlaceholder) != std::string::npos) {
      if (ssh_address.empty()) return std::nullopt;
      r = Replace(r, kSshAddressPlaceholder, ssh_address);
    }
    return r;
  };
  std::vector<std::string> argv, env;
  for (const std::string& s : a.argv) {
    auto e = expand(s);
    if (!e) {
      Complain("cannot tell which address to listen on: no SSH_CONNECTION here; give listen=ADDR in the hostfile");
      return 1;
    }
    argv.push_back(*e);
  }
  for (const std::string& s : a.env) env.push_back(*expand(s));

  if (!a.cwd.empty() && ::chdir(a.cwd.c_str()) != 0 && ::chdir("/") != 0) {
    Complain("cannot enter / either: %s", std::strerror(errno));
  }

  UniqueFd keys_r;
  bool made_dir = false;
  auto fail = [&](const std::string& why) {
    Complain("%s", why.c_str());
    if (made_dir) RemoveTree(dir);
    return 1;
  };
  if (a.daemon) {
    std::string block;
    if (a.keys && !ReadKeyBlock(&block)) {
      jobkeys::Wipe(block);
      return fail("no key block on stdin");
    }
    // The directory holds only a staged program, the daemon's statistics and
    // the nodes' timelines (its socket is an abstract one,
    // RemoteLauncher::SocketPath).
    if (a.stage || !a.stats.empty() || !a.traces.empty()) {
      if (::mkdir(dir.c_str(), 0700) != 0) return fail("cannot create " + dir + ": " + std::strerror(errno));
      made_dir = true;
    }
    if (a.stage) {
      if (Status s = StageProgram(dir + "/" + a.stage_name, a.stage_size); !s.ok()) return fail(s.message());
    }
    // Another host's daemon: wait for host 0's endpoint (kJoinPlaceholder).
    bool wants_join = false;
    for (const std::string& s : argv) wants_join = wants_join || s.find(kJoinPlaceholder) != std::string::npos;
    if (wants_join) {
      std::string line;
      char c;
      while (line.size() < 1024 && ReadFull(STDIN_FILENO, &c, 1) && c != '\n') line.push_back(c);
      if (!line.starts_with("join ") || line.size() == 5) {
        return fail("no 'join ENDPOINT' line on stdin (dsm-run ended before host 0 listened?)");
      }
      for (std::string& s : argv) s = Replace(s, kJoinPlaceholder, line.substr(5));
    }
    if (a.keys) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) return fail(std::string("pipe2: ") + std::strerror(errno));
      keys_r.reset(p[0]);
      UniqueFd w(p[1]);
      bool ok = ::write(w.get(), block.data(), block.size()) == static_cast<ssize_t>(block.size());
      jobkeys::Wipe(block);
      if (!ok) return fail("cannot write the key block into a pipe");
    }
  }

  // The node's environment: ours (what ssh gave), less the job's variables,
  // plus --env.
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.starts_with("DSM_SOCKET=") || v.starts_with("DSM_NODE_ID=") || v.starts_with("DSM_NUM_NODES=") ||
        v.starts_with("DSM_HOST_ID=") || v.starts_with("DSM_TRACE=")) {
      continue;
    }
    envs.emplace_back(v);
  }
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> envp = StringPointers(envs);
  std::vector<char*> argp = StringPointers(argv);

  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  // The daemon's status pipe is our stdout, which its own stdout replaces:
  // hand it over under another number.
  UniqueFd status_pipe(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, kKeysFdInChild + 1));
  SpawnSpec spec;
  spec.path = argv[0].c_str();
  spec.argv = argp;
  spec.envp = envp.data();
  spec.pgid = 0;
  spec.restore = &restore;
  if (a.daemon) {
    spec.stdin_fd = devnull.get();
    spec.stdout_fd = STDERR_FILENO;
    spec.status_fd = status_pipe.get();
    spec.keys_fd = keys_r.get();
  } else {
    spec.same_addresses = true;
  }
  auto r = Spawn(spec);
  keys_r.reset();
  status_pipe.reset();
  if (!r.ok()) return fail(r.status().message());
  const pid_t pid = r->pid;
  if (r->exec_errno != 0) {
    ::waitpid(pid, nullptr, 0);
    Complain("cannot execute %s: %s", argv[0].c_str(), std::strerror(r->exec_errno));
    if (made_dir) RemoveTree(dir);
    return kExitCannotExec;
  }

  // Wait for the child's end, dsm-run's stop signal, or the session's end.
  // Stopped, the session is still there: a daemon's statistics still go
  // back (dsm-run stops a remote daemon that is slow to exit after the
  // job's last node, and under load that may be one about to exit).
  bool lost = false;
  bool stopped = false;
  bool stdin_open = a.daemon;
  std::optional<ExitInfo> exit;
  while (!exit && !lost && !stopped) {
    pollfd fds[4];
    nfds_t n = 0;
    fds[n++] = pollfd{r->pidfd.get(), POLLIN, 0};
    fds[n++] = pollfd{sigfd.get(), POLLIN, 0};
    fds[n++] = pollfd{STDOUT_FILENO, 0, 0};  // POLLERR/POLLHUP: the reader is gone
    if (stdin_open) fds[n++] = pollfd{STDIN_FILENO, POLLIN, 0};
    if (::poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      lost = true;
      break;
    }
    if (fds[0].revents != 0) {
      auto peek = PeekExit(pid);
      if (peek.ok() && *peek) exit = **peek;
    }
    if (fds[1].revents != 0) {
      // SIGUSR1 (srun passes dsm-run's stop on), SIGINT and SIGTERM: stop,
      // still sending what the daemon leaves. SIGHUP: the session is gone.
      signalfd_siginfo si{};
      const bool read_one = ::read(sigfd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si);
      if (read_one && si.ssi_signo == SIGHUP) {
        lost = true;
      } else {
        stopped = true;
      }
    }
    if ((fds[2].revents & (POLLERR | POLLHUP)) != 0) lost = true;
    if (stdin_open && fds[3].revents != 0) {
      char buf[4096];
      ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) lost = true;
    }
  }
  if (!exit) {
    ::kill(-pid, SIGTERM);
    int64_t kill_at = NowMs() + kTermToKillMs;
    for (;;) {
      pollfd p{r->pidfd.get(), POLLIN, 0};
      int64_t left = kill_at - NowMs();
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) == 1) break;
    }
  }
  // Whatever the child left in its group goes too. Safe: the group's
  // leader is our unreaped child.
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!lost && !a.stats.empty()) SendStats(dir + "/" + a.stats);
  if (!lost && !a.traces.empty()) SendTraces(dir, a.traces);
  if (made_dir) RemoveTree(dir);
  if (lost || stopped) return 1;  // nobody is listening any more, or told to stop
  if (WIFSIGNALED(status)) {
    ExitInfo e{true, WTERMSIG(status), WCOREDUMP(status) != 0};
    Complain("%s (pid %d) %s", argv[0].c_str(), pid, Describe(e).c_str());
    return 128 + WTERMSIG(status);
  }
  return WEXITSTATUS(status);
}

}  // namespace dsm::launcher
