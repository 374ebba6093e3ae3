// HostCore's statistics: the --stats table and the --stats-json object.
#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "dsm/hostd/host_core.h"

namespace dsm::hostd {

namespace {

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

// Appends the formatted text, whole (a truncated line would be wrong JSON).
void Append(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Append(std::string* out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n <= 0) return;
  if (static_cast<size_t>(n) < sizeof buf) {
    out->append(buf, static_cast<size_t>(n));
    return;
  }
  size_t at = out->size();
  out->resize(at + static_cast<size_t>(n) + 1);
  va_start(ap, fmt);
  std::vsnprintf(out->data() + at, static_cast<size_t>(n) + 1, fmt, ap);
  va_end(ap);
  out->resize(at + static_cast<size_t>(n));
}

// A message type's name as a JSON key that is also an identifier in most
// languages: "lock-request" becomes "lock_request".
std::string JsonKey(const char* name) {
  std::string key(name);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

// Requests the daemon served for a node, all commands together.
uint64_t RequestsOf(const device::DaemonNodeStats& stats) {
  uint64_t requests = 0;
  for (uint64_t r : stats.requests) requests += r;
  return requests;
}

// `text` as a JSON string (quotes, backslashes and control characters
// escaped).
void AppendJsonString(std::string* out, const std::string& text) {
  *out += '"';
  for (char ch : text) {
    if (ch == '"' || ch == '\\') {
      *out += '\\';
      *out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      Append(out, "\\u%04x", static_cast<unsigned>(ch));
    } else {
      *out += ch;
    }
  }
  *out += '"';
}

}  // namespace

device::NodeCounters HostCore::CountersOf(uint32_t node) const {
  const Node& n = nodes_[node];
  device::NodeCounters c = n.counters;
  if (n.slot >= 0) std::memcpy(&c, &space_->regs(static_cast<uint32_t>(n.slot))->counters, sizeof c);
  return c;
}

std::string HostCore::StatsTable() const {
  std::string out;
  Append(&out, "%-5s %9s %9s %9s %9s %9s %9s %9s %11s %11s", "node", "requests", "lock-fast",
         "lock-slow", "barriers", "regions", "mallocs", "frees", "lock-wait", "barr-wait");
  if (cluster_) {
    Append(&out, " %9s %9s %9s %9s %9s %9s %11s", "rd-faults", "wr-faults", "dmn-flts", "releases",
           "pg-relsd", "pg-drops", "fault-time");
  }
  out += '\n';
  for (uint32_t i = 0; i < num_nodes_; ++i) {
    if (!IsLocal(i)) continue;
    const Node& n = nodes_[i];
    device::NodeCounters c = CountersOf(i);
    uint64_t requests = RequestsOf(n.stats);
    Append(&out,
           "%-5u %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64
           " %9.3fms %9.3fms",
           i, requests, c.lock_fast, c.lock_slow, c.barriers, c.parallel_regions, c.mallocs, c.frees,
           Ms(n.stats.lock_wait_ns), Ms(n.stats.barrier_wait_ns + c.barrier_wait_ns));
    if (cluster_) {
      Append(&out, " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9.3fms",
             c.read_faults, c.write_faults, c.daemon_faults, c.releases, c.pages_released,
             c.pages_dropped, Ms(c.fault_ns));
    }
    out += '\n';
  }
  Append(&out, "host %u: shared memory %s\n", host_id_, space_->backing().c_str());
  if (!cluster_) return out;
  const HostStats& h = cluster_->stats();
  Append(&out,
         "host %u: faults %" PRIu64 " read %" PRIu64 " write; fetched %" PRIu64 " pages in %" PRIu64
         " messages (%" PRIu64 " read ahead); twins %" PRIu64 "; diffs %" PRIu64 " (%" PRIu64
         " bytes)\n",
         host_id_, h.faults_read, h.faults_write, h.pages_fetched, h.fetch_messages, h.prefetched,
         h.twins, h.diffs, h.diff_bytes);
  Append(&out,
         "host %u: notices %" PRIu64 " sent %" PRIu64 " received; %" PRIu64
         " invalidations; locks %" PRIu64 " local %" PRIu64 " from other hosts, %" PRIu64
         " tokens returned; %" PRIu64 " barriers; homes %" PRIu64 " gained %" PRIu64 " lost\n",
         host_id_, h.notices_sent, h.notices_received, h.invalidations, h.lock_local, h.lock_remote,
         h.token_returns, h.barriers, h.homes_gained, h.homes_lost);
  Append(&out, "host %u: sent", host_id_);
  for (uint16_t t = 0; t < peer::kMsgTypeEnd; ++t) {
    if (h.msgs_sent[t] == 0) continue;
    Append(&out, " %s %" PRIu64 " (%" PRIu64 " B)", peer::MsgTypeName(t), h.msgs_sent[t], h.bytes_sent[t]);
  }
  out += '\n';
  return out;
}

std::string HostCore::StatsJson() const {
  std::string out;
  Append(&out, "{\"host\":%u,\"hosts\":%u,\"nodes\":[", host_id_, num_hosts_);
  bool first = true;
  for (uint32_t i = 0; i < num_nodes_; ++i) {
    if (!IsLocal(i)) continue;
    const Node& n = nodes_[i];
    device::NodeCounters c = CountersOf(i);
    uint64_t requests = RequestsOf(n.stats);
    Append(&out,
           "%s{\"node\":%u,\"requests\":%" PRIu64 ",\"lock_fast\":%" PRIu64 ",\"lock_slow\":%" PRIu64
           ",\"lock_wait_ns\":%" PRIu64 ",\"barriers\":%" PRIu64 ",\"barrier_wait_ns\":%" PRIu64
           ",\"parallel_regions\":%" PRIu64 ",\"mallocs\":%" PRIu64 ",\"frees\":%" PRIu64,
           first ? "" : ",", i, requests, c.lock_fast, c.lock_slow, n.stats.lock_wait_ns, c.barriers,
           n.stats.barrier_wait_ns + c.barrier_wait_ns, c.parallel_regions, c.mallocs, c.frees);
    Append(&out,
           ",\"read_faults\":%" PRIu64 ",\"write_faults\":%" PRIu64 ",\"daemon_faults\":%" PRIu64
           ",\"releases\":%" PRIu64 ",\"pages_released\":%" PRIu64 ",\"pages_dropped\":%" PRIu64
           ",\"drop_all\":%" PRIu64 ",\"fault_ns\":%" PRIu64,
           c.read_faults, c.write_faults, c.daemon_faults, c.releases, c.pages_released, c.pages_dropped,
           c.drop_all, c.fault_ns);
    Append(&out, ",\"untracked_faults\":%" PRIu64 ",\"untracked_shared\":%" PRIu64, c.untracked_faults,
           c.untracked_shared);
    Append(&out, ",\"unlock_slow\":%" PRIu64 ",\"daemon_wait_ns\":%" PRIu64 "}", c.unlock_slow, c.wait_ns);
    first = false;
  }
  out += "],\"shared_memory\":";
  AppendJsonString(&out, space_->backing());
  if (cluster_) {
    const HostStats& h = cluster_->stats();
    Append(&out,
           ",\"coherence\":{\"faults_read\":%" PRIu64 ",\"faults_write\":%" PRIu64
           ",\"pages_fetched\":%" PRIu64 ",\"fetch_messages\":%" PRIu64 ",\"prefetched\":%" PRIu64
           ",\"twins\":%" PRIu64 ",\"diffs\":%" PRIu64 ",\"diff_bytes\":%" PRIu64,
           h.faults_read, h.faults_write, h.pages_fetched, h.fetch_messages, h.prefetched, h.twins,
           h.diffs, h.diff_bytes);
    Append(&out,
           ",\"notices_sent\":%" PRIu64 ",\"notices_received\":%" PRIu64 ",\"invalidations\":%" PRIu64
           ",\"lock_local\":%" PRIu64 ",\"lock_remote\":%" PRIu64 ",\"token_returns\":%" PRIu64
           ",\"barriers\":%" PRIu64 ",\"homes_gained\":%" PRIu64 ",\"homes_lost\":%" PRIu64 "}",
           h.notices_sent, h.notices_received, h.invalidations, h.lock_local, h.lock_remote,
           h.token_returns, h.barriers, h.homes_gained, h.homes_lost);
    out += ",\"messages\":{";
    bool firstm = true;
    for (uint16_t t = 0; t < peer::kMsgTypeEnd; ++t) {
      if (h.msgs_sent[t] == 0) continue;
      Append(&out, "%s\"%s\":{\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", firstm ? "" : ",",
             JsonKey(peer::MsgTypeName(t)).c_str(), h.msgs_sent[t], h.bytes_sent[t]);
      firstm = false;
    }
    out += "}";
  }
  out += "}\n";
  return out;
}

}  // namespace dsm::hostd
