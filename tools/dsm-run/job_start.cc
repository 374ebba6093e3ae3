// Bringing a job up and down: process state, the temporary directory, the
// network namespaces, the daemons and the nodes, and the teardown that leaves
// nothing behind. The supervision loop is in job.cc, the daemons' status
// lines in job_lines.cc.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
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
#include <fstream>
#include <sstream>
#include <string_view>

#include <zmq.h>

#include "dsm/common/job_keys.h"
#include "dsm/common/log.h"
#include "job.h"
#include "placement.h"
#include "stats_merge.h"
#include "trace_merge.h"

extern char** environ;

namespace dsm::launcher {

namespace {

constexpr size_t kMaxStatsFile = 64 << 20;

uint64_t RandomJobId() {
  uint64_t id = 0;
  if (::getrandom(&id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) {
    id = static_cast<uint64_t>(NowNs()) * 0x9e3779b97f4a7c15u ^ static_cast<uint64_t>(::getpid());
  }
  return id != 0 ? id : 1;  // 0 is no id
}

// A fresh CURVE key pair as a key block (dsm/common/job_keys.h).
Result<std::string> MakeKeyBlock() {
  char pub[jobkeys::kZ85KeyLength + 1], sec[jobkeys::kZ85KeyLength + 1];
  if (zmq_curve_keypair(pub, sec) != 0) {
    return Status::FromErrno("cannot make the job's CURVE key pair (has libzmq no CURVE support?)");
  }
  auto block = jobkeys::Format(jobkeys::Keys(pub, sec));
  explicit_bzero(sec, sizeof sec);
  return block;
}

// A pipe that holds the block, its write end closed: the daemon's --keys-fd.
Result<UniqueFd> KeysPipe(const std::string& block) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno("pipe2");
  UniqueFd r(p[0]), w(p[1]);
  // A hundred bytes into an empty pipe: never blocks, never partial.
  if (::write(w.get(), block.data(), block.size()) != static_cast<ssize_t>(block.size())) {
    return Status::FromErrno("cannot write the job's keys into a pipe");
  }
  return r;
}

}  // namespace

Job::Job(const Options& options, std::string program_path, std::string hostd_path)
    : o_(options), program_path_(std::move(program_path)), hostd_path_(std::move(hostd_path)) {}

// Fail before starting anything if the trace or the statistics cannot be
// written; stale per-host statistics must not be merged as this job's.
Status Job::OpenOutputFiles() {
  if (!o_.trace.empty()) {
    trace_out_.reset(std::fopen(o_.trace.c_str(), "w"));
    if (!trace_out_) return Status::FromErrno("cannot write the trace file " + o_.trace);
  }
  if (!o_.stats_json.empty()) {
    stats_out_.reset(std::fopen(o_.stats_json.c_str(), "w"));
    if (!stats_out_) return Status::FromErrno("cannot write the statistics file " + o_.stats_json);
    for (uint32_t k = 0; k < o_.hosts; ++k) ::unlink(HostStatsPath(o_.stats_json, k).c_str());
  }
  return Status::Ok();
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

  // A pidfd per process, two pipes per node with --tag-output, a pidfd, a
  // pipe and a namespace per host.
  rlim_t needed = static_cast<rlim_t>(o_.nodes) * (o_.tag_output ? 3 : 1) + static_cast<rlim_t>(o_.hosts) * 3 + 64;
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
  if (templ.size() + sizeof "/hostd63.sock" > sizeof(sockaddr_un{}.sun_path)) {
    return Status(ENAMETOOLONG, "the socket path under " + base +
                                    " would be too long for a UNIX socket; set TMPDIR to a shorter directory");
  }
  if (::mkdtemp(templ.data()) == nullptr) return Status::FromErrno("cannot create a directory in " + base);
  dir_ = templ;
  daemons_.resize(o_.hosts);
  for (uint32_t k = 0; k < o_.hosts; ++k) {
    daemons_[k].socket = dir_ + (o_.hosts == 1 ? "/hostd.sock" : "/hostd" + std::to_string(k) + ".sock");
  }
  children_.reserve(o_.nodes + daemons_.size());
  attached_.assign(o_.nodes, false);
  host_of_node_ = o_.remote() ? o_.host_of_node : PlaceNodes(o_.nodes, o_.hosts, o_.placement);
  job_id_ = RandomJobId();
  if (o_.remote()) {
    if (Status s = SetupRemote(); !s.ok()) return s;
  }

  if (o_.netns) {
    // After the signals are blocked: the network's guardian keeps them so.
    auto net = HostNetwork::Create(std::to_string(::getpid()), o_.hosts, restore_);
    if (!net.ok()) return net.status();
    network_ = std::move(net.value());
    DSM_LOG_DEBUG("created network namespaces %s..%s", network_->hub().c_str(), network_->name(o_.hosts - 1).c_str());
  }
  return Status::Ok();
}

// dsm-hostd's command line for host k. One host: --socket --nodes --memory
// --ready-fd --exit-when-done [--stats] [--stack] [--home] [--stats-json], as
// before multi-host jobs existed. Several: --socket, --nodes, --host-id,
// --hosts, --local-nodes, --listen, [--join] (all but host 0), --job-id,
// --home, --ready-fd, --keys-fd, --exit-when-done, [--stats], --memory,
// [--stack], [--stats-json]; then [--globals] and [--huge-pages off] in both
// cases.
std::vector<std::string> Job::DaemonArgs(uint32_t host) const {
  std::vector<std::string> a = {hostd_path_, "--socket", daemons_[host].socket, "--nodes", std::to_string(o_.nodes)};
  if (o_.hosts == 1) {
    a.insert(a.end(), {"--memory", std::to_string(o_.memory), "--ready-fd", std::to_string(kStatusFdInChild),
                       "--exit-when-done"});
    if (o_.stats) a.emplace_back("--stats");
    if (o_.stack != 0) a.insert(a.end(), {"--stack", std::to_string(o_.stack)});
    if (o_.home) a.insert(a.end(), {"--home", HomePolicyName(*o_.home)});
  } else {
    std::string address = network_ ? HostNetwork::Address(host) : "127.0.0.1";
    a.insert(a.end(), {"--host-id", std::to_string(host), "--hosts", std::to_string(o_.hosts), "--local-nodes",
                       FormatNodeList(NodesOfHost(host_of_node_, host)), "--listen",
                       remote_ ? remote_->ListenEndpoint(host) : "tcp://" + address + ":0"});
    // Remote hosts start before host 0 listens and get its endpoint on
    // their session's stdin (kJoinPlaceholder).
    if (host != 0) a.insert(a.end(), {"--join", join_endpoint_.empty() && o_.remote() ? kJoinPlaceholder : join_endpoint_});
    a.insert(a.end(),
             {"--job-id", std::to_string(job_id_), "--home", HomePolicyName(o_.home.value_or(HomePolicy::kMigrate)),
              "--ready-fd", std::to_string(kStatusFdInChild), "--keys-fd", std::to_string(kKeysFdInChild),
              "--exit-when-done"});
    if (o_.stats) a.emplace_back("--stats");
    if (o_.peer_timeout_ms != 0) a.insert(a.end(), {"--peer-timeout-ms", std::to_string(o_.peer_timeout_ms)});
    a.insert(a.end(), {"--memory", std::to_string(o_.memory)});
    if (o_.stack != 0) a.insert(a.end(), {"--stack", std::to_string(o_.stack)});
  }
  if (globals_size_ != 0) a.insert(a.end(), {"--globals", std::to_string(globals_size_)});
  if (!o_.huge_pages) a.insert(a.end(), {"--huge-pages", "off"});
  if (!o_.stats_json.empty()) {
    // On another machine the file goes to the host's private directory, and
    // its agent sends it back (RemoteLauncher::DaemonArgv: --stats).
    a.insert(a.end(), {"--stats-json", remote_ ? std::string(kDirPlaceholder) + "/" + kRemoteStatsName
                                                : HostStatsPath(o_.stats_json, host)});
  }
  return a;
}

void Job::StartDaemon(uint32_t host) {
  Daemon& d = daemons_[host];
  // Several hosts: one key pair for the job, the same block for every daemon.
  UniqueFd keys_r;
  if (o_.hosts > 1) {
    if (keys_block_.empty()) {
      auto block = MakeKeyBlock();
      if (!block.ok()) return StartFailed(host, block.status().message());
      keys_block_ = std::move(block).value();
    }
    auto keys = KeysPipe(keys_block_);
    if (host + 1 == o_.hosts) jobkeys::Wipe(keys_block_);  // the last daemon has it
    if (!keys.ok()) return StartFailed(host, keys.status().message());
    keys_r = std::move(keys).value();
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return StartFailed(host, std::string("pipe2: ") + std::strerror(errno));
  d.status = StatusReader(UniqueFd(p[0]));
  UniqueFd status_w(p[1]);

  std::vector<std::string> args = DaemonArgs(host);
  UniqueFd ssh_stdin;  // a remote host: the daemon is an ssh session
  if (remote_) {
    if (Status s = RemoteDaemon(host, &args, &keys_r, &ssh_stdin); !s.ok()) return StartFailed(host, s.message());
  }
  SpawnSpec spec;
  spec.path = args[0].c_str();
  spec.argv = StringPointers(args);
  spec.envp = environ;
  spec.stdin_fd = remote_ ? ssh_stdin.get() : devnull_.get();
  if (remote_ && remote_->slurm()) spec.death_signal = kSrunStopSignal;
  spec.stdout_fd = remote_ ? status_w.get() : -1;
  spec.status_fd = remote_ ? -1 : status_w.get();
  spec.keys_fd = keys_r.get();
  // The first daemon leads the job's process group; everything else joins.
  spec.pgid = job_pgid_ > 0 ? job_pgid_ : 0;
  spec.netns_fd = network_ ? network_->fd(host) : -1;
  spec.restore = &restore_;
  auto r = Spawn(spec);
  status_w.reset();
  keys_r.reset();
  ssh_stdin.reset();
  std::string label = DaemonLabel(host);
  if (!r.ok()) {
    d.status = StatusReader();  // nobody writes to it
    return StartFailed(host, r.status().message());
  }
  if (job_pgid_ <= 0) job_pgid_ = r->pid;
  d.child = children_.size();
  d.started = true;
  children_.push_back(Child{label, -1, host, r->pid, std::move(r->pidfd), false, {}, {}, -1});
  DSM_LOG_DEBUG("started %s, pid %d, socket %s", label.c_str(), r->pid, d.socket.c_str());
  if (r->exec_errno != 0) {
    return StartFailed(host, "cannot execute " + args[0] + ": " + std::strerror(r->exec_errno));
  }
  d.ready_deadline = NowNs() + kReadyTimeoutMs * kMs;
}

void Job::StartNodes() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.starts_with("DSM_SOCKET=") || v.starts_with("DSM_NODE_ID=") || v.starts_with("DSM_NUM_NODES=") ||
        v.starts_with("DSM_HOST_ID=") || v.starts_with("DSM_TRACE=")) {
      continue;
    }
    env.emplace_back(v);
  }
  env.push_back("DSM_NUM_NODES=" + std::to_string(o_.nodes));
  if (!o_.trace.empty()) env.push_back("DSM_TRACE=" + TracePrefix());
  // Per node: DSM_SOCKET, DSM_NODE_ID and, with several hosts, DSM_HOST_ID.
  size_t per_node = env.size();
  bool multi_host = o_.hosts > 1;
  std::vector<std::string> args;
  args.push_back(o_.program);
  args.insert(args.end(), o_.args.begin(), o_.args.end());
  std::vector<char*> argv = StringPointers(args);

  for (uint32_t k = 0; k < o_.nodes; ++k) {
    uint32_t host = host_of_node_[k];
    env.resize(per_node);
    env.push_back("DSM_SOCKET=" + daemons_[host].socket);
    env.push_back("DSM_NODE_ID=" + std::to_string(k));
    if (multi_host) env.push_back("DSM_HOST_ID=" + std::to_string(host));
    std::vector<char*> envp = StringPointers(env);
    std::string label = remote_ ? RemoteNodeLabel(k, host)
                                : "node " + std::to_string(k) + (multi_host ? " on host " + std::to_string(host) : "");
    auto cannot_start = [&](const std::string& why) {
      Say("error: cannot start %s: %s", label.c_str(), why.c_str());
      exit_code_ = kExitFailure;
      BeginEnding();
    };

    UniqueFd out_r, out_w, err_r, err_w;
    if (IsVmNode(o_, k)) {
      StartVmNode(k, env, &out_r, &err_r, cannot_start);
      if (phase_ == Phase::kEnding) return;
      // A guest's output always comes through dsm-run: as whole lines after
      // the tag, or as it arrives without one.
      std::string prefix;
      if (o_.tag_output) prefix = "[node " + std::to_string(k) + (multi_host ? "@h" + std::to_string(host) : "") + "] ";
      output_.Add(std::move(out_r), STDOUT_FILENO, prefix);
      output_.Add(std::move(err_r), STDERR_FILENO, prefix);
      continue;
    }
    if (o_.tag_output) {
      int a[2], b[2];
      if (::pipe2(a, O_CLOEXEC) != 0) return cannot_start(std::string("pipe2: ") + std::strerror(errno));
      out_r.reset(a[0]);
      out_w.reset(a[1]);
      if (::pipe2(b, O_CLOEXEC) != 0) return cannot_start(std::string("pipe2: ") + std::strerror(errno));
      err_r.reset(b[0]);
      err_w.reset(b[1]);
    }

    std::vector<std::string> ssh_args;  // a remote node is an ssh session
    if (remote_) ssh_args = RemoteNodeArgs(k, host);
    std::vector<char*> ssh_argv = StringPointers(ssh_args);
    SpawnSpec spec;
    spec.path = remote_ ? ssh_args[0].c_str() : program_path_.c_str();
    spec.same_addresses = !remote_;
    if (remote_ && remote_->slurm()) spec.death_signal = kSrunStopSignal;
    spec.argv = remote_ ? ssh_argv : argv;
    spec.envp = envp.data();
    spec.stdin_fd = k == 0 ? -1 : devnull_.get();
    spec.stdout_fd = out_w.get();
    spec.stderr_fd = err_w.get();
    // A process outside the terminal's foreground group is stopped when it
    // reads the terminal, so node 0 stays in ours when it may do that.
    spec.pgid = (k == 0 && stdin_is_tty_) ? -1 : job_pgid_;
    spec.netns_fd = network_ ? network_->fd(host) : -1;
    spec.restore = &restore_;
    auto r = Spawn(spec);
    out_w.reset();
    err_w.reset();
    if (!r.ok()) return cannot_start(r.status().message());
    DSM_LOG_DEBUG("started %s, pid %d", label.c_str(), r->pid);
    node_child_.push_back(children_.size());
    children_.push_back(Child{label, static_cast<int>(k), host, r->pid, std::move(r->pidfd), false, {}, {}, -1});
    if (o_.tag_output) {
      std::string prefix = "[node " + std::to_string(k) + (multi_host ? "@h" + std::to_string(host) : "") + "] ";
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
  RemoveVmFiles();
  for (Daemon& d : daemons_) {
    // What is still in the pipe: a remote daemon's agent writes the
    // statistics and the timelines after the daemon exited, maybe after its
    // last status line was read. Its session has ended, so this reads to the end; a session
    // that would not end (it survived SIGKILL, above) gets a second.
    std::vector<StatusEvent> events;
    const int64_t give_up = NowNs() + 1000 * kMs;
    while (remote_ && (stats_out_ || trace_out_) && d.status.open()) {
      pollfd p{d.status.fd(), POLLIN, 0};
      const int64_t left_ms = (give_up - NowNs()) / kMs;
      if (left_ms <= 0 || ::poll(&p, 1, static_cast<int>(left_ms)) == 0) break;
      events.clear();
      d.status.Drain(&events);
      for (StatusEvent& e : events) {
        if (e.type == StatusEvent::Type::kStatsJson || e.type == StatusEvent::Type::kTraceJson) {
          TakeRecord(static_cast<size_t>(&d - daemons_.data()), std::move(e));
        }
      }
    }
    d.status = StatusReader();
    d.agent_in.reset();
    jobkeys::Wipe(d.agent_pending);
  }
  timer_.reset();
  devnull_.reset();
  sigfd_.reset();
  if (network_) {
    network_->Remove();
    network_.reset();
  }
  if (stats_out_) WriteStats();
  if (trace_out_) {
    if (remote_ && attached_.size() == o_.nodes) {
      // Every node that joined the job leaves a timeline; its host's agent
      // sends it (a cut-off record is dropped whole).
      for (uint32_t k = 0; k < o_.nodes; ++k) {
        if (attached_[k] && sent_traces_.count(k) == 0) Say("warning: no timeline from node %u", k);
      }
    }
    MergeTraces(trace_out_.get(), dir_.empty() ? std::string() : TracePrefix(), o_.nodes, sent_traces_);
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

// Merges the daemons' statistics into --stats-json's file and removes the
// per-host files that were merged (a file that is not a JSON object stays for
// inspection).
void Job::WriteStats() {
  std::vector<std::optional<std::string>> per_host(o_.hosts);
  for (uint32_t k = 0; k < o_.hosts; ++k) {
    if (remote_) {
      // Sent by the host's agent (no file here).
      Daemon* d = k < daemons_.size() ? &daemons_[k] : nullptr;
      if (d == nullptr || !d->stats_json) {
        if (d != nullptr && d->started) Say("warning: no statistics from host %u", k);
      } else if (!IsJsonObject(*d->stats_json)) {
        Say("warning: the statistics host %u sent are not a JSON object; left out", k);
      } else {
        per_host[k] = std::move(*d->stats_json);
      }
      continue;
    }
    std::string path = HostStatsPath(o_.stats_json, k);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      if (k < daemons_.size() && daemons_[k].started) Say("warning: no statistics from host %u (%s)", k, path.c_str());
      continue;
    }
    std::ostringstream text;
    text << in.rdbuf();
    per_host[k] = text.str();
    if (per_host[k]->size() > kMaxStatsFile || !IsJsonObject(*per_host[k])) {
      Say("warning: the statistics of host %u in %s are not a JSON object; left there", k, path.c_str());
      per_host[k].reset();
      continue;
    }
    ::unlink(path.c_str());
  }
  std::string doc = MergeHostStats(per_host);
  std::fwrite(doc.data(), 1, doc.size(), stats_out_.get());
  if (std::fclose(stats_out_.release()) != 0) {
    Say("warning: cannot write the statistics file %s: %s", o_.stats_json.c_str(), std::strerror(errno));
  }
}

std::string Job::TracePrefix() const { return dir_ + "/trace"; }

}  // namespace dsm::launcher
