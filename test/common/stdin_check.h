// A standard input for the tests of node 0's stdin (through a guest's serial
// port, ssh or srun), and the line test/vm/vm_node.c prints for it in its
// "stdin" mode: every byte value (NUL, ^D and ^V among them), a line longer
// than a tty's canonical buffer, and no final newline.
//
// Header-only, no state.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace dsm::testing {

struct StdinCheck {
  std::string input;   // what to feed
  std::string expect;  // "stdin bytes=N fnv=H": vm_node read exactly that
};

inline StdinCheck MakeStdinCheck(int rounds = 4, size_t long_line = 5000) {
  StdinCheck c;
  for (int round = 0; round < rounds; ++round) {
    for (int b = 0; b < 256; ++b) c.input += static_cast<char>(b);
  }
  c.input += std::string(long_line, 'y') + "\n" + std::string(1, '\x04') + "end without newline";
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64, as vm_node computes it
  for (unsigned char ch : c.input) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  char hex[32];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  c.expect = "stdin bytes=" + std::to_string(c.input.size()) + " fnv=" + hex;
  return c;
}

}  // namespace dsm::testing
