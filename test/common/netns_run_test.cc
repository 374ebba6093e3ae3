// NetnsRun and the helpers of netns_run.h, in the test's own network
// namespace (netns_fd -1, so no root needed): output, status and time of a
// command, its standard input, its environment, the deadline, waiting for
// lines, a command that cannot be executed, waiting for processes to go, and
// listing and removing a directory. The namespaces themselves are exercised
// by the ssh and Slurm tests.
#include "netns_run.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace dsm::launcher::testing {
namespace {

using std::chrono::milliseconds;

class NetnsRunTest : public ::testing::Test {
 protected:
  NetnsRun* Start(const std::vector<std::string>& argv, const std::string& stdin_path = "/dev/null") {
    run_ = std::make_unique<NetnsRun>(argv, TestEnvironment({}), -1, restore_, stdin_path);
    return run_.get();
  }

  ChildRestore restore_ = CurrentChildRestore();
  std::unique_ptr<NetnsRun> run_;
};

TEST_F(NetnsRunTest, CollectsOutputStatusAndTime) {
  RunResult r = Start({"/bin/sh", "-c", "echo to-out; echo to-err >&2; exit 3"})->Wait(milliseconds(10000));
  EXPECT_EQ(r.status, 3) << Describe(r);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "to-out\n");
  EXPECT_EQ(r.err, "to-err\n");
  EXPECT_GE(r.seconds, 0.0);
  EXPECT_LT(r.seconds, 10.0);
}

TEST_F(NetnsRunTest, ReadsItsStandardInputFromThePath) {
  std::string dir = ::testing::TempDir() + "netns_run_stdin_XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  std::string path = dir + "/in";
  std::ofstream(path, std::ios::binary) << std::string("line one\n\0two", 13);
  RunResult r = Start({"/bin/cat"}, path)->Wait(milliseconds(10000));
  RemoveTree(dir);
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_EQ(r.out, std::string("line one\n\0two", 13));
}

TEST_F(NetnsRunTest, GetsExactlyTheEnvironmentGiven) {
  ASSERT_EQ(::setenv("DSM_NETNS_RUN_TEST", "inherited", 1), 0);
  std::vector<std::string> env = TestEnvironment({"DSM_"}, {"NETNS_RUN_ADDED=yes"});
  ::unsetenv("DSM_NETNS_RUN_TEST");
  run_ = std::make_unique<NetnsRun>(std::vector<std::string>{"/usr/bin/env"}, env, -1, restore_);
  RunResult r = run_->Wait(milliseconds(10000));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_NE(r.out.find("\nNETNS_RUN_ADDED=yes\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("DSM_NETNS_RUN_TEST"), std::string::npos) << r.out;
}

TEST_F(NetnsRunTest, IsKilledAtTheDeadlineKeepingWhatItWrote) {
  NetnsRun* run = Start({"/bin/sh", "-c", "echo started; exec sleep 60"});
  ASSERT_TRUE(run->WaitForLines("started", 1, milliseconds(10000)));
  RunResult r = run->Wait(milliseconds(200));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.status, -1);
  EXPECT_EQ(r.out, "started\n");
  EXPECT_LT(r.seconds, 10.0);
}

TEST_F(NetnsRunTest, WaitsForLinesAndSeesTheEndOfOutput) {
  NetnsRun* run = Start({"/bin/sh", "-c", "echo ready 1; echo ready 2; exec sleep 60"});
  ASSERT_GT(run->pid(), 0);
  EXPECT_TRUE(run->WaitForLines("ready", 2, milliseconds(10000)));
  // A third never comes: false at the deadline.
  EXPECT_FALSE(run->WaitForLines("ready", 3, milliseconds(100)));
  ASSERT_EQ(::kill(run->pid(), SIGTERM), 0);
  auto since = std::chrono::steady_clock::now();
  RunResult r = run->WaitSince(since, milliseconds(10000));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, -1) << Describe(r);  // ended by a signal
  EXPECT_LT(r.seconds, 10.0);

  // A command that ends with fewer: false as soon as it has ended.
  run = Start({"/bin/sh", "-c", "echo ready once"});
  EXPECT_FALSE(run->WaitForLines("ready", 2, milliseconds(60000)));
  r = run->Wait(milliseconds(10000));
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_LT(r.seconds, 30.0);
}

TEST_F(NetnsRunTest, ACommandThatCannotBeExecutedExitsWith127) {
  RunResult r = Start({"/nonexistent/netns-run-test"})->Wait(milliseconds(10000));
  EXPECT_EQ(r.status, 127) << Describe(r);
  EXPECT_FALSE(r.timed_out);
}

TEST_F(NetnsRunTest, WaitUntilGoneNamesWhatIsLeft) {
  EXPECT_EQ(WaitUntilGone([] { return std::vector<pid_t>{}; }, milliseconds(1000)), "");
  // Spawn returns once the program is executing (its exec pipe closed).
  pid_t pid = Start({"/bin/sleep", "60"})->pid();
  ASSERT_GT(pid, 0);
  std::string left = WaitUntilGone([pid] { return std::vector<pid_t>{pid}; }, milliseconds(100));
  EXPECT_EQ(left, std::to_string(pid) + ": /bin/sleep 60 \n");
  EXPECT_EQ(Comm(pid), "sleep");
}

TEST_F(NetnsRunTest, ListsAndRemovesADirectory) {
  std::string dir = ::testing::TempDir() + "netns_run_dir_XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  EXPECT_EQ(ListDir(dir), "");
  ASSERT_EQ(::mkdir((dir + "/sub").c_str(), 0755), 0);
  std::ofstream(dir + "/sub/file") << "x";
  EXPECT_EQ(ListDir(dir), dir + "/sub\n");
  EXPECT_EQ(ReadAll(dir + "/sub/file"), "x");
  RemoveTree(dir);
  EXPECT_NE(::access(dir.c_str(), F_OK), 0);
  EXPECT_EQ(ListDir(dir), "");
}

}  // namespace
}  // namespace dsm::launcher::testing
