// --trace: merging the nodes' timelines into one Chrome trace file.
//
// With DSM_TRACE=<prefix> each node writes its events to
// "<prefix>.node<K>.json", one JSON object per line, each followed by a comma
// (see runtime/src/trace.cc). MergeTraces copies them into one document
// ({"traceEvents":[...]}) with one named track per node, skipping torn or
// foreign lines, and removes the node files. Single thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace dsm::launcher {

// The file node `node` writes with DSM_TRACE=prefix.
std::string NodeTracePath(const std::string& prefix, uint32_t node);

// Writes the merged trace of nodes 0..nodes-1 to out (which stays open). An
// empty prefix: no node files (the job never got that far), only the tracks.
void MergeTraces(std::FILE* out, const std::string& prefix, uint32_t nodes);

}  // namespace dsm::launcher
