// VM nodes (--vm): the image, one QEMU per node on its host's daemon
// socket, the guests' consoles, node 0's standard input, and how a guest's
// end becomes the node's (vm.h, docs/vm.md).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dsm/common/log.h"
#include "job.h"
#include "qemu.h"
#include "trace_merge.h"

extern char** environ;

namespace dsm::launcher {

namespace {

// Keeps a descriptor QEMU inherits away from 0..kStatusFdInChild.
UniqueFd HighFd(int fd) {
  if (fd > kStatusFdInChild + 6) return UniqueFd(fd);
  int high = ::fcntl(fd, F_DUPFD_CLOEXEC, kStatusFdInChild + 7);
  ::close(fd);
  return UniqueFd(high);
}

Status SocketPair(UniqueFd* ours, UniqueFd* theirs) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return Status::FromErrno("socketpair");
  *ours = UniqueFd(sv[0]);
  *theirs = HighFd(sv[1]);
  if (!*theirs) return Status::FromErrno("fcntl");
  return Status::Ok();
}

Status WritePrivateFile(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return Status::FromErrno("cannot create " + path);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno("cannot write " + path);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string ReadTail(const std::string& path, size_t max) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

std::string CurrentDirectory() {
  char buf[4096];
  return ::getcwd(buf, sizeof buf) != nullptr ? std::string(buf) : std::string("/");
}

}  // namespace

// Before anything starts: QEMU, the host's memory, and the image (built now
// if this program has none yet).
Status Job::PrepareVms() {
  auto qemu = FindQemu(o_.qemu);
  if (!qemu.ok()) return qemu.status();
  qemu_ = *qemu;
  if (o_.accel == "kvm" && ::access("/dev/kvm", R_OK | W_OK) != 0) {
    return Status(ENODEV, std::string("--accel kvm: cannot use /dev/kvm (") + std::strerror(errno) + ")");
  }
  uint32_t guests = 0;
  for (uint32_t k = 0; k < o_.nodes; ++k) guests += IsVmNode(o_, k) ? 1 : 0;
  if (Status s = CheckHostMemory(guests, o_.vm_memory); !s.ok()) return s;
  if (Status s = CheckLinkedWithLibdsm(program_path_); !s.ok()) return s;
  struct stat st;
  if (!o_.vm_share.empty() && o_.vm_share != "none" &&
      (::stat(o_.vm_share.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
    return Status(ENOENT, "--vm-share " + o_.vm_share + " is not a directory");
  }
  image::BuildOptions bo;
  bo.search = image::SearchFromEnvironment();
  auto built = image::BuildImage(program_path_, bo);
  if (!built.ok()) return Status(built.status().code(), "cannot build the guest image: " + built.status().message());
  image_ = *built;
  if (!image_.cached) Say("built the guest image for %s (%s)", o_.program.c_str(), image_.initramfs.c_str());
  return Status::Ok();
}

void Job::StartVmNode(uint32_t k, const std::vector<std::string>& env, UniqueFd* out_r, UniqueFd* err_r,
                      const std::function<void(const std::string&)>& cannot_start) {
  const uint32_t host = host_of_node_[k];
  const bool multi_host = o_.hosts > 1;
  Vm vm;
  UniqueFd con_theirs, out_theirs, err_theirs;
  for (auto [ours, theirs] : {std::pair{&vm.console, &con_theirs}, std::pair{out_r, &out_theirs},
                              std::pair{err_r, &err_theirs}}) {
    if (Status s = SocketPair(ours, theirs); !s.ok()) return cannot_start(s.message());
  }
  vm.job_file = dir_ + "/node" + std::to_string(k) + ".job";
  vm.qemu_stderr = dir_ + "/node" + std::to_string(k) + ".qemu";
  const bool trace = !o_.trace.empty();
  const std::string cwd = CurrentDirectory();
  std::string share = o_.vm_share.empty() ? cwd : o_.vm_share;
  if (share == "none" || share == "/") share.clear();  // the guest's root is its image
  if (Status s = WritePrivateFile(vm.job_file, image::GuestJobScript(env, cwd, o_.args, k == 0, trace, share));
      !s.ok()) {
    return cannot_start(s.message());
  }
  UniqueFd qemu_err(::open(vm.qemu_stderr.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!qemu_err) return cannot_start("cannot create " + vm.qemu_stderr + ": " + std::strerror(errno));

  image::BootOptions bo;
  bo.qemu = qemu_;
  bo.accel = o_.accel == "tcg" ? "tcg,tb-size=" + std::to_string(kTcgCacheMiB) : o_.accel;
  bo.memory_mb = static_cast<unsigned>(o_.vm_memory >> 20);
  bo.cpus = o_.vm_cpus;
  bo.console_fd = con_theirs.get();
  bo.stdout_fd = out_theirs.get();
  bo.stderr_fd = err_theirs.get();
  bo.ivshmem_socket = daemons_[host].socket;
  bo.job_file = vm.job_file;
  bo.share_dir = share;
  if (trace) bo.trace_path = NodeTracePath(TracePrefix(), k);
  auto cmd = image::QemuCommand(image_, bo);
  if (!cmd.ok()) return cannot_start(cmd.status().message());
  std::vector<char*> argv = StringPointers(*cmd);
  // QEMU gets dsm-run's environment; the program's is in the job file.
  SpawnSpec spec;
  spec.path = qemu_.c_str();
  spec.argv = argv;
  spec.envp = environ;
  spec.stdin_fd = devnull_.get();
  spec.stdout_fd = qemu_err.get();
  spec.stderr_fd = qemu_err.get();
  spec.keep_fds = {con_theirs.get(), out_theirs.get(), err_theirs.get()};
  // The daemons answer before a busy guest runs on: a spinning guest never
  // starves them of the host's CPUs.
  spec.nice = 5;
  spec.pgid = job_pgid_;
  spec.netns_fd = network_ ? network_->fd(host) : -1;
  spec.restore = &restore_;
  auto r = Spawn(spec);
  if (!r.ok()) return cannot_start(r.status().message());
  std::string label = "node " + std::to_string(k) + (multi_host ? " on host " + std::to_string(host) : "") + " (VM)";
  DSM_LOG_DEBUG("started %s, QEMU pid %d", label.c_str(), r->pid);
  node_child_.push_back(children_.size());
  vm.child = children_.size();
  std::string prefix = "[node " + std::to_string(k) + (multi_host ? "@h" + std::to_string(host) : "") + " console] ";
  vm.reader = std::make_unique<GuestConsole>(prefix, o_.vm_console);
  ::fcntl(vm.console.get(), F_SETFL, O_NONBLOCK);
  Child child{label, static_cast<int>(k), host, r->pid, std::move(r->pidfd), false, {}, {}, -1};
  child.vm = static_cast<int>(vms_.size());
  children_.push_back(std::move(child));
  vms_.push_back(std::move(vm));
  if (k == 0) {
    // Node 0's standard input goes to its port as it arrives.
    stdin_port_.reset(::fcntl(out_r->get(), F_DUPFD_CLOEXEC, 0));
    if (stdin_port_) {
      ::fcntl(stdin_port_.get(), F_SETFL, O_NONBLOCK);
      stdin_done_ = false;
    }
  }
  if (r->exec_errno != 0) {
    Say("error: cannot execute %s: %s", qemu_.c_str(), std::strerror(r->exec_errno));
    exit_code_ = kExitCannotExec;
    BeginEnding();
  }
}

void Job::ReadConsole(size_t index) {
  Vm& vm = vms_[index];
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(vm.console.get(), buf, sizeof buf);
    if (n > 0) {
      vm.reader->Feed(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      vm.reader->Flush();
      vm.console.reset();
    }
    return;
  }
}

// QEMU exited: everything its console said is in the socket by now.
void Job::EndOfGuest(Child& c) {
  Vm& vm = vms_[static_cast<size_t>(c.vm)];
  while (vm.console) ReadConsole(static_cast<size_t>(c.vm));
  GuestEnd end = JudgeGuestEnd(*vm.reader, c.exit, ReadTail(vm.qemu_stderr, 4096));
  DSM_LOG_DEBUG("%s: QEMU %s; %s", c.label.c_str(), Describe(c.exit).c_str(), end.how.c_str());
  c.exit = end.exit;
  c.how = end.how;
  if (c.node == 0) {
    stdin_done_ = true;
    stdin_port_.reset();
  }
}

// Moves what dsm-run's standard input has to node 0's port, never blocking:
// our stdin is read only when the port took everything read before.
void Job::RelayStdin() {
  if (!stdin_port_) return;
  while (!stdin_pending_.empty()) {
    ssize_t n = ::send(stdin_port_.get(), stdin_pending_.data(), stdin_pending_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      stdin_pending_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // The guest is gone; its end is judged from its exit.
    stdin_pending_.clear();
    stdin_done_ = true;
    stdin_port_.reset();
    return;
  }
  if (stdin_done_) return;
  char buf[4096];
  ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n > 0) {
    stdin_encoder_.Encode(std::string_view(buf, static_cast<size_t>(n)), &stdin_pending_);
  } else {
    stdin_encoder_.Finish(&stdin_pending_);
    stdin_done_ = true;
  }
  RelayStdin();
}

void Job::RemoveVmFiles() {
  for (const Vm& vm : vms_) {
    for (const std::string& f : {vm.job_file, vm.qemu_stderr}) {
      if (!f.empty() && ::unlink(f.c_str()) != 0 && errno != ENOENT) {
        Say("warning: cannot remove %s: %s", f.c_str(), std::strerror(errno));
      }
    }
  }
  vms_.clear();
  stdin_port_.reset();
}

}  // namespace dsm::launcher
