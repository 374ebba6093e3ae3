// dsm-run --stats and --stats-json of jobs of two hosts, with the real
// daemons and the counter program (every node adds 1 to a counter on node
// 0's stack, under lock 42, ITER times): both hosts' tables appear, their
// counters add up the way the program and the protocol say they must, and
// the merged JSON holds every node exactly once with the table's numbers.
#include <cinttypes>
#include <cstdio>
#include <regex>

#include "json_reader.h"
#include "launcher_test_util.h"

namespace dsm::launcher::testing {
namespace {

#if defined(DSM_HOSTD_PATH) && defined(DSM_TEST_COUNTER_PATH)

using dsm::testing::JsonValue;

// One host's part of --stats on stderr.
struct HostTable {
  int sections = 0;  // "dsm-hostd: statistics of host K" lines
  std::vector<std::string> columns;
  std::map<uint64_t, std::vector<std::string>> rows;  // node -> fields, as columns
  std::vector<std::string> summary;                   // the "host K: ..." lines
};

// Splits stderr into the hosts' tables. A daemon prints its whole table in
// one write, so the two hosts' tables do not interleave (their order does
// not matter).
std::map<uint32_t, HostTable> ParseTables(const std::string& err) {
  std::map<uint32_t, HostTable> tables;
  HostTable* current = nullptr;
  for (const std::string& line : Lines(err)) {
    unsigned host;
    if (std::sscanf(line.c_str(), "dsm-hostd: statistics of host %u", &host) == 1) {
      current = &tables[host];
      ++current->sections;
      continue;
    }
    if (current == nullptr) continue;
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string w; fields >> w;) words.push_back(w);
    if (words.empty()) continue;
    if (words[0] == "node") {
      current->columns = words;
    } else if (words[0] == "host") {
      current->summary.push_back(line);
    } else if (words[0].find_first_not_of("0123456789") == std::string::npos) {
      current->rows[std::stoull(words[0])] = words;
    } else {
      current = nullptr;  // something else: the table ended
    }
  }
  return tables;
}

// The table's column for each per-node JSON field; times are milliseconds
// with three decimals in the table, nanoseconds in the JSON.
struct Column {
  const char* json;
  bool time;
};
const std::map<std::string, Column> kColumns = {
    {"node", {"node", false}},
    {"requests", {"requests", false}},
    {"lock-fast", {"lock_fast", false}},
    {"lock-slow", {"lock_slow", false}},
    {"barriers", {"barriers", false}},
    {"regions", {"parallel_regions", false}},
    {"mallocs", {"mallocs", false}},
    {"frees", {"frees", false}},
    {"lock-wait", {"lock_wait_ns", true}},
    {"barr-wait", {"barrier_wait_ns", true}},
    {"rd-faults", {"read_faults", false}},
    {"wr-faults", {"write_faults", false}},
    {"dmn-flts", {"daemon_faults", false}},
    {"releases", {"releases", false}},
    {"pg-relsd", {"pages_released", false}},
    {"pg-drops", {"pages_dropped", false}},
    {"fault-time", {"fault_ns", true}},
};

std::string TableMs(uint64_t ns) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(ns) / 1e6);
  return buf;
}

uint64_t Uint(const JsonValue* v, const std::string& what) {
  EXPECT_TRUE(v != nullptr && v->AsUint().has_value()) << what << " is not a count";
  return v != nullptr ? v->AsUint().value_or(0) : 0;
}

// The host's summary lines, as the JSON's "coherence" keys and the
// "messages" object (name with '-' -> count, bytes).
struct Summary {
  std::map<std::string, uint64_t> coherence;
  std::map<std::string, std::pair<uint64_t, uint64_t>> sent;
  std::string shared_memory;  // what the space's file is
  bool ok = false;
};

Summary ParseSummary(uint32_t host, const std::vector<std::string>& all) {
  Summary s;
  if (all.size() != 4) return s;
  const std::string space = "host " + std::to_string(host) + ": shared memory ";
  if (!all[0].starts_with(space)) return s;
  s.shared_memory = all[0].substr(space.size());
  const std::vector<std::string> lines(all.begin() + 1, all.end());
  unsigned h[3];
  uint64_t v[17];
  int a = std::sscanf(lines[0].c_str(),
                      "host %u: faults %" SCNu64 " read %" SCNu64 " write; fetched %" SCNu64 " pages in %" SCNu64
                      " messages (%" SCNu64 " read ahead); twins %" SCNu64 "; diffs %" SCNu64 " (%" SCNu64 " bytes)",
                      &h[0], &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  int b = std::sscanf(lines[1].c_str(),
                      "host %u: notices %" SCNu64 " sent %" SCNu64 " received; %" SCNu64 " invalidations; locks %" SCNu64
                      " local %" SCNu64 " from other hosts, %" SCNu64 " tokens returned; %" SCNu64
                      " barriers; homes %" SCNu64 " gained %" SCNu64 " lost",
                      &h[1], &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14], &v[15], &v[16]);
  if (a != 9 || b != 10 || h[0] != host || h[1] != host) return s;
  const char* keys[17] = {"faults_read",   "faults_write", "pages_fetched", "fetch_messages", "prefetched",
                          "twins",         "diffs",        "diff_bytes",    "notices_sent",   "notices_received",
                          "invalidations", "lock_local",   "lock_remote",   "token_returns",  "barriers",
                          "homes_gained",  "homes_lost"};
  for (int i = 0; i < 17; ++i) s.coherence[keys[i]] = v[i];
  std::string prefix = "host " + std::to_string(host) + ": sent";
  if (!lines[2].starts_with(prefix)) return s;
  std::istringstream rest(lines[2].substr(prefix.size()));
  std::string name, bytes, unit;
  uint64_t count;
  while (rest >> name >> count >> bytes >> unit) {
    if (bytes.size() < 2 || bytes[0] != '(' || unit != "B)") return s;
    s.sent[name] = {count, std::stoull(bytes.substr(1))};
  }
  s.ok = rest.eof();
  return s;
}

// "lock-request" -> "lock_request".
std::string Underscored(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

uint64_t SentCount(const JsonValue& host, const char* type) {
  const JsonValue* messages = host.Find("messages");
  const JsonValue* m = messages != nullptr ? messages->Find(type) : nullptr;
  return m != nullptr ? Uint(m->Find("count"), type) : 0;
}

TEST_F(LauncherJob, StatisticsOfTwoHostsAgreeWithTheProgramAndWithEachOther) {
  ASSERT_TRUE(fs::exists(DSM_HOSTD_PATH)) << DSM_HOSTD_PATH << " is not built";
  constexpr uint64_t kNodes = 4, kIterations = 200;
  for (const char* placement : {"block", "cyclic"}) {
    SCOPED_TRACE(placement);
    ForgetPids();
    const std::string json_path = Path(std::string("stats.") + placement + ".json");
    Outcome o = Run({"-n", std::to_string(kNodes), "--hosts", "2", "--placement", placement, "--memory", "64M",
                     "--hostd", DSM_HOSTD_PATH, "--stats", "--stats-json", json_path, DSM_TEST_COUNTER_PATH,
                     std::to_string(kIterations)});
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_EQ(o.out, "counter=800 expected=800 nodes=4\n");
    ExpectTmpEmpty();

    // Both tables, each with its own nodes and four summary lines.
    std::map<uint32_t, HostTable> tables = ParseTables(o.err);
    ASSERT_EQ(tables.size(), 2u) << o.err;
    std::set<uint64_t> seen;
    for (auto& [host, t] : tables) {
      SCOPED_TRACE("host " + std::to_string(host));
      EXPECT_EQ(t.sections, 1) << o.err;
      EXPECT_EQ(t.rows.size(), 2u) << o.err;
      EXPECT_EQ(t.summary.size(), 4u) << o.err;
      for (const std::string& c : t.columns) EXPECT_EQ(kColumns.count(c), 1u) << "a column without JSON: " << c;
      for (auto& [node, fields] : t.rows) {
        EXPECT_TRUE(seen.insert(node).second) << "node " << node << " in two tables";
        EXPECT_EQ(fields.size(), t.columns.size()) << "node " << node;
        // Block: nodes 0-1 on host 0; cyclic: even nodes on host 0.
        uint64_t want_host = std::string(placement) == "block" ? node / 2 : node % 2;
        EXPECT_EQ(want_host, host) << "node " << node;
      }
    }
    EXPECT_EQ(seen, (std::set<uint64_t>{0, 1, 2, 3}));

    // The JSON: one object per host, every node exactly once, with the
    // table's numbers.
    std::string error;
    std::optional<JsonValue> doc = dsm::testing::ParseJson(ReadFile(json_path), &error);
    ASSERT_TRUE(doc.has_value()) << error << "\n" << ReadFile(json_path);
    const JsonValue* hosts = doc->Find("hosts");
    ASSERT_TRUE(hosts != nullptr && hosts->is_array() && hosts->items.size() == 2) << ReadFile(json_path);
    std::set<uint64_t> in_json;
    uint64_t lock_acquires = 0;
    std::map<std::string, uint64_t> sent_total;  // message counts of both hosts
    std::vector<Summary> summaries;
    for (uint32_t host = 0; host < 2; ++host) {
      SCOPED_TRACE("host " + std::to_string(host));
      const JsonValue& h = hosts->items[host];
      ASSERT_TRUE(h.is_object());
      EXPECT_EQ(Uint(h.Find("host"), "host"), host);
      EXPECT_EQ(Uint(h.Find("hosts"), "hosts"), 2u);
      const JsonValue* nodes = h.Find("nodes");
      ASSERT_TRUE(nodes != nullptr && nodes->is_array());
      const HostTable& table = tables[host];
      EXPECT_EQ(nodes->items.size(), table.rows.size());
      uint64_t daemon_faults = 0, lock_slow = 0;
      for (const JsonValue& n : nodes->items) {
        ASSERT_TRUE(n.is_object());
        for (const std::string& key : n.keys) EXPECT_EQ(n.Count(key), 1u) << key;
        uint64_t id = Uint(n.Find("node"), "node");
        SCOPED_TRACE("node " + std::to_string(id));
        EXPECT_TRUE(in_json.insert(id).second) << "twice in the JSON";
        auto row = table.rows.find(id);
        ASSERT_NE(row, table.rows.end()) << "in the JSON of host " << host << " but not in its table";
        for (size_t c = 0; c < table.columns.size() && c < row->second.size(); ++c) {
          auto col = kColumns.find(table.columns[c]);
          if (col == kColumns.end()) continue;
          uint64_t value = Uint(n.Find(col->second.json), col->second.json);
          EXPECT_EQ(col->second.time ? TableMs(value) : std::to_string(value), row->second[c]) << table.columns[c];
        }
        // What the program did: ITER lock acquires, three barriers (start-up,
        // region start and end) and one region per node.
        uint64_t fast = Uint(n.Find("lock_fast"), "lock_fast"), slow = Uint(n.Find("lock_slow"), "lock_slow");
        EXPECT_EQ(fast + slow, kIterations);
        lock_acquires += fast + slow;
        EXPECT_EQ(Uint(n.Find("barriers"), "barriers"), 3u);
        EXPECT_EQ(Uint(n.Find("parallel_regions"), "parallel_regions"), 1u);
        // The counter is on node 0's stack, homed on host 0: host 1's nodes
        // release it at every unlock; host 0's write it untracked (no
        // release) while host 1 holds no copy that a notice must invalidate.
        const uint64_t releases = Uint(n.Find("releases"), "releases");
        if (host == 1) {
          EXPECT_GE(releases, kIterations) << "every unlock releases the counter";
        } else {
          EXPECT_GE(releases + Uint(n.Find("untracked_faults"), "untracked_faults"), 1u)
              << "the counter was written neither tracked nor untracked";
        }
        daemon_faults += Uint(n.Find("daemon_faults"), "daemon_faults");
        lock_slow += slow;
      }

      // The summary lines and the "coherence" and "messages" objects.
      Summary s = ParseSummary(host, table.summary);
      ASSERT_TRUE(s.ok) << ::testing::PrintToString(table.summary);
      const JsonValue* space = h.Find("shared_memory");
      ASSERT_TRUE(space != nullptr && space->is_string());
      EXPECT_EQ(space->text, s.shared_memory);
      const JsonValue* coherence = h.Find("coherence");
      ASSERT_TRUE(coherence != nullptr && coherence->is_object());
      EXPECT_EQ(coherence->keys.size(), s.coherence.size());
      for (auto& [key, value] : s.coherence) EXPECT_EQ(Uint(coherence->Find(key), key), value) << key;
      const JsonValue* messages = h.Find("messages");
      ASSERT_TRUE(messages != nullptr && messages->is_object());
      EXPECT_EQ(messages->keys.size(), s.sent.size());
      for (const std::string& key : messages->keys) {
        EXPECT_TRUE(std::regex_match(key, std::regex("[A-Za-z_][A-Za-z0-9_]*"))) << "not an identifier: " << key;
      }
      for (auto& [name, count_bytes] : s.sent) {
        const JsonValue* m = messages->Find(Underscored(name));
        ASSERT_NE(m, nullptr) << name;
        EXPECT_EQ(Uint(m->Find("count"), name), count_bytes.first) << name;
        EXPECT_EQ(Uint(m->Find("bytes"), name), count_bytes.second) << name;
        EXPECT_GT(count_bytes.first, 0u) << name;
        sent_total[Underscored(name)] += count_bytes.first;
      }
      // Every kFault is counted by the node and by its daemon, and every
      // slow lock is granted once, from the token here or from another host.
      EXPECT_EQ(daemon_faults, s.coherence["faults_read"] + s.coherence["faults_write"]);
      EXPECT_EQ(lock_slow, s.coherence["lock_local"] + s.coherence["lock_remote"]);
      EXPECT_EQ(s.coherence["barriers"], 3u);
      EXPECT_EQ(s.coherence["fetch_messages"], SentCount(h, "fetch"));
      EXPECT_GE(s.coherence["diffs"], SentCount(h, "diff"));  // a message carries a release's diffs for one home
      EXPECT_GT(s.coherence["notices_sent"], 0u) << "both hosts write the counter";
      summaries.push_back(s);
    }
    EXPECT_EQ(in_json, (std::set<uint64_t>{0, 1, 2, 3}));
    EXPECT_EQ(lock_acquires, kNodes * kIterations);
    // The counter is homed on host 0 (node 0's stack, first touched there):
    // host 1 fetches it and sends diffs; host 0 never twins or diffs.
    EXPECT_GT(summaries[1].coherence["pages_fetched"], 0u);
    EXPECT_GT(summaries[1].coherence["twins"], 0u);
    EXPECT_GT(summaries[1].coherence["diffs"], 0u);
    EXPECT_GT(summaries[1].coherence["diff_bytes"], 0u);
    EXPECT_EQ(summaries[0].coherence["twins"], 0u);
    EXPECT_EQ(summaries[0].coherence["diffs"], 0u);
    // Every request between daemons was answered before the job ended.
    EXPECT_EQ(sent_total["fetch"], sent_total["fetch_reply"]);
    EXPECT_EQ(sent_total["diff"], sent_total["diff_ack"]);
    EXPECT_EQ(sent_total["home_query"], sent_total["home_reply"]);
    // Statistics count messages to other hosts only: host 0's arrivals at
    // and departures from its own manager are not among them. One departure
    // to host 1 per barrier; host 1 may have arrived at its workers' next
    // barrier, which never departs: node 0 finishes the job instead.
    EXPECT_EQ(sent_total["barrier_depart"], 3u);
    EXPECT_GE(sent_total["barrier_arrive"], sent_total["barrier_depart"]);
    EXPECT_LE(sent_total["barrier_arrive"], sent_total["barrier_depart"] + 1);
  }
}

#endif

}  // namespace
}  // namespace dsm::launcher::testing
