// --netns: every simulated host of a job in its own network namespace, on a
// private network of its own.
//
// For a job with tag T (dsm-run's pid) and H hosts, Create() makes
//
//   namespace dsm-T-hub     a bridge br0 (no address), ports h0..h<H-1>
//   namespace dsm-T-h<k>    lo up; eth0, a veth whose peer is the hub's h<k>,
//                           with address 10.213.0.<k+1>/24
//
// with iproute2's `ip` (as `ip -batch`, a few processes in all). Every link
// is created inside the job's namespaces, never in dsm-run's own, so removing
// the namespaces removes everything; the subnet is visible only inside them,
// so concurrent jobs can all use it. The daemon and the nodes of host k enter
// namespace k with setns(2) between fork and exec (fd(k)); /sys and the mount
// table are left alone.
//
// Removal is guaranteed however dsm-run ends: before the first namespace is
// created a guardian process is forked (its own session, signals blocked, no
// parent-death signal) that holds the read end of a pipe. Remove() deletes
// the namespaces and tells the guardian so; if dsm-run dies first (SIGKILL
// included) the pipe reaches end of file and the guardian deletes them.
// Deleting a namespace unmounts and unlinks its name in /run/netns; the
// kernel frees it, its links with it, once its last process has exited.
//
// Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2. Single thread:
// Create() forks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dsm/common/fd.h"
#include "dsm/common/status.h"
#include "spawn.h"

namespace dsm::launcher {

inline constexpr int64_t kNetnsToolTimeoutMs = 10000;  // each `ip` run

class HostNetwork {
 public:
  // Whether Create() can work at all: root, and iproute2's ip. Returns the
  // path of ip.
  static Result<std::string> CheckPrerequisites();

  // Creates the namespaces and the network for `hosts` hosts. On error,
  // whatever was created is removed again.
  static Result<std::unique_ptr<HostNetwork>> Create(const std::string& tag, uint32_t hosts,
                                                     const ChildRestore& restore);
  HostNetwork(const HostNetwork&) = delete;
  HostNetwork& operator=(const HostNetwork&) = delete;
  ~HostNetwork();  // Remove()

  // Host k's namespace (an fd for setns) and its name, address and subnet.
  int fd(uint32_t host) const { return fds_[host].get(); }
  const std::string& name(uint32_t host) const { return names_[host]; }
  static std::string Address(uint32_t host);
  static constexpr const char* kSubnet = "10.213.0.0/24";
  const std::string& hub() const { return hub_; }

  // Deletes every namespace (idempotent), closes the fds, and lets the
  // guardian go. Warnings (a name that could not be removed) go to stderr.
  void Remove();

  // The names Create() would use for this tag (hub first), for tests.
  static std::vector<std::string> NamesFor(const std::string& tag, uint32_t hosts);

 private:
  HostNetwork() = default;
  Status StartGuardian();
  Status Build(const ChildRestore& restore);

  std::string ip_;  // iproute2's ip
  std::string hub_;
  std::vector<std::string> names_;  // per host
  std::vector<UniqueFd> fds_;       // per host
  UniqueFd guardian_pipe_;          // write end; the guardian holds the read end
  pid_t guardian_ = -1;
  UniqueFd guardian_pidfd_;
};

}  // namespace dsm::launcher
