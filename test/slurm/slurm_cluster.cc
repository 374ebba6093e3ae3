#include "slurm_cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <thread>

namespace dsm::launcher::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr int kIdleMs = 15000;  // bring-up is 0.1-0.3 s here

// Starts a daemon in the foreground (it dies with the test, PR_SET_PDEATHSIG)
// in namespace fd `netns`, output to `log`.
Status StartDaemon(std::vector<std::string> argv, const std::vector<std::string>& env, int netns,
                   const std::string& log, const ChildRestore& restore) {
  UniqueFd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::vector<std::string> e = env;
  std::vector<char*> envp = StringPointers(e);
  SpawnSpec spec;
  spec.path = argv[0].c_str();
  spec.argv = StringPointers(argv);
  spec.envp = envp.data();
  spec.stdin_fd = devnull.get();
  spec.stdout_fd = out.get();
  spec.stderr_fd = out.get();
  spec.pgid = 0;
  spec.netns_fd = netns;
  spec.restore = &restore;
  auto r = Spawn(spec);
  if (!r.ok()) return r.status();
  if (r->exec_errno != 0) return Status(r->exec_errno, "cannot execute " + argv[0]);
  return Status::Ok();
}

}  // namespace

SlurmCluster::SlurmCluster(uint32_t machines) : machines_(machines), restore_(CurrentChildRestore()) {
  if (Status s = Make(); !s.ok()) error_ = s.message();
}

std::vector<std::string> SlurmCluster::ClientEnv() const {
  return TestEnvironment({"DSM_", "SLURM_", "TMPDIR="}, {"SLURM_CONF=" + dir_ + "/slurm.conf", "TMPDIR=" + TmpDir()});
}

Status SlurmCluster::Make() {
  if (::geteuid() != 0) return Status(EPERM, "needs root (network namespaces, Slurm's daemons)");
  for (const char* tool : {"/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/sbin/mungekey",
                           "/usr/bin/srun", "/usr/bin/unshare"}) {
    if (::access(tool, X_OK) != 0) {
      return Status(ENOENT, std::string("no ") + tool + " (packages slurmctld slurmd slurm-client munge; "
                                                        "scripts/bootstrap installs them)");
    }
  }
  std::string templ = "/tmp/dsm-slurmtest-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return Status::FromErrno("mkdtemp");
  dir_ = templ;
  ::chmod(dir_.c_str(), 0755);  // munged checks its socket's directory and those above
  for (const char* sub : {"/tmp", "/state", "/spool", "/munge"}) ::mkdir((dir_ + sub).c_str(), 0755);
  ::chmod(TmpDir().c_str(), 01777);

  auto net = HostNetwork::Create("slurmtest" + std::to_string(::getpid()), machines_ + 1, restore_);
  if (!net.ok()) return net.status();
  net_ = std::move(net).value();

  std::string conf = "ClusterName=dsmtest\nSlurmctldHost=ctl(" + Address(machines_) + ")\n";
  conf += "AuthType=auth/munge\nAuthInfo=socket=" + dir_ + "/munge/socket\nCredType=cred/munge\n";
  conf += "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSlurmUser=root\nSlurmdUser=root\n";
  conf += "SlurmdParameters=config_overrides\nMailProg=/bin/true\nReturnToService=2\n";
  conf += "SchedulerType=sched/builtin\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n";
  conf += "MpiDefault=none\nJobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n";
  conf += "StateSaveLocation=" + dir_ + "/state\nSlurmdSpoolDir=" + dir_ + "/spool/%n\n";
  conf += "SlurmctldPidFile=" + dir_ + "/slurmctld.pid\nSlurmdPidFile=" + dir_ + "/slurmd.%n.pid\n";
  conf += "SlurmctldLogFile=" + dir_ + "/slurmctld.log\nSlurmdLogFile=" + dir_ + "/slurmd.%n.log\n";
  for (uint32_t k = 0; k < machines_; ++k) {
    conf += "NodeName=" + NodeName(k) + " NodeAddr=" + Address(k) + " CPUs=4\n";
  }
  conf += "PartitionName=debug Nodes=node[0-" + std::to_string(machines_ - 1) +
          "] Default=YES MaxTime=INFINITE State=UP\n";
  WriteFile("slurm.conf", conf);
  ::chmod((dir_ + "/slurm.conf").c_str(), 0644);

  std::vector<std::string> env = ClientEnv();
  const std::string c = dir_ + "/slurm.conf";
  if (Status s = RunTool({"/usr/sbin/mungekey", "--create", "--keyfile=" + dir_ + "/munge.key"}, "", 10000, restore_);
      !s.ok()) {
    return s;
  }
  int ctl = net_->fd(machines_);
  if (Status s = StartDaemon({"/usr/sbin/munged", "-F", "--key-file=" + dir_ + "/munge.key",
                              "--socket=" + dir_ + "/munge/socket", "--pid-file=" + dir_ + "/munged.pid",
                              "--log-file=" + dir_ + "/munged.log", "--seed-file=" + dir_ + "/munge.seed"},
                             env, ctl, dir_ + "/munged.out", restore_);
      !s.ok()) {
    return s;
  }
  // Each daemon with the hostname slurm.conf gives it, in a UTS namespace.
  auto start = [&](int netns, const std::string& host, const std::string& command) {
    return StartDaemon({"/usr/bin/unshare", "--uts", "/bin/sh", "-c", "hostname " + host + " && exec " + command},
                       env, netns, dir_ + "/" + host + ".out", restore_);
  };
  if (Status s = start(ctl, "ctl", "/usr/sbin/slurmctld -D -i -f " + c); !s.ok()) return s;
  for (uint32_t k = 0; k < machines_; ++k) {
    if (Status s = start(net_->fd(k), NodeName(k), "/usr/sbin/slurmd -D -N " + NodeName(k) + " -f " + c); !s.ok()) {
      return s;
    }
  }
  return WaitUntilIdle(milliseconds(kIdleMs));
}

// Asks sinfo until every node is idle. There is nothing to wait on but the
// answer: a short nap between questions, up to the deadline.
Status SlurmCluster::WaitUntilIdle(milliseconds deadline) const {
  auto end = steady_clock::now() + deadline;
  std::string last;
  for (;;) {
    Run sinfo(*this, {"/usr/bin/sinfo", "-h", "-N", "-o", "%t"});
    RunResult r = sinfo.Wait(milliseconds(MsLeft(end) + 1000));
    last = r.out + r.err;
    size_t idle = 0;
    for (size_t at = r.out.find("idle"); at != std::string::npos; at = r.out.find("idle", at + 1)) ++idle;
    if (r.status == 0 && idle == machines_) return Status::Ok();
    if (MsLeft(end) == 0) {
      return Status(ETIMEDOUT, "the Slurm nodes did not become idle: " + last + "\n" +
                                   ReadAll(dir_ + "/slurmctld.log").substr(0, 2000));
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

SlurmCluster::~SlurmCluster() {
  if (net_) {
    // Everything in the namespaces, the daemons included; slurmstepd and
    // tasks outlive a killed slurmd, so kill until nothing is left.
    auto end = steady_clock::now() + milliseconds(10000);
    for (;;) {
      std::vector<pid_t> left;
      for (uint32_t k = 0; k <= machines_; ++k) {
        for (pid_t pid : ProcessesIn(k)) left.push_back(pid);
      }
      if (left.empty() || MsLeft(end) == 0) break;
      std::vector<UniqueFd> fds;
      std::vector<pollfd> p;
      for (pid_t pid : left) {
        fds.emplace_back(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
        ::kill(pid, SIGKILL);
        if (fds.back().valid()) p.push_back(pollfd{fds.back().get(), POLLIN, 0});
      }
      // Our own children (the daemons) are reaped here.
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      if (!p.empty()) ::poll(p.data(), p.size(), 100);
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    net_->Remove();
  }
  if (!dir_.empty()) RemoveTree(dir_);
}

std::string SlurmCluster::WriteFile(const std::string& name, const std::string& text) const {
  std::string path = dir_ + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  ::chmod(path.c_str(), 0755);
  return path;
}

std::vector<pid_t> SlurmCluster::ProcessesIn(uint32_t k) const { return ProcessesInNetns(net_->name(k)); }

std::vector<pid_t> SlurmCluster::JobProcesses(uint32_t k) const {
  std::vector<pid_t> pids;
  for (pid_t pid : ProcessesIn(k)) {
    std::string comm = Comm(pid);
    // The daemons, and unshare/sh for the instant before they exec them.
    if (comm == "munged" || comm == "slurmctld" || comm == "slurmscriptd" || comm == "slurmd" || comm == "unshare") {
      continue;
    }
    if (CommandLine(pid).starts_with("slurmctld: ")) continue;  // its helpers (slurmscriptd)
    if (comm == "sh" && CommandLine(pid).find("exec /usr/sbin/slurm") != std::string::npos) continue;
    pids.push_back(pid);
  }
  return pids;
}

std::string SlurmCluster::WaitUntilEmpty(milliseconds deadline) const {
  return WaitUntilGone(
      [this] {
        std::vector<pid_t> left;
        for (uint32_t k = 0; k <= machines_; ++k) {
          for (pid_t pid : JobProcesses(k)) left.push_back(pid);
        }
        return left;
      },
      deadline);
}

std::string SlurmCluster::LeftInTmpDir() const { return ListDir(TmpDir()); }

SlurmCluster::Run::Run(const SlurmCluster& cluster, const std::vector<std::string>& argv,
                       const std::string& stdin_path)
    : NetnsRun(argv, cluster.ClientEnv(), cluster.net_->fd(cluster.machines_), cluster.restore_, stdin_path) {}

}  // namespace dsm::launcher::testing
