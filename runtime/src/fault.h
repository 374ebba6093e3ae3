// The node's SIGSEGV handler, on an alternate signal stack. Today it turns
// an overflow of node 0's master stack (a fault on its guard page) into a
// clear message instead of a bare segmentation fault; every other fault is
// handed to the default action (core dump). The coherence engine's page
// faults will be served here too.
//
// Install() is not async-signal-safe; the handler itself is.
#pragma once

#include <cstdint>

namespace dsm::runtime {

// guard_lo/guard_hi: the master stack's guard page (an empty range on
// workers); stack_bytes: the master stack's size, for the message.
bool InstallFaultHandler(uintptr_t guard_lo, uintptr_t guard_hi, uint64_t stack_bytes, int node);

}  // namespace dsm::runtime
