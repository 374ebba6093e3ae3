#include "netns.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "find_program.h"
#include "output.h"

namespace dsm::launcher {
namespace {

constexpr const char* kNetnsDir = "/run/netns/";
constexpr int kGuardianExitMs = 2000;

// What `ip netns delete` does: detach the bind mount that keeps the
// namespace alive, then remove the name. 0 or an errno value.
int DeleteNamespace(const std::string& name) {
  std::string path = kNetnsDir + name;
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) return errno;
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno;
  return 0;
}

}  // namespace

std::vector<std::string> HostNetwork::NamesFor(const std::string& tag, uint32_t hosts) {
  std::vector<std::string> names = {"dsm-" + tag + "-hub"};
  for (uint32_t k = 0; k < hosts; ++k) names.push_back("dsm-" + tag + "-h" + std::to_string(k));
  return names;
}

std::string HostNetwork::Address(uint32_t host) { return "10.213.0." + std::to_string(host + 1); }

Result<std::string> HostNetwork::CheckPrerequisites() {
  if (::geteuid() != 0) {
    return Status(EPERM, "--netns needs root: it creates network namespaces (run dsm-run as root)");
  }
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  auto ip = FindProgram("ip", path.c_str());
  if (!ip.ok()) return Status(ENOENT, "--netns needs iproute2's 'ip' (package iproute2), which is not installed");
  return ip;
}

Result<std::unique_ptr<HostNetwork>> HostNetwork::Create(const std::string& tag, uint32_t hosts,
                                                         const ChildRestore& restore) {
  auto ip = CheckPrerequisites();
  if (!ip.ok()) return ip.status();
  std::unique_ptr<HostNetwork> net(new HostNetwork());
  net->ip_ = *ip;
  std::vector<std::string> names = NamesFor(tag, hosts);
  net->hub_ = names[0];
  net->names_.assign(names.begin() + 1, names.end());
  for (const std::string& name : names) {
    struct stat st;
    if (::stat((kNetnsDir + name).c_str(), &st) == 0) {
      return Status(EEXIST,
                    "network namespace " + name + " exists already; remove it with 'ip netns delete " + name + "'");
    }
  }
  if (Status s = net->StartGuardian(); !s.ok()) return s;
  if (Status s = net->Build(restore); !s.ok()) {
    net->Remove();
    return Status(s.code(), "--netns: " + s.message());
  }
  return net;
}

Status HostNetwork::StartGuardian() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno("pipe2");
  std::vector<std::string> names = names_;
  names.push_back(hub_);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(p[0]);
    ::close(p[1]);
    return Status::FromErrno("fork");
  }
  if (pid == 0) {
    // The guardian. dsm-run is single-threaded, so this copy of it may do
    // anything. It keeps stderr and its end of the pipe, nothing else, and
    // stays out of the job's and the terminal's way: its own session, and
    // SIGINT, SIGTERM and SIGHUP stay blocked as dsm-run blocked them.
    int keep = p[0];
    ::setsid();
    int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(null_fd, STDOUT_FILENO);
    }
    ::syscall(SYS_close_range, 3u, static_cast<unsigned>(keep) - 1, 0u);
    ::syscall(SYS_close_range, static_cast<unsigned>(keep) + 1, ~0u, 0u);
    char c;
    ssize_t n;
    do {
      n = ::read(keep, &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) ::_exit(0);  // dsm-run removed them itself
    for (const std::string& name : names) {
      int err = DeleteNamespace(name);
      if (err != 0) {
        std::fprintf(stderr, "dsm-run: warning: cannot remove network namespace %s: %s\n", name.c_str(),
                     std::strerror(err));
      }
    }
    ::_exit(0);
  }
  ::close(p[0]);
  guardian_pipe_.reset(p[1]);
  guardian_ = pid;
  guardian_pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  return Status::Ok();
}

Status HostNetwork::Build(const ChildRestore& restore) {
  auto run = [&](const std::string& netns, const std::string& commands) {
    std::vector<std::string> argv = {ip_};
    if (!netns.empty()) argv.insert(argv.end(), {"-n", netns});
    argv.insert(argv.end(), {"-batch", "-"});
    return RunTool(argv, commands, kNetnsToolTimeoutMs, restore);
  };
  std::string add = "netns add " + hub_ + "\n";
  for (const std::string& name : names_) add += "netns add " + name + "\n";
  if (Status s = run("", add); !s.ok()) return s;

  if (Status s = run(hub_, "link set lo up\nlink add br0 type bridge\nlink set br0 up\n"); !s.ok()) return s;
  std::string ports;
  for (uint32_t k = 0; k < names_.size(); ++k) {
    std::string port = "h" + std::to_string(k);
    std::string host =
        "link set lo up\n"
        "link add eth0 type veth peer name " +
        port + " netns " + hub_ +
        "\n"
        "addr add " +
        Address(k) +
        "/24 dev eth0\n"
        "link set eth0 up\n";
    if (Status s = run(names_[k], host); !s.ok()) return s;
    ports += "link set " + port + " master br0\nlink set " + port + " up\n";
  }
  if (Status s = run(hub_, ports); !s.ok()) return s;

  for (const std::string& name : names_) {
    UniqueFd fd(::open((kNetnsDir + name).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Status::FromErrno("open " + std::string(kNetnsDir) + name);
    fds_.push_back(std::move(fd));
  }
  return Status::Ok();
}

void HostNetwork::Remove() {
  if (guardian_ < 0) return;
  fds_.clear();
  std::vector<std::string> names = names_;
  names.push_back(hub_);
  for (const std::string& name : names) {
    int err = DeleteNamespace(name);
    if (err != 0) Say("warning: cannot remove network namespace %s: %s", name.c_str(), std::strerror(err));
  }
  // Done: the guardian may go (a write to a guardian that was killed fails
  // with EPIPE; SIGPIPE is ignored).
  ssize_t n = ::write(guardian_pipe_.get(), "x", 1);
  (void)n;
  guardian_pipe_.reset();
  if (guardian_pidfd_) {
    pollfd p{guardian_pidfd_.get(), POLLIN, 0};
    if (::poll(&p, 1, kGuardianExitMs) != 1) ::kill(guardian_, SIGKILL);
  }
  ::waitpid(guardian_, nullptr, 0);
  guardian_ = -1;
  guardian_pidfd_.reset();
}

HostNetwork::~HostNetwork() { Remove(); }

}  // namespace dsm::launcher
