// A pretend cluster for dsm-run --hostfile: network namespaces on a private
// bridge (dsm-run's own HostNetwork, netns.h), host k at 10.213.0.<k+1> with
// a real OpenSSH server of its own (/usr/sbin/sshd, Debian's openssh-server),
// and one more namespace, the "launch machine", where dsm-run runs and from
// which it reaches the others with ssh.
//
// Everything is made by the cluster and removed by it: a temporary
// directory with a host key, a user key pair (and a second one that no
// server accepts), the authorized_keys file the servers read (root's own
// ~/.ssh is never touched), a TMPDIR per host that the servers give their
// sessions (SetEnv), so what a job leaves on a host is visible. Root only
// (namespaces); a cluster that cannot be made says why in error().
//
// Single thread (forks); not async-signal-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dsm/common/fd.h"
#include "netns.h"
#include "netns_run.h"
#include "spawn.h"

namespace dsm::launcher::testing {

class SshCluster {
 public:
  static constexpr const char* kUnreachable = "10.213.0.200";  // nobody has it

  explicit SshCluster(uint32_t hosts);
  ~SshCluster();
  SshCluster(const SshCluster&) = delete;
  SshCluster& operator=(const SshCluster&) = delete;

  const std::string& error() const { return error_; }
  uint32_t hosts() const { return hosts_; }
  static std::string Address(uint32_t host) { return HostNetwork::Address(host); }
  // The --ssh command that logs in with the cluster's key (or the wrong one).
  std::string SshCommand(bool wrong_key = false) const;
  // A file in the cluster's temporary directory, written with text.
  std::string WriteFile(const std::string& name, const std::string& text) const;
  // Host k's TMPDIR, as its sessions see it.
  std::string TmpDir(uint32_t host) const;

  // Processes in host k's namespace other than its sshd listener.
  std::vector<pid_t> Processes(uint32_t host) const;
  // Waits until no such process is left on any host (or the deadline);
  // returns a description of what is left ("" when none).
  std::string WaitUntilEmpty(std::chrono::milliseconds deadline) const;
  // What is left in the hosts' TMPDIRs ("" when nothing).
  std::string LeftInTmpDirs() const;
  // The namespace's network inode of host k, and of the launch machine.
  ino_t NetnsInode(uint32_t host) const;
  // Takes host k off the network (its eth0 down), as a machine that died or
  // was cut off: nothing on it ends, nothing reaches it.
  Status CutOff(uint32_t host) const;

  // dsm-run in the launch machine's namespace, with the test's environment
  // less DSM_* (netns_run.h: WaitForLines, Wait, WaitSince).
  class Run : public NetnsRun {
   public:
    // stdin_path: dsm-run's standard input (default /dev/null).
    Run(const SshCluster& cluster, const std::vector<std::string>& argv, const std::string& stdin_path = "/dev/null");
  };

 private:
  Status Make();
  uint32_t hosts_;
  std::string dir_;
  std::string error_;
  ChildRestore restore_;
  std::unique_ptr<HostNetwork> net_;
  std::vector<pid_t> sshd_;
  std::vector<UniqueFd> sshd_pidfd_;
  std::vector<UniqueFd> logs_;  // the sshds' stderr (read until they listened)
};

}  // namespace dsm::launcher::testing
