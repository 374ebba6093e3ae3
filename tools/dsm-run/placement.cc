#include "placement.h"

namespace dsm::launcher {

std::vector<uint32_t> PlaceNodes(uint32_t nodes, uint32_t hosts, Placement placement) {
  std::vector<uint32_t> host_of(nodes, 0);
  if (hosts == 0) return host_of;
  if (placement == Placement::kCyclic) {
    for (uint32_t i = 0; i < nodes; ++i) host_of[i] = i % hosts;
    return host_of;
  }
  uint32_t per_host = nodes / hosts;
  uint32_t extra = nodes % hosts;  // the first `extra` hosts get one more
  uint32_t node = 0;
  for (uint32_t h = 0; h < hosts; ++h) {
    uint32_t count = per_host + (h < extra ? 1 : 0);
    for (uint32_t j = 0; j < count; ++j) host_of[node++] = h;
  }
  return host_of;
}

std::vector<uint32_t> NodesOfHost(const std::vector<uint32_t>& host_of_node, uint32_t host) {
  std::vector<uint32_t> nodes;
  for (uint32_t i = 0; i < host_of_node.size(); ++i) {
    if (host_of_node[i] == host) nodes.push_back(i);
  }
  return nodes;
}

std::string FormatNodeList(const std::vector<uint32_t>& nodes) {
  std::string out;
  for (size_t i = 0; i < nodes.size();) {
    size_t j = i;
    while (j + 1 < nodes.size() && nodes[j + 1] == nodes[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(nodes[i]);
    if (j > i) out += '-' + std::to_string(nodes[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace dsm::launcher
