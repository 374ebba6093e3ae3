// A pretend Slurm cluster for dsm-run inside an allocation: Debian's real
// munged, slurmctld and one slurmd per machine (Slurm 22.05), each machine a
// network namespace on a private bridge (dsm-run's own HostNetwork,
// netns.h): machine k is Slurm node "node<k>" at 10.213.0.<k+1> (its
// NodeAddr, and its hostname in a UTS namespace of its own), and the
// controller's namespace "ctl", where the tests run salloc and sbatch (the
// login machine).
//
// Everything is made by the cluster and removed by it: a temporary
// directory (mode 0755, as munged wants its socket's directory) with the
// munge key, slurm.conf, the daemons' state, spool, logs and pid files, and
// a TMPDIR the jobs get, so what a job leaves behind is visible. Nothing of
// the machine's own Slurm or munge configuration is used or touched: every
// client gets SLURM_CONF. The destructor SIGKILLs every process in the
// cluster's namespaces (killing slurmd leaves slurmstepd and the tasks
// running), waits for them to go, and removes the namespaces and the
// directory. Root only; a cluster that cannot be made says why in error().
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

class SlurmCluster {
 public:
  explicit SlurmCluster(uint32_t machines);
  ~SlurmCluster();
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  const std::string& error() const { return error_; }
  uint32_t machines() const { return machines_; }
  static std::string NodeName(uint32_t k) { return "node" + std::to_string(k); }
  static std::string Address(uint32_t k) { return HostNetwork::Address(k); }
  // A file in the cluster's directory, written with text (mode 0755).
  std::string WriteFile(const std::string& name, const std::string& text) const;
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  // The TMPDIR every job gets.
  std::string TmpDir() const { return dir_ + "/tmp"; }

  // Processes in machine k's namespace (k == machines(): the controller's)
  // other than the cluster's own daemons (munged, slurmctld, slurmd).
  std::vector<pid_t> JobProcesses(uint32_t k) const;
  // Waits until no job process is left anywhere; what is left ("" if none).
  std::string WaitUntilEmpty(std::chrono::milliseconds deadline) const;
  // What is left in TmpDir() ("" when nothing).
  std::string LeftInTmpDir() const;

  // A command (salloc, sbatch, ...) in the controller's namespace with
  // SLURM_CONF and TMPDIR set, and the test's environment less DSM_*,
  // SLURM_* (netns_run.h: WaitForLines, Wait, WaitSince).
  class Run : public NetnsRun {
   public:
    // stdin_path: the command's standard input (default /dev/null).
    Run(const SlurmCluster& cluster, const std::vector<std::string>& argv,
        const std::string& stdin_path = "/dev/null");
  };

 private:
  Status Make();
  Status WaitUntilIdle(std::chrono::milliseconds deadline) const;
  std::vector<pid_t> ProcessesIn(uint32_t k) const;
  std::vector<std::string> ClientEnv() const;
  uint32_t machines_;
  std::string dir_;
  std::string error_;
  ChildRestore restore_;
  std::unique_ptr<HostNetwork> net_;
};

}  // namespace dsm::launcher::testing
