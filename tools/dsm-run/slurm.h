// A job inside a Slurm allocation (dsm-run under sbatch or salloc, or
// --launcher slurm): which machines the allocation holds, how many nodes
// each may run, and where each one's daemon listens.
//
// The allocation comes from the environment Slurm gives a job:
//   SLURM_JOB_NODELIST   the machines, a hostlist ("node[1-3],gpu7"),
//                        expanded by `scontrol show hostnames`
//   SLURM_TASKS_PER_NODE how many tasks each may run, in Slurm's compressed
//                        form "2(x3),1" (three machines with 2, then one
//                        with 1); without it SLURM_JOB_CPUS_PER_NODE
// and the address of each machine from `scontrol -o show node LIST`
// (NodeAddr, which is the node's name when slurm.conf gives none). The
// machines are the hosts of the job, in the allocation's order, their task
// counts its slots (as Open MPI's mpirun reads an allocation); placement
// then works as for a hostfile (hostfile.h).
//
// The daemons and nodes are started with srun, one job step each
// (remote.h). Pure functions except ReadAllocation (runs scontrol).
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dsm/common/status.h"
#include "hostfile.h"

namespace dsm::launcher {

// Expands Slurm's "2(x3),1" into {2, 2, 2, 1}; EINVAL on anything else
// (counts 1..kMaxNodes, repeats 1..65536).
Result<std::vector<uint32_t>> ParseTasksPerNode(std::string_view text);

// From `scontrol -o show node` output (one node per line, "Key=Value"
// words): each node's NodeName and NodeAddr, in the order given.
struct SlurmNodeAddr {
  std::string name;
  std::string addr;
};
std::vector<SlurmNodeAddr> ParseNodeAddrs(std::string_view text);

// Reads an environment variable (std::getenv in dsm-run; a map in tests).
using EnvLookup = std::function<const char*(const char*)>;

// Whether the environment is a Slurm job's (SLURM_JOB_ID set).
bool InSlurmJob(const EnvLookup& env);

// The allocation's machines as hosts: name = the Slurm node name (what
// srun --nodelist takes), slots = its task count, listen = its NodeAddr
// (resolved on that machine by the agent). Runs scontrol (found on PATH);
// an error (EINVAL) says what is missing or what scontrol said.
Result<std::vector<HostEntry>> ReadAllocation(const EnvLookup& env);

}  // namespace dsm::launcher
