// A job's life through the dsm-run binary: the command line it gives the
// daemon and the environment of the nodes, start-up failures, usage errors,
// the timeout and signals, and that nothing is left afterwards.
#include "launcher_test_util.h"

#include "options.h"

namespace dsm::launcher::testing {
namespace {

TEST_F(LauncherJob, NodeEnvironmentAndDaemonCommandLine) {
  Outcome o = Run(Job(3, {"--memory", "256M", "--stats"},
                      R"(echo "$DSM_SOCKET $DSM_NODE_ID $DSM_NUM_NODES" > "$TEST_DIR/env.$DSM_NODE_ID")"),
                  {kFinished, "FAKE_HOSTD_ARGS=" + Path("hostd.args"), "DSM_NODE_ID=99", "DSM_SOCKET=/wrong"});
  EXPECT_EQ(o.status, 0) << o.err;
  std::vector<std::string> args = Lines(ReadFile(Path("hostd.args")));
  ASSERT_EQ(args.size(), 10u) << ::testing::PrintToString(args);
  std::string socket = args[1];
  EXPECT_EQ(args, (std::vector<std::string>{"--socket", socket, "--nodes", "3", "--memory", "268435456",
                                            "--ready-fd", "3", "--exit-when-done", "--stats"}));
  EXPECT_TRUE(socket.starts_with(tmpdir_ + "/dsm-")) << socket;
  EXPECT_TRUE(socket.ends_with("/hostd.sock")) << socket;
  EXPECT_EQ(fs::path(socket).parent_path().parent_path(), fs::path(tmpdir_));
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(ReadFile(Path("env." + std::to_string(k))), socket + " " + std::to_string(k) + " 3\n");
  }
  // The fake daemon created the socket path; dsm-run removed it and the dir.
  ExpectJobGone();
}

TEST_F(LauncherJob, DaemonExitingBeforeReadyIsAStartFailure) {
  Outcome o = Run(Job(2, {}, kPublishPid + "exit 0"), {"FAKE_HOSTD_MODE=fail"});
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("dsm-run: error: dsm-hostd failed to start (exited with status 2)\n"),
            std::string::npos)
      << o.err;
  EXPECT_FALSE(fs::exists(Path("pid.0"))) << "a node was started";
  ExpectJobGone();
}

TEST_F(LauncherJob, DaemonClosingReadyFdIsAStartFailure) {
  Outcome o = Run(Job(2, {}, kPublishPid + "exit 0"), {"FAKE_HOSTD_MODE=close"});
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err,
            "dsm-run: error: dsm-hostd failed to start (it closed its --ready-fd without writing 'ready')\n");
  EXPECT_FALSE(fs::exists(Path("pid.0"))) << "a node was started";
  EXPECT_TRUE(fs::exists(Path("hostd.pid")));
  ExpectJobGone();
}

TEST_F(LauncherJob, ExecFailureGives127) {
  std::string prog = Path("not-a-binary");
  std::ofstream(prog) << "echo no shebang\n";
  ::chmod(prog.c_str(), 0755);
  Args args = {"-n", "2", "--hostd", FAKE_HOSTD_PATH, prog};
  Outcome o = Run(args);
  EXPECT_EQ(o.status, 127);
  EXPECT_EQ(o.err, "dsm-run: error: cannot execute " + prog + ": Exec format error\n");
  ExpectJobGone();
}

TEST_F(LauncherJob, UsageErrorsStartNothing) {
  std::string noexec = Path("noexec");
  std::ofstream(noexec) << "#!/bin/sh\n";
  const std::vector<std::pair<Args, std::string>> cases = {
      {{}, "missing option -n/--nodes (the number of nodes)"},
      {{"-n", "0", "sh"}, "invalid value '0' for -n: the number of nodes must be 1 to 1024"},
      {{"-n", "two", "sh"}, "invalid value 'two' for -n: not a number"},
      {{"-n", "2", "--bogus", "sh"}, "unknown option '--bogus'"},
      {{"-n", "2", "--hostd", FAKE_HOSTD_PATH}, "missing program to run"},
      {{"-n", "2", "--hostd", FAKE_HOSTD_PATH, "/nonexistent/prog"},
       "cannot run '/nonexistent/prog': No such file or directory"},
      {{"-n", "2", "--hostd", FAKE_HOSTD_PATH, "no-such-program-anywhere"},
       "program 'no-such-program-anywhere' not found in PATH"},
      {{"-n", "2", "--hostd", FAKE_HOSTD_PATH, noexec}, "cannot run '" + noexec + "': Permission denied"},
      {{"-n", "2", "--hostd", "/nonexistent/hostd", "sh"},
       "dsm-hostd: cannot run '/nonexistent/hostd': No such file or directory"},
  };
  for (const auto& [args, message] : cases) {
    SCOPED_TRACE(::testing::PrintToString(args));
    Outcome o = Run(args);
    EXPECT_EQ(o.status, 2);
    EXPECT_EQ(o.err, "dsm-run: error: " + message + "\nTry 'dsm-run --help'.\n");
    EXPECT_EQ(o.out, "");
    EXPECT_FALSE(fs::exists(Path("hostd.pid"))) << "the daemon was started";
    ExpectTmpEmpty();
  }
}

TEST_F(LauncherJob, HelpAndVersion) {
  Outcome o = Run({"--help"});
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out, UsageText());
  EXPECT_EQ(o.err, "");
  o = Run({"--version"});
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out, "dsm-run (dsmkit) 0.1.0\n");
}

TEST_F(LauncherJob, DefaultDaemonIsNextToDsmRun) {
  // A copy of dsm-run (not a symlink: /proc/self/exe resolves those) with the
  // fake daemon beside it as dsm-hostd.
  fs::create_directory(Path("bin"));
  fs::copy_file(DSM_RUN_PATH, Path("bin/dsm-run"));
  fs::create_symlink(FAKE_HOSTD_PATH, Path("bin/dsm-hostd"));
  Launch({"-n", "1", "sh", "-c", "exit 6"}, {}, "", Path("bin/dsm-run"));
  Outcome o = Wait();
  EXPECT_EQ(o.status, 6) << o.err;
  EXPECT_TRUE(fs::exists(Path("hostd.pid"))) << "the default daemon did not run";
  ExpectJobGone();

  fs::remove(Path("bin/dsm-hostd"));
  Launch({"-n", "1", "sh", "-c", "exit 6"}, {}, "", Path("bin/dsm-run"));
  o = Wait();
  EXPECT_EQ(o.status, 2);
  EXPECT_EQ(o.err, "dsm-run: error: dsm-hostd: cannot run '" + Path("bin/dsm-hostd") +
                       "': No such file or directory (use --hostd PATH)\nTry 'dsm-run --help'.\n");
}

TEST_F(LauncherJob, TimeoutEndsEveryProcessIncludingGrandchildren) {
  // Each node also starts a grandchild in the background, which only the
  // process group reaches.
  Launch(Job(2, {"--timeout", "1.5"},
             kPublishPid + R"(sleep 100 & echo $! > "$TEST_DIR/gpid.$DSM_NODE_ID.tmp" && )"
                           R"(mv "$TEST_DIR/gpid.$DSM_NODE_ID.tmp" "$TEST_DIR/gpid.$DSM_NODE_ID"; wait)"));
  std::vector<std::string> files = PidFiles(2);
  files.insert(files.end(), {"gpid.0", "gpid.1"});
  ASSERT_TRUE(WaitForFiles(files));
  Outcome o = Wait();
  EXPECT_EQ(o.status, 124);
  EXPECT_EQ(o.err, "dsm-run: timeout after 1.5 s; ending the job\n");
  EXPECT_GE(o.seconds, 1.5);
  EXPECT_LT(o.seconds, 4.5);
  EXPECT_EQ(PublishedPids().size(), 5u);
  ExpectJobGone();
}

TEST_F(LauncherJob, SignalsToDsmRunEndTheJob) {
  for (int sig : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(::strsignal(sig));
    ForgetPids();
    pid_t dsm_run = Launch(Job(2, {}, kPublishPid + "exec sleep 100"));
    ASSERT_TRUE(WaitForFiles(PidFiles(2)));
    ASSERT_EQ(::kill(dsm_run, sig), 0);
    double sent_at = Now();
    Outcome o = Wait();
    EXPECT_LT(o.end_time - sent_at, 3.0);
    EXPECT_EQ(o.status, 128 + sig);
    EXPECT_FALSE(o.signaled) << "dsm-run must exit, not die";
    EXPECT_EQ(o.err, "dsm-run: received signal " + std::to_string(sig) + " (" + ::strsignal(sig) +
                         "); ending the job\n");
    ExpectJobGone();
  }
}

}  // namespace
}  // namespace dsm::launcher::testing
