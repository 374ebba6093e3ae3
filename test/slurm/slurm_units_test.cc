// dsm-run inside a Slurm allocation, without Slurm: the allocation's
// environment forms (slurm.h), --launcher and its detection (options.h), and
// the srun command lines (remote.h).
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "options.h"
#include "remote.h"
#include "slurm.h"

namespace dsm::launcher {
namespace {

TEST(TasksPerNode, SlurmsCompressedForm) {
  EXPECT_EQ(*ParseTasksPerNode("4"), std::vector<uint32_t>({4}));
  EXPECT_EQ(*ParseTasksPerNode("2(x3),1"), std::vector<uint32_t>({2, 2, 2, 1}));
  EXPECT_EQ(*ParseTasksPerNode("1,3(x2),2"), std::vector<uint32_t>({1, 3, 3, 2}));
  EXPECT_EQ(*ParseTasksPerNode("16(x1)"), std::vector<uint32_t>({16}));
  for (const char* bad : {"", ",", "2,", "x", "2(3)", "2(x)", "2(x0)", "0", "2(x3", "(x2)", "2(x3)1", "-1"}) {
    EXPECT_FALSE(ParseTasksPerNode(bad).ok()) << bad;
  }
  EXPECT_NE(ParseTasksPerNode("2(y3)").status().message().find("2(x3),1"), std::string::npos);
}

TEST(NodeAddrs, FromScontrolsOneLineForm) {
  auto nodes = ParseNodeAddrs(
      "NodeName=node0 Arch=x86_64 CoresPerSocket=1 NodeAddr=10.0.0.1 NodeHostName=node0 Version=22.05.8\n"
      "\n"
      "NodeName=gpu7 NodeAddr=gpu7.cluster NodeHostName=gpu7 \n");
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].name, "node0");
  EXPECT_EQ(nodes[0].addr, "10.0.0.1");
  EXPECT_EQ(nodes[1].name, "gpu7");
  EXPECT_EQ(nodes[1].addr, "gpu7.cluster");
  EXPECT_TRUE(ParseNodeAddrs("").empty());
}

TEST(Allocation, WhatIsMissingIsNamed) {
  std::map<std::string, std::string> vars;
  EnvLookup env = [&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
  EXPECT_FALSE(InSlurmJob(env));
  EXPECT_NE(ReadAllocation(env).status().message().find("no SLURM_JOB_ID"), std::string::npos);
  vars["SLURM_JOB_ID"] = "7";
  EXPECT_TRUE(InSlurmJob(env));
  EXPECT_NE(ReadAllocation(env).status().message().find("SLURM_JOB_NODELIST is not set"), std::string::npos);
  vars["SLURM_JOB_NODELIST"] = "n[1-2]";
  EXPECT_NE(ReadAllocation(env).status().message().find("neither SLURM_TASKS_PER_NODE"), std::string::npos);
  vars["SLURM_JOB_CPUS_PER_NODE"] = "2(x";
  EXPECT_NE(ReadAllocation(env).status().message().find("SLURM_JOB_CPUS_PER_NODE: cannot read '2(x'"),
            std::string::npos);
}

Options Parse(const std::vector<std::string>& args) {
  auto o = ParseOptions(args);
  EXPECT_TRUE(o.ok()) << o.status().message();
  return o.ok() ? *o : Options{};
}

std::string Err(const std::vector<std::string>& args) {
  auto o = ParseOptions(args);
  return o.ok() ? "" : o.status().message();
}

TEST(LauncherOption, ValuesAndConflicts) {
  EXPECT_EQ(Parse({"--launcher", "slurm", "-n", "2", "p"}).launcher, Options::Launcher::kSlurm);
  EXPECT_TRUE(Parse({"--launcher", "slurm", "-n", "2", "p"}).remote());
  EXPECT_TRUE(Parse({"--launcher", "slurm", "--stage", "-n", "2", "p"}).stage);
  EXPECT_EQ(Parse({"--launcher=local", "-n", "2", "p"}).launcher, Options::Launcher::kLocal);
  EXPECT_EQ(Parse({"--launcher", "ssh", "--host", "a", "-n", "1", "p"}).launcher, Options::Launcher::kSsh);
  EXPECT_EQ(Parse({"-n", "2", "p"}).launcher, Options::Launcher::kAuto);
  EXPECT_EQ(Err({"--launcher", "pbs", "-n", "1", "p"}), "invalid value 'pbs' for --launcher: must be ssh, slurm or local");
  EXPECT_EQ(Err({"--launcher", "slurm", "--host", "a", "-n", "1", "p"}),
            "--launcher slurm takes the hosts from the Slurm allocation: not with --hostfile or --host");
  EXPECT_EQ(Err({"--launcher", "ssh", "-n", "1", "p"}), "--launcher ssh needs --hostfile or --host");
  EXPECT_EQ(Err({"--launcher", "local", "--host", "a", "-n", "1", "p"}),
            "--launcher local runs the job on this machine: not with --hostfile or --host");
  EXPECT_EQ(Err({"--launcher", "slurm", "--netns", "-n", "1", "p"}),
            "--netns cannot be used with --launcher slurm (not yet supported)");
  EXPECT_EQ(Err({"--launcher", "slurm", "--hosts", "2", "-n", "2", "p"}),
            "--hosts cannot be used with --launcher slurm: the hosts are the ones named");
  EXPECT_EQ(Err({"--launcher", "slurm", "--ssh", "ssh", "-n", "1", "p"}), "option '--ssh' needs --hostfile or --host");
  EXPECT_EQ(Err({"--launcher", "local", "--stage", "-n", "1", "p"}),
            "option '--stage' needs --hostfile, --host or --launcher slurm");
}

TEST(LauncherOption, DetectedFromTheEnvironment) {
  std::map<std::string, std::string> vars;
  auto env = [&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
  // Outside an allocation: this machine.
  Options o = Parse({"-n", "2", "p"});
  ASSERT_TRUE(ResolveHosts(&o, env).ok());
  EXPECT_EQ(o.launcher, Options::Launcher::kLocal);
  EXPECT_FALSE(o.remote());
  // Inside one, with an allocation that cannot be read: the error says why.
  vars["SLURM_JOB_ID"] = "12";
  o = Parse({"-n", "2", "p"});
  Status s = ResolveHosts(&o, env);
  EXPECT_EQ(o.launcher, Options::Launcher::kSlurm);
  EXPECT_NE(s.message().find("SLURM_JOB_NODELIST is not set"), std::string::npos) << s.message();
  // Options that keep a job on one machine, --launcher local and named
  // hosts win over the allocation.
  for (auto args : std::vector<std::vector<std::string>>{{"--hosts", "2", "-n", "2", "p"},
                                                         {"--netns", "-n", "1", "p"},
                                                         {"--launcher", "local", "-n", "1", "p"}}) {
    o = Parse(args);
    ASSERT_TRUE(ResolveHosts(&o, env).ok()) << args[0];
    EXPECT_EQ(o.launcher, Options::Launcher::kLocal) << args[0];
  }
  // --trace works across machines: it keeps the allocation's launcher.
  o = Parse({"--trace", "t.json", "-n", "2", "p"});
  (void)ResolveHosts(&o, env);
  EXPECT_EQ(o.launcher, Options::Launcher::kSlurm);
  o = Parse({"--host", "a:2", "-n", "2", "p"});
  ASSERT_TRUE(ResolveHosts(&o, env).ok());
  EXPECT_EQ(o.launcher, Options::Launcher::kSsh);
  EXPECT_EQ(o.ssh, "ssh");
}

TEST(SrunSession, OneStepPerProcessAndNoShellQuoting) {
  Options o = Parse({"--launcher", "slurm", "-n", "3", "/bin/prog", "it's"});
  o.remote_hosts = {HostEntry{"node0", 2, "10.0.0.1"}, HostEntry{"node1", 1, "node1"}};
  o.host_of_node = {0, 0, 1};
  o.hosts = 2;
  RemoteLauncher r(o, {"/usr/bin/srun"}, "/opt/dsm-run", "/work", 0x1234);
  EXPECT_TRUE(r.slurm());
  EXPECT_EQ(r.stop_signal(), SIGUSR1);
  EXPECT_EQ(r.ListenEndpoint(1), "tcp://@DSM_HOST_ADDR@:0");
  auto d = r.DaemonArgv(1, {"/x/dsm-hostd", "--listen", r.ListenEndpoint(1)}, true, 0, "host 1's daemon on node1");
  std::vector<std::string> want = {"/usr/bin/srun",
                                   "--nodes=1",
                                   "--ntasks=1",
                                   "--nodelist=node1",
                                   "--overlap",
                                   "--quiet",
                                   "--unbuffered",
                                   "--quit-on-interrupt",
                                   "--job-name=dsm-0000000000001234-h1",
                                   "/opt/dsm-run",
                                   "--agent",
                                   "daemon",
                                   "--dir",
                                   "dsm-0000000000001234-h1",
                                   "--cwd",
                                   "/work",
                                   "--keys",
                                   "--resolve",
                                   "node1",
                                   "--label",
                                   "host 1's daemon on node1",
                                   "--",
                                   "/x/dsm-hostd",
                                   "--listen",
                                   "tcp://@DSM_HOST_ADDR@:0"};
  EXPECT_EQ(d, want);
  auto n = r.NodeArgv(0, {"DSM_NODE_ID=1"}, {"/bin/prog", "it's"}, "node 1 on host 0 (node0)");
  ASSERT_GE(n.size(), 4u);
  EXPECT_EQ(n[3], "--nodelist=node0");
  EXPECT_EQ(n[n.size() - 1], "it's");  // as it is: no remote shell
  EXPECT_EQ(DescribeSrunExit(ExitInfo{true, 9, false}).find("lost its job step"), 0u);
}

}  // namespace
}  // namespace dsm::launcher
