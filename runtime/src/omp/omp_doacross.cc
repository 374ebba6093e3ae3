// OpenMP runtime ABI, part 5: doacross loops, a worksharing loop with
// ordered(n) whose iterations wait for earlier ones named by
// `ordered depend(sink: ...)` and announce themselves with
// `ordered depend(source)`. See omp_internal.h for the model.
//
// The loop's iteration space (the n associated loops, as the compiler
// describes them to __kmpc_doacross_init) is numbered row by row, and a byte
// per iteration in shared memory says whether its source point passed. The
// first member to arrive allocates the bytes; the last to finish frees them.
// A byte is written and read under a job-wide lock chosen by the iteration
// (256 of them), so that a waiter that sees the byte set has acquired what
// the poster wrote before posting, on every host: the lock's release and
// acquire carry the data, and distinct iterations' bytes never share a lock
// hand-off. Bytes, not bits: two hosts may post neighbouring iterations at
// once, and their pages' diffs merge byte by byte.
//
// Cost: one lock round trip per post and per wait attempt (waiting polls).
// In a team of one every earlier iteration has already run: nothing to do.
//
// Thread safety: the node's main thread only. Not for the SIGSEGV handler.
#include <sched.h>

#include <cstring>

#include "omp_internal.h"
#include "runtime.h"

using dsm::runtime::Runtime;

namespace dsm::runtime::omp {
namespace {

// Clang's description of one associated loop: bounds (inclusive) and step.
struct kmp_dim {
  int64_t lo, up, st;
};

constexpr int kMaxDims = 8;
constexpr uint64_t kMaxIterations = uint64_t{1} << 32;

// This node's view of the doacross loop it is in.
struct Doacross {
  int64_t seq = 0;  // 0: none (or a team of one)
  int dims = 0;
  kmp_dim dim[kMaxDims] = {};
  uint64_t range[kMaxDims] = {};  // iterations of each dimension
  unsigned char* flags = nullptr;
};
Doacross g_doacross;

// The iteration number of `vec` (values of the loops' iteration variables,
// as the compiler passes them); false if it lies outside the space (a sink
// before the first iteration: nothing to wait for).
bool IterationOf(const int64_t* vec, uint64_t* out) {
  const Doacross& d = g_doacross;
  uint64_t index = 0;
  for (int k = 0; k < d.dims; ++k) {
    const kmp_dim& dim = d.dim[k];
    uint64_t i;
    if (dim.st > 0) {
      if (vec[k] < dim.lo || vec[k] > dim.up) return false;
      i = static_cast<uint64_t>(vec[k] - dim.lo) / static_cast<uint64_t>(dim.st);
    } else {
      if (vec[k] > dim.lo || vec[k] < dim.up) return false;
      i = static_cast<uint64_t>(dim.lo - vec[k]) / static_cast<uint64_t>(-dim.st);
    }
    index = index * d.range[k] + i;
  }
  *out = index;
  return true;
}

uint32_t FlagLock(uint64_t iteration) {
  return kDoacrossFlagBase + static_cast<uint32_t>(iteration % kDoacrossFlagLocks);
}

}  // namespace
}  // namespace dsm::runtime::omp

using namespace dsm::runtime::omp;

extern "C" {

// __kmpc_doacross_init(loc, gtid, num_dims, dims): before a doacross loop,
// on every team member. dims[k] = {lo, up, st} of the k-th associated loop
// (Clang passes them normalised: lo 0, up the iteration count, st 1).
void __kmpc_doacross_init(ident_t*, int32_t, int32_t num_dims, const kmp_dim* dims) {
  Runtime& rt = Runtime::Get();
  Doacross& d = g_doacross;
  d = Doacross{};
  if (frame().team <= 1) return;
  if (num_dims < 1 || num_dims > kMaxDims) {
    rt.Fatal("OpenMP ordered(%d): at most %d loops in a doacross nest", num_dims, kMaxDims);
  }
  d.dims = num_dims;
  uint64_t total = 1;
  for (int k = 0; k < num_dims; ++k) {
    const kmp_dim& dim = dims[k];
    if (dim.st == 0) rt.Fatal("OpenMP doacross loop with a zero step");
    const bool up = dim.st > 0;
    const bool empty = up ? dim.up < dim.lo : dim.up > dim.lo;
    const uint64_t span = static_cast<uint64_t>(up ? dim.up - dim.lo : dim.lo - dim.up);
    const uint64_t step = static_cast<uint64_t>(up ? dim.st : -dim.st);
    d.dim[k] = dim;
    d.range[k] = empty ? 0 : span / step + 1;
    if (d.range[k] != 0 && total > kMaxIterations / d.range[k]) {
      rt.Fatal("OpenMP doacross loop of more than %llu iterations",
               static_cast<unsigned long long>(kMaxIterations));
    }
    total *= d.range[k];
  }
  d.seq = ++frame().doacross_seen;
  OmpShared* s = shared();
  // Wait until the previous doacross loop of the region (nowait) is
  // finished by every member, then join this one or start it.
  for (;;) {
    rt.Lock(kDoacrossLock);
    DoacrossSlot& slot = s->doacross;
    bool ready = slot.seq == d.seq || slot.flags == nullptr;
    if (ready && slot.seq != d.seq) {
      slot.flags = static_cast<unsigned char*>(rt.Calloc(total > 0 ? total : 1, 1));
      if (slot.flags == nullptr) {
        rt.Unlock(kDoacrossLock);
        rt.Fatal("OpenMP doacross loop: no shared memory for %llu iteration flags",
                 static_cast<unsigned long long>(total));
      }
      slot.seq = d.seq;
      slot.finished = 0;
    }
    if (ready) d.flags = slot.flags;
    rt.Unlock(kDoacrossLock);
    if (ready) return;
    sched_yield();
  }
}

// __kmpc_doacross_wait(loc, gtid, vec): `ordered depend(sink: vec)`: waits
// until iteration vec posted (at once if vec lies outside the space).
void __kmpc_doacross_wait(ident_t*, int32_t, const int64_t* vec) {
  Doacross& d = g_doacross;
  uint64_t it;
  if (d.seq == 0 || !IterationOf(vec, &it)) return;
  Runtime& rt = Runtime::Get();
  const uint32_t lock = FlagLock(it);
  for (;;) {
    rt.Lock(lock);
    bool posted = d.flags[it] != 0;
    rt.Unlock(lock);
    if (posted) return;
    sched_yield();
  }
}

// __kmpc_doacross_post(loc, gtid, vec): `ordered depend(source)` of
// iteration vec.
void __kmpc_doacross_post(ident_t*, int32_t, const int64_t* vec) {
  Doacross& d = g_doacross;
  uint64_t it;
  if (d.seq == 0 || !IterationOf(vec, &it)) return;
  Runtime& rt = Runtime::Get();
  const uint32_t lock = FlagLock(it);
  rt.Lock(lock);
  d.flags[it] = 1;
  rt.Unlock(lock);
}

// __kmpc_doacross_fini(loc, gtid): after the loop, on every team member;
// the last one frees the flags.
void __kmpc_doacross_fini(ident_t*, int32_t) {
  Doacross& d = g_doacross;
  if (d.seq == 0) return;
  Runtime& rt = Runtime::Get();
  OmpShared* s = shared();
  rt.Lock(kDoacrossLock);
  DoacrossSlot& slot = s->doacross;
  if (slot.seq == d.seq && ++slot.finished == static_cast<uint64_t>(frame().team)) {
    rt.Free(slot.flags);
    slot.flags = nullptr;
  }
  rt.Unlock(kDoacrossLock);
  d = Doacross{};
}

}  // extern "C"
