// Bringing a job up and down: process state, the temporary directory, the
// daemon and the nodes, what the daemon says on its status pipe, and the
// teardown that leaves nothing behind. The supervision loop is in job.cc.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "dsm/common/job_status.h"
#include "dsm/common/log.h"
#include "job.h"
#include "trace_merge.h"

extern char** environ;

namespace dsm::launcher {

namespace {

constexpr int64_t kMs = 1000000;   // nanoseconds
constexpr int64_t kDrainMs = 500;  // how long a daemon that closed its pipe may take to exit

int64_t NowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

bool IsReadyLine(const std::string& text) {
  auto line = jobstatus::Parse(text);
  return line.ok() && line->kind == jobstatus::Kind::kReady;
}

}  // namespace

Job::Job(const Options& options, std::string program_path, std::string hostd_path)
    : o_(options), program_path_(std::move(program_path)), hostd_path_(std::move(hostd_path)) {}

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
  if (::getrlimit(RLIMIT_NOFILE, &restore_.nofile) != 0) return Status::FromErrno("getrlimit");
  rlimit_saved_ = true;
  const rlimit& old = restore_.nofile;
  if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < needed) {
    if (old.rlim_max != RLIM_INFINITY && old.rlim_max < needed) {
      return Status(EMFILE, std::to_string(o_.nodes) + " nodes need " + std::to_string(needed) +
                                " file descriptors, but the hard limit (ulimit -Hn) is " +
                                std::to_string(old.rlim_max));
    }
    rlimit raised = old;
    raised.rlim_cur = needed;
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) return Status::FromErrno("setrlimit");
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  if (::sigprocmask(SIG_BLOCK, &mask, &restore_.mask) != 0) return Status::FromErrno("sigprocmask");
  mask_saved_ = true;
  sigfd_.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd_) return Status::FromErrno("signalfd");
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  if (::sigaction(SIGPIPE, &ignore, &restore_.sigpipe) != 0) return Status::FromErrno("sigaction");
  pipe_saved_ = true;
  // An inherited SIGCHLD = SIG_IGN would have the kernel reap our children
  // before we learn their status.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  if (::sigaction(SIGCHLD, &dfl, &restore_.sigchld) != 0) return Status::FromErrno("sigaction");
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
    return Status(ENAMETOOLONG, "the socket path under " + base +
                                    " would be too long for a UNIX socket; set TMPDIR to a shorter directory");
  }
  if (::mkdtemp(templ.data()) == nullptr) return Status::FromErrno("cannot create a directory in " + base);
  dir_ = templ;
  daemons_.resize(1);
  daemons_[0].socket = dir_ + "/hostd.sock";
  children_.reserve(o_.nodes + daemons_.size());
  attached_.assign(o_.nodes, false);
  return Status::Ok();
}

void Job::StartDaemon() {
  Daemon& d = daemons_[0];
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    StartFailed(std::string("pipe2: ") + std::strerror(errno));
    return;
  }
  d.status = StatusReader(UniqueFd(p[0]));
  UniqueFd status_w(p[1]);

  std::vector<std::string> args = {hostd_path_,
                                   "--socket",
                                   d.socket,
                                   "--nodes",
                                   std::to_string(o_.nodes),
                                   "--memory",
                                   std::to_string(o_.memory),
                                   "--ready-fd",
                                   std::to_string(kStatusFdInChild),
                                   "--exit-when-done"};
  if (o_.stats) args.emplace_back("--stats");
  if (o_.stack != 0) {
    args.emplace_back("--stack");
    args.push_back(std::to_string(o_.stack));
  }
  SpawnSpec spec;
  spec.path = hostd_path_.c_str();
  spec.argv = StringPointers(args);
  spec.envp = environ;
  spec.stdin_fd = devnull_.get();
  spec.status_fd = status_w.get();
  spec.pgid = 0;
  spec.restore = &restore_;
  auto r = Spawn(spec);
  status_w.reset();
  if (!r.ok()) {
    StartFailed(r.status().message());
    return;
  }
  job_pgid_ = r->pid;
  d.child = children_.size();
  children_.push_back(Child{"dsm-hostd", -1, r->pid, std::move(r->pidfd), false, {}});
  DSM_LOG_DEBUG("started dsm-hostd, pid %d, socket %s", r->pid, d.socket.c_str());
  if (r->exec_errno != 0) {
    StartFailed("cannot execute " + hostd_path_ + ": " + std::strerror(r->exec_errno));
    return;
  }
  d.ready_deadline = NowNs() + kReadyTimeoutMs * kMs;
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
  env.push_back("DSM_SOCKET=" + daemons_[0].socket);
  env.push_back("DSM_NUM_NODES=" + std::to_string(o_.nodes));
  if (!o_.trace.empty()) env.push_back("DSM_TRACE=" + TracePrefix());
  env.emplace_back();  // DSM_NODE_ID, per node
  std::vector<std::string> args;
  args.push_back(o_.program);
  args.insert(args.end(), o_.args.begin(), o_.args.end());
  std::vector<char*> argv = StringPointers(args);

  for (uint32_t k = 0; k < o_.nodes; ++k) {
    env.back() = "DSM_NODE_ID=" + std::to_string(k);
    std::vector<char*> envp = StringPointers(env);
    std::string label = "node " + std::to_string(k);
    auto cannot_start = [&](const std::string& why) {
      Say("error: cannot start %s: %s", label.c_str(), why.c_str());
      exit_code_ = kExitFailure;
      BeginEnding();
    };

    UniqueFd out_r, out_w, err_r, err_w;
    if (o_.tag_output) {
      int a[2], b[2];
      if (::pipe2(a, O_CLOEXEC) != 0) return cannot_start(std::string("pipe2: ") + std::strerror(errno));
      out_r.reset(a[0]);
      out_w.reset(a[1]);
      if (::pipe2(b, O_CLOEXEC) != 0) return cannot_start(std::string("pipe2: ") + std::strerror(errno));
      err_r.reset(b[0]);
      err_w.reset(b[1]);
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
    spec.restore = &restore_;
    auto r = Spawn(spec);
    out_w.reset();
    err_w.reset();
    if (!r.ok()) return cannot_start(r.status().message());
    DSM_LOG_DEBUG("started %s, pid %d", label.c_str(), r->pid);
    node_child_.push_back(children_.size());
    children_.push_back(Child{label, static_cast<int>(k), r->pid, std::move(r->pidfd), false, {}});
    if (o_.tag_output) {
      std::string prefix = "[" + label + "] ";
      output_.Add(std::move(out_r), STDOUT_FILENO, prefix);
      output_.Add(std::move(err_r), STDERR_FILENO, prefix);
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

void Job::OnStatusEvent(size_t daemon, const StatusEvent& event) {
  Daemon& d = daemons_[daemon];
  switch (event.type) {
    case StatusEvent::Type::kLine:
      OnStatusLine(daemon, event.text);
      return;
    case StatusEvent::Type::kOverlong:
      if (d.ready) {
        DSM_LOG_DEBUG("%s wrote an overlong line; ignored", children_[d.child].label.c_str());
      } else {
        OnStatusLine(daemon, event.text);  // not "ready"
      }
      return;
    case StatusEvent::Type::kEnd:
      // End of file (the daemon exited or closed it), or an error. A last
      // line without its newline counts, except as a bad first line: then
      // the daemon's exit status says more.
      if (!event.text.empty() && (d.ready || IsReadyLine(event.text))) OnStatusLine(daemon, event.text);
      if (phase_ == Phase::kStarting && !d.ready) {
        // The daemon is probably exiting: give it a moment so that we can
        // report its exit status rather than just the closed pipe.
        d.status_ended = true;
        if (d.ready_deadline != 0) d.ready_deadline = std::min(d.ready_deadline, NowNs() + kDrainMs * kMs);
      }
      return;
  }
}

void Job::OnStatusLine(size_t daemon, const std::string& text) {
  Daemon& d = daemons_[daemon];
  const std::string& who = children_[d.child].label;
  auto parsed = jobstatus::Parse(text);
  if (!d.ready) {
    if (phase_ != Phase::kStarting) return;  // ended before the daemon was ready
    if (parsed.ok() && parsed->kind == jobstatus::Kind::kReady) {
      d.ready = true;
      d.ready_deadline = 0;
      DSM_LOG_DEBUG("%s is ready", who.c_str());
      StartNodes();
    } else {
      StartFailed("it wrote " + Quote(text.substr(0, 64)) + " instead of 'ready'");
    }
    return;
  }
  if (!parsed.ok()) {
    DSM_LOG_DEBUG("%s wrote %s on its --ready-fd (%s); ignored", who.c_str(), Quote(text.substr(0, 64)).c_str(),
                  parsed.status().message().c_str());
    return;
  }
  const jobstatus::Line& line = parsed.value();
  switch (line.kind) {
    case jobstatus::Kind::kFinished:
      DSM_LOG_DEBUG("%s: node 0 finished the job with status %u", who.c_str(), line.number);
      if (!culprit_) finished_ = true;
      return;
    case jobstatus::Kind::kAttached:
      if (line.number < o_.nodes) {
        attached_[line.number] = true;
        return;
      }
      break;
    case jobstatus::Kind::kLost:
      if (line.number < o_.nodes) {
        DSM_LOG_DEBUG("%s: node %u left the job before it finished", who.c_str(), line.number);
        OnLost(line.number);
        return;
      }
      break;
    case jobstatus::Kind::kReady:
    case jobstatus::Kind::kListening:
    case jobstatus::Kind::kLostHost:
      break;
  }
  DSM_LOG_DEBUG("%s wrote %s on its --ready-fd; ignored", who.c_str(), Quote(text.substr(0, 64)).c_str());
}

// Node `node` left the job before it finished: it is the culprit, whatever
// the others do now (they exit with status 3 because of it). Its own exit
// says how it left; wait a moment for that if it has not been seen yet.
void Job::OnLost(uint32_t node) {
  if (finished_ || culprit_ || node >= node_child_.size()) return;
  size_t i = node_child_[node];
  culprit_ = i;
  if (phase_ != Phase::kRunning && phase_ != Phase::kWindDown) return;
  if (children_[i].exited) {
    Fail(i);
  } else {
    lost_deadline_ = NowNs() + kLostGraceMs * kMs;
  }
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
  output_.FlushAll();
  for (Daemon& d : daemons_) d.status = StatusReader();
  timer_.reset();
  devnull_.reset();
  sigfd_.reset();
  if (trace_out_) {
    MergeTraces(trace_out_.get(), dir_.empty() ? std::string() : TracePrefix(), o_.nodes);
    if (std::fclose(trace_out_.release()) != 0) {
      Say("warning: cannot write the trace file %s: %s", o_.trace.c_str(), std::strerror(errno));
    }
  }
  if (!dir_.empty()) {
    for (const Daemon& d : daemons_) {
      if (::unlink(d.socket.c_str()) != 0 && errno != ENOENT) {
        Say("warning: cannot remove %s: %s", d.socket.c_str(), std::strerror(errno));
      }
    }
    if (::rmdir(dir_.c_str()) != 0) Say("warning: cannot remove %s: %s", dir_.c_str(), std::strerror(errno));
    dir_.clear();
  }
  if (pipe_saved_) ::sigaction(SIGPIPE, &restore_.sigpipe, nullptr);
  if (chld_saved_) ::sigaction(SIGCHLD, &restore_.sigchld, nullptr);
  if (rlimit_saved_) ::setrlimit(RLIMIT_NOFILE, &restore_.nofile);
  if (mask_saved_) ::sigprocmask(SIG_SETMASK, &restore_.mask, nullptr);
}

std::string Job::TracePrefix() const { return dir_ + "/trace"; }

}  // namespace dsm::launcher
