#include "slurm_cluster.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace dsm::launcher::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr int kIdleMs = 15000;  // bring-up is 0.1-0.3 s here

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ino_t InodeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

std::string Comm(pid_t pid) {
  std::string s = ReadAll("/proc/" + std::to_string(pid) + "/comm");
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::string CommandLine(pid_t pid) {
  std::string s = ReadAll("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : s) {
    if (c == '\0') c = ' ';
  }
  return s.substr(0, 200);
}

int MsLeft(steady_clock::time_point end) {
  auto ms = std::chrono::duration_cast<milliseconds>(end - steady_clock::now()).count();
  return ms < 0 ? 0 : static_cast<int>(ms);
}

void RemoveTree(const std::string& path) {
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string p = path + "/" + name;
      if (::unlink(p.c_str()) != 0 && errno == EISDIR) RemoveTree(p);
    }
    ::closedir(d);
  }
  ::rmdir(path.c_str());
}

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

SlurmCluster::SlurmCluster(uint32_t machines) : machines_(machines) {
  ::sigprocmask(SIG_SETMASK, nullptr, &restore_.mask);
  ::sigaction(SIGPIPE, nullptr, &restore_.sigpipe);
  ::sigaction(SIGCHLD, nullptr, &restore_.sigchld);
  ::getrlimit(RLIMIT_NOFILE, &restore_.nofile);
  if (Status s = Make(); !s.ok()) error_ = s.message();
}

std::vector<std::string> SlurmCluster::ClientEnv() const {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string v = *e;
    if (!v.starts_with("DSM_") && !v.starts_with("SLURM_") && !v.starts_with("TMPDIR=")) env.push_back(v);
  }
  env.push_back("SLURM_CONF=" + dir_ + "/slurm.conf");
  env.push_back("TMPDIR=" + TmpDir());
  return env;
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
    SlurmResult r = sinfo.Wait(milliseconds(MsLeft(end) + 1000));
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

std::vector<pid_t> SlurmCluster::ProcessesIn(uint32_t k) const {
  std::vector<pid_t> pids;
  ino_t ns = InodeOf("/run/netns/" + net_->name(k));
  if (ns == 0) return pids;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return pids;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    if (InodeOf("/proc/" + std::to_string(pid) + "/ns/net") == ns) pids.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return pids;
}

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
  auto end = steady_clock::now() + deadline;
  for (;;) {
    std::vector<pid_t> left;
    for (uint32_t k = 0; k <= machines_; ++k) {
      for (pid_t pid : JobProcesses(k)) left.push_back(pid);
    }
    if (left.empty()) return "";
    std::vector<UniqueFd> fds;
    std::vector<pollfd> p;
    for (pid_t pid : left) {
      fds.emplace_back(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
      if (fds.back().valid()) p.push_back(pollfd{fds.back().get(), POLLIN, 0});
    }
    int ms = MsLeft(end);
    if (ms <= 0 || (!p.empty() && ::poll(p.data(), p.size(), ms) == 0)) {
      std::string what;
      for (pid_t pid : left) what += std::to_string(pid) + ": " + CommandLine(pid) + "\n";
      return what;
    }
  }
}

std::string SlurmCluster::LeftInTmpDir() const {
  std::string what;
  if (DIR* d = ::opendir(TmpDir().c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") what += TmpDir() + "/" + name + "\n";
    }
    ::closedir(d);
  }
  return what;
}

SlurmCluster::Run::Run(const SlurmCluster& cluster, const std::vector<std::string>& argv,
                       const std::string& stdin_path) {
  start_ = steady_clock::now();
  std::vector<std::string> env = cluster.ClientEnv();
  std::vector<char*> envp = StringPointers(env);
  std::vector<std::string> args = argv;
  int o[2], e[2];
  if (::pipe2(o, O_CLOEXEC) != 0 || ::pipe2(e, O_CLOEXEC) != 0) return;
  out_.reset(o[0]);
  UniqueFd out_w(o[1]);
  err_.reset(e[0]);
  UniqueFd err_w(e[1]);
  UniqueFd devnull(::open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC));
  SpawnSpec spec;
  spec.path = args[0].c_str();
  spec.argv = StringPointers(args);
  spec.envp = envp.data();
  spec.stdin_fd = devnull.get();
  spec.stdout_fd = out_w.get();
  spec.stderr_fd = err_w.get();
  spec.pgid = 0;
  spec.netns_fd = cluster.net_->fd(cluster.machines_);
  spec.restore = &cluster.restore_;
  auto r = Spawn(spec);
  if (!r.ok()) {
    r_.err = r.status().message();
    return;
  }
  pid_ = r->pid;
  pidfd_ = std::move(r->pidfd);
}

SlurmCluster::Run::~Run() {
  if (pid_ > 0 && !exited_) ::kill(pid_, SIGKILL);
  if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
}

bool SlurmCluster::Run::Pump(int timeout_ms) {
  pollfd p[3];
  nfds_t n = 0;
  if (out_) p[n++] = pollfd{out_.get(), POLLIN, 0};
  if (err_) p[n++] = pollfd{err_.get(), POLLIN, 0};
  if (!exited_ && pidfd_) p[n++] = pollfd{pidfd_.get(), POLLIN, 0};
  if (n == 0) return false;
  if (::poll(p, n, timeout_ms) <= 0) return true;
  for (nfds_t i = 0; i < n; ++i) {
    if (p[i].revents == 0) continue;
    if (p[i].fd == pidfd_.get()) {
      exited_ = true;
      exit_time_ = steady_clock::now();
      continue;
    }
    char buf[4096];
    ssize_t got = ::read(p[i].fd, buf, sizeof buf);
    bool is_out = out_ && p[i].fd == out_.get();
    if (got > 0) {
      (is_out ? r_.out : r_.err).append(buf, static_cast<size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      (is_out ? out_ : err_).reset();
    }
  }
  return true;
}

bool SlurmCluster::Run::WaitForLines(const std::string& text, int count, milliseconds deadline) {
  auto end = steady_clock::now() + deadline;
  for (;;) {
    int seen = 0;
    for (size_t at = r_.out.find(text); at != std::string::npos; at = r_.out.find(text, at + 1)) ++seen;
    if (seen >= count) return true;
    int ms = MsLeft(end);
    if (ms <= 0 || (!out_ && exited_)) return false;
    if (!Pump(ms)) return false;
  }
}

SlurmResult SlurmCluster::Run::WaitSince(steady_clock::time_point since, milliseconds deadline) {
  auto end = steady_clock::now() + deadline;
  while (out_ || err_ || !exited_) {
    int ms = MsLeft(end);
    if (ms <= 0) {
      r_.timed_out = true;
      ::kill(pid_, SIGKILL);
      break;
    }
    if (!Pump(ms)) break;
  }
  int status = 0;
  if (pid_ > 0 && ::waitpid(pid_, &status, 0) == pid_) {
    exited_ = true;
    pid_ = -1;
    r_.status = WIFEXITED(status) && !r_.timed_out ? WEXITSTATUS(status) : -1;
  }
  if (exit_time_ == steady_clock::time_point{}) exit_time_ = steady_clock::now();
  r_.seconds = std::chrono::duration<double>(exit_time_ - since).count();
  return r_;
}

}  // namespace dsm::launcher::testing
