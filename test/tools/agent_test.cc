// dsm-run --agent, run here the way srun runs it on another machine: its
// stdout is the daemon's status channel back to dsm-run, SIGUSR1 is how
// dsm-run stops the session.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

namespace {

// A daemon that says "ready" on its status descriptor (3), then waits; told
// to stop (SIGTERM), it writes its statistics file as dsm-hostd does on the
// way out. $0 is the agent's private directory. (It ends by itself after a
// minute should a failed test leave it behind.)
constexpr const char* kDaemon =
    "trap 'printf \"{\\\"host\\\":1}\" > \"$0/stats.json\"; exit 0' TERM; "
    "echo ready >&3; sleep 60 & wait $!";

// Reads fd until it has `want` (true) or ends or 60 s pass (false); what
// was read is in *out.
bool ReadUntil(int fd, const std::string& want, std::string* out) {
  for (int waited_ms = 0; waited_ms < 60000;) {
    if (!want.empty() && out->find(want) != std::string::npos) return true;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) == 0) {
      waited_ms += 1000;
      continue;
    }
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return want.empty();
    out->append(buf, static_cast<size_t>(n));
  }
  return false;
}

// Starts the agent with the daemon above, waits for "ready", sends it
// `signal`, and returns everything it wrote and its exit status.
std::pair<std::string, int> StopAgentWith(int signal) {
  char tmp[] = "/tmp/dsm-agent-test-XXXXXX";
  EXPECT_NE(::mkdtemp(tmp), nullptr);
  int in[2], out[2];
  EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  pid_t agent = ::fork();
  if (agent == 0) {
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::setenv("TMPDIR", tmp, 1);
    std::vector<const char*> argv = {DSM_RUN_PATH, "--agent", "daemon", "--dir", "job-h1", "--stats", "stats.json",
                                     "--label", "host 1's daemon", "--", "/bin/sh", "-c", kDaemon, "@DSM_DIR@",
                                     nullptr};
    ::execv(argv[0], const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  std::string got;
  int status = -1;
  if (agent > 0 && ReadUntil(out[0], "ready\n", &got) && ::kill(agent, signal) == 0) {
    ReadUntil(out[0], "", &got);
    ::waitpid(agent, &status, 0);
  } else if (agent > 0) {
    ::kill(agent, SIGKILL);  // whatever failed, it does not outlive the test
    ::waitpid(agent, nullptr, 0);
  }
  ::close(in[1]);
  ::close(out[0]);
  struct stat st {};
  EXPECT_NE(::stat((std::string(tmp) + "/job-h1").c_str(), &st), 0) << "the private directory is removed";
  EXPECT_EQ(::rmdir(tmp), 0);
  return {got, status};
}

// dsm-run stops a remote daemon that is slow to exit after the job's last
// node (under load, one about to exit): its statistics must still come back.
TEST(Agent, AStoppedDaemonsStatisticsStillComeBack) {
  auto [got, status] = StopAgentWith(SIGUSR1);
  EXPECT_EQ(got, "ready\nstats-json 10\n{\"host\":1}");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "told to stop: " << status;
}

// A hung-up session is gone: nothing more is written to it.
TEST(Agent, AHungUpSessionGetsNothingMore) {
  auto [got, status] = StopAgentWith(SIGHUP);
  EXPECT_EQ(got, "ready\n");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
}

}  // namespace
