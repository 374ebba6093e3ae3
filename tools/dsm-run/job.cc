// The supervision loop of a job, how exits are judged, the deadlines, and how
// the job ends. Starting and tearing down are in job_start.cc.
#include "job.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "dsm/common/log.h"
#include "dsm/device/protocol.h"
#include "program_image.h"

namespace dsm::launcher {

namespace {

constexpr int64_t kDrainMs = 500;  // reading the last output after every process ended

void SendSignal(const UniqueFd& pidfd, int sig) { ::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0); }

}  // namespace

int RunJob(const Options& options, const std::string& program_path, const std::string& hostd_path) {
  Job job(options, program_path, hostd_path);
  return job.Run();
}

int Job::Run() {
  if (o_.netns) {
    // Before anything is created.
    auto ip = HostNetwork::CheckPrerequisites();
    if (!ip.ok()) {
      Say("error: %s", ip.status().message().c_str());
      return kExitFailure;
    }
  }
  auto image = ReadProgramImage(program_path_);
  if (!image.ok()) {
    Say("error: %s", image.status().message().c_str());
    return kExitUsage;
  }
  globals_size_ = image->globals_size;
  const uint64_t stack = o_.stack != 0 ? o_.stack : device::kMasterStackSize;
  if (!image->elf && device::LayoutFits(o_.memory, stack, kUnknownProgramGlobals)) {
    globals_size_ = kUnknownProgramGlobals;  // a script: room for the program it runs
  }
  if (!device::LayoutFits(o_.memory, stack, globals_size_)) {
    Say("error: %s's shared globals (%llu MiB) and the master stack leave less than 16 MiB of heap in "
        "a %llu MiB shared space: use a larger --memory",
        program_path_.c_str(), static_cast<unsigned long long>(globals_size_ >> 20),
        static_cast<unsigned long long>(o_.memory >> 20));
    return kExitUsage;
  }
  if (o_.vm) {
    if (Status s = PrepareVms(); !s.ok()) {
      Say("error: %s", s.message().c_str());
      return kExitFailure;
    }
  }
  if (Status s = OpenOutputFiles(); !s.ok()) {
    Say("error: %s", s.message().c_str());
    return kExitUsage;
  }
  Status s = Setup();
  if (!s.ok()) {
    Say("error: %s", s.message().c_str());
    exit_code_ = kExitFailure;
  } else {
    StartDaemon(0);  // with several hosts the others follow its "listening" line
    // Across machines every session opens at once; the others' daemons wait
    // in their agents for host 0's endpoint (OnStartLine sends it).
    for (uint32_t k = 1; o_.remote() && k < o_.hosts && phase_ == Phase::kStarting; ++k) StartDaemon(k);
    Loop();
  }
  Teardown();
  return exit_code_;
}

void Job::Loop() {
  enum class Kind { kSignal, kTimer, kStatus, kChild, kStream, kConsole, kStdin, kAgentIn };
  std::vector<pollfd> fds;
  std::vector<std::pair<Kind, size_t>> tags;
  std::vector<size_t> exits;
  for (;;) {
    int64_t now = NowNs();
    OnDeadlines(now);
    if (Done(now)) return;

    fds.clear();
    tags.clear();
    auto add = [&](int fd, Kind kind, size_t index, short events = POLLIN) {
      fds.push_back(pollfd{fd, events, 0});
      tags.emplace_back(kind, index);
    };
    add(sigfd_.get(), Kind::kSignal, 0);
    if (timer_) add(timer_.get(), Kind::kTimer, 0);
    for (size_t i = 0; i < daemons_.size(); ++i) {
      if (daemons_[i].status.open()) add(daemons_[i].status.fd(), Kind::kStatus, i);
    }
    for (size_t i = 0; i < children_.size(); ++i) {
      if (children_[i].pidfd) add(children_[i].pidfd.get(), Kind::kChild, i);
    }
    for (size_t i = 0; i < output_.size(); ++i) {
      if (output_.fd(i) >= 0) add(output_.fd(i), Kind::kStream, i);
    }
    for (size_t i = 0; i < vms_.size(); ++i) {
      if (vms_[i].console) add(vms_[i].console.get(), Kind::kConsole, i);
    }
    for (size_t i = 0; i < daemons_.size(); ++i) {
      if (!daemons_[i].agent_pending.empty()) add(daemons_[i].agent_in.get(), Kind::kAgentIn, i, POLLOUT);
    }
    if (stdin_port_ && !stdin_pending_.empty()) {
      add(stdin_port_.get(), Kind::kStdin, 0, POLLOUT);
    } else if (stdin_port_ && !stdin_done_ && vms_[0].reader->stdin_ready()) {
      add(STDIN_FILENO, Kind::kStdin, 0);
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

    // Fixed order: signals and the timeout first, then the daemons' status
    // pipes, exits after them, output last. The pipes are read in every
    // round, whatever poll said about them: a line written before a process
    // exited may have arrived after poll looked at the pipe but before it
    // looked at that process.
    exits.clear();
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      switch (tags[i].first) {
        case Kind::kSignal: HandleSignals(); break;
        case Kind::kTimer: HandleTimer(); break;
        case Kind::kChild: exits.push_back(tags[i].second); break;
        case Kind::kConsole: ReadConsole(tags[i].second); break;
        case Kind::kStdin: RelayStdin(); break;
        case Kind::kAgentIn: WriteAgentInput(tags[i].second); break;
        case Kind::kStatus:
        case Kind::kStream: break;
      }
    }
    DrainStatus();
    if (!exits.empty()) HandleExits(exits);
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0 && tags[i].first == Kind::kStream) output_.OnReadable(tags[i].second);
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

void Job::DrainStatus() {
  std::vector<StatusEvent> events;
  for (size_t d = 0; d < daemons_.size(); ++d) {
    if (!daemons_[d].status.open()) continue;
    events.clear();
    daemons_[d].status.Drain(&events);
    for (StatusEvent& e : events) OnStatusEvent(d, std::move(e));
  }
}

void Job::HandleExits(const std::vector<size_t>& ready) {
  std::vector<size_t> exited;
  for (size_t i : ready) {
    Child& c = children_[i];
    auto peek = PeekExit(c.pid);
    ExitInfo exit;
    if (!peek.ok()) {
      if (peek.status().code() == EINTR) continue;
      // Cannot happen for our own unreaped child; do not spin on it.
      Say("warning: waitid for %s (pid %d): %s", c.label.c_str(), c.pid, peek.status().message().c_str());
      exit.signaled = true;
      exit.value = SIGKILL;
    } else if (!peek.value()) {
      continue;
    } else {
      exit = *peek.value();
    }
    c.exited = true;
    c.pidfd.reset();
    c.exit = exit;
    if (c.vm >= 0) EndOfGuest(c);
    if (remote_) c.how = remote_->slurm() ? DescribeSrunExit(exit) : DescribeSshExit(exit);
    DSM_LOG_DEBUG("%s (pid %d) %s", c.label.c_str(), c.pid, HowEnded(c).c_str());
    exited.push_back(i);
  }

  if (phase_ == Phase::kStarting) {
    for (size_t i : exited) {
      if (children_[i].node < 0) return StartFailed(children_[i].host, HowEnded(children_[i]));
    }
  }

  if (culprit_ && (phase_ == Phase::kRunning || phase_ == Phase::kWindDown)) {
    // A daemon named the culprit: only its own exit is news; the others
    // (node 0 included) are stopping because of it.
    if (std::find(exited.begin(), exited.end(), *culprit_) != exited.end()) Fail(*culprit_);
  } else if (phase_ == Phase::kRunning) {
    JudgeExits(std::move(exited));
  }

  if (phase_ == Phase::kWindDown) MaybeLetDaemonGo();
}

// Without word from a daemon, acts on the exits by the blame policy
// (blame.h), the likeliest root cause first.
void Job::JudgeExits(std::vector<size_t> exited) {
  auto verdict = [&](size_t i) {
    const Child& c = children_[i];
    ExitFacts f;
    f.is_node = c.node >= 0;
    f.is_node0 = c.node == 0;
    f.attached = c.node >= 0 && attached_[static_cast<size_t>(c.node)];
    f.job_finished = finished_;
    f.exit = c.exit;
    return Judge(f);
  };
  std::stable_sort(exited.begin(), exited.end(), [&](size_t a, size_t b) { return verdict(a) < verdict(b); });
  for (size_t i : exited) {
    if (phase_ != Phase::kRunning) break;
    switch (verdict(i)) {
      case Verdict::kLeftEarly:
        // A remote node's exit and its daemon's "finished" come over
        // different ssh connections, in either order: wait a moment for it.
        if (remote_ && children_[i].node >= 0) {
          if (!secondary_) {
            secondary_ = i;
            secondary_deadline_ = NowNs() + kSecondaryGraceMs * kMs;
          }
          break;
        }
        Fail(i);
        break;
      case Verdict::kKilled:
      case Verdict::kFailed: Fail(i); break;
      case Verdict::kNode0Exited: BeginWindDown(children_[i].exit.value); break;
      case Verdict::kNormal: break;
      case Verdict::kConsequence:
        if (!secondary_) {
          secondary_ = i;
          secondary_deadline_ = NowNs() + kSecondaryGraceMs * kMs;
        }
        break;
      case Verdict::kNeverJoined: NotADsmProgram(i); break;
    }
  }
}

void Job::OnDeadlines(int64_t now) {
  for (uint32_t k = 0; k < daemons_.size(); ++k) {
    Daemon& d = daemons_[k];
    if (phase_ == Phase::kStarting && d.ready_deadline != 0 && now >= d.ready_deadline) {
      d.ready_deadline = 0;
      std::string awaited = k == 0 && o_.hosts > 1 && !d.listening ? "'listening <endpoint>'" : "'ready'";
      StartFailed(k, d.status_ended
                         ? "it closed its --ready-fd without writing " + awaited
                         : "no " + awaited + " from it within " + std::to_string(kReadyTimeoutMs / 1000) + " s");
    }
  }
  if ((phase_ == Phase::kRunning || phase_ == Phase::kWindDown) && lost_deadline_ != 0 && now >= lost_deadline_) {
    lost_deadline_ = 0;
    FailLeft(*culprit_);
  }
  if (phase_ == Phase::kRunning && secondary_deadline_ != 0 && now >= secondary_deadline_) {
    secondary_deadline_ = 0;
    Fail(*secondary_);
  }

  if (phase_ == Phase::kWindDown && (daemon_term_at_ != 0 || winddown_kill_at_ != 0) && RecordsArriving(now)) {
    // Not while an agent sends the statistics or timelines the user asked for.
    const int64_t later = now + kRecordIdleMs * kMs;
    if (daemon_term_at_ != 0 && now >= daemon_term_at_) daemon_term_at_ = later;
    if (winddown_kill_at_ != 0 && now >= winddown_kill_at_) {
      winddown_kill_at_ = later;
      give_up_at_ = std::max(give_up_at_, later + (kEndBudgetMs - kTermToKillMs) * kMs);
    }
  }
  if (phase_ == Phase::kWindDown && daemon_term_at_ != 0 && now >= daemon_term_at_) {
    daemon_term_at_ = 0;
    for (const Daemon& d : daemons_) {
      const Child& c = children_[d.child];
      if (!c.exited) {
        DSM_LOG_DEBUG("every node is gone; stopping %s", c.label.c_str());
        SendSignal(c.pidfd, remote_ ? remote_->stop_signal() : SIGTERM);
      }
    }
  }
  if (phase_ == Phase::kWindDown && winddown_kill_at_ != 0 && now >= winddown_kill_at_) {
    winddown_kill_at_ = 0;
    for (const Child& c : children_) {
      if (!c.exited) {
        Say("warning: %s (pid %d) still running %lld s after node 0 exited; killing it", c.label.c_str(), c.pid,
            static_cast<long long>(kWindDownMs / 1000));
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
  for (const Daemon& d : daemons_) consider(d.ready_deadline);
  consider(lost_deadline_);
  consider(secondary_deadline_);
  consider(daemon_term_at_);
  consider(winddown_kill_at_);
  consider(kill_at_);
  consider(give_up_at_);
  consider(drain_until_);
  return next;
}

bool Job::RecordsArriving(int64_t now) const {
  if (!remote_ || (!stats_out_ && !trace_out_) || now - winddown_began_ >= kRecordsMaxMs * kMs) return false;
  return std::any_of(daemons_.begin(), daemons_.end(), [&](const Daemon& d) {
    return d.status.open() && (d.status.in_record() || now - d.status.last_bytes_ns() < kRecordIdleMs * kMs);
  });
}

bool Job::AllExited() const {
  return std::all_of(children_.begin(), children_.end(), [](const Child& c) { return c.exited; });
}

bool Job::NodesExited() const {
  return std::all_of(node_child_.begin(), node_child_.end(), [&](size_t i) { return children_[i].exited; });
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
  return !output_.AnyOpen() || now >= drain_until_;
}

std::string Job::DaemonLabel(uint32_t host) const {
  if (remote_) return RemoteDaemonLabel(host);
  return o_.hosts == 1 ? "dsm-hostd" : "host " + std::to_string(host) + "'s daemon";
}

void Job::StartFailed(uint32_t host, const std::string& why) {
  Say("error: %s failed to start (%s)", DaemonLabel(host).c_str(), why.c_str());
  exit_code_ = kExitFailure;
  BeginEnding();
}

void Job::Fail(size_t index) {
  const Child& c = children_[index];
  std::string what = c.exit.signaled || c.vm >= 0 ? HowEnded(c) : HowEnded(c) + " before the job finished";
  Say("%s (pid %d) %s; ending the job", c.label.c_str(), c.pid, what.c_str());
  exit_code_ = FailureExitCode(c.exit);
  BeginEnding();
}

void Job::NotADsmProgram(size_t index) {
  const Child& c = children_[index];
  Say("%s (pid %d) %s without joining the job: is %s linked with libdsm (CMake target dsm::dsm, "
      "'pkg-config --libs dsm', or dsm-clang)?",
      c.label.c_str(), c.pid, HowEnded(c).c_str(), o_.program.c_str());
  exit_code_ = c.exit.value != 0 ? c.exit.value : kExitFailure;
  BeginEnding();
}

// A daemon said that the node left the job, or that it lost contact with a
// host, and that node or host's daemon has not exited since.
void Job::FailLeft(size_t index) {
  const Child& c = children_[index];
  if (c.node < 0) {
    Say("lost contact with host %u (its daemon, pid %d, is still running); ending the job", c.host, c.pid);
  } else {
    Say("%s (pid %d) left the job before it finished; ending the job", c.label.c_str(), c.pid);
  }
  exit_code_ = kExitFailure;
  BeginEnding();
}

void Job::BeginWindDown(int status) {
  exit_code_ = status;
  phase_ = Phase::kWindDown;
  int64_t now = NowNs();
  winddown_began_ = now;
  winddown_kill_at_ = now + kWindDownMs * kMs;
  give_up_at_ = winddown_kill_at_ + (kEndBudgetMs - kTermToKillMs) * kMs;
  MaybeLetDaemonGo();
}

// Once every node is gone, the daemons (--exit-when-done) exit by
// themselves; if they do not soon (the job never started, or it is not the
// real daemon), ask them to.
void Job::MaybeLetDaemonGo() {
  if (daemon_term_at_ != 0 || !NodesExited()) return;
  bool daemon_running =
      std::any_of(daemons_.begin(), daemons_.end(), [&](const Daemon& d) { return !children_[d.child].exited; });
  if (daemon_running) daemon_term_at_ = NowNs() + kDaemonLingerMs * kMs;
}

void Job::BeginEnding() {
  if (phase_ == Phase::kEnding) return;
  phase_ = Phase::kEnding;
  for (Daemon& d : daemons_) d.ready_deadline = 0;
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
  // srun kills its step at once on SIGTERM; SIGUSR1 reaches the agent.
  if (remote_ && sig == SIGTERM) sig = remote_->stop_signal();
  for (const Child& c : children_) {
    if (!c.exited) SendSignal(c.pidfd, sig);
  }
  if (job_pgid_ > 0) ::kill(-job_pgid_, sig);
}

}  // namespace dsm::launcher
