// How the cost of synchronisation across hosts grows with the number of
// hosts: whole jobs of dsm_test_handoff (programs/handoff.c) under
// `dsm-run --hosts H -n H --stats-json F` for H = 2, 4 and 8, one node per
// host. From the daemons' message counts (what crossed between daemons, by
// type: host 0's messages to its own manager are not counted) the test
// derives the messages per lock hand-off between hosts and per barrier, and
// checks them against the exact numbers the protocol of docs/design.md
// ("Locks across hosts", "Barriers") gives: a hand-off costs O(1) messages
// whatever H is, a barrier O(H). It prints the table that
// docs/performance.md quotes.
//
// Each H runs twice, and only the difference counts, so that start-up, the
// parallel region's own barriers and the job's end cancel: a baseline with
// one round (node 0 takes the lock once: the token moves from the manager to
// host 0, which is host 0's own, so no message) and no extra barrier, and a
// measured run with kHandOffs more rounds and kBarriers extra barriers.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "json_reader.h"
#include "run_program.h"

namespace {

using dsm::testing::JsonValue;

// Rounds after the first: each is one hand-off of lock 7 from node i-1's
// host to node i's (round i belongs to node i % H). A multiple of 8, so that
// at H = 2, 4 and 8 the hand-offs make whole cycles over the hosts.
constexpr long kHandOffs = 32;
constexpr long kBarriers = 32;  // extra barriers after the rounds
static_assert(kHandOffs % 8 == 0);

// What one job's statistics say, summed over its hosts.
struct JobCounts {
  std::map<std::string, uint64_t> sent;  // messages between daemons, by type
  uint64_t lock_local = 0, lock_remote = 0, token_returns = 0;
  // Barrier arrivals that no departure answered: after the parallel region a
  // worker waits in the barrier of the next region, which never comes, and
  // whether its host's arrival left before node 0 ended the job depends on
  // timing. At most one per host other than 0 (host 0 arrives at its own
  // manager, which is not counted).
  uint64_t pending_arrivals = 0;
  std::vector<uint64_t> barriers;  // per host: departures received
};

uint64_t UintAt(const JsonValue& object, const char* key) {
  const JsonValue* v = object.Find(key);
  return v != nullptr && v->AsUint().has_value() ? *v->AsUint() : 0;
}

// Reads a --stats-json file of `hosts` hosts; a failure is reported and
// gives nullopt.
std::optional<JobCounts> ReadCounts(const std::string& path, uint32_t hosts) {
  std::string error;
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::optional<JsonValue> doc = dsm::testing::ParseJson(text, &error);
  if (!doc.has_value()) {
    ADD_FAILURE() << path << " is not JSON: " << error;
    return std::nullopt;
  }
  const JsonValue* list = doc->Find("hosts");
  if (list == nullptr || !list->is_array() || list->items.size() != hosts) {
    ADD_FAILURE() << path << ": no list of " << hosts << " hosts";
    return std::nullopt;
  }
  JobCounts c;
  c.barriers.assign(hosts, 0);
  for (const JsonValue& h : list->items) {
    const JsonValue* coherence = h.Find("coherence");
    const JsonValue* messages = h.Find("messages");
    uint64_t id = UintAt(h, "host");
    if (coherence == nullptr || messages == nullptr || !messages->is_object() || id >= hosts) {
      ADD_FAILURE() << path << ": a host without coherence statistics";
      return std::nullopt;
    }
    for (size_t i = 0; i < messages->keys.size(); ++i) {
      c.sent[messages->keys[i]] += UintAt(messages->items[i], "count");
    }
    c.lock_local += UintAt(*coherence, "lock_local");
    c.lock_remote += UintAt(*coherence, "lock_remote");
    c.token_returns += UintAt(*coherence, "token_returns");
    c.barriers[id] = UintAt(*coherence, "barriers");
    if (id == 0) continue;
    const JsonValue* arrive = messages->Find("barrier_arrive");
    uint64_t arrivals = arrive != nullptr ? UintAt(*arrive, "count") : 0;
    if (arrivals != c.barriers[id] && arrivals != c.barriers[id] + 1) {
      ADD_FAILURE() << path << ": host " << id << " arrived " << arrivals << " times and departed "
                    << c.barriers[id] << " times";
      return std::nullopt;
    }
    c.pending_arrivals += arrivals - c.barriers[id];
  }
  return c;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dsm-sync-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs dsm_test_handoff ROUNDS BARRIERS on `hosts` hosts, one node each.
std::optional<JobCounts> RunHandOffJob(uint32_t hosts, long rounds, long barriers) {
  TempDir dir;
  if (dir.path().empty()) {
    ADD_FAILURE() << "mkdtemp failed";
    return std::nullopt;
  }
  const std::string stats = dir.path() + "/stats.json", h = std::to_string(hosts);
  dsm::testing::ProgramOutput r = dsm::testing::RunProgram(
      {DSM_RUN_PATH, "--hosts", h, "-n", h, "--memory", "64M", "--timeout", "60", "--stats-json", stats, "--",
       std::string(DSM_PROGRAMS_DIR) + "/dsm_test_handoff", std::to_string(rounds), std::to_string(barriers)},
      {{"TMPDIR", dir.path()}}, std::chrono::seconds(90));
  const std::string expect = "handoff: nodes=" + h + " rounds=" + std::to_string(rounds) +
                             " barriers=" + std::to_string(barriers) + " turn=" + std::to_string(rounds) +
                             " errors=0\n";
  if (r.status != 0 || r.out != expect) {
    ADD_FAILURE() << "dsm-run --hosts " << h << ": status " << r.status << (r.timed_out ? " (timed out)" : "")
                  << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
    return std::nullopt;
  }
  return ReadCounts(stats, hosts);
}

// Messages of the measured run less those of the baseline, by type.
int64_t Delta(const JobCounts& run, const JobCounts& base, const std::string& type) {
  auto count = [&](const JobCounts& c) {
    auto it = c.sent.find(type);
    return it == c.sent.end() ? int64_t{0} : static_cast<int64_t>(it->second);
  };
  return count(run) - count(base);
}

struct Row {
  uint32_t hosts;
  double lock_per_handoff, data_per_handoff, per_barrier;
};

// One H: both runs, the exact counts, and the row of the table.
std::optional<Row> Measure(uint32_t hosts) {
  SCOPED_TRACE("hosts " + std::to_string(hosts));
  std::optional<JobCounts> base = RunHandOffJob(hosts, 1, 0);
  std::optional<JobCounts> run = RunHandOffJob(hosts, 1 + kHandOffs, kBarriers);
  if (!base || !run) return std::nullopt;
  const int64_t H = hosts;

  // Hand-off i (1..kHandOffs) goes from host (i-1) % H, where the token
  // stayed after the previous round's unlock, to host i % H. The new host's
  // daemon asks the manager (lock-request), the manager recalls the token
  // from the holder (lock-recall), which returns it at once since the lock is
  // free there (lock-return), and the manager grants it (lock-grant): four
  // messages, of which those to or from host 0 stay inside host 0's daemon.
  // So request and grant cross the network for each hand-off into a host
  // other than 0, recall and return for each one out of a host other than 0:
  // over whole cycles, (H-1)/H of the hand-offs each. Per hand-off
  // 4 (H-1) / H: 2 at H = 2, 3 at H = 4, 3.5 at H = 8, never 4 or more.
  // Only one host wants the lock at a time (a barrier separates the rounds),
  // so no grant says "return after one use" and every recall is a message of
  // its own; nothing of the hand-off involves the hosts not taking part.
  const int64_t into_others = kHandOffs * (H - 1) / H, out_of_others = into_others;
  EXPECT_EQ(Delta(*run, *base, "lock_request"), into_others);
  EXPECT_EQ(Delta(*run, *base, "lock_grant"), into_others);
  EXPECT_EQ(Delta(*run, *base, "lock_recall"), out_of_others);
  EXPECT_EQ(Delta(*run, *base, "lock_return"), out_of_others);
  // Every hand-off really crossed hosts: each acquisition was granted to its
  // host by the manager (lock_remote), each left a host by a token return,
  // and none was served by a host that already had the token (lock_local).
  EXPECT_EQ(static_cast<int64_t>(run->lock_remote - base->lock_remote), kHandOffs);
  EXPECT_EQ(static_cast<int64_t>(run->token_returns - base->token_returns), kHandOffs);
  EXPECT_EQ(run->lock_local, base->lock_local);
  const int64_t lock_msgs = Delta(*run, *base, "lock_request") + Delta(*run, *base, "lock_grant") +
                            Delta(*run, *base, "lock_recall") + Delta(*run, *base, "lock_return");

  // Barriers: each round ends with one, then kBarriers more. Every host's
  // nodes gather at their daemon, which sends one arrival to the manager;
  // when all H arrived the manager sends each host one departure. Not
  // counting host 0's own: H-1 arrivals and H-1 departures, 2 (H-1) per
  // barrier (2H with host 0's), O(H). Arrivals that were still pending when
  // the job ended (see JobCounts) are taken out of both runs.
  const int64_t barriers = kHandOffs + kBarriers;
  for (uint32_t h = 0; h < hosts; ++h) {
    EXPECT_EQ(static_cast<int64_t>(run->barriers[h] - base->barriers[h]), barriers) << "host " << h;
  }
  const int64_t pending =
      static_cast<int64_t>(run->pending_arrivals) - static_cast<int64_t>(base->pending_arrivals);
  const int64_t arrivals = Delta(*run, *base, "barrier_arrive") - pending;
  EXPECT_EQ(arrivals, (H - 1) * barriers);
  EXPECT_EQ(Delta(*run, *base, "barrier_depart"), (H - 1) * barriers);
  const int64_t barrier_msgs = arrivals + Delta(*run, *base, "barrier_depart");

  // The data of the critical section (the turn counter, on node 0's stack,
  // homed on host 0):
  // fetched by and diffed from the new holder when it is not on host 0.
  // Counted for the table only: how many fetches a hand-off needs depends on
  // what the holder's host still has valid.
  int64_t data_msgs = 0;
  for (const char* t : {"fetch", "fetch_reply", "diff", "diff_ack", "home_query", "home_reply"}) {
    data_msgs += Delta(*run, *base, t);
  }
  return Row{hosts, static_cast<double>(lock_msgs) / kHandOffs, static_cast<double>(data_msgs) / kHandOffs,
             static_cast<double>(barrier_msgs) / barriers};
}

TEST(SyncScaling, MessagesPerLockHandOffAreConstantAndPerBarrierLinearIn2To8Hosts) {
  std::vector<Row> rows;
  for (uint32_t hosts : {2u, 4u, 8u}) {
    std::optional<Row> row = Measure(hosts);
    ASSERT_TRUE(row.has_value()) << "hosts " << hosts;
    rows.push_back(*row);
  }
  std::printf("| hosts | lock messages per hand-off | data messages per hand-off | messages per barrier |\n");
  std::printf("|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    std::printf("| %u | %.2f | %.2f | %.2f |\n", r.hosts, r.lock_per_handoff, r.data_per_handoff,
                r.per_barrier);
  }
  const Row &two = rows.front(), &eight = rows.back();
  for (const Row& r : rows) {
    SCOPED_TRACE("hosts " + std::to_string(r.hosts));
    // O(1): 4 (H-1)/H < 4 whatever H is (the exact counts are checked above).
    EXPECT_LT(r.lock_per_handoff, 4.0);
    // O(H): 2 (H-1) <= 2H.
    EXPECT_LE(r.per_barrier, 2.0 * r.hosts);
  }
  // A hand-off at 8 hosts costs at most a small constant more than at 2
  // (3.5 against 2); anything growing with H would be 4x or more.
  EXPECT_LE(eight.lock_per_handoff, 1.5 * two.lock_per_handoff + 2);
  // A barrier grows linearly: 2 (H-1) gives 14 against 2, a ratio of 7,
  // i.e. (8-1)/(2-1). Not constant, not quadratic (that would be about 28).
  EXPECT_GE(eight.per_barrier, 2 * two.per_barrier);
  EXPECT_LE(eight.per_barrier, 8 * two.per_barrier);
}

}  // namespace
