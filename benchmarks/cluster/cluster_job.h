// One real dsmkit job for dsm_cluster_bench: `dsm-run --hosts H -n N
// [--placement P] -- dsm_cluster_node CASE ARGS...`, forked and executed by
// the benchmark process, with dsm-run's stdin and stdout connected to pipes
// through which the benchmark speaks to node 0 (cluster_protocol.h).
// dsm-run's stderr is the benchmark's.
//
// No sleeps: every wait is a poll on a pipe or on dsm-run's pidfd, bounded
// by a hang timeout; on a hang or an error the job is ended through dsm-run
// (SIGTERM, which ends every process of the job; SIGKILL after a grace
// period) and reaped. dsm-run gets SIGTERM if the benchmark process dies.
//
// Thread safety: none; use from the benchmark thread only. The process must
// be single-threaded when it calls Start (it forks).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cluster_protocol.h"

namespace dsm_cluster {

struct JobSpec {
  std::string dsm_run;               // path of dsm-run
  uint32_t hosts = 1;                // --hosts
  uint32_t nodes = 1;                // -n
  std::string placement;             // --placement ("" = dsm-run's default)
  // --home. The cases measure the protocol's paths with homes where their
  // setup put them, so they keep them there (first-touch) unless a case is
  // about migration.
  std::string home = "first-touch";
  std::vector<std::string> program;  // the node program and its arguments
};

class ClusterJob {
 public:
  explicit ClusterJob(int hang_timeout_ms = 60000) : timeout_ms_(hang_timeout_ms) {}
  ~ClusterJob();  // Abort()
  ClusterJob(const ClusterJob&) = delete;
  ClusterJob& operator=(const ClusterJob&) = delete;

  // Starts the job and waits until node 0 answered "ready". "" or an error.
  std::string Start(const JobSpec& spec);

  // One batch of n operations; fills *reply (kind kOk). "" or an error.
  std::string Run(uint64_t n, Reply* reply);

  // Ends the job ("end" to node 0) and waits for dsm-run to exit with
  // status 0. "" or an error.
  std::string Finish();

  // Ends the job at once (SIGTERM to dsm-run, SIGKILL after 5 s) and reaps it.
  void Abort();

 private:
  // Reads lines until a reply; other lines go to stderr. "" or an error.
  std::string ReadReply(Reply* reply);
  // Waits (bounded) for dsm-run to exit; "" when it exited with status 0.
  std::string Reap(int timeout_ms);
  std::string Describe() const;

  int timeout_ms_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int to_job_ = -1;      // dsm-run's stdin (node 0's)
  int from_job_ = -1;    // dsm-run's stdout (every node's)
  std::string buffer_;   // bytes read from from_job_ after the last full line
  std::string command_;  // the command line, for messages
};

}  // namespace dsm_cluster
