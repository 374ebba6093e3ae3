// A position-independent name for a function of the program, so that node 0
// can tell other nodes which function to run even when the binary (PIE) or
// its libraries load at different addresses in each process: the index of
// the loaded object that contains it (dl_iterate_phdr order, the same in
// every process of one job), a hash of that object's name, and the offset
// from the object's load address (device/include/dsm/device/runtime_layout.h).
//
// Thread safety: thread-safe (dl_iterate_phdr locks). Not async-signal-safe.
#pragma once

#include "dsm/device/runtime_layout.h"

namespace dsm::runtime {

// The bytes are defined with the other shared layouts (it travels in the
// control page).
using FuncRef = device::FuncRef;

// false when the address lies in no loaded object.
bool EncodeFunc(const void* fn, FuncRef* ref);
// nullptr when this process has no matching object.
void* DecodeFunc(const FuncRef& ref);

}  // namespace dsm::runtime
