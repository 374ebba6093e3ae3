// Multi-host jobs (--hosts) through the dsm-run binary with the stand-in
// daemon: the daemons' command lines and start-up order, the nodes' hosts and
// environment, output tags, merged statistics, and the failure rules for every
// process of every host.
#include "job.h"
#include "launcher_test_util.h"

namespace dsm::launcher::testing {
namespace {

// Every node script of these tests publishes its pid; nodes on other hosts
// must be findable the same way.
const std::string kRecordEnv =
    kPublishPid +
    R"(echo "$DSM_SOCKET $DSM_NODE_ID $DSM_NUM_NODES ${DSM_HOST_ID-unset}" > "$TEST_DIR/env.$DSM_NODE_ID")";

using MultiHostJob = LauncherJob;

TEST_F(MultiHostJob, DaemonCommandLinesAndNodeEnvironmentWithBlockPlacement) {
  Outcome o =
      Run(MultiJob(5, 2, {"--memory", "256M", "--stats", "--stack", "32M", "--home", "round-robin"}, kRecordEnv),
          {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args"), "DSM_HOST_ID=9", "DSM_SOCKET=/wrong"});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.err, "");
  std::vector<std::string> a0 = DaemonArgs(0), a1 = DaemonArgs(1);
  ASSERT_EQ(a0.size(), 26u) << ::testing::PrintToString(a0);
  ASSERT_EQ(a1.size(), 28u) << ::testing::PrintToString(a1);
  std::string s0 = a0[1], s1 = a1[1], job = a0[13];
  EXPECT_EQ(a0, (std::vector<std::string>{"--socket",         s0,
                                          "--nodes",          "5",
                                          "--host-id",        "0",
                                          "--hosts",          "2",
                                          "--local-nodes",    "0-2",
                                          "--listen",         "tcp://127.0.0.1:0",
                                          "--job-id",         job,
                                          "--home",           "round-robin",
                                          "--ready-fd",       "3",
                                          "--keys-fd",        "4",
                                          "--exit-when-done", "--stats",
                                          "--memory",         "268435456",
                                          "--stack",          "33554432"}));
  EXPECT_EQ(a1, (std::vector<std::string>{"--socket",         s1,
                                          "--nodes",          "5",
                                          "--host-id",        "1",
                                          "--hosts",          "2",
                                          "--local-nodes",    "3-4",
                                          "--listen",         "tcp://127.0.0.1:0",
                                          "--join",           "tcp://127.0.0.1:1",
                                          "--job-id",         job,
                                          "--home",           "round-robin",
                                          "--ready-fd",       "3",
                                          "--keys-fd",        "4",
                                          "--exit-when-done", "--stats",
                                          "--memory",         "268435456",
                                          "--stack",          "33554432"}));
  EXPECT_TRUE(s0.ends_with("/hostd0.sock")) << s0;
  EXPECT_TRUE(s1.ends_with("/hostd1.sock")) << s1;
  EXPECT_EQ(fs::path(s0).parent_path(), fs::path(s1).parent_path());
  EXPECT_EQ(fs::path(s0).parent_path().parent_path(), fs::path(tmpdir_));
  EXPECT_FALSE(job.empty());
  EXPECT_EQ(job.find_first_not_of("0123456789"), std::string::npos) << job;
  for (int k = 0; k < 5; ++k) {
    int host = k < 3 ? 0 : 1;
    EXPECT_EQ(ReadFile(Path("env." + std::to_string(k))),
              (host == 0 ? s0 : s1) + " " + std::to_string(k) + " 5 " + std::to_string(host) + "\n");
  }
  ExpectJobGone();
}

TEST_F(MultiHostJob, EveryDaemonReadsTheJobsKeyPairFromADescriptorAFreshOnePerJob) {
  auto run = [&] {
    Outcome o = Run(MultiJob(3, 3, {}, "exit 0"),
                    {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args"), "FAKE_HOSTD_KEYS=" + Path("keys")});
    EXPECT_EQ(o.status, 0) << o.err;
    std::vector<std::string> blocks;
    for (int h = 0; h < 3; ++h) blocks.push_back(ReadFile(Path("keys.h" + std::to_string(h))));
    return blocks;
  };
  std::vector<std::string> first = run();
  // Two lines, two different keys of 40 characters; the same for every host.
  ASSERT_EQ(first[0].size(), 2 * (13 + 40 + 1)) << first[0];
  EXPECT_EQ(first[0].rfind("curve-public ", 0), 0u) << first[0];
  EXPECT_EQ(first[0].substr(54, 13), "curve-secret ") << first[0];
  EXPECT_NE(first[0].substr(13, 40), first[0].substr(67, 40));
  EXPECT_EQ(first[1], first[0]);
  EXPECT_EQ(first[2], first[0]);
  // Neither key is on a command line.
  for (int h = 0; h < 3; ++h) {
    for (const std::string& arg : DaemonArgs(h)) {
      EXPECT_EQ(arg.find(first[0].substr(13, 40)), std::string::npos) << arg;
      EXPECT_EQ(arg.find(first[0].substr(67, 40)), std::string::npos) << arg;
    }
  }
  ExpectJobGone();
  ForgetPids();
  std::vector<std::string> second = run();
  EXPECT_NE(second[0], first[0]) << "every job gets its own key pair";
  EXPECT_EQ(second[1], second[0]);
  ExpectJobGone();
}

TEST_F(MultiHostJob, CyclicPlacementDefaultHomeAndAFreshJobIdPerJob) {
  Outcome o =
      Run(MultiJob(7, 3, {"--placement", "cyclic"}, kRecordEnv), {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args")});
  EXPECT_EQ(o.status, 0) << o.err;
  const char* lists[] = {"0,3,6", "1,4", "2,5"};
  std::string job;
  for (int h = 0; h < 3; ++h) {
    std::vector<std::string> a = DaemonArgs(h);
    SCOPED_TRACE(::testing::PrintToString(a));
    auto value = [&](const std::string& option) {
      auto it = std::find(a.begin(), a.end(), option);
      return it == a.end() || it + 1 == a.end() ? std::string("<none>") : *(it + 1);
    };
    EXPECT_EQ(value("--host-id"), std::to_string(h));
    EXPECT_EQ(value("--local-nodes"), lists[h]);
    EXPECT_EQ(value("--home"), "migrate") << "the default";
    EXPECT_EQ(value("--join"), h == 0 ? "<none>" : "tcp://127.0.0.1:1");
    EXPECT_EQ(value("--stats-json"), "<none>");
    EXPECT_EQ(std::count(a.begin(), a.end(), "--stats"), 0);
    EXPECT_EQ(std::count(a.begin(), a.end(), "--huge-pages"), 0) << "on: the daemons' default";
    if (h == 0) job = value("--job-id");
    EXPECT_EQ(value("--job-id"), job);
  }
  for (int k = 0; k < 7; ++k) {
    std::string env = ReadFile(Path("env." + std::to_string(k)));
    EXPECT_TRUE(env.ends_with(" " + std::to_string(k) + " 7 " + std::to_string(k % 3) + "\n")) << env;
    EXPECT_NE(env.find("/hostd" + std::to_string(k % 3) + ".sock "), std::string::npos) << env;
  }
  ExpectJobGone();

  ForgetPids();
  o = Run(MultiJob(2, 2, {}, "exit 0"), {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args")});
  EXPECT_EQ(o.status, 0) << o.err;
  std::vector<std::string> a = DaemonArgs(1);
  auto it = std::find(a.begin(), a.end(), "--job-id");
  ASSERT_NE(it, a.end());
  EXPECT_NE(*(it + 1), job) << "every job gets its own id";
}

// --huge-pages off reaches every daemon, of one host or several.
TEST_F(MultiHostJob, HugePagesOffReachesEveryDaemon) {
  for (int hosts : {1, 2}) {
    Outcome o = Run(MultiJob(2, hosts, {"--huge-pages", "off"}, "exit 0"),
                    {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args")});
    EXPECT_EQ(o.status, 0) << o.err;
    for (int h = 0; h < hosts; ++h) {
      // One host's daemon writes its arguments without a host suffix.
      std::vector<std::string> a = hosts == 1 ? Lines(ReadFile(Path("hostd.args"))) : DaemonArgs(h);
      auto it = std::find(a.begin(), a.end(), "--huge-pages");
      ASSERT_NE(it, a.end()) << ::testing::PrintToString(a);
      ASSERT_NE(it + 1, a.end());
      EXPECT_EQ(*(it + 1), "off");
    }
    ExpectJobGone();
    ForgetPids();
  }
}

// --peer-timeout reaches every daemon of several hosts, in milliseconds;
// without it no daemon gets the option (their default).
TEST_F(MultiHostJob, PeerTimeoutReachesEveryDaemon) {
  Outcome o = Run(MultiJob(2, 2, {"--peer-timeout", "7.5"}, "exit 0"), {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args")});
  EXPECT_EQ(o.status, 0) << o.err;
  for (int h = 0; h < 2; ++h) {
    std::vector<std::string> a = DaemonArgs(h);
    auto it = std::find(a.begin(), a.end(), "--peer-timeout-ms");
    ASSERT_NE(it, a.end()) << ::testing::PrintToString(a);
    ASSERT_NE(it + 1, a.end());
    EXPECT_EQ(*(it + 1), "7500");
  }
  ExpectJobGone();
  o = Run(MultiJob(2, 2, {}, "exit 0"), {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args")});
  EXPECT_EQ(o.status, 0) << o.err;
  for (int h = 0; h < 2; ++h) {
    const std::vector<std::string> a = DaemonArgs(h);
    EXPECT_EQ(std::count(a.begin(), a.end(), "--peer-timeout-ms"), 0) << ::testing::PrintToString(a);
  }
  ExpectJobGone();
}

TEST_F(MultiHostJob, OneHostKeepsTheSingleHostCommandLineAndEnvironment) {
  Outcome o = Run(MultiJob(2, 1, {"--home", "round-robin", "--stats-json", Path("s.json")}, kRecordEnv),
                  {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args")});
  EXPECT_EQ(o.status, 0) << o.err;
  std::vector<std::string> a = Lines(ReadFile(Path("hostd.args")));
  ASSERT_EQ(a.size(), 13u) << ::testing::PrintToString(a);
  EXPECT_EQ(a, (std::vector<std::string>{"--socket", a[1], "--nodes", "2", "--memory", "1073741824", "--ready-fd", "3",
                                         "--exit-when-done", "--home", "round-robin", "--stats-json",
                                         Path("s.json") + ".host0"}));
  EXPECT_TRUE(a[1].ends_with("/hostd.sock"));
  EXPECT_EQ(ReadFile(Path("env.1")), a[1] + " 1 2 unset\n");
  ExpectJobGone();
}

TEST_F(MultiHostJob, HostZeroListensFirstTheOthersJoinItNodesStartWhenAllAreReady) {
  Outcome o = Run(MultiJob(4, 3, {}, R"(echo "node $DSM_NODE_ID" >> "$TEST_DIR/log")"),
                  {kFinished, "FAKE_HOSTD_LOG=" + Path("log"), "FAKE_HOSTD_ARGS=" + Path("hostd.args")});
  EXPECT_EQ(o.status, 0) << o.err;
  std::vector<std::string> log = Lines(ReadFile(Path("log")));
  ASSERT_EQ(log.size(), 10u) << ::testing::PrintToString(log);
  auto at = [&](const std::string& line) { return std::find(log.begin(), log.end(), line) - log.begin(); };
  EXPECT_EQ(log[0], "host 0 start");
  EXPECT_EQ(log[1], "host 0 ready") << "host 0 said where to join before anyone else started";
  for (int h = 1; h < 3; ++h) {
    EXPECT_LT(at("host " + std::to_string(h) + " start"), at("host " + std::to_string(h) + " ready"));
    for (int k = 0; k < 4; ++k) EXPECT_LT(at("host " + std::to_string(h) + " ready"), at("node " + std::to_string(k)));
  }
  for (int h = 1; h < 3; ++h) {
    std::vector<std::string> a = Lines(ReadFile(Path("hostd.args.h" + std::to_string(h))));
    EXPECT_NE(std::find(a.begin(), a.end(), "tcp://127.0.0.1:1"), a.end()) << "joins the endpoint host 0 reported";
  }
  ExpectJobGone();
}

TEST_F(MultiHostJob, TagOutputNamesTheHost) {
  Outcome o = Run(MultiJob(3, 2, {"--tag-output"}, R"(echo "hello $DSM_NODE_ID"; echo "oops" >&2)"), {kFinished});
  EXPECT_EQ(o.status, 0) << o.err;
  std::vector<std::string> out = Lines(o.out), err = Lines(o.err);
  std::sort(out.begin(), out.end());
  std::sort(err.begin(), err.end());
  EXPECT_EQ(out, (std::vector<std::string>{"[node 0@h0] hello 0", "[node 1@h0] hello 1", "[node 2@h1] hello 2"}));
  EXPECT_EQ(err, (std::vector<std::string>{"[node 0@h0] oops", "[node 1@h0] oops", "[node 2@h1] oops"}));
}

TEST_F(MultiHostJob, StatisticsOfEveryHostAreMergedIntoOneDocument) {
  std::string file = Path("stats.json");
  Outcome o = Run(MultiJob(3, 3, {"--stats-json", file}, "exit 0"), {kFinished});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(ReadFile(file), "{\"hosts\":[\n{\"host\":0},\n{\"host\":1},\n{\"host\":2}\n]}\n");
  for (int h = 0; h < 3; ++h) EXPECT_FALSE(fs::exists(file + ".host" + std::to_string(h)));

  // A host whose statistics are not a JSON object is null, and its file
  // stays for inspection; stale files of an earlier job are never merged.
  std::ofstream(file + ".host1") << "{\"stale\":1}";
  o = Run(MultiJob(3, 3, {"--stats-json", file}, "exit 0"),
          {kFinished, R"(FAKE_HOSTD_STATS_2={"a":)", "FAKE_HOSTD_STATS_1={\"b\": [true]}"});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(ReadFile(file), "{\"hosts\":[\n{\"host\":0},\n{\"b\": [true]},\nnull\n]}\n");
  EXPECT_EQ(o.err,
            "dsm-run: warning: the statistics of host 2 in " + file + ".host2 are not a JSON object; left there\n");
  EXPECT_EQ(ReadFile(file + ".host2"), "{\"a\":\n");
  ExpectJobGone();

  // One host: the same document with one entry.
  fs::remove(file + ".host2");
  o = Run(Job(2, {"--stats-json", file}, "exit 0"), {kFinished});
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(ReadFile(file), "{\"hosts\":[\n{\"host\":0}\n]}\n");
  EXPECT_FALSE(fs::exists(file + ".host0"));

  o = Run(Job(2, {"--stats-json", Path("no/such/dir/s.json")}, "exit 0"));
  EXPECT_EQ(o.status, 2);
  EXPECT_EQ(o.err, "dsm-run: error: cannot write the statistics file " + Path("no/such/dir/s.json") +
                       ": No such file or directory\n");
}

TEST_F(MultiHostJob, NodeKilledOnAnotherHostIsNamedWithItsHost) {
  Launch(MultiJob(4, 2, {}, kPublishPid + "exec sleep 100"));
  ASSERT_TRUE(WaitForFiles(PidFiles(4, 2)));
  pid_t victim = PidOf("pid.3");
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  Outcome o = Wait();
  EXPECT_EQ(o.status, 137);
  EXPECT_EQ(o.err, "dsm-run: node 3 on host 1 (pid " + std::to_string(victim) +
                       ") was killed by signal 9 (Killed); ending the job\n");
  ExpectJobGone();
}

TEST_F(MultiHostJob, DaemonOfAnyHostDyingEndsTheJob) {
  ASSERT_EQ(::mkfifo(Path("hostd.gate").c_str(), 0600), 0);
  for (int host : {0, 2}) {
    SCOPED_TRACE("host " + std::to_string(host));
    ForgetPids();
    // The daemon dies once the nodes run (node 1 opens the gate).
    std::string h = std::to_string(host);
    Outcome o = Run(
        MultiJob(3, 3, {},
                 kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && echo > "$TEST_DIR/hostd.gate"; )"
                               R"(exec sleep 100)"),
        {"FAKE_HOSTD_MODE_" + h + "=script", "FAKE_HOSTD_SCRIPT_" + h + R"(=read x < "$TEST_DIR/hostd.gate"; exit 3)"});
    EXPECT_EQ(o.status, 3);
    EXPECT_LT(o.seconds, 3.0);
    EXPECT_EQ(o.err, "dsm-run: host " + h + "'s daemon (pid " + std::to_string(DaemonPid(host)) +
                         ") exited with status 3 before the job finished; ending the job\n");
    ExpectJobGone();
  }
}

TEST_F(MultiHostJob, LostHostNamesItsDaemonNotTheNodesStoppingBecauseOfIt) {
  // Host 0's daemon loses contact with host 1; node 1 (on host 0) stops with
  // status 3 because of it, and then host 1's daemon is seen to die.
  ASSERT_EQ(::mkfifo(Path("hostd.gate").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo(Path("gate.1").c_str(), 0600), 0);
  Launch(MultiJob(4, 2, {},
                  kPublishPid + R"([ "$DSM_NODE_ID" = 1 ] && { echo > "$TEST_DIR/hostd.gate"; )"
                                R"(read x < "$TEST_DIR/gate.1"; exit 3; }; exec sleep 100)"),
         {"FAKE_HOSTD_MODE_0=script",
          R"(FAKE_HOSTD_SCRIPT_0=read x < "$TEST_DIR/hostd.gate"; printf 'lost-host 1\n' >&$fd; )"
          R"(echo > "$TEST_DIR/gate.1")"});
  ASSERT_TRUE(WaitForFiles(PidFiles(4, 2)));
  ASSERT_TRUE(WaitForExit(PidOf("pid.1")));
  pid_t daemon = DaemonPid(1);
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  Outcome o = Wait();
  EXPECT_EQ(o.status, 137);
  EXPECT_EQ(o.err, "dsm-run: host 1's daemon (pid " + std::to_string(daemon) +
                       ") was killed by signal 9 (Killed); ending the job\n");
  ExpectJobGone();
}

TEST_F(MultiHostJob, LostHostWhoseDaemonKeepsRunningIsNamed) {
  ASSERT_EQ(::mkfifo(Path("hostd.gate").c_str(), 0600), 0);
  Launch(MultiJob(3, 3, {}, kPublishPid + R"([ "$DSM_NODE_ID" = 0 ] && echo > "$TEST_DIR/hostd.gate"; exec sleep 100)"),
         {"FAKE_HOSTD_MODE_1=script",
          R"(FAKE_HOSTD_SCRIPT_1=read x < "$TEST_DIR/hostd.gate"; printf 'lost-host 2\n' >&$fd)"});
  Outcome o = Wait();
  EXPECT_EQ(o.status, 1);
  EXPECT_GE(o.seconds, kLostGraceMs / 1000.0);
  EXPECT_EQ(o.err, "dsm-run: lost contact with host 2 (its daemon, pid " + std::to_string(DaemonPid(2)) +
                       ", is still running); ending the job\n");
  ExpectJobGone();
}

// "First" as dsm-run reads the daemons' pipes: lines seen in the same round
// count in host order, so the first line comes from host 0 here.
TEST_F(MultiHostJob, FirstJobEndLineFromAnyDaemonDecides) {
  // Host 0 says node 3 left; then host 1 says that node 0 finished the job,
  // and node 0 exits 0. Node 3 stays the culprit.
  for (const char* gate : {"hostd0.gate", "hostd1.gate", "gate.0", "gate.1"}) {
    ASSERT_EQ(::mkfifo(Path(gate).c_str(), 0600), 0);
  }
  Launch(MultiJob(4, 2, {},
                  kPublishPid + R"(case $DSM_NODE_ID in 0) read x < "$TEST_DIR/gate.0"; exit 0 ;; )"
                                R"(3) echo > "$TEST_DIR/hostd0.gate" ;; esac; exec sleep 100)"),
         {"FAKE_HOSTD_MODE=script",
          R"(FAKE_HOSTD_SCRIPT_0=read x < "$TEST_DIR/hostd0.gate"; printf 'lost 3\n' >&$fd; )"
          R"(echo > "$TEST_DIR/hostd1.gate")",
          R"(FAKE_HOSTD_SCRIPT_1=read x < "$TEST_DIR/hostd1.gate"; printf 'finished 0\n' >&$fd; )"
          R"(echo > "$TEST_DIR/gate.0")"});
  Outcome o = Wait();
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err, "dsm-run: node 3 on host 1 (pid " + std::to_string(PidOf("pid.3")) +
                       ") left the job before it finished; ending the job\n");
  ExpectJobGone();

  // "finished" first: a later "lost-host" from another daemon changes
  // nothing, and the workers' exits with status 0 are normal.
  ForgetPids();
  o = Run(
      MultiJob(2, 2, {},
               kPublishPid + R"(read x < "$TEST_DIR/gate.$DSM_NODE_ID"; )"
                             R"([ "$DSM_NODE_ID" = 0 ] && exit 6; exit 0)"),
      {"FAKE_HOSTD_MODE=script", R"(FAKE_HOSTD_SCRIPT_0=printf 'finished 6\n' >&$fd; echo > "$TEST_DIR/hostd1.gate")",
       R"(FAKE_HOSTD_SCRIPT_1=read x < "$TEST_DIR/hostd1.gate"; printf 'lost-host 0\n' >&$fd; )"
       R"(echo > "$TEST_DIR/gate.1"; echo > "$TEST_DIR/gate.0")"});
  EXPECT_EQ(o.status, 6) << o.err;
  EXPECT_EQ(o.err, "");
  ExpectJobGone();
}

TEST_F(MultiHostJob, DaemonFailingToStartStopsTheOthersAndStartsNoNode) {
  Outcome o = Run(MultiJob(3, 3, {}, kPublishPid + "exit 0"), {"FAKE_HOSTD_MODE_2=fail"});
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("dsm-run: error: host 2's daemon failed to start (exited with status 2)\n"), std::string::npos)
      << o.err;
  EXPECT_FALSE(fs::exists(Path("pid.0"))) << "a node was started";
  EXPECT_TRUE(fs::exists(Path("hostd.pid.h0")));
  ExpectJobGone();
}

TEST_F(MultiHostJob, HostZeroMustSayWhereToJoinBeforeItIsReady) {
  Outcome o = Run(MultiJob(2, 2, {}, kPublishPid + "exit 0"), {"FAKE_HOSTD_MODE_0=nolisten"});
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err,
            "dsm-run: error: host 0's daemon failed to start (it wrote 'ready' before 'listening <endpoint>')\n");
  EXPECT_FALSE(fs::exists(Path("hostd.pid.h1"))) << "another daemon was started";
  ExpectJobGone();

  o = Run(MultiJob(2, 2, {}, kPublishPid + "exit 0"), {"FAKE_HOSTD_MODE_0=close"});
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err,
            "dsm-run: error: host 0's daemon failed to start (it closed its --ready-fd without writing "
            "'listening <endpoint>')\n");
  EXPECT_FALSE(fs::exists(Path("hostd.pid.h1"))) << "another daemon was started";
  ExpectJobGone();

  o = Run(MultiJob(2, 2, {}, kPublishPid + "exit 0"), {"FAKE_HOSTD_MODE_1=close"});
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err,
            "dsm-run: error: host 1's daemon failed to start (it closed its --ready-fd without writing "
            "'ready')\n");
  EXPECT_FALSE(fs::exists(Path("pid.0"))) << "a node was started";
  ExpectJobGone();
}

TEST_F(MultiHostJob, SignalsAndTimeoutEndEveryProcessOfEveryHost) {
  pid_t dsm_run = Launch(MultiJob(5, 3, {}, kPublishPid + "exec sleep 100"));
  ASSERT_TRUE(WaitForFiles(PidFiles(5, 3)));
  EXPECT_EQ(PublishedPids().size(), 8u);
  ASSERT_EQ(::kill(dsm_run, SIGTERM), 0);
  Outcome o = Wait();
  EXPECT_EQ(o.status, 128 + SIGTERM);
  EXPECT_EQ(o.err, "dsm-run: received signal 15 (Terminated); ending the job\n");
  ExpectJobGone();

  ForgetPids();
  o = Run(MultiJob(4, 2, {"--timeout", "0.5"}, kPublishPid + "exec sleep 100"));
  EXPECT_EQ(o.status, 124);
  EXPECT_EQ(o.err, "dsm-run: timeout after 0.5 s; ending the job\n");
  ExpectJobGone();
}

}  // namespace
}  // namespace dsm::launcher::testing
