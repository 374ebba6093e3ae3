// Where the nodes of a multi-host job run: which simulated host each node
// belongs to (--placement), and the node lists the daemons are given
// (--local-nodes).
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsm::launcher {

enum class Placement {
  kBlock,   // consecutive nodes share a host: with N = q*H + r, hosts 0..r-1
            // get q+1 nodes and the others q (nodes 0..q on host 0 when r > 0)
  kCyclic,  // node i on host i mod H
};

// The host of every node, for nodes >= hosts >= 1 (every host gets a node).
std::vector<uint32_t> PlaceNodes(uint32_t nodes, uint32_t hosts, Placement placement);

// The nodes placed on `host`, in ascending order.
std::vector<uint32_t> NodesOfHost(const std::vector<uint32_t>& host_of_node, uint32_t host);

// A list of ascending node ids as dsm-hostd's --local-nodes takes it:
// comma-separated items, each a node ("4") or a run of at least two
// consecutive nodes ("0-3"): "0-3", "0,2,4", "0-2,7".
std::string FormatNodeList(const std::vector<uint32_t>& nodes);

}  // namespace dsm::launcher
