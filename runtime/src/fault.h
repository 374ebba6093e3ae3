// The node's SIGSEGV handler, on an alternate signal stack. It serves, in
// this order:
// - a fault on node 0's master stack guard page: a clear message naming the
//   overflow instead of a bare segmentation fault;
// - a page fault of the coherence engine (jobs of several hosts): the page
//   fault function decides, and the faulting access is retried;
// every other fault gets the default action (core dump).
//
// InstallFaultHandler() and the setters are not async-signal-safe and run
// before the faults they prepare for can happen; the handler itself only
// reads what they wrote.
#pragma once

#include <cstdint>

namespace dsm::runtime {

// Installs the handler and its alternate stack. Idempotent.
bool InstallFaultHandler();

// guard_lo/guard_hi: the master stack's guard page; stack_bytes: the master
// stack's size, for the message.
void SetStackGuard(uintptr_t guard_lo, uintptr_t guard_hi, uint64_t stack_bytes, int node);

// Called for every other fault with its address and whether it was a write.
// Returns true when it made the access possible (retry it), false for a
// fault that is not its business. Must be async-signal-safe.
using PageFaultFn = bool (*)(uintptr_t addr, bool write);
void SetPageFaultHandler(PageFaultFn fn);

}  // namespace dsm::runtime
