// A position-independent name for a function of the program, so that node 0
// can tell other nodes which function to run even when the binary (PIE) or
// its libraries load at different addresses in each process: the index of
// the loaded object that contains it (dl_iterate_phdr order, the same in
// every process of one job), a hash of that object's name, and the offset
// from the object's load address.
//
// Thread safety: thread-safe (dl_iterate_phdr locks). Not async-signal-safe.
#pragma once

#include <cstdint>

namespace dsm::runtime {

struct FuncRef {
  uint32_t object;     // index in dl_iterate_phdr order
  uint32_t name_hash;  // FNV-1a of the object's path ("" for the program)
  uint64_t offset;     // from the object's load address
};
static_assert(sizeof(FuncRef) == 16);

// false when the address lies in no loaded object.
bool EncodeFunc(const void* fn, FuncRef* ref);
// nullptr when this process has no matching object.
void* DecodeFunc(const FuncRef& ref);

}  // namespace dsm::runtime
