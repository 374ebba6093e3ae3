#include "ssh_cluster.h"

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

extern char** environ;

namespace dsm::launcher::testing {
namespace {

constexpr int kSshdStartMs = 10000;

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

// The network namespace inode of a process, 0 if it is gone.
ino_t NetnsOf(pid_t pid) { return InodeOf("/proc/" + std::to_string(pid) + "/ns/net"); }

std::string CommandLine(pid_t pid) {
  std::string s = ReadAll("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : s) {
    if (c == '\0') c = ' ';
  }
  return s.substr(0, 200);
}

// Runs a tool to completion; "" or what went wrong.
std::string Tool(const std::vector<std::string>& argv, const ChildRestore& restore) {
  Status s = RunTool(argv, "", 20000, restore);
  return s.ok() ? "" : s.message();
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

}  // namespace

SshCluster::SshCluster(uint32_t hosts) : hosts_(hosts) {
  ::sigprocmask(SIG_SETMASK, nullptr, &restore_.mask);
  ::sigaction(SIGPIPE, nullptr, &restore_.sigpipe);
  ::sigaction(SIGCHLD, nullptr, &restore_.sigchld);
  ::getrlimit(RLIMIT_NOFILE, &restore_.nofile);
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
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count());
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
  std::vector<pid_t> pids;
  ino_t ns = NetnsInode(host);
  if (ns == 0) return pids;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return pids;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    if (host < sshd_.size() && pid == sshd_[host]) continue;
    if (NetnsOf(static_cast<pid_t>(pid)) == ns) pids.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return pids;
}

std::string SshCluster::WaitUntilEmpty(std::chrono::milliseconds deadline) const {
  auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    std::vector<pid_t> left;
    for (uint32_t k = 0; k <= hosts_; ++k) {
      for (pid_t pid : Processes(k)) left.push_back(pid);
    }
    if (left.empty()) return "";
    int ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count());
    std::vector<UniqueFd> fds;
    std::vector<pollfd> p;
    for (pid_t pid : left) {
      fds.emplace_back(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
      if (fds.back().valid()) p.push_back(pollfd{fds.back().get(), POLLIN, 0});
    }
    if (ms <= 0 || (!p.empty() && ::poll(p.data(), p.size(), ms) == 0)) {
      std::string what;
      for (pid_t pid : left) what += std::to_string(pid) + ": " + CommandLine(pid) + "\n";
      return what;
    }
  }
}

std::string SshCluster::LeftInTmpDirs() const {
  std::string what;
  for (uint32_t k = 0; k < hosts_; ++k) {
    if (DIR* d = ::opendir(TmpDir(k).c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") what += TmpDir(k) + "/" + name + "\n";
      }
      ::closedir(d);
    }
  }
  return what;
}

SshCluster::Run::Run(const SshCluster& cluster, const std::vector<std::string>& argv, const std::string& stdin_path) {
  start_ = std::chrono::steady_clock::now();
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string v = *e;
    if (!v.starts_with("DSM_")) env.push_back(v);
  }
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
  spec.netns_fd = cluster.net_->fd(cluster.hosts_);
  spec.restore = &cluster.restore_;
  auto r = Spawn(spec);
  if (!r.ok()) {
    r_.err = r.status().message();
    return;
  }
  pid_ = r->pid;
  pidfd_ = std::move(r->pidfd);
}

SshCluster::Run::~Run() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  } else if (pid_ > 0) {
    ::waitpid(pid_, nullptr, WNOHANG);
  }
}

// Reads what is there, waiting up to timeout_ms; false once both pipes
// ended and the process exited.
bool SshCluster::Run::Pump(int timeout_ms) {
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
      exit_time_ = std::chrono::steady_clock::now();
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

bool SshCluster::Run::WaitForLines(const std::string& text, int count, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    int seen = 0;
    for (size_t at = r_.out.find(text); at != std::string::npos; at = r_.out.find(text, at + 1)) ++seen;
    if (seen >= count) return true;
    int ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count());
    if (ms <= 0 || (!out_ && exited_)) return false;
    if (!Pump(ms)) return false;
  }
}

RunResult SshCluster::Run::Wait(std::chrono::milliseconds deadline) { return WaitSince(start_, deadline); }

RunResult SshCluster::Run::WaitSince(std::chrono::steady_clock::time_point since, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (out_ || err_ || !exited_) {
    int ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count());
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
  if (exit_time_ == std::chrono::steady_clock::time_point{}) exit_time_ = std::chrono::steady_clock::now();
  r_.seconds = std::chrono::duration<double>(exit_time_ - since).count();
  return r_;
}

}  // namespace dsm::launcher::testing
