// A job on other machines (--hostfile, --host): each daemon and node is an
// ssh session running dsm-run's agent on its host (remote.h, agent.h). Here:
// the ssh command lines, the daemon's stdin (key block, staged program), and
// the names dsm-run's messages give remote processes.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dsm/common/job_keys.h"
#include "dsm/common/log.h"
#include "job.h"

namespace dsm::launcher {

namespace {
constexpr uint64_t kMaxStageBytes = 16ULL << 30;
}  // namespace

Status Job::SetupRemote() {
  auto launcher = RemoteLauncher::Create(o_, job_id_);
  if (!launcher.ok()) return launcher.status();
  remote_.emplace(std::move(launcher).value());
  for (Daemon& d : daemons_) d.socket = RemoteLauncher::SocketPath();
  if (o_.stage) {
    std::ifstream in(program_path_, std::ios::binary);
    if (!in) return Status::FromErrno("--stage: cannot read " + program_path_);
    std::ostringstream data;
    data << in.rdbuf();
    stage_data_ = data.str();
    if (stage_data_.size() > kMaxStageBytes) return Status(EFBIG, "--stage: " + program_path_ + " is above 16 GiB");
  }
  return Status::Ok();
}

// Turns host k's daemon command into its ssh command. The ssh's stdin is a
// pipe whose write end the daemon keeps for the job's life, with the key
// block (taken from keys_r, which is closed) and the staged program queued
// on it.
Status Job::RemoteDaemon(uint32_t host, std::vector<std::string>* args, UniqueFd* keys_r, UniqueFd* ssh_stdin) {
  Daemon& d = daemons_[host];
  std::string pending;
  if (keys_r->valid()) {
    // The block is in the pipe already, its write end closed.
    char buf[jobkeys::kMaxBlockBytes];
    ssize_t n;
    while ((n = ::read(keys_r->get(), buf, sizeof buf)) > 0) pending.append(buf, static_cast<size_t>(n));
    explicit_bzero(buf, sizeof buf);
    keys_r->reset();
    if (pending.empty()) return Status(EIO, "cannot read the job's keys back from their pipe");
  }
  bool keys = !pending.empty();
  if (o_.stage) pending += stage_data_;
  *args = remote_->DaemonArgv(host, *args, keys, stage_data_.size(), RemoteDaemonLabel(host));
  DSM_LOG_DEBUG("host %u: %s", host, args->back().c_str());

  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Status::FromErrno("pipe2");
  ssh_stdin->reset(p[0]);
  d.agent_in.reset(p[1]);
  ::fcntl(d.agent_in.get(), F_SETFL, O_NONBLOCK);
  d.agent_pending = std::move(pending);
  WriteAgentInput(host);
  return Status::Ok();
}

void Job::WriteAgentInput(size_t daemon) {
  Daemon& d = daemons_[daemon];
  while (!d.agent_pending.empty()) {
    ssize_t n = ::write(d.agent_in.get(), d.agent_pending.data(), d.agent_pending.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      // Its ssh is gone; its exit says why.
      DSM_LOG_DEBUG("%s: cannot write to its ssh: %s", RemoteDaemonLabel(static_cast<uint32_t>(daemon)).c_str(),
                    std::strerror(errno));
      jobkeys::Wipe(d.agent_pending);
      d.agent_pending.clear();
      return;
    }
    // The key block comes first: wipe what was taken before dropping it.
    std::string rest = d.agent_pending.substr(static_cast<size_t>(n));
    jobkeys::Wipe(d.agent_pending);
    d.agent_pending = std::move(rest);
  }
}

std::vector<std::string> Job::RemoteNodeArgs(uint32_t node, uint32_t host) const {
  std::vector<std::string> env = {"DSM_NUM_NODES=" + std::to_string(o_.nodes),
                                  "DSM_SOCKET=" + RemoteLauncher::SocketPath(), "DSM_NODE_ID=" + std::to_string(node)};
  if (o_.hosts > 1) env.push_back("DSM_HOST_ID=" + std::to_string(host));
  if (const char* log = std::getenv("DSM_LOG"); log != nullptr) env.push_back(std::string("DSM_LOG=") + log);
  if (!o_.trace.empty()) env.push_back(std::string("DSM_TRACE=") + kDirPlaceholder + "/" + kRemoteTraceName);
  std::vector<std::string> argv = {remote_->ProgramPath(program_path_)};
  argv.insert(argv.end(), o_.args.begin(), o_.args.end());
  return remote_->NodeArgv(host, env, argv, RemoteNodeLabel(node, host));
}

std::string Job::RemoteNodeLabel(uint32_t node, uint32_t host) const {
  std::string name = remote_->host_name(host);
  if (o_.hosts == 1) return "node " + std::to_string(node) + " on " + name;
  return "node " + std::to_string(node) + " on host " + std::to_string(host) + " (" + name + ")";
}

std::string Job::RemoteDaemonLabel(uint32_t host) const {
  std::string name = remote_->host_name(host);
  if (o_.hosts == 1) return "dsm-hostd on " + name;
  return "host " + std::to_string(host) + "'s daemon on " + name;
}

}  // namespace dsm::launcher
