// dsm-run --netns with real network namespaces (root only; skipped
// otherwise): every host's daemon and nodes in their own namespace on a
// private network, and nothing of it left however the job ends, SIGKILL of
// dsm-run included.
#include "netns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>

#include <thread>

#include "launcher_test_util.h"

namespace dsm::launcher::testing {
namespace {

// The output of a command (popen), for `ip netns list` and `ip link`.
std::string Output(const std::string& command) {
  std::string out;
  std::FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return "<popen failed>";
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// The names of the links of dsm-run's own network namespace.
std::set<std::string> RootLinks() {
  std::set<std::string> names;
  for (const std::string& line : Lines(Output("ip -o link show"))) {
    // "2: eth0: <...>" or "3: veth@if2: <...>"
    size_t a = line.find(": ");
    size_t b = line.find(": ", a + 2);
    if (a != std::string::npos && b != std::string::npos) names.insert(line.substr(a + 2, b - a - 2));
  }
  return names;
}

// The names `ip netns list` shows that belong to the job of dsm-run `pid`.
std::vector<std::string> JobNamespaces(pid_t pid) {
  std::vector<std::string> names;
  std::string prefix = "dsm-" + std::to_string(pid) + "-";
  for (const std::string& line : Lines(Output("ip netns list"))) {
    std::string name = line.substr(0, line.find(' '));
    if (name.starts_with(prefix)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

ino_t Inode(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Connects from host `from`'s namespace to a listener in host `to`'s, on the
// job's private network. Runs on a thread of its own (setns changes the
// calling thread only).
std::string Connect(const std::string& from_ns, const std::string& to_ns, const std::string& to_address) {
  std::string result;
  std::thread t([&] {
    auto enter = [](const std::string& name) {
      UniqueFd fd(::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
      return fd.valid() && ::setns(fd.get(), CLONE_NEWNET) == 0;
    };
    if (!enter(to_ns)) return void(result = "cannot enter " + to_ns);
    UniqueFd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, to_address.c_str(), &addr.sin_addr);
    socklen_t len = sizeof addr;
    if (::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(server.get(), 1) != 0 ||
        ::getsockname(server.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return void(result = std::string("listen: ") + std::strerror(errno));
    }
    if (!enter(from_ns)) return void(result = "cannot enter " + from_ns);
    UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
      return void(result = std::string("connect: ") + std::strerror(errno));
    }
    pollfd p{client.get(), POLLOUT, 0};
    int err = 0;
    socklen_t errlen = sizeof err;
    if (::poll(&p, 1, 5000) != 1 || ::getsockopt(client.get(), SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 || err != 0) {
      return void(result = std::string("connect: ") + (err != 0 ? std::strerror(err) : "timed out"));
    }
    UniqueFd accepted(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
    result = accepted.valid() ? "connected" : std::string("accept: ") + std::strerror(errno);
  });
  t.join();
  return result;
}

class NetnsJob : public LauncherJob {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "--netns needs root";
    LauncherJob::SetUp();
    links_before_ = RootLinks();
  }

  // Nothing of the network is left: no namespace of the job, and the same
  // links as before in dsm-run's own namespace.
  void ExpectNetworkGone(pid_t dsm_run) {
    EXPECT_EQ(JobNamespaces(dsm_run), std::vector<std::string>{}) << Output("ip netns list");
    EXPECT_EQ(RootLinks(), links_before_);
  }

  std::set<std::string> links_before_;
};

TEST_F(NetnsJob, EveryHostRunsInItsOwnNamespaceOnAPrivateNetwork) {
  ASSERT_EQ(::mkfifo(Path("gate").c_str(), 0600), 0);
  pid_t dsm_run = Launch(MultiJob(4, 3, {"--netns"},
                                  kPublishPid + R"(ip -o -4 addr show dev eth0 > "$TEST_DIR/addr.$DSM_NODE_ID"; )"
                                                R"([ "$DSM_NODE_ID" = 0 ] && read x < "$TEST_DIR/gate"; exit 0)"),
                         {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args")});
  ASSERT_TRUE(WaitForFiles(PidFiles(4, 3)));
  std::string tag = "dsm-" + std::to_string(dsm_run) + "-";
  EXPECT_EQ(JobNamespaces(dsm_run), (std::vector<std::string>{tag + "h0", tag + "h1", tag + "h2", tag + "hub"}));

  // Each daemon and node is in its host's namespace (the nodes may have
  // exited already; node 0 waits, and the daemons wait to be stopped).
  for (int h = 0; h < 3; ++h) {
    ino_t ns = Inode("/run/netns/" + tag + "h" + std::to_string(h));
    EXPECT_NE(ns, 0u);
    EXPECT_EQ(Inode("/proc/" + std::to_string(DaemonPid(h)) + "/ns/net"), ns) << "host " << h << "'s daemon";
    std::vector<std::string> a = DaemonArgs(h);
    EXPECT_NE(std::find(a.begin(), a.end(), "tcp://10.213.0." + std::to_string(h + 1) + ":0"), a.end())
        << ::testing::PrintToString(a);
  }
  EXPECT_EQ(Inode("/proc/" + std::to_string(PidOf("pid.0")) + "/ns/net"), Inode("/run/netns/" + tag + "h0"));
  EXPECT_NE(Inode("/proc/self/ns/net"), Inode("/run/netns/" + tag + "h0"));

  // The hosts reach each other over the hub's bridge.
  EXPECT_EQ(Connect(tag + "h2", tag + "h0", "10.213.0.1"), "connected");
  EXPECT_EQ(Connect(tag + "h0", tag + "h1", "10.213.0.2"), "connected");
  EXPECT_EQ(Output("ip -o -4 addr").find("10.213.0."), std::string::npos) << "the private network leaked out";

  UniqueFd gate(::open(Path("gate").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_EQ(::write(gate.get(), "go\n", 3), 3);
  Outcome o = Wait();
  EXPECT_EQ(o.status, 0) << o.err;
  // Block placement: nodes 0-1 on host 0, 2 on host 1, 3 on host 2.
  const int host_of[] = {0, 0, 1, 2};
  for (int k = 0; k < 4; ++k) {
    EXPECT_NE(
        ReadFile(Path("addr." + std::to_string(k))).find("inet 10.213.0." + std::to_string(host_of[k] + 1) + "/24"),
        std::string::npos)
        << "node " << k;
  }
  ExpectJobGone();
  ExpectNetworkGone(dsm_run);
}

TEST_F(NetnsJob, NothingIsLeftWhateverWayTheJobEnds) {
  // A node killed, dsm-run told to stop, a daemon that fails to start after
  // the network was made.
  for (const char* way : {"node killed", "SIGTERM", "SIGINT", "daemon fails"}) {
    SCOPED_TRACE(way);
    ForgetPids();
    std::string w = way;
    std::vector<std::string> env;
    if (w == "daemon fails") env.push_back("FAKE_HOSTD_MODE_1=fail");
    pid_t dsm_run = Launch(MultiJob(3, 2, {"--netns"}, kPublishPid + "exec sleep 100"), env);
    if (w == "daemon fails") {
      Outcome o = Wait();
      EXPECT_EQ(o.status, 1);
      EXPECT_NE(o.err.find("host 1's daemon failed to start"), std::string::npos) << o.err;
    } else {
      ASSERT_TRUE(WaitForFiles(PidFiles(3, 2)));
      EXPECT_EQ(JobNamespaces(dsm_run).size(), 3u);
      if (w == "node killed") {
        ASSERT_EQ(::kill(PidOf("pid.2"), SIGKILL), 0);
      } else {
        ASSERT_EQ(::kill(dsm_run, w == "SIGTERM" ? SIGTERM : SIGINT), 0);
      }
      Outcome o = Wait();
      EXPECT_EQ(o.status, w == "node killed" ? 137 : w == "SIGTERM" ? 128 + SIGTERM : 128 + SIGINT) << o.err;
    }
    ExpectJobGone();
    ExpectNetworkGone(dsm_run);
  }
}

TEST_F(NetnsJob, NothingIsLeftWhenDsmRunItselfIsKilled) {
  pid_t dsm_run = Launch(MultiJob(2, 2, {"--netns"}, kPublishPid + "exec sleep 100"));
  ASSERT_TRUE(WaitForFiles(PidFiles(2, 2)));
  ASSERT_EQ(JobNamespaces(dsm_run).size(), 3u);
  ASSERT_EQ(::kill(dsm_run, SIGKILL), 0);
  Outcome o = Wait();
  EXPECT_TRUE(o.signaled);
  // The guardian removes the names once dsm-run is gone; the kernel frees the
  // namespaces (and their links) when their processes, killed by the
  // parent-death signal, have exited.
  UniqueFd in(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  ASSERT_TRUE(in.valid());
  ASSERT_GE(::inotify_add_watch(in.get(), "/run/netns", IN_DELETE), 0);
  double deadline = Now() + 5;
  while (!JobNamespaces(dsm_run).empty() && Now() < deadline) {
    pollfd p{in.get(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>((deadline - Now()) * 1000) + 1);
    char buf[4096];
    while (::read(in.get(), buf, sizeof buf) > 0) {
    }
  }
  ExpectNetworkGone(dsm_run);
  for (auto& [name, pid] : PublishedPids()) EXPECT_TRUE(ExitsWithin(pid, 2000)) << name;
}

TEST_F(NetnsJob, WithoutRootItIsAClearErrorAndNothingStarts) {
  // A copy of dsm-run that the unprivileged user can surely execute.
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  fs::copy_file(DSM_RUN_PATH, Path("dsm-run"));
  ::chmod(Path("dsm-run").c_str(), 0755);
  run_as_uid_ = 65534;
  Launch(MultiJob(2, 2, {"--netns"}, "exit 0"), {}, "", Path("dsm-run"));
  Outcome o = Wait();
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err, "dsm-run: error: --netns needs root: it creates network namespaces (run dsm-run as root)\n");
  EXPECT_FALSE(fs::exists(Path("hostd.pid.h0"))) << "a daemon was started";
  ExpectTmpEmpty();
}

}  // namespace
}  // namespace dsm::launcher::testing
