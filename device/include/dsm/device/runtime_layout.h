// What the node runtime (libdsm) keeps in the shared space's data area: the
// bytes one node writes and other nodes (other processes; later other hosts
// and QEMU guests) read. Version kRuntimeLayoutVersion.
//
// protocol.h defines the device (header, register pages, lock table), which
// the daemon reads and writes; this header defines what only nodes read and
// write, on top of it. The daemon never looks at these bytes. Together they
// are every byte that crosses a process; docs/wire-format.md draws both.
// Like protocol.h: plain data, little-endian, no process-local pointers. The
// only addresses stored are addresses inside the shared space, which are the
// same in every node because every node maps the space at kFixedBase.
//
// Who writes each field, and what orders the write before another node's
// read, is stated at each structure.
//
// Thread safety: plain data; AgreeOnRuntimeLayout is one atomic
// compare-and-swap (async-signal-safe).
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsm/device/protocol.h"

namespace dsm::device {

// Raised whenever a structure below, or the meaning of one of its fields
// (the size classes), changes. Nodes of one job must agree on it: each node
// checks it at start (AgreeOnRuntimeLayout), so a job mixing two libdsm
// builds that differ here ends with a message instead of misreading memory.
constexpr uint32_t kRuntimeLayoutVersion = 3;

// ---------------------------------------------------------------------------
// A function of the program, named the same way in every process even when
// the binary (PIE) or its libraries load at different addresses: the loaded
// object containing it, a hash of that object's name, and the offset from its
// load address (runtime/src/func_ref.cc encodes and decodes it).
struct FuncRef {
  uint32_t object;     //  0 index in dl_iterate_phdr order (the same in every
                       //    process of one job)
  uint32_t name_hash;  //  4 FNV-1a of the object's path ("" for the program)
  uint64_t offset;     //  8 from the object's load address
};
static_assert(sizeof(FuncRef) == 16);
static_assert(offsetof(FuncRef, name_hash) == 4);
static_assert(offsetof(FuncRef, offset) == 8);

// ---------------------------------------------------------------------------
// The runtime control page: the first page of the data area
// (SpaceHeader::control_offset), zero when the space is created.
//
// layout_version is written once, by whichever node starts first, with a
// compare-and-swap (0 -> kRuntimeLayoutVersion); every other node compares.
// The rest is the descriptor of the current parallel region, written only by
// node 0 before the barrier that starts the region and read by the other
// nodes after it (the barrier orders the write before the reads).
struct ControlBlock {
  uint32_t layout_version;  //  0 kRuntimeLayoutVersion (any node, CAS once)
  uint32_t reserved0;       //  4 zero
  uint64_t generation;      //  8 node 0: parallel regions started
  FuncRef fn;               // 16 node 0: the region's function
  uint64_t arg;             // 32 node 0: its argument (a shared address or a
                            //    plain value)
  uint64_t globals_at;      // 40 node 0, before the start barrier: where its
                            //    shared globals are (0: none); every node's
                            //    must be the same
};
static_assert(sizeof(ControlBlock) == 48);
static_assert(sizeof(ControlBlock) <= kPageSize);
static_assert(offsetof(ControlBlock, layout_version) == 0);
static_assert(offsetof(ControlBlock, generation) == 8);
static_assert(offsetof(ControlBlock, fn) == 16);
static_assert(offsetof(ControlBlock, arg) == 32);
static_assert(offsetof(ControlBlock, globals_at) == 40);

// Run by every node at start, before the barrier that lets node 0's main
// begin: the first node stores its version, the others compare with it.
// false when another node's runtime stored a different one (*found says
// which).
inline bool AgreeOnRuntimeLayout(ControlBlock* cb, uint32_t* found) {
  uint32_t expected = 0;
  if (CompareExchange(&cb->layout_version, &expected, kRuntimeLayoutVersion)) {
    *found = kRuntimeLayoutVersion;
    return true;
  }
  *found = expected;
  return expected == kRuntimeLayoutVersion;
}

// ---------------------------------------------------------------------------
// Blocks of the shared heap (dsm_malloc; runtime/src/arena.cc). Every block
// is a 16-byte BlockHeader followed by the payload the program gets
// (16-byte aligned). Any node may free any block, so the header, the size
// classes and the free-list link are read by nodes other than the writer.
//
// Small blocks (payload up to kBlockLargeThreshold) are carved from chunks a
// node got with kAlloc; the size class names the payload size. Large blocks
// own a chunk: the header sits at the chunk's start, the offset the daemon
// returned, so whichever node frees it can give the chunk back with kFree.
//
// The header is written by the node that allocates the block (magic
// kBlockLive, class, size) and by the node that frees it (magic
// kBlockFreed). The program's own synchronisation orders a free after the
// allocation and after every use, as it must for the payload itself.
//
// An allocation aligned beyond kBlockAlign (posix_memalign, aligned new) is
// an ordinary block holding the aligned payload, with a second BlockHeader
// right before that payload: magic kBlockAligned, size_class = the distance
// in bytes from the enclosing block's payload to the aligned payload, size
// as above. Freeing the aligned payload frees the enclosing block.
constexpr uint32_t kBlockLive = 0x41445344;     // "DSDA"
constexpr uint32_t kBlockFreed = 0x46445344;    // "DSDF"
constexpr uint32_t kBlockAligned = 0x4c445344;  // "DSDL"
constexpr uint32_t kBlockLargeClass = 0xffffffff;
constexpr uint64_t kBlockAlign = 16;
constexpr uint64_t kBlockLargeThreshold = 64 * 1024;
// 16-byte steps up to 256 bytes, then four classes per doubling up to
// kBlockLargeThreshold.
constexpr uint32_t kBlockClasses = 16 + 4 * 8;

struct BlockHeader {
  uint32_t magic;       //  0 kBlockLive, kBlockFreed or kBlockAligned
  uint32_t size_class;  //  4 0 .. kBlockClasses-1, or kBlockLargeClass (or the
                        //    aligned payload's distance, see above)
  uint64_t size;        //  8 bytes the program asked for
};
static_assert(sizeof(BlockHeader) == 16);
static_assert(sizeof(BlockHeader) % kBlockAlign == 0);
static_assert(offsetof(BlockHeader, size_class) == 4);
static_assert(offsetof(BlockHeader, size) == 8);

// Payload bytes of a size class (0 .. kBlockClasses-1).
constexpr uint64_t BlockClassSize(uint32_t size_class) {
  if (size_class < 16) return (uint64_t{size_class} + 1) * 16;
  uint32_t rel = size_class - 16;
  uint64_t base = uint64_t{256} << (rel / 4);
  return base + base / 4 * (rel % 4 + 1);
}
static_assert(BlockClassSize(0) == 16);
static_assert(BlockClassSize(15) == 256);
static_assert(BlockClassSize(16) == 320);
static_assert(BlockClassSize(19) == 512);
static_assert(BlockClassSize(kBlockClasses - 1) == kBlockLargeThreshold);

// A freed small block waits on the free list of the node that freed it; the
// list is linked through the first bytes of the payload. Written and read by
// that node only (until the block is handed out again).
struct FreeBlockLink {
  uint64_t next;  //  0 address of the next free payload of the same class
                  //    (inside the shared space), 0 at the end of the list
};
static_assert(sizeof(FreeBlockLink) == 8);
static_assert(sizeof(FreeBlockLink) <= BlockClassSize(0));

}  // namespace dsm::device
