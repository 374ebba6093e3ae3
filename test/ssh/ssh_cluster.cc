#include "ssh_cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

extern char** environ;

namespace dsm::launcher::testing {
namespace {

constexpr int kSshdStartMs = 10000;

// Runs a tool to completion; "" or what went wrong.
std::string Tool(const std::vector<std::string>& argv, const ChildRestore& restore) {
  Status s = RunTool(argv, "", 20000, restore);
  return s.ok() ? "" : s.message();
}

}  // namespace

SshCluster::SshCluster(uint32_t hosts) : hosts_(hosts), restore_(CurrentChildRestore()) {
  if (Status s = Make(); !s.ok()) error_ = s.message();
}

Status SshCluster::Make() {
  if (::geteuid() != 0) return Status(EPERM, "needs root (network namespaces, sshd)");
  if (::access("/usr/sbin/sshd", X_OK) != 0) return Status(ENOENT, "no /usr/sbin/sshd (package openssh-server)");
  std::string templ = "/tmp/dsm-sshtest-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return Status::FromErrno("mkdtemp");
  dir_ = templ;
  for (const char* key : {"id", "wrong", "hostkey"}) {
    std::string e = Tool({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dsm-test", "-f",
                          dir_ + "/" + key},
                         restore_);
    if (!e.empty()) return Status(EIO, e);
  }
  WriteFile("authorized_keys", ReadAll(dir_ + "/id.pub"));
  ::chmod((dir_ + "/authorized_keys").c_str(), 0600);
  // sshd's privilege separation directory (made at boot on a real system).
  ::mkdir("/run/sshd", 0755);

  auto net = HostNetwork::Create("sshtest" + std::to_string(::getpid()), hosts_ + 1, restore_);
  if (!net.ok()) return net.status();
  net_ = std::move(net).value();

  for (uint32_t k = 0; k < hosts_; ++k) {
    ::mkdir(TmpDir(k).c_str(), 0755);
    std::vector<std::string> args = {"/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null"};
    for (const std::string& o :
         {"ListenAddress=" + Address(k), "HostKey=" + dir_ + "/hostkey", "PidFile=" + dir_ + "/sshd" +
          std::to_string(k) + ".pid", std::string("UsePAM=no"), std::string("StrictModes=no"),
          "AuthorizedKeysFile=" + dir_ + "/authorized_keys", std::string("PermitRootLogin=prohibit-password"),
          std::string("PasswordAuthentication=no"), std::string("KbdInteractiveAuthentication=no"),
          "SetEnv=TMPDIR=" + TmpDir(k),
          // Sessions whose client vanished (a machine cut off) end too.
          std::string("ClientAliveInterval=1"), std::string("ClientAliveCountMax=2")}) {
      args.insert(args.end(), {"-o", o});
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno("pipe2");
    UniqueFd log_r(p[0]), log_w(p[1]);
    ::fcntl(log_w.get(), F_SETPIPE_SZ, 1 << 20);  // it logs every connection; nobody reads after start
    SpawnSpec spec;
    spec.path = args[0].c_str();
    spec.argv = StringPointers(args);
    spec.envp = environ;
    spec.stderr_fd = log_w.get();
    spec.pgid = 0;
    spec.netns_fd = net_->fd(k);
    spec.restore = &restore_;
    auto r = Spawn(spec);
    log_w.reset();
    if (!r.ok()) return r.status();
    sshd_.push_back(r->pid);
    sshd_pidfd_.push_back(std::move(r->pidfd));
    // Wait for "Server listening on ADDR port 22."
    std::string log;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSshdStartMs);
    while (log.find("Server listening") == std::string::npos) {
      int left = MsLeft(end);
      pollfd pfd{log_r.get(), POLLIN, 0};
      if (left <= 0 || ::poll(&pfd, 1, left) != 1) return Status(ETIMEDOUT, "sshd did not start: " + log);
      char buf[1024];
      ssize_t n = ::read(log_r.get(), buf, sizeof buf);
      if (n <= 0) return Status(EIO, "sshd of host " + std::to_string(k) + " exited: " + log);
      log.append(buf, static_cast<size_t>(n));
    }
    // The read end stays open in the test: sshd never blocks on a full pipe
    // (1 MiB) in the few jobs a test runs; it is closed with the cluster.
    logs_.push_back(std::move(log_r));
  }
  return Status::Ok();
}

SshCluster::~SshCluster() {
  for (size_t k = 0; k < sshd_.size(); ++k) {
    ::kill(sshd_[k], SIGTERM);
    pollfd p{sshd_pidfd_[k].get(), POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) ::kill(sshd_[k], SIGKILL);
    ::waitpid(sshd_[k], nullptr, 0);
  }
  // Anything else still in the namespaces (a failed test) goes too.
  if (net_) {
    for (uint32_t k = 0; k <= hosts_; ++k) {
      for (pid_t pid : Processes(k)) ::kill(pid, SIGKILL);
    }
    net_->Remove();
  }
  if (!dir_.empty()) RemoveTree(dir_);
}

std::string SshCluster::SshCommand(bool wrong_key) const {
  return "ssh -F /dev/null -i " + dir_ + (wrong_key ? "/wrong" : "/id") +
         " -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR";
}

std::string SshCluster::WriteFile(const std::string& name, const std::string& text) const {
  std::string path = dir_ + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string SshCluster::TmpDir(uint32_t host) const { return dir_ + "/tmp" + std::to_string(host); }

ino_t SshCluster::NetnsInode(uint32_t host) const { return InodeOf("/run/netns/" + net_->name(host)); }

Status SshCluster::CutOff(uint32_t host) const {
  return RunTool({"/usr/sbin/ip", "-n", net_->name(host), "link", "set", "eth0", "down"}, "", kNetnsToolTimeoutMs,
                 restore_);
}

std::vector<pid_t> SshCluster::Processes(uint32_t host) const {
  std::vector<pid_t> pids = ProcessesInNetns(net_->name(host));
  if (host < sshd_.size()) std::erase(pids, sshd_[host]);
  return pids;
}

std::string SshCluster::WaitUntilEmpty(std::chrono::milliseconds deadline) const {
  return WaitUntilGone(
      [this] {
        std::vector<pid_t> left;
        for (uint32_t k = 0; k <= hosts_; ++k) {
          for (pid_t pid : Processes(k)) left.push_back(pid);
        }
        return left;
      },
      deadline);
}

std::string SshCluster::LeftInTmpDirs() const {
  std::string what;
  for (uint32_t k = 0; k < hosts_; ++k) what += ListDir(TmpDir(k));
  return what;
}

SshCluster::Run::Run(const SshCluster& cluster, const std::vector<std::string>& argv, const std::string& stdin_path)
    : NetnsRun(argv, TestEnvironment({"DSM_"}), cluster.net_->fd(cluster.hosts_), cluster.restore_, stdin_path) {}

}  // namespace dsm::launcher::testing
