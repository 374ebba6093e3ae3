// The machines of a job across several hosts: dsm-run --hostfile FILE and
// --host LIST, in Open MPI's forms, and which host runs which node.
//
// A hostfile has one host per line:
//
//   # comment (from '#' to the end of the line)
//   node1                       one slot
//   node2 slots=4               four slots
//   root@10.0.0.3 slots=2 listen=10.1.0.3
//
// A host is what ssh is given (a name, an address, or user@host). Keywords:
//   slots=K      how many nodes the host may run, 1..kMaxNodes (default 1)
//   max_slots=K  accepted for Open MPI's files; at least slots (dsm-run never
//                oversubscribes, so it changes nothing)
//   listen=ADDR  where the host's daemon listens for the other daemons: an
//                address or an interface name of that host (ZeroMQ's
//                tcp://ADDR:PORT); by default the address the ssh connection
//                reached (the server half of SSH_CONNECTION there)
// A host listed twice is one host whose slots add up (as in Open MPI); the
// two lines may not name different listen= addresses. --host takes
// "a,b:2,c": hosts with an optional slot count after ':'.
//
// Placement: nodes go to hosts by slots, never beyond them (a job with more
// nodes than slots is refused). block: host 0's slots first, then host 1's;
// cyclic: one node per host in turn, skipping hosts whose slots are full.
// Hosts that get no node are not used (no daemon, no connection); the hosts
// used are renumbered 0..H-1 in the order of the file.
//
// Pure functions except ReadHostfile (reads a file). Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dsm/common/status.h"
#include "placement.h"

namespace dsm::launcher {

struct HostEntry {
  std::string name;    // what ssh is given
  uint32_t slots = 1;  // nodes it may run
  std::string listen;  // listen=; empty: the address its ssh connection reached
  bool operator==(const HostEntry&) const = default;
};

// Parses a hostfile's text. Errors (EINVAL) name the line: "line 3: ...".
Result<std::vector<HostEntry>> ParseHostfile(std::string_view text);

// Reads and parses a hostfile; errors start with the file's name.
Result<std::vector<HostEntry>> ReadHostfile(const std::string& path);

// Parses --host's value ("a,b:2").
Result<std::vector<HostEntry>> ParseHostList(std::string_view list);

// Where nodes run. hosts: the hosts used, renumbered; host_of_node: node k's
// index in hosts.
struct HostPlan {
  std::vector<HostEntry> hosts;
  std::vector<uint32_t> host_of_node;
};

// Places `nodes` nodes on the hosts by slots; an error (EINVAL) if they do
// not fit or there are more used hosts than max_hosts.
Result<HostPlan> PlaceOnHosts(const std::vector<HostEntry>& hosts, uint32_t nodes, Placement placement,
                              uint32_t max_hosts);

}  // namespace dsm::launcher
