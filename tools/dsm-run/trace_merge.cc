#include "trace_merge.h"

#include <unistd.h>

#include <cstring>

namespace dsm::launcher {

std::string NodeTracePath(const std::string& prefix, uint32_t node) {
  return prefix + ".node" + std::to_string(node) + ".json";
}

void MergeTraces(std::FILE* out, const std::string& prefix, uint32_t nodes) {
  std::fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", out);
  std::fputs("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"dsm job\"}}", out);
  for (uint32_t k = 0; k < nodes; ++k) {
    std::fprintf(out, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{\"name\":\"node %u\"}}",
                 k, k);
    if (prefix.empty()) continue;
    std::string path = NodeTracePath(prefix, k);
    std::FILE* in = std::fopen(path.c_str(), "r");
    if (in == nullptr) continue;  // the node never got far enough to write one
    char line[1024];
    while (std::fgets(line, sizeof line, in) != nullptr) {
      size_t len = std::strlen(line);
      while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ',')) line[--len] = '\0';
      if (len == 0 || line[0] != '{' || line[len - 1] != '}') continue;  // torn or foreign line
      std::fputs(",\n", out);
      std::fputs(line, out);
    }
    std::fclose(in);
    ::unlink(path.c_str());
  }
  std::fputs("\n]}\n", out);
}

}  // namespace dsm::launcher
