// The dsmkit device: layout of a host's shared space and the register
// protocol between a node and its host daemon. Version kVersion.
//
// This header is the single definition of these bytes; docs/wire-format.md
// draws them. Everything here is plain data: the shared space is mapped by
// the daemon, by native nodes (from the fd the ivshmem handshake delivers) and
// by QEMU guests (as BAR2 of the ivshmem-doorbell device), so no field may
// hold a process-local pointer. All integers are little-endian; offsets are
// from the start of the shared space.
//
// Ownership of each field is stated next to it: "node" fields are written
// only by the node owning the register page, "daemon" fields only by the
// daemon. Neither side trusts what the other wrote: the daemon copies a
// request out of the page before validating it.
//
// Thread safety: the accessors below are atomic loads/stores and may be used
// concurrently by any process mapping the space; they are async-signal-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsm::device {

// "DSMSPACE" read as a little-endian integer.
constexpr uint64_t kMagic = 0x45434150534d5344ULL;
constexpr uint32_t kVersion = 5;
constexpr uint64_t kPageSize = 4096;
// SpaceHeader::heartbeat advances this often while the daemon lives.
constexpr int64_t kHeartbeatPeriodMs = 250;

// Register pages: one per ivshmem peer id. Peer 0 is the daemon itself, so
// page 0 is unused and node peers are 1 .. kMaxSlots-1.
constexpr uint32_t kMaxSlots = 128;
// Nodes in one job (all hosts).
constexpr uint32_t kMaxNodes = 1024;
// The host-level lock table (see LockEntry).
constexpr uint32_t kLockTableEntries = 16384;
// Every node maps the whole shared space at this virtual address, so the data
// area (and every pointer into it) has one address on every node and host.
constexpr uint64_t kFixedBase = 0x200000000000ULL;
// Shared spaces are a power of two in size (QEMU's PCI BAR2 must be) and
// between these bounds.
constexpr uint64_t kMinSpaceSize = 64ULL << 20;
constexpr uint64_t kMaxSpaceSize = 1ULL << 40;
constexpr uint64_t kDefaultSpaceSize = 1ULL << 30;
// Stack that node 0's main runs on (inside the data area): the default, and
// the bounds of what a job may ask for (a multiple of the page size).
constexpr uint64_t kMasterStackSize = 16ULL << 20;
constexpr uint64_t kMinMasterStackSize = 64ULL << 10;
constexpr uint64_t kMaxMasterStackSize = 4ULL << 30;

// ---------------------------------------------------------------------------
// Header page (offset 0). Written by the daemon once, before any peer exists.
struct SpaceHeader {
  uint64_t magic;               //   0 kMagic
  uint32_t version;             //   8 kVersion
  uint32_t header_size;         //  12 sizeof(SpaceHeader)
  uint64_t space_size;          //  16 bytes in the whole space (power of two)
  uint32_t page_size;           //  24 kPageSize
  uint32_t max_slots;           //  28 register pages
  uint64_t regs_offset;         //  32 first register page (page of peer 0)
  uint64_t lock_table_offset;   //  40 LockEntry[lock_table_entries]
  uint32_t lock_table_entries;  //  48
  uint32_t num_nodes;           //  52 nodes in the job
  uint64_t meta_offset;         //  56 PageMeta[data_pages] (several hosts only)
  uint64_t meta_size;           //  64
  uint64_t inval_offset;        //  72 invalidation ring: uint32 page indices
  uint64_t inval_size;          //  80 bytes (inval_entries * 4)
  uint64_t data_offset;         //  88 the data area: what programs share
  uint64_t data_size;           //  96
  uint64_t control_offset;      // 104 runtime control page (first data page)
  uint64_t stack_offset;        // 112 node 0's main stack (lowest address)
  uint64_t stack_size;          // 120
  uint64_t heap_offset;         // 128 shared heap handed out by kAlloc
  uint64_t heap_size;           // 136
  uint32_t host_id;             // 144 this host's index in the job
  uint32_t num_hosts;           // 148
  uint64_t job_id;              // 152 random per job; nodes may check it
  uint32_t daemon_cpu;          // 160 CPU the daemon last ran on (a hint:
                                //     a node on the same CPU does not spin)
  uint32_t home_mode;           // 164 HomeMode (several hosts)
  uint64_t inval_head;          // 168 entries ever written to the ring (daemon;
                                //     release store after the entries)
  uint64_t inval_entries;       // 176 ring capacity, a power of two
  uint64_t list_offset;         // 184 per-slot page lists (kListEntries each)
  uint64_t data_pages;          // 192 data_size / kPageSize
  uint64_t globals_offset;      // 200 the program's shared globals: always
                                //     kGlobalsOffset (fixed, see below)
  uint64_t globals_size;        // 208 bytes reserved for them (may be 0)
  uint64_t home_log_offset;     // 216 per-slot home-release logs (HomeLog)
  uint64_t heartbeat;           // 224 bumped by the daemon every
                                //     kHeartbeatPeriodMs: a guest, which
                                //     sees no socket close, watches it
  uint32_t flags;               // 232 kSpace* bits below
  uint32_t reserved32;          // 236 zero
  uint64_t reserved[34];        // 240 .. 511, zero
};
static_assert(sizeof(SpaceHeader) == 512);
static_assert(offsetof(SpaceHeader, version) == 8);
static_assert(offsetof(SpaceHeader, space_size) == 16);
static_assert(offsetof(SpaceHeader, regs_offset) == 32);
static_assert(offsetof(SpaceHeader, lock_table_offset) == 40);
static_assert(offsetof(SpaceHeader, num_nodes) == 52);
static_assert(offsetof(SpaceHeader, meta_offset) == 56);
static_assert(offsetof(SpaceHeader, inval_offset) == 72);
static_assert(offsetof(SpaceHeader, data_offset) == 88);
static_assert(offsetof(SpaceHeader, control_offset) == 104);
static_assert(offsetof(SpaceHeader, stack_offset) == 112);
static_assert(offsetof(SpaceHeader, heap_offset) == 128);
static_assert(offsetof(SpaceHeader, host_id) == 144);
static_assert(offsetof(SpaceHeader, job_id) == 152);
static_assert(offsetof(SpaceHeader, daemon_cpu) == 160);
static_assert(offsetof(SpaceHeader, inval_head) == 168);
static_assert(offsetof(SpaceHeader, list_offset) == 184);
static_assert(offsetof(SpaceHeader, data_pages) == 192);
static_assert(offsetof(SpaceHeader, globals_offset) == 200);
static_assert(offsetof(SpaceHeader, flags) == 232);
static_assert(offsetof(SpaceHeader, globals_size) == 208);
static_assert(offsetof(SpaceHeader, home_log_offset) == 216);
static_assert(offsetof(SpaceHeader, heartbeat) == 224);

// ---------------------------------------------------------------------------
// Register file: one 4 KiB page per slot.
//
// A request: the node writes args[], then command, then increments seq
// (release store), then rings the daemon's doorbell (peer 0, vector 0). The
// daemon serves request seq == last_served + 1; an equal or smaller seq is a
// stale or duplicate ring and is ignored; a larger jump is answered with
// kBadSequence. A reply: the daemon writes status, results[] and bulk, then
// done_seq = seq (release store), then rings the node's doorbell if the node
// set kNodeWaiting. A node keeps at most one request outstanding.
enum Command : uint32_t {
  kNone = 0,
  kNop = 1,      // no effect; the round trip itself
  kAttach = 2,   // args: [0] protocol version, [1] wanted node id or kAnyNode,
                 //       [2] pid (diagnostics only)
                 // results: [0] node id, [1] nodes in job, [2] host id, [3] hosts
  kDetach = 3,   // leave the job; before kFinish this counts as a lost node
  kLock = 4,     // args: [0] lock id, [1] lock table index or kNoLockEntry.
                 // Blocks until granted. Sent only when the fast path failed.
  kUnlock = 5,   // args: as kLock. Sent only when waiters are queued (or for
                 // a lock without a table entry).
  kBarrier = 6,  // all nodes of the job; blocks until every node arrived
  kAlloc = 7,    // args: [0] bytes, [1] alignment (power of two, >= page)
                 // results: [0] offset of the block in the space
  kFree = 8,     // args: [0] offset returned by kAlloc
  kStats = 9,    // bulk: DaemonNodeStats of the calling node
  kFinish = 10,  // node 0 only. args: [0] exit status. Every other node's
                 // pending and later requests answer kJobFinished.
  // Coherence (jobs of several hosts only; see "Coherence" below).
  kFault = 11,   // args: [0] data page index, [1] 1 for a write. Completes once
                 // the host's copy is valid (fetched from the home if needed),
                 // the page's home is known, and for a write on a page homed
                 // elsewhere, once a twin exists. results: [0] PageState.
  kRelease = 12, // args: [0] n. The first n entries of the slot's page list
                 // are pages this node wrote since its last release. Completes
                 // once their diffs are acknowledged by the homes and their
                 // write notices recorded.
  // The host barrier (one host only; see HostBarrier).
  kBarrierSleep = 13,  // args: [0] generation the node arrived in. Completes
                       // once the barrier's generation differs from it (at
                       // once if it already does). The node set
                       // kBarrierSleepers first.
  kBarrierWake = 14,   // sent by the node that completed a generation when
                       // it found kBarrierSleepers set: completes every
                       // kBarrierSleep of an older generation.
  kCommandCount
};

enum StatusCode : int32_t {
  kOk = 0,
  kBadCommand = 1,      // unknown command number
  kBadArgument = 2,     // an argument is out of range
  kBadSequence = 3,     // seq jumped
  kNotAttached = 4,     // command other than kAttach before attaching
  kAttachRefused = 5,   // node id taken, out of range, or slot attached twice
  kVersionMismatch = 6,
  kNoMemory = 7,        // shared heap exhausted
  kNotHeld = 8,         // unlock of a lock this node does not hold
  kAlreadyHeld = 9,     // lock requested by its holder
  kJobFinished = 10,    // node 0 finished the job: exit quietly
  kNodeLost = 11,       // a node left without finishing: the job failed
  kNotPermitted = 12,   // e.g. kFinish from a node other than 0
  kHostLost = 13,       // another host's daemon was lost: the job failed.
                        // results: [0] host id
  kStatusCount
};

constexpr uint64_t kAnyNode = ~0ULL;
constexpr uint64_t kNoLockEntry = ~0ULL;

// node_flags bits.
constexpr uint32_t kNodeWaiting = 1u << 0;  // node blocks on its doorbell

// Counters a node keeps about itself (its fast paths never reach the
// daemon). Written by the node, read by the daemon for statistics.
struct NodeCounters {
  uint64_t lock_fast;       // locks taken without the daemon
  uint64_t lock_slow;       // locks that went to the daemon
  uint64_t unlock_slow;     // unlocks that handed off through the daemon
  uint64_t barriers;
  uint64_t parallel_regions;
  uint64_t mallocs;
  uint64_t frees;
  uint64_t wait_ns;         // time spent waiting for daemon replies
  // Coherence (several hosts).
  uint64_t read_faults;     // read faults (served locally or by the daemon)
  uint64_t write_faults;
  uint64_t daemon_faults;   // faults that needed kFault
  uint64_t releases;        // releases with written pages (logged or kRelease)
  uint64_t pages_released;  // pages those releases listed (both ways)
  uint64_t pages_dropped;   // mappings dropped by acquires (invalidations)
  uint64_t drop_all;        // acquires that fell behind the ring and dropped all
  uint64_t fault_ns;        // time in the fault handler
  uint64_t untracked_faults;  // write faults that mapped a page homed here
                              // writable for good (no copy elsewhere)
  uint64_t untracked_shared;  // such pages tracked again: a copy left the host
  uint64_t barrier_wait_ns;   // time between arriving at a host barrier and
                              // leaving it (one host; with several hosts the
                              // daemon measures kBarrier)
};
static_assert(sizeof(NodeCounters) == 152);

struct RegisterFile {
  // node -> daemon
  uint32_t command;         //   0 Command
  uint32_t node_flags;      //   4 kNodeWaiting
  uint64_t seq;             //   8 request sequence number
  uint64_t args[6];         //  16
  // daemon -> node
  uint64_t done_seq;        //  64 seq of the last completed request
  int32_t status;           //  72 Status
  uint32_t bulk_len;        //  76 bytes of bulk[] the reply filled
  uint64_t results[4];      //  80
  // node -> daemon
  NodeCounters counters;    // 112
  uint8_t reserved[248];    // 264 .. 511
  uint8_t bulk[3584];       // 512 .. 4095 page lists, notices, statistics
};
static_assert(sizeof(RegisterFile) == kPageSize);
static_assert(offsetof(RegisterFile, seq) == 8);
static_assert(offsetof(RegisterFile, args) == 16);
static_assert(offsetof(RegisterFile, done_seq) == 64);
static_assert(offsetof(RegisterFile, status) == 72);
static_assert(offsetof(RegisterFile, bulk_len) == 76);
static_assert(offsetof(RegisterFile, results) == 80);
static_assert(offsetof(RegisterFile, counters) == 112);
static_assert(offsetof(RegisterFile, bulk) == 512);

// What kStats returns in bulk[].
struct DaemonNodeStats {
  uint64_t requests[kCommandCount];  // served, by command
  uint64_t lock_wait_ns;             // time between kLock and its grant
  uint64_t barrier_wait_ns;          // time between arrival and departure
};
static_assert(sizeof(DaemonNodeStats) <= sizeof(RegisterFile::bulk));

// ---------------------------------------------------------------------------
// Host barrier (page 0 at kHostBarrierOffset, zero when the space is
// created): the barrier of a job whose nodes are all on this host, run by
// the nodes themselves in the space, like the lock table's fast path. The
// daemon only puts nodes to sleep and wakes them.
//
// A node arriving reads `state` (its generation: state >> 1), then adds 1 to
// `arrived`. The node that makes it num_nodes stores 0 to `arrived`, then
// exchanges `state` for (generation + 1) << 1 (release): every node's writes
// before it arrived are visible to every node that sees the new generation
// (acquire). The others spin on `state` for a while; a node that wants to
// sleep sets kBarrierSleepers with a compare-and-swap on the generation it
// arrived in (failing means the barrier completed) and sends kBarrierSleep.
// The node that completes a generation and finds kBarrierSleepers in the
// state it exchanged sends kBarrierWake. The daemon serves requests one at a
// time and looks at `state` for each kBarrierSleep, so a wake that reaches it
// first leaves nothing asleep.
struct HostBarrier {
  uint64_t arrived;    //   0 nodes arrived in the current generation
  uint64_t pad0[7];    //   8 (arrivals and spinning readers on separate lines)
  uint64_t state;      //  64 generation << 1 | kBarrierSleepers
  uint64_t pad1[7];    //  72
};
static_assert(sizeof(HostBarrier) == 128);
static_assert(offsetof(HostBarrier, state) == 64);
constexpr uint64_t kHostBarrierOffset = 1024;
constexpr uint64_t kBarrierSleepers = 1;
static_assert(kHostBarrierOffset >= sizeof(SpaceHeader));
static_assert(kHostBarrierOffset + sizeof(HostBarrier) <= kPageSize);
inline HostBarrier* HostBarrierOf(void* space) {
  return reinterpret_cast<HostBarrier*>(static_cast<char*>(space) + kHostBarrierOffset);
}

// ---------------------------------------------------------------------------
// Host lock table: open addressing on the lock id, entries never removed.
// key is 0 (free) or kLockKeyUsed | id, claimed with a CAS. word is the lock:
// owner node + 1 in the kLockOwnerMask bits (0 = free), plus kLockWaiters
// while the daemon has queued requests. Nodes take a free lock
// with one CAS (0 -> owner) and release it with one CAS (owner -> 0); when
// that CAS fails because kLockWaiters is set they go to the daemon, which
// hands the lock over in FIFO order.
struct LockEntry {
  uint64_t key;   // 0
  uint64_t word;  // 8
};
static_assert(sizeof(LockEntry) == 16);
constexpr uint64_t kLockKeyUsed = 1ULL << 32;
constexpr uint64_t kLockOwnerMask = 0xffffULL;
constexpr uint64_t kLockWaiters = 1ULL << 16;

// ---------------------------------------------------------------------------
// Coherence (jobs of several hosts). Single-host jobs never use any of this.
//
// PageMeta: one per data page, written by the daemon only, read by nodes in
// their fault handler: a page whose state is kPageHome or kPageValid can be
// mapped by a node without asking the daemon, and a node's write to a page
// homed here whose `copied` is 0 needs no write notice: no other host holds
// a copy that a notice would have to invalidate (docs/design.md, "Lifecycle
// of a write fault").
enum PageState : uint32_t {
  kPageUntouched = 0,  // no copy here and home not known yet
  kPageHome = 1,       // this host is the page's home: the master copy
  kPageValid = 2,      // a cached copy, current as of `version`
  kPageInvalid = 3,    // a cached copy known to be stale: fetch before use
};
struct PageMeta {
  uint32_t state;    // 0 PageState (load-acquire; the daemon stores it last)
  uint16_t home;     // 4 home host (meaningful unless kPageUntouched)
  uint16_t copied;   // 6 kPageHome only: 1 from when the daemon sends the
                     //   page's content to another host (before the copy;
                     //   the page goes into the invalidation ring then) to
                     //   when it records a write notice for the page; 0
                     //   otherwise
  uint64_t version;  // 8 the home's version this copy includes
};
static_assert(sizeof(PageMeta) == 16);
static_assert(offsetof(PageMeta, home) == 4);
static_assert(offsetof(PageMeta, copied) == 6);
static_assert(offsetof(PageMeta, version) == 8);

// kHomeMigrate: first touch, and then at every barrier a page written by
// exactly one host in the interval before, which is not its home, gets that
// host as its home (docs/design.md, "Home migration").
enum HomeMode : uint32_t { kHomeFirstTouch = 0, kHomeRoundRobin = 1, kHomeMigrate = 2 };

// SpaceHeader::flags. kSpaceHugePages: nodes of a one-host job ask for huge
// pages on the data area (MADV_HUGEPAGE); the daemon clears it when the
// user declined them (dsm-run --huge-pages off). Whether the kernel grants
// them depends on the space's file (hostd/space_file.h).
constexpr uint32_t kSpaceHugePages = 1u << 0;

// The pinned pages — the control page, and the guard page and node 0's
// master stack — are homed on host 0 whatever the home mode, from the start:
// node 0 (always on host 0) runs main and the runtime's request path on that
// stack, so its faults there must never need the daemon (a fault inside a
// request would need a second request). The globals window between them is
// homed like any other data.
struct PinnedPages {
  uint64_t control_end;  // data pages [0, control_end)
  uint64_t stack_begin;  // and [stack_begin, stack_end): guard page and stack
  uint64_t stack_end;
  constexpr bool Contains(uint64_t page) const {
    return page < control_end || (page >= stack_begin && page < stack_end);
  }
  // Calls f(page) for every pinned page below `pages` (the data area's).
  template <typename F>
  void ForEach(uint64_t pages, F f) const {
    for (uint64_t p = 0; p < control_end && p < pages; ++p) f(p);
    for (uint64_t p = stack_begin; p < stack_end && p < pages; ++p) f(p);
  }
};
inline PinnedPages PinnedPagesOf(const SpaceHeader* h) {
  return PinnedPages{(h->control_offset - h->data_offset) / kPageSize + 1,
                     (h->stack_offset - kPageSize - h->data_offset) / kPageSize,
                     (h->stack_offset + h->stack_size - h->data_offset) / kPageSize};
}

// Page lists: each slot owns kListEntries uint32 page indices at
// list_offset + slot * kListBytes, written by the node before kRelease.
constexpr uint64_t kListEntries = 16384;
constexpr uint64_t kListBytes = kListEntries * sizeof(uint32_t);
// Home-release logs: a release of pages homed on the node's own host needs
// no message (the home copy is the one written), only the version bump and
// the write notice that must reach the manager before anything that orders
// the release before another host's acquire. So the node appends such pages
// to its slot's log without asking the daemon, and the daemon drains every
// log before it hands write notices to the manager (a lock token leaving
// the host, a barrier arrival). A node whose log is full makes an ordinary
// kRelease. One log per slot at home_log_offset + slot * kHomeLogBytes.
constexpr uint64_t kHomeLogBytes = 4096;
constexpr uint64_t kHomeLogEntries = (kHomeLogBytes - 16) / sizeof(uint32_t);
struct HomeLog {
  uint64_t head;  // 0 node: entries ever appended (release store after them)
  uint64_t tail;  // 8 daemon: entries ever drained (release store)
  uint32_t pages[kHomeLogEntries];  // 16 page indices, [i % kHomeLogEntries]
};
static_assert(sizeof(HomeLog) == kHomeLogBytes);
static_assert(offsetof(HomeLog, tail) == 8);
static_assert(offsetof(HomeLog, pages) == 16);
// The invalidation ring: the daemon appends the index of every page it
// invalidates (ring[i % inval_entries] for i = inval_head, ...), then
// advances inval_head. A node that acquires (lock, barrier, region start)
// drops its mappings of every page appended since it last looked; one that
// fell more than inval_entries behind drops all its mappings. The daemon
// also appends a page homed here whose `copied` it sets (then a seq_cst
// fence, then it copies the page out): a node that releases first issues a
// seq_cst fence, then reads the ring from where its last release stopped,
// and starts tracking (logging) every listed page it was writing untracked.
// Either the copy includes the node's writes or its release sees the entry.
constexpr uint64_t kInvalEntries = 1ULL << 20;

// ---------------------------------------------------------------------------
// Atomic access to shared fields.
template <typename T>
inline T LoadAcquire(const T* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
template <typename T>
inline void StoreRelease(T* p, T v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
template <typename T>
inline T LoadSeqCst(const T* p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
template <typename T>
inline void StoreSeqCst(T* p, T v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
template <typename T>
inline bool CompareExchange(T* p, T* expected, T desired) {
  return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE);
}

// ---------------------------------------------------------------------------
// Layout computation: the daemon fills the header from this; tests check it.
//
//   header | register pages | lock table | invalidation ring | page lists |
//   home-release logs | data area: control page, (unused to 2 MiB), globals window, guard page,
//              master stack, heap |
//   PageMeta per data page
//
// Everything before the data area has a fixed size, so the data area and the
// globals window start at the same offset in every space. A program's shared
// globals are linked together, page-aligned, among its other data
// (dsm_globals.ld); every node maps the window's pages of the space there too
// (a second mapping of the same pages), so they keep the program's
// addresses (the same on every node: programs are not position-independent).
struct Layout {
  uint64_t space_size;
  uint64_t regs_offset, lock_table_offset, meta_offset, meta_size;
  uint64_t inval_offset, inval_size, list_offset, list_size, home_log_offset, home_log_size;
  uint64_t data_offset, data_size;
  uint64_t control_offset, globals_offset, globals_size, stack_offset, stack_size;
  uint64_t heap_offset, heap_size;
};

constexpr uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
constexpr uint64_t AlignDown(uint64_t v, uint64_t a) { return v / a * a; }
constexpr bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

namespace layout_detail {
constexpr uint64_t kLockTableOffset = AlignUp(kPageSize + kMaxSlots * kPageSize, 64 * 1024);
constexpr uint64_t kInvalOffset =
    AlignUp(kLockTableOffset + kLockTableEntries * sizeof(LockEntry), 64 * 1024);
constexpr uint64_t kListOffset = AlignUp(kInvalOffset + kInvalEntries * sizeof(uint32_t), 64 * 1024);
constexpr uint64_t kHomeLogOffset = kListOffset + kMaxSlots * kListBytes;
}  // namespace layout_detail

// Where the data area starts, and where the program's shared globals are in
// the space (both fixed; see Layout).
constexpr uint64_t kDataOffset =
    AlignUp(layout_detail::kHomeLogOffset + kMaxSlots * kHomeLogBytes, 2ULL << 20);
constexpr uint64_t kGlobalsOffset = kDataOffset + (2ULL << 20);
// The most a job may reserve for globals.
constexpr uint64_t kMaxGlobalsSize = 1ULL << 39;

// Valid for power-of-two sizes in [kMinSpaceSize, kMaxSpaceSize], stack sizes
// in [kMinMasterStackSize, kMaxMasterStackSize] and globals that leave a heap
// (LayoutFits).
constexpr Layout ComputeLayout(uint64_t space_size, uint64_t stack_size = kMasterStackSize,
                               uint64_t globals_size = 0) {
  Layout l{};
  l.space_size = space_size;
  l.regs_offset = kPageSize;
  l.lock_table_offset = layout_detail::kLockTableOffset;
  // The coherence engine's areas (untouched, so free, in single-host jobs):
  // the invalidation ring and the per-slot page lists here, and 16 bytes of
  // state per data page at the end of the space.
  l.inval_offset = layout_detail::kInvalOffset;
  l.inval_size = kInvalEntries * sizeof(uint32_t);
  l.list_offset = layout_detail::kListOffset;
  l.list_size = kMaxSlots * kListBytes;
  l.home_log_offset = layout_detail::kHomeLogOffset;
  l.home_log_size = kMaxSlots * kHomeLogBytes;
  l.data_offset = kDataOffset;
  // The data area is smaller than the space, so this covers it.
  l.meta_size = AlignUp(space_size / kPageSize * sizeof(PageMeta), 64 * 1024);
  l.meta_offset = space_size > l.meta_size ? space_size - l.meta_size : 0;
  l.data_size = l.meta_offset > l.data_offset ? l.meta_offset - l.data_offset : 0;
  l.control_offset = l.data_offset;
  l.globals_offset = kGlobalsOffset;
  l.globals_size = AlignUp(globals_size, 2ULL << 20);
  // One guard page (never handed out) under the stack.
  l.stack_offset = l.globals_offset + l.globals_size + kPageSize;
  l.stack_size = AlignUp(stack_size, kPageSize);
  l.heap_offset = AlignUp(l.stack_offset + l.stack_size, 2ULL << 20);
  l.heap_size = l.heap_offset < l.meta_offset ? AlignDown(l.meta_offset - l.heap_offset, 64 * 1024) : 0;
  return l;
}

// The stack and globals leave at least 16 MiB of heap in a space of this size.
constexpr bool LayoutFits(uint64_t space_size, uint64_t stack_size, uint64_t globals_size = 0) {
  return stack_size >= kMinMasterStackSize && stack_size <= kMaxMasterStackSize &&
         globals_size <= kMaxGlobalsSize &&
         ComputeLayout(space_size, stack_size, globals_size).heap_size >= (16ULL << 20);
}

static_assert(ComputeLayout(kMinSpaceSize).heap_size > 16ULL << 20);
static_assert(kDataOffset % (2ULL << 20) == 0);
static_assert(ComputeLayout(kMaxSpaceSize).meta_offset >= ComputeLayout(kMaxSpaceSize).heap_offset);

inline RegisterFile* RegisterPage(void* space, uint32_t slot) {
  auto* h = static_cast<SpaceHeader*>(space);
  return reinterpret_cast<RegisterFile*>(static_cast<char*>(space) + h->regs_offset +
                                         uint64_t{slot} * kPageSize);
}
inline PageMeta* PageMetaTable(void* space) {
  auto* h = static_cast<SpaceHeader*>(space);
  return reinterpret_cast<PageMeta*>(static_cast<char*>(space) + h->meta_offset);
}
inline uint32_t* InvalRing(void* space) {
  auto* h = static_cast<SpaceHeader*>(space);
  return reinterpret_cast<uint32_t*>(static_cast<char*>(space) + h->inval_offset);
}
inline uint32_t* PageList(void* space, uint32_t slot) {
  auto* h = static_cast<SpaceHeader*>(space);
  return reinterpret_cast<uint32_t*>(static_cast<char*>(space) + h->list_offset +
                                     uint64_t{slot} * kListBytes);
}
inline HomeLog* HomeLogOf(void* space, uint32_t slot) {
  auto* h = static_cast<SpaceHeader*>(space);
  return reinterpret_cast<HomeLog*>(static_cast<char*>(space) + h->home_log_offset +
                                    uint64_t{slot} * kHomeLogBytes);
}
inline LockEntry* LockTable(void* space) {
  auto* h = static_cast<SpaceHeader*>(space);
  return reinterpret_cast<LockEntry*>(static_cast<char*>(space) + h->lock_table_offset);
}

// A node's lookup of lock `id` in the host lock table: linear probing from a
// hash of the id, claiming a free entry (key 0) by CAS. Every node of a host
// must find the same entry, so this is the one definition. Returns the entry
// and its index, or nullptr and kNoLockEntry when the table is full (the
// daemon then manages the lock alone).
inline LockEntry* FindLockEntry(void* space, uint32_t id, uint64_t* index) {
  LockEntry* table = LockTable(space);
  const uint64_t n = static_cast<SpaceHeader*>(space)->lock_table_entries;
  const uint64_t key = kLockKeyUsed | id;
  const uint32_t mixed = id * 0x9e3779b1u;
  uint64_t i = (mixed ^ (mixed >> 15)) & (n - 1);
  for (uint64_t probes = 0; probes < n; ++probes, i = (i + 1) & (n - 1)) {
    uint64_t k = LoadAcquire(&table[i].key);
    if (k == 0) {
      uint64_t expected = 0;
      k = CompareExchange(&table[i].key, &expected, key) ? key : expected;
    }
    if (k == key) {
      *index = i;
      return &table[i];
    }
  }
  *index = kNoLockEntry;
  return nullptr;
}

const char* CommandName(uint32_t command);
const char* StatusName(int32_t status);

}  // namespace dsm::device
