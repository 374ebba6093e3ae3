// guest_abuse: a hostile node, run inside a QEMU guest by
// test/vm/guest_abuse_test.cc, for the daemon's request validation
// (hostd/src/host_core.cc; docs/design.md, "The register protocol").
//
// It drives the ivshmem-doorbell device itself (GuestDevice, polling, no
// interrupts) and writes what a buggy or malicious guest might into its
// register page and BAR0's Doorbell register: unknown commands, commands
// before attaching, a sequence number that jumps, stale and duplicate
// sequence numbers, doorbells to a peer and to vectors that do not exist,
// garbage in every field of its page, attach requests the daemon must
// refuse; once attached, arguments out of range and a second attach. Then it
// behaves (finishes the one-node job as node 0) to show that the daemon still
// serves it and the job ends normally.
//
// Each check prints "ok: STEP: ..." or "FAILED: STEP: ..." on stdout, and
// the last line says whether every check held. Exit status: 0 when every
// check held, 1 when one failed, 2 when the device could not be used.
//
// Single-threaded; a test program, not a library.
#include <time.h>
#include <unistd.h>

#include <array>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "dsm/device/protocol.h"
#include "guest_device.h"

namespace {

using namespace dsm::device;
using dsm::runtime::GuestDevice;
using dsm::runtime::GuestWait;
using Args = std::array<uint64_t, 6>;

// A reply that takes longer is missing (a TCG guest on a loaded host is slow,
// but the daemon answers a ring within milliseconds).
constexpr int64_t kReplyDeadlineNs = 10'000'000'000;
// How long a check that something does NOT happen watches, and how often it
// rings the daemon again meanwhile.
constexpr int64_t kQuietWindowNs = 1'500'000'000;
constexpr int64_t kRingEveryNs = 100'000'000;
// A peer id that no ivshmem server of a small job hands out.
constexpr uint32_t kNoSuchPeer = 77;

int64_t NowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void SleepNs(int64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (::nanosleep(&ts, &ts) != 0) {
  }
}

const char* StatusName(int32_t s) {
  switch (s) {
    case kOk: return "kOk";
    case kBadCommand: return "kBadCommand";
    case kBadArgument: return "kBadArgument";
    case kBadSequence: return "kBadSequence";
    case kNotAttached: return "kNotAttached";
    case kAttachRefused: return "kAttachRefused";
    case kVersionMismatch: return "kVersionMismatch";
    case kNoMemory: return "kNoMemory";
    case kNotHeld: return "kNotHeld";
    case kAlreadyHeld: return "kAlreadyHeld";
    case kJobFinished: return "kJobFinished";
    case kNodeLost: return "kNodeLost";
    case kNotPermitted: return "kNotPermitted";
    case kHostLost: return "kHostLost";
    default: return "no status of the protocol";
  }
}

struct Reply {
  bool answered = false;
  int32_t status = -1;
  uint64_t results[4] = {};
};

class HostileGuest {
 public:
  HostileGuest(const GuestDevice* device, RegisterFile* regs, uint32_t peer, uint32_t num_nodes)
      : device_(device), regs_(regs), peer_(peer), num_nodes_(num_nodes) {}

  // Every step in order, then a summary line; the exit status.
  int Run();

 private:
  // The steps; false when a reply was missing (later steps would only wait).
  bool Steps();
  // Writes a request the way the protocol says (arguments, command, then seq
  // with a release store) but with whatever command, arguments and seq, and
  // rings the daemon (peer 0, vector 0).
  void Post(uint32_t command, const Args& args, uint64_t seq);
  // Polls done_seq until it is seq (true) or timeout_ns passed (false).
  bool WaitDone(uint64_t seq, int64_t timeout_ns) const;
  // Post, then wait for the reply.
  Reply Call(uint32_t command, const Args& args, uint64_t seq);
  // Call, and check the reply's status is `want`. False when no reply came:
  // the daemon is gone or wedged, and every later step would wait in vain.
  bool ExpectStatus(const char* step, uint32_t command, const Args& args, uint64_t seq, int32_t want);
  // Posts a request the daemon must ignore, and checks that done_seq and
  // status stay as they are while the doorbell rings for kQuietWindowNs.
  void ExpectIgnored(const char* step, uint32_t command, const Args& args, uint64_t seq);
  // Writes the Doorbell register for a peer or a vector that does not exist
  // and checks that the write went through and nothing was answered; the
  // request after these ("still-served") shows the daemon unaffected.
  void RingNowhere(const char* step, uint32_t peer, uint32_t vector);
  // Garbage in every field of the page, the daemon's included.
  void Scribble();
  void Check(bool held, const char* step, const char* format, ...) __attribute__((format(printf, 4, 5)));

  const GuestDevice* device_;
  RegisterFile* regs_;
  uint32_t peer_;
  uint32_t num_nodes_;
  int checks_ = 0;
  int failures_ = 0;
  std::string failed_;
};

void HostileGuest::Check(bool held, const char* step, const char* format, ...) {
  ++checks_;
  std::printf("%s: %s: ", held ? "ok" : "FAILED", step);
  va_list ap;
  va_start(ap, format);
  std::vprintf(format, ap);
  va_end(ap);
  std::printf("\n");
  std::fflush(stdout);
  if (!held) {
    ++failures_;
    failed_ += failed_.empty() ? step : std::string(" ") + step;
  }
}

void HostileGuest::Post(uint32_t command, const Args& args, uint64_t seq) {
  for (size_t i = 0; i < args.size(); ++i) __atomic_store_n(&regs_->args[i], args[i], __ATOMIC_RELAXED);
  __atomic_store_n(&regs_->command, command, __ATOMIC_RELAXED);
  StoreRelease(&regs_->seq, seq);
  device_->Ring(0, 0);
}

bool HostileGuest::WaitDone(uint64_t seq, int64_t timeout_ns) const {
  const int64_t deadline = NowNs() + timeout_ns;
  int64_t pause = 20'000;
  while (LoadSeqCst(&regs_->done_seq) != seq) {
    if (NowNs() >= deadline) return false;
    SleepNs(pause);
    pause = pause < 1'000'000 ? pause * 2 : pause;
  }
  return true;
}

Reply HostileGuest::Call(uint32_t command, const Args& args, uint64_t seq) {
  Post(command, args, seq);
  Reply r;
  r.answered = WaitDone(seq, kReplyDeadlineNs);
  if (!r.answered) return r;
  r.status = __atomic_load_n(&regs_->status, __ATOMIC_RELAXED);
  for (int k = 0; k < 4; ++k) r.results[k] = __atomic_load_n(&regs_->results[k], __ATOMIC_RELAXED);
  return r;
}

bool HostileGuest::ExpectStatus(const char* step, uint32_t command, const Args& args, uint64_t seq,
                                int32_t want) {
  Reply r = Call(command, args, seq);
  if (!r.answered) {
    Check(false, step,
          "command %" PRIu32 " with seq %" PRIu64 ": no reply within %d s (done_seq %" PRIu64 ")", command,
          seq, static_cast<int>(kReplyDeadlineNs / 1'000'000'000), LoadSeqCst(&regs_->done_seq));
    return false;
  }
  Check(r.status == want, step, "command %" PRIu32 " with seq %" PRIu64 " answered %s (%d), expected %s (%d)",
        command, seq, StatusName(r.status), r.status, StatusName(want), want);
  return true;
}

void HostileGuest::ExpectIgnored(const char* step, uint32_t command, const Args& args, uint64_t seq) {
  const uint64_t done_before = LoadSeqCst(&regs_->done_seq);
  const int32_t status_before = __atomic_load_n(&regs_->status, __ATOMIC_RELAXED);
  Post(command, args, seq);
  // This shows that something does NOT happen, so the wait has to end at a
  // deadline: the daemon serves a ring within milliseconds, and a reply
  // absent through a window of repeated rings is what "ignored" means here.
  // (The daemon's own log, which the test reads, shows it saw the request.)
  const int64_t end = NowNs() + kQuietWindowNs;
  bool quiet = true;
  while (quiet && NowNs() < end) {
    SleepNs(kRingEveryNs);
    quiet = LoadSeqCst(&regs_->done_seq) == done_before &&
            __atomic_load_n(&regs_->status, __ATOMIC_RELAXED) == status_before;
    device_->Ring(0, 0);
  }
  Check(quiet, step,
        "command %" PRIu32 " with seq %" PRIu64 " %s (done_seq %" PRIu64 " -> %" PRIu64 ", status %s)",
        command, seq, quiet ? "ignored" : "was answered", done_before, LoadSeqCst(&regs_->done_seq),
        StatusName(__atomic_load_n(&regs_->status, __ATOMIC_RELAXED)));
}

void HostileGuest::RingNowhere(const char* step, uint32_t peer, uint32_t vector) {
  const uint64_t done_before = LoadSeqCst(&regs_->done_seq);
  const bool written = device_->Ring(peer, vector);
  Check(written && LoadSeqCst(&regs_->done_seq) == done_before, step,
        "Doorbell 0x%08" PRIx32 " (peer %" PRIu32 ", vector %" PRIu32 ") %s",
        (peer << 16) | (vector & 0xffff), peer, vector, written ? "written" : "could not be written");
}

void HostileGuest::Scribble() {
  __atomic_store_n(&regs_->node_flags, ~0u, __ATOMIC_RELAXED);  // kNodeWaiting and every other bit
  std::memset(&regs_->counters, 0xff, sizeof regs_->counters);
  std::memset(regs_->reserved, 0xa5, sizeof regs_->reserved);
  std::memset(regs_->bulk, 0x5a, sizeof regs_->bulk);
  // The daemon's fields: it writes them, it never reads them.
  __atomic_store_n(&regs_->done_seq, uint64_t{0xbadbadbadbadbadbULL}, __ATOMIC_RELAXED);
  __atomic_store_n(&regs_->status, int32_t{-77}, __ATOMIC_RELAXED);
  __atomic_store_n(&regs_->bulk_len, ~0u, __ATOMIC_RELAXED);
  for (uint64_t& r : regs_->results) __atomic_store_n(&r, ~0ULL, __ATOMIC_RELAXED);
}

bool HostileGuest::Steps() {
  const auto pid = static_cast<uint64_t>(::getpid());
  // The daemon's last served sequence number for this slot, as this guest
  // keeps track of it: 0 for a peer that just joined.
  uint64_t seq = 0;
  Check(LoadAcquire(&regs_->seq) == 0 && LoadAcquire(&regs_->done_seq) == 0, "fresh-page",
        "peer %" PRIu32 ": seq %" PRIu64 ", done_seq %" PRIu64, peer_, LoadAcquire(&regs_->seq),
        LoadAcquire(&regs_->done_seq));

  // (a) Commands the daemon does not know, and real ones before attaching.
  // host_core.cc checks the command number before the attachment.
  if (!ExpectStatus("unknown-command", 0xdeadbeef, {}, ++seq, kBadCommand)) return false;
  if (!ExpectStatus("command-none", kNone, {}, ++seq, kBadCommand)) return false;
  if (!ExpectStatus("command-past-the-last", kCommandCount, {}, ++seq, kBadCommand)) return false;
  if (!ExpectStatus("finish-before-attach", kFinish, {0}, ++seq, kNotAttached)) return false;
  if (!ExpectStatus("lock-before-attach", kLock, {1, kNoLockEntry}, ++seq, kNotAttached)) return false;

  // (b) A sequence number that jumps ahead: kBadSequence, checked before the
  // command (an unknown one here). The daemon then counts from the new number.
  seq += 1000;
  if (!ExpectStatus("jumped-sequence", 0xdeadbeef, {}, seq, kBadSequence)) return false;

  // (c) Stale and duplicate sequence numbers: ignored, never answered. The
  // duplicate is an attach that would succeed: "attach" below shows it was
  // never executed (a second attach of the slot is refused).
  ExpectIgnored("stale-sequence", kNop, {}, seq - 500);
  ExpectIgnored("duplicate-sequence", kAttach, {kVersion, 0, pid}, seq);

  // (d) Doorbells to a peer that does not exist and to vectors that do not
  // exist (each peer has one), and to this guest itself; QEMU drops the first
  // ones, the last one is an interrupt this guest never enabled.
  RingNowhere("doorbell-no-peer", kNoSuchPeer, 0);
  RingNowhere("doorbell-no-vector", 0, 1);
  RingNowhere("doorbell-last-vector", 0, 0xffff);
  RingNowhere("doorbell-last-peer", 0xffff, 0xffff);
  RingNowhere("doorbell-self", peer_, 0);
  if (!ExpectStatus("still-served", kNop, {}, ++seq, kOk)) return false;

  // (e) Garbage in every field, then attach requests the daemon refuses.
  Scribble();
  const uint64_t junk = 0xfeedfacecafebeefULL;
  if (!ExpectStatus("attach-out-of-range", kAttach, {kVersion, num_nodes_, junk, junk, ~junk, ~0ULL}, ++seq,
                    kAttachRefused)) {
    return false;
  }
  if (!ExpectStatus("attach-garbage-node-id", kAttach,
                    {kVersion, 0xdeadbeefcafef00dULL, ~0ULL, junk, junk, junk}, ++seq, kAttachRefused)) {
    return false;
  }
  if (!ExpectStatus("attach-bad-version", kAttach, {(junk << 32) | kVersion, 0, pid, junk, junk, junk}, ++seq,
                    kVersionMismatch)) {
    return false;
  }

  // Then behave: attach as node 0 and finish the job.
  __atomic_store_n(&regs_->node_flags, 0u, __ATOMIC_SEQ_CST);
  Reply attach = Call(kAttach, {kVersion, 0, pid}, ++seq);
  Check(attach.answered && attach.status == kOk && attach.results[0] == 0 && attach.results[1] == num_nodes_,
        "attach", "%s (%d), node %" PRIu64 " of %" PRIu64,
        attach.answered ? StatusName(attach.status) : "no reply", attach.status, attach.results[0],
        attach.results[1]);
  if (!attach.answered) return false;

  // (f) Attached now: arguments out of range, and a second attach.
  const std::pair<const char*, std::pair<uint32_t, Args>> bad[] = {
      {"alloc-zero-bytes", {kAlloc, {0, kPageSize}}},
      {"alloc-bad-alignment", {kAlloc, {kPageSize, 3 * kPageSize}}},
      {"free-garbage-offset", {kFree, {junk}}},
      {"lock-id-too-large", {kLock, {1ULL << 40, kNoLockEntry}}},
      {"lock-no-such-entry", {kLock, {7, ~junk}}},
  };
  for (const auto& [step, request] : bad) {
    if (!ExpectStatus(step, request.first, request.second, ++seq, kBadArgument)) return false;
  }
  if (!ExpectStatus("alloc-too-large", kAlloc, {1ULL << 62, kPageSize}, ++seq, kNoMemory)) return false;
  if (!ExpectStatus("unlock-not-held", kUnlock, {7, kNoLockEntry}, ++seq, kNotHeld)) return false;
  if (!ExpectStatus("attach-twice", kAttach, {kVersion, 0, pid}, ++seq, kAttachRefused)) return false;

  if (!ExpectStatus("finish", kFinish, {0}, ++seq, kOk)) return false;
  return true;
}

int HostileGuest::Run() {
  const bool completed = Steps();
  if (completed && failures_ == 0) {
    std::printf("guest_abuse: all %d checks held\n", checks_);
    return 0;
  }
  std::printf("guest_abuse: %d of %d checks failed%s: %s\n", failures_, checks_,
              completed ? "" : " (stopped at a missing reply)", failed_.c_str());
  return 1;
}

int Fail(const std::string& why) {
  std::printf("FAILED: setup: %s\n", why.c_str());
  return 2;
}

}  // namespace

int main() {
  using namespace dsm;
  auto bdf = runtime::FindIvshmemDevice();
  if (!bdf) return Fail("no ivshmem device in this guest");
  auto device = runtime::GuestDevice::Open(*bdf, GuestWait::kPoll);
  if (!device.ok()) return Fail(device.status().message());
  auto peer = device->PeerId();
  if (!peer.ok()) return Fail(peer.status().message());
  if (*peer == 0 || *peer >= kMaxSlots)
    return Fail("IVPosition " + std::to_string(*peer) + " is no node peer");
  const uint64_t size = device->space_size();
  if (!IsPowerOfTwo(size) || size < kMinSpaceSize) return Fail("BAR2 has " + std::to_string(size) + " bytes");
  auto base = device->Map(reinterpret_cast<char*>(kFixedBase), 0, size, true);
  if (!base.ok()) return Fail(base.status().message());
  const auto* header = reinterpret_cast<const SpaceHeader*>(*base);
  if (LoadAcquire(&header->magic) != kMagic || header->version != kVersion) {
    return Fail("BAR2 holds no dsmkit shared space of version " + std::to_string(kVersion));
  }
  std::printf("ok: setup: ivshmem device %s, peer %" PRIu32 ", %" PRIu64 " MiB shared space, %" PRIu32
              " node(s)\n",
              bdf->c_str(), *peer, size >> 20, header->num_nodes);

  HostileGuest guest(&device.value(), RegisterPage(*base, *peer), *peer, header->num_nodes);
  return guest.Run();
}
