// What the daemons' status lines (dsm/common/job_status.h) mean for the job:
// during start-up, where host 0 listens and who is ready; afterwards, who
// joined, and the first word on how the job ended.

#include <algorithm>
#include <string_view>

#include "dsm/common/job_status.h"
#include "dsm/common/log.h"
#include "job.h"

namespace dsm::launcher {

namespace {

constexpr int64_t kDrainMs = 500;  // how long a daemon that closed its pipe may take to exit

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

bool IsReadyLine(const std::string& text) {
  auto line = jobstatus::Parse(text);
  return line.ok() && line->kind == jobstatus::Kind::kReady;
}

}  // namespace

void Job::OnStatusEvent(size_t daemon, StatusEvent&& event) {
  Daemon& d = daemons_[daemon];
  switch (event.type) {
    case StatusEvent::Type::kLine: OnStatusLine(daemon, event.text); return;
    case StatusEvent::Type::kOverlong:
      if (d.ready) {
        DSM_LOG_DEBUG("%s wrote an overlong line; ignored", children_[d.child].label.c_str());
      } else {
        OnStatusLine(daemon, event.text);  // not "ready"
      }
      return;
    case StatusEvent::Type::kStatsJson:
    case StatusEvent::Type::kTraceJson: TakeRecord(daemon, std::move(event)); return;
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

// What a remote daemon's agent sent once the daemon exited (job_status.h):
// its --stats-json file (merged in WriteStats), or the timeline of one of the
// host's nodes (merged in Teardown), whose times are put on this machine's
// clock now. A timeline of a node that is not on that host is dropped.
void Job::TakeRecord(size_t daemon, StatusEvent&& event) {
  Daemon& d = daemons_[daemon];
  if (event.type == StatusEvent::Type::kStatsJson) {
    d.stats_json = std::move(event.text);
    return;
  }
  const uint32_t node = event.trace.node;
  if (node >= o_.nodes || host_of_node_[node] != daemon) {
    // (Named by host: Teardown calls this after children_ is gone.)
    DSM_LOG_DEBUG("%s sent a timeline of node %u, not one of its nodes; dropped",
                  DaemonLabel(static_cast<uint32_t>(daemon)).c_str(), node);
    return;
  }
  sent_traces_[node] = SentTrace{std::move(event.text), ClockShiftNs(event.trace.mono_ns, event.trace.real_ns)};
}

void Job::OnStatusLine(size_t daemon, const std::string& text) {
  Daemon& d = daemons_[daemon];
  const std::string& who = children_[d.child].label;
  if (!d.ready) return OnStartLine(daemon, text);
  auto parsed = jobstatus::Parse(text);
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
      if (finished_ && secondary_ && children_[*secondary_].exit.value == 0 && !children_[*secondary_].exit.signaled) {
        secondary_.reset();  // a remote node that exited normally, seen before this line (job_remote.cc)
        secondary_deadline_ = 0;
      }
      return;
    case jobstatus::Kind::kAttached:
      if (line.number < o_.nodes) {
        attached_[line.number] = true;
        return;
      }
      break;
    case jobstatus::Kind::kLost:
      if (line.number < node_child_.size()) {
        DSM_LOG_DEBUG("%s: node %u left the job before it finished", who.c_str(), line.number);
        OnCulprit(node_child_[line.number]);
        return;
      }
      break;
    case jobstatus::Kind::kLostHost:
      if (line.number < daemons_.size() && daemons_[line.number].started && line.number != daemon) {
        DSM_LOG_DEBUG("%s: lost contact with host %u", who.c_str(), line.number);
        if (finished_ || culprit_) return;  // the job's end was decided already
        if (phase_ == Phase::kStarting) {
          const Child& lost = children_[daemons_[line.number].child];
          return StartFailed(line.number, lost.exited ? Describe(lost.exit) : who + " lost contact with it");
        }
        OnCulprit(daemons_[line.number].child);
        return;
      }
      break;
    case jobstatus::Kind::kReady:
    case jobstatus::Kind::kListening: break;
  }
  DSM_LOG_DEBUG("%s wrote %s on its --ready-fd; ignored", who.c_str(), Quote(text.substr(0, 64)).c_str());
}

// A line from a daemon that has not said "ready" yet. Host 0 of several
// hosts says where the others join ("listening") and only then "ready"; the
// others start as soon as host 0 listens, and the nodes once every daemon is
// ready. Any other line is a failure to start.
void Job::OnStartLine(size_t daemon, const std::string& text) {
  if (phase_ != Phase::kStarting) return;  // ended before the daemon was ready
  Daemon& d = daemons_[daemon];
  auto parsed = jobstatus::Parse(text);
  bool needs_listening = daemon == 0 && o_.hosts > 1;
  if (parsed.ok() && parsed->kind == jobstatus::Kind::kListening) {
    if (!needs_listening || d.listening) {
      DSM_LOG_DEBUG("%s listens at %s", children_[d.child].label.c_str(), parsed->endpoint.c_str());
      return;
    }
    d.listening = true;
    join_endpoint_ = parsed->endpoint;
    DSM_LOG_DEBUG("%s listens at %s; starting the other daemons", children_[d.child].label.c_str(),
                  join_endpoint_.c_str());
    for (uint32_t k = 1; k < o_.hosts && phase_ == Phase::kStarting; ++k) {
      if (!o_.remote()) {
        StartDaemon(k);
        continue;
      }
      // Its session is open already: its agent waits for this line.
      Daemon& other = daemons_[k];
      other.agent_pending += "join " + join_endpoint_ + "\n";
      WriteAgentInput(k);
      other.ready_deadline = NowNs() + kReadyTimeoutMs * kMs;
    }
    // Each has its own time to get ready from now on, host 0 included (it
    // may wait for the others).
    d.ready_deadline = NowNs() + kReadyTimeoutMs * kMs;
    return;
  }
  if (!parsed.ok() || parsed->kind != jobstatus::Kind::kReady) {
    return StartFailed(daemon, "it wrote " + Quote(text.substr(0, 64)) + " instead of " +
                                   (needs_listening && !d.listening ? "'listening <endpoint>'" : "'ready'"));
  }
  if (needs_listening && !d.listening) return StartFailed(daemon, "it wrote 'ready' before 'listening <endpoint>'");
  d.ready = true;
  d.ready_deadline = 0;
  DSM_LOG_DEBUG("%s is ready", children_[d.child].label.c_str());
  bool all_ready = std::all_of(daemons_.begin(), daemons_.end(), [](const Daemon& x) { return x.ready; });
  if (all_ready) StartNodes();
}

// A daemon named the culprit: node K left the job, or the daemon lost contact
// with host K. It is the culprit whatever the others do now (the nodes exit
// with status 3 because of it), unless the job had finished. Its own exit
// says how it went; wait a moment for that if it has not been seen yet.
void Job::OnCulprit(size_t child) {
  if (finished_ || culprit_) return;
  culprit_ = child;
  if (phase_ != Phase::kRunning && phase_ != Phase::kWindDown) return;
  if (children_[child].exited) {
    Fail(child);
  } else {
    lost_deadline_ = NowNs() + kLostGraceMs * kMs;
  }
}

}  // namespace dsm::launcher
