// Drives a HostCore through real register pages of a real shared space, the
// way nodes do, without sockets: the request path and its validation.
#include "dsm/hostd/host_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

namespace dsm::hostd {
namespace {

using namespace dsm::device;

class HostCoreTest : public ::testing::Test {
 protected:
  void Make(uint32_t nodes) {
    SpaceConfig cfg;
    cfg.size = kMinSpaceSize;
    cfg.num_nodes = nodes;
    auto s = SharedSpace::Create(cfg);
    ASSERT_TRUE(s.ok()) << s.status().message();
    space_ = std::move(s).value();
    core_ = std::make_unique<HostCore>(&space_, nodes, [this](uint32_t slot) { rings_.push_back(slot); });
  }

  // Writes a request into slot's page the way a node does and rings.
  uint64_t Send(uint32_t slot, uint32_t command, std::vector<uint64_t> args = {}) {
    RegisterFile* r = space_.regs(slot);
    for (size_t i = 0; i < 6; ++i) r->args[i] = i < args.size() ? args[i] : 0;
    r->command = command;
    uint64_t seq = r->seq + 1;
    StoreRelease(&r->seq, seq);
    core_->OnDoorbell();
    return seq;
  }
  bool Done(uint32_t slot, uint64_t seq) { return LoadAcquire(&space_.regs(slot)->done_seq) == seq; }
  int32_t StatusOf(uint32_t slot) { return space_.regs(slot)->status; }
  // Sends and expects an immediate reply; returns its status.
  int32_t Call(uint32_t slot, uint32_t command, std::vector<uint64_t> args = {}) {
    uint64_t seq = Send(slot, command, std::move(args));
    EXPECT_TRUE(Done(slot, seq)) << CommandName(command) << " did not complete";
    return StatusOf(slot);
  }
  void Attach(uint32_t slot, uint64_t node) {
    core_->OnPeerJoined(slot);
    ASSERT_EQ(Call(slot, kAttach, {kVersion, node, 100 + slot}), kOk);
    ASSERT_EQ(space_.regs(slot)->results[0], node);
  }
  uint64_t LockIndex(uint32_t id) {
    // Claim a table entry the way the runtime does (slot 0 for simplicity).
    LockEntry* t = space_.lock_table();
    t[5].key = kLockKeyUsed | id;
    return 5;
  }

  SharedSpace space_;
  std::unique_ptr<HostCore> core_;
  std::vector<uint32_t> rings_;
};

TEST_F(HostCoreTest, AttachValidatesVersionAndNodeIds) {
  Make(2);
  core_->OnPeerJoined(1);
  core_->OnPeerJoined(2);
  core_->OnPeerJoined(3);
  EXPECT_EQ(Call(1, kAttach, {kVersion + 1, 0, 1}), kVersionMismatch);
  EXPECT_EQ(Call(1, kAttach, {kVersion, 2, 1}), kAttachRefused);  // out of range
  EXPECT_EQ(Call(1, kAttach, {kVersion, 1, 1}), kOk);
  EXPECT_EQ(space_.regs(1)->results[0], 1u);
  EXPECT_EQ(space_.regs(1)->results[1], 2u);
  EXPECT_EQ(Call(1, kAttach, {kVersion, 0, 1}), kAttachRefused);  // twice
  EXPECT_EQ(Call(2, kAttach, {kVersion, 1, 1}), kAttachRefused);  // taken
  EXPECT_EQ(Call(2, kAttach, {kVersion, kAnyNode, 1}), kOk);
  EXPECT_EQ(space_.regs(2)->results[0], 0u);
  EXPECT_EQ(Call(3, kAttach, {kVersion, kAnyNode, 1}), kAttachRefused);  // job full
  EXPECT_EQ(core_->attached_nodes(), 2u);
}

TEST_F(HostCoreTest, CommandsBeforeAttachAndUnknownCommandsAreErrors) {
  Make(1);
  core_->OnPeerJoined(1);
  EXPECT_EQ(Call(1, kBarrier), kNotAttached);
  EXPECT_EQ(Call(1, kNop), kOk);
  EXPECT_EQ(Call(1, 0), kBadCommand);
  EXPECT_EQ(Call(1, 999), kBadCommand);
  EXPECT_EQ(Call(1, kCommandCount), kBadCommand);
}

TEST_F(HostCoreTest, DuplicateAndStaleSequenceNumbersAreIgnored) {
  Make(1);
  Attach(1, 0);
  RegisterFile* r = space_.regs(1);
  uint64_t seq = Send(1, kAlloc, {kPageSize, kPageSize});
  ASSERT_TRUE(Done(1, seq));
  uint64_t first = r->results[0];
  // Ring again without a new sequence number: nothing is executed twice.
  core_->OnDoorbell();
  EXPECT_EQ(r->done_seq, seq);
  EXPECT_EQ(r->results[0], first);
  // A stale (smaller) number is ignored too.
  r->command = kAlloc;
  StoreRelease(&r->seq, seq - 1);
  core_->OnDoorbell();
  EXPECT_EQ(r->done_seq, seq);
  // Back to the right number: served again.
  StoreRelease(&r->seq, seq);
  EXPECT_EQ(Call(1, kAlloc, {kPageSize, kPageSize}), kOk);
  EXPECT_NE(r->results[0], first);
}

TEST_F(HostCoreTest, SequenceJumpIsAnsweredWithBadSequence) {
  Make(1);
  Attach(1, 0);
  RegisterFile* r = space_.regs(1);
  r->command = kNop;
  StoreRelease(&r->seq, r->seq + 5);
  core_->OnDoorbell();
  EXPECT_EQ(r->done_seq, r->seq);
  EXPECT_EQ(r->status, kBadSequence);
  EXPECT_EQ(Call(1, kNop), kOk);  // resynchronised
}

// A jump to the largest number is answered but not taken as the new count:
// otherwise every later number would be stale and the node never served.
TEST_F(HostCoreTest, AHugeSequenceJumpDoesNotLockTheNodeOut) {
  Make(1);
  Attach(1, 0);
  RegisterFile* r = space_.regs(1);
  const uint64_t before = r->seq;
  r->command = kNop;
  StoreRelease(&r->seq, ~uint64_t{0});
  core_->OnDoorbell();
  EXPECT_EQ(r->done_seq, ~uint64_t{0});
  EXPECT_EQ(r->status, kBadSequence);
  // The node goes on from where the daemon's count still is.
  StoreRelease(&r->seq, before);
  EXPECT_EQ(Call(1, kNop), kOk);
  EXPECT_EQ(r->done_seq, before + 1);
}

TEST_F(HostCoreTest, RingsOnlyANodeThatWaits) {
  Make(1);
  Attach(1, 0);
  rings_.clear();
  EXPECT_EQ(Call(1, kNop), kOk);
  EXPECT_TRUE(rings_.empty());
  space_.regs(1)->node_flags = kNodeWaiting;
  EXPECT_EQ(Call(1, kNop), kOk);
  EXPECT_EQ(rings_, std::vector<uint32_t>{1});
}

TEST_F(HostCoreTest, ContendedTableLockIsHandedOverInFifoOrder) {
  Make(4);
  for (uint32_t n = 0; n < 4; ++n) Attach(n + 1, n);
  uint64_t idx = LockIndex(77);
  LockEntry* e = &space_.lock_table()[idx];
  e->word = 1;  // node 0 took it on the fast path
  uint64_t s3 = Send(4, kLock, {77, idx});
  uint64_t s1 = Send(2, kLock, {77, idx});
  uint64_t s2 = Send(3, kLock, {77, idx});
  EXPECT_FALSE(Done(4, s3));
  EXPECT_FALSE(Done(2, s1));
  EXPECT_TRUE(e->word & kLockWaiters);
  EXPECT_EQ(e->word & kLockOwnerMask, 1u);
  // Node 0's fast release fails (waiters), so it asks the daemon.
  EXPECT_EQ(Call(1, kUnlock, {77, idx}), kOk);
  EXPECT_TRUE(Done(4, s3));  // first in line: node 3
  EXPECT_EQ(e->word & kLockOwnerMask, 4u);
  EXPECT_FALSE(Done(2, s1));
  EXPECT_EQ(Call(1, kUnlock, {77, idx}), kNotHeld);
  EXPECT_EQ(Call(4, kUnlock, {77, idx}), kOk);
  EXPECT_TRUE(Done(2, s1));
  EXPECT_EQ(Call(2, kUnlock, {77, idx}), kOk);
  EXPECT_TRUE(Done(3, s2));
  // Last waiter: the word is left without the waiters bit.
  EXPECT_EQ(e->word, 3u);
  EXPECT_EQ(Call(3, kUnlock, {77, idx}), kOk);
  EXPECT_EQ(e->word, 0u);
}

TEST_F(HostCoreTest, LockRequestsWithBadEntriesAreRejected) {
  Make(2);
  Attach(1, 0);
  EXPECT_EQ(Call(1, kLock, {5, kLockTableEntries}), kBadArgument);
  EXPECT_EQ(Call(1, kLock, {5, 3}), kBadArgument);  // entry not claimed for id 5
  EXPECT_EQ(Call(1, kLock, {1ULL << 33, kNoLockEntry}), kBadArgument);
  uint64_t idx = LockIndex(5);
  space_.lock_table()[idx].word = 999;  // names no node
  EXPECT_EQ(Call(1, kLock, {5, idx}), kBadArgument);
}

TEST_F(HostCoreTest, TablelessLockIsManagedByTheDaemon) {
  Make(2);
  Attach(1, 0);
  Attach(2, 1);
  EXPECT_EQ(Call(1, kLock, {9, kNoLockEntry}), kOk);
  EXPECT_EQ(Call(1, kLock, {9, kNoLockEntry}), kAlreadyHeld);
  uint64_t s = Send(2, kLock, {9, kNoLockEntry});
  EXPECT_FALSE(Done(2, s));
  EXPECT_EQ(Call(1, kUnlock, {10, kNoLockEntry}), kNotHeld);
  EXPECT_EQ(Call(1, kUnlock, {9, kNoLockEntry}), kOk);
  EXPECT_TRUE(Done(2, s));
  EXPECT_EQ(StatusOf(2), kOk);
  EXPECT_EQ(Call(1, kUnlock, {9, kNoLockEntry}), kNotHeld);
  EXPECT_EQ(Call(2, kUnlock, {9, kNoLockEntry}), kOk);
}

TEST_F(HostCoreTest, BarrierReleasesAllNodesTogether) {
  Make(3);
  for (uint32_t n = 0; n < 3; ++n) Attach(n + 1, n);
  uint64_t a = Send(1, kBarrier);
  uint64_t b = Send(3, kBarrier);
  EXPECT_FALSE(Done(1, a));
  EXPECT_FALSE(Done(3, b));
  uint64_t c = Send(2, kBarrier);
  EXPECT_TRUE(Done(1, a));
  EXPECT_TRUE(Done(2, c));
  EXPECT_TRUE(Done(3, b));
  EXPECT_EQ(StatusOf(1), kOk);
}

// The host barrier runs in the space; the daemon only holds sleepers until
// the node that completes a generation asks it to wake them.
TEST_F(HostCoreTest, HostBarrierSleepersWakeOnlyOnceTheGenerationMovedOn) {
  Make(3);
  for (uint32_t n = 0; n < 3; ++n) Attach(n + 1, n);
  HostBarrier* b = HostBarrierOf(space_.base());
  StoreRelease(&b->state, (uint64_t{4} << 1) | kBarrierSleepers);
  uint64_t a = Send(1, kBarrierSleep, {4});
  uint64_t c = Send(2, kBarrierSleep, {4});
  EXPECT_FALSE(Done(1, a));
  EXPECT_FALSE(Done(2, c));
  // A wake before the generation changed (a confused node) wakes nobody.
  EXPECT_EQ(Call(3, kBarrierWake), kOk);
  EXPECT_FALSE(Done(1, a));
  // Asking to sleep in a generation that is over returns at once.
  EXPECT_EQ(Call(3, kBarrierSleep, {3}), kOk);
  StoreRelease(&b->state, uint64_t{5} << 1);
  EXPECT_EQ(Call(3, kBarrierWake), kOk);
  EXPECT_TRUE(Done(1, a));
  EXPECT_TRUE(Done(2, c));
  EXPECT_EQ(StatusOf(1), kOk);
  EXPECT_EQ(StatusOf(2), kOk);
  // A sleeper of the new generation stays asleep until the job ends, and
  // then hears why.
  uint64_t d = Send(2, kBarrierSleep, {5});
  EXPECT_FALSE(Done(2, d));
  core_->OnPeerLeft(1);
  EXPECT_TRUE(Done(2, d));
  EXPECT_EQ(StatusOf(2), kNodeLost);
}

TEST_F(HostCoreTest, AllocAndFreeGoThroughTheHeapWithErrors) {
  Make(1);
  Attach(1, 0);
  RegisterFile* r = space_.regs(1);
  ASSERT_EQ(Call(1, kAlloc, {1 << 20, kPageSize}), kOk);
  uint64_t off = r->results[0];
  EXPECT_GE(off, space_.header()->heap_offset);
  EXPECT_EQ(Call(1, kAlloc, {kMinSpaceSize, kPageSize}), kNoMemory);
  EXPECT_EQ(Call(1, kAlloc, {0, kPageSize}), kBadArgument);
  EXPECT_EQ(Call(1, kFree, {off + 8}), kBadArgument);
  EXPECT_EQ(Call(1, kFree, {off}), kOk);
  EXPECT_EQ(Call(1, kFree, {off}), kBadArgument);
}

TEST_F(HostCoreTest, StatsReportTheCallersRequestsAndWaits) {
  Make(2);
  Attach(1, 0);
  Attach(2, 1);
  uint64_t b = Send(1, kBarrier);
  ASSERT_EQ(Call(2, kBarrier), kOk);
  ASSERT_TRUE(Done(1, b));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Call(1, kAlloc, {kPageSize, kPageSize}), kOk);
  ASSERT_EQ(Call(1, kStats), kOk);
  RegisterFile* r = space_.regs(1);
  ASSERT_EQ(r->bulk_len, sizeof(DaemonNodeStats));
  DaemonNodeStats st;
  std::memcpy(&st, r->bulk, sizeof st);
  EXPECT_EQ(st.requests[kAttach], 1u);
  EXPECT_EQ(st.requests[kBarrier], 1u);
  EXPECT_EQ(st.requests[kAlloc], 3u);
  EXPECT_EQ(st.requests[kStats], 1u);
  EXPECT_EQ(st.requests[kLock], 0u);
  // Node 0 arrived first and waited for node 1; node 1 did not wait.
  ASSERT_EQ(Call(2, kStats), kOk);
  DaemonNodeStats other;
  std::memcpy(&other, space_.regs(2)->bulk, sizeof other);
  EXPECT_EQ(other.barrier_wait_ns, 0u);
  EXPECT_EQ(other.requests[kAlloc], 0u);
  std::string table = core_->StatsTable();
  EXPECT_NE(table.find("lock-fast"), std::string::npos);
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 4);  // header + 2 nodes + the space's file
  EXPECT_NE(table.find("host 0: shared memory " + space_.backing() + "\n"), std::string::npos) << table;
}

TEST_F(HostCoreTest, FinishReleasesWaitersWithJobFinished) {
  Make(3);
  for (uint32_t n = 0; n < 3; ++n) Attach(n + 1, n);
  uint64_t w = Send(2, kBarrier);
  EXPECT_FALSE(Done(2, w));
  EXPECT_EQ(Call(3, kFinish, {0}), kNotPermitted);  // node 2 may not finish
  EXPECT_EQ(Call(1, kFinish, {7}), kOk);
  EXPECT_TRUE(Done(2, w));
  EXPECT_EQ(StatusOf(2), kJobFinished);
  EXPECT_EQ(Call(3, kBarrier), kJobFinished);
  EXPECT_EQ(core_->state(), JobState::kFinished);
  EXPECT_EQ(core_->exit_status(), 7);
  // Leaving after the finish is clean.
  core_->OnPeerLeft(2);
  EXPECT_EQ(core_->state(), JobState::kFinished);
  EXPECT_FALSE(core_->done());
  core_->OnPeerLeft(1);
  core_->OnPeerLeft(3);
  EXPECT_TRUE(core_->done());
}

TEST_F(HostCoreTest, LosingANodeFailsTheJobAndNamesIt) {
  Make(3);
  for (uint32_t n = 0; n < 3; ++n) Attach(n + 1, n);
  uint64_t w = Send(1, kBarrier);
  core_->OnPeerLeft(3);  // node 2 died
  EXPECT_EQ(core_->state(), JobState::kFailed);
  EXPECT_EQ(core_->lost_node(), 2u);
  EXPECT_TRUE(Done(1, w));
  EXPECT_EQ(StatusOf(1), kNodeLost);
  EXPECT_EQ(space_.regs(1)->results[0], 2u);
  EXPECT_EQ(Call(2, kLock, {1, kNoLockEntry}), kNodeLost);
  // The slot is clean for the next peer.
  EXPECT_EQ(space_.regs(3)->seq, 0u);
}

}  // namespace
}  // namespace dsm::hostd

namespace dsm::hostd {
namespace {

// Whatever a (possibly hostile) guest writes into its register page, the
// daemon answers or ignores it, and a well-behaved node keeps being served.
TEST_F(HostCoreTest, RandomRegisterContentsNeverBreakTheDaemon) {
  Make(3);
  Attach(1, 0);
  Attach(2, 1);
  core_->OnPeerJoined(3);  // joined, never attached
  std::mt19937_64 rng(7);
  int served = 0;
  for (int round = 0; round < 20000; ++round) {
    // Slot 2 is attached node 1, slot 3 never attached. Node 1 can never
    // block: barriers would wait for the others (replaced by nop), and a
    // lock it takes is one nobody else holds.
    uint32_t slot = 2 + static_cast<uint32_t>(rng() % 2);
    RegisterFile* r = space_.regs(slot);
    uint32_t command = static_cast<uint32_t>(rng() % 3 == 0 ? rng() : rng() % (kCommandCount + 2));
    if (command == kFinish || command == kDetach || command == kBarrier || command == kBarrierSleep) {
      command = kNop;
    }
    r->command = command;
    for (auto& a : r->args) a = rng() % 4 == 0 ? rng() : rng() % 64;
    uint64_t seq = r->done_seq;  // the last request the daemon answered
    bool fresh = false;
    switch (rng() % 8) {
      case 0: break;  // duplicate ring
      case 1: seq = seq > 0 ? seq - 1 : 0; break;  // stale
      case 2: seq += 2 + rng() % 100; fresh = true; break;
      default: seq += 1; fresh = true;
    }
    StoreRelease(&r->seq, seq);
    core_->OnDoorbell();
    if (fresh) {
      ASSERT_TRUE(Done(slot, seq)) << "round " << round << ": " << CommandName(command) << " not answered";
      ++served;
    }
  }
  EXPECT_GT(served, 14000);  // three rounds in four are fresh requests
  EXPECT_EQ(core_->state(), JobState::kRunning);
  // The daemon still serves node 0 correctly.
  EXPECT_EQ(Call(1, kNop), kOk);
  EXPECT_EQ(Call(1, kLock, {12345, kNoLockEntry}), kOk);
  EXPECT_EQ(Call(1, kUnlock, {12345, kNoLockEntry}), kOk);
}

}  // namespace
}  // namespace dsm::hostd
