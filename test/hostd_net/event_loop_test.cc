// EventLoop: fds, timers, posted tasks, stop, the idle hook, EINTR.
#include "dsm/hostd/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "dsm/common/clock.h"
#include "dsm/common/fd.h"

namespace dsm::hostd {
namespace {

std::unique_ptr<EventLoop> NewLoop() {
  auto loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok()) << loop.status().message();
  return std::move(loop).value();
}

struct Pipe {
  UniqueFd r, w;
  static Pipe Make() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
  void Put() const { ASSERT_EQ(::write(w.get(), "x", 1), 1); }
};

// A watchdog: stops the loop after `ms` so that a broken loop fails the test
// instead of hanging it. Returns the timer id.
uint64_t Watchdog(EventLoop* loop, bool* fired, int64_t ms = 5000) {
  return loop->AddTimer(ms, 0, [loop, fired] {
    *fired = true;
    loop->RequestStop();
  });
}

TEST(EventLoopTest, FdCallbackRunsWhileReadable) {
  auto loop = NewLoop();
  Pipe p = Pipe::Make();
  int calls = 0;
  ASSERT_TRUE(loop->AddFd(p.r.get(), [&] {
    char c;
    ASSERT_EQ(::read(p.r.get(), &c, 1), 1);
    if (++calls == 3) {
      loop->RequestStop();
    } else {
      p.Put();  // readable again: dispatched next round
    }
  }).ok());
  EXPECT_EQ(loop->AddFd(p.r.get(), [] {}).code(), EEXIST);
  bool timed_out = false;
  Watchdog(loop.get(), &timed_out);
  p.Put();
  EXPECT_TRUE(loop->Run());
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(calls, 3);
}

TEST(EventLoopTest, CallbackMayRemoveItsOwnFd) {
  auto loop = NewLoop();
  Pipe p = Pipe::Make();
  int calls = 0;
  int captured_state = 42;
  ASSERT_TRUE(loop->AddFd(p.r.get(), [&, captured_state] {
    ++calls;
    loop->RemoveFd(p.r.get());
    // The callback's captures are still alive after the removal.
    EXPECT_EQ(captured_state, 42);
  }).ok());
  p.Put();  // never drained: level-triggered, it would fire every round
  int rounds = 0;
  loop->SetIdleHook([&] {
    if (++rounds == 5) loop->RequestStop();
  });
  // Keep the loop turning: a periodic timer makes rounds without the fd.
  loop->AddTimer(0, 1, [] {});
  EXPECT_TRUE(loop->Run());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(loop->watched_fds(), 0u);
}

TEST(EventLoopTest, RemovedFdIsNotDispatchedLaterInTheSameBatch) {
  auto loop = NewLoop();
  Pipe a = Pipe::Make(), b = Pipe::Make();
  a.Put();
  b.Put();  // both readable before the first wait: one batch
  int calls_a = 0, calls_b = 0;
  ASSERT_TRUE(loop->AddFd(a.r.get(), [&] {
    ++calls_a;
    loop->RemoveFd(a.r.get());
    loop->RemoveFd(b.r.get());
  }).ok());
  ASSERT_TRUE(loop->AddFd(b.r.get(), [&] {
    ++calls_b;
    loop->RemoveFd(a.r.get());
    loop->RemoveFd(b.r.get());
  }).ok());
  loop->RequestStop();  // one round
  EXPECT_TRUE(loop->Run());
  EXPECT_EQ(calls_a + calls_b, 1);
}

TEST(EventLoopTest, FdNumberReusedInsideABatchDoesNotGetTheOldEvent) {
  auto loop = NewLoop();
  Pipe a = Pipe::Make(), b = Pipe::Make();
  a.Put();
  b.Put();
  int first = 0, fresh_calls = 0;
  Pipe fresh;
  // Whichever runs first closes the other pipe and watches a new, empty one
  // (which usually gets the closed fd's number).
  auto swap_other = [&](Pipe* other) {
    ++first;
    loop->RemoveFd(a.r.get());
    loop->RemoveFd(b.r.get());
    *other = Pipe();
    fresh = Pipe::Make();
    ASSERT_TRUE(loop->AddFd(fresh.r.get(), [&] { ++fresh_calls; }).ok());
  };
  ASSERT_TRUE(loop->AddFd(a.r.get(), [&] { swap_other(&b); }).ok());
  ASSERT_TRUE(loop->AddFd(b.r.get(), [&] { swap_other(&a); }).ok());
  loop->RequestStop();
  EXPECT_TRUE(loop->Run());
  EXPECT_EQ(first, 1);
  EXPECT_EQ(fresh_calls, 0);
  loop->RemoveFd(fresh.r.get());
}

TEST(EventLoopTest, OneShotTimerFiresOnceNotEarly) {
  auto loop = NewLoop();
  uint64_t start = MonotonicNs();
  uint64_t fired_at = 0;
  int calls = 0;
  loop->AddTimer(30, 0, [&] {
    ++calls;
    fired_at = MonotonicNs();
    loop->AddTimer(20, 0, [&] { loop->RequestStop(); });  // a one-shot is not run twice meanwhile
  });
  bool timed_out = false;
  Watchdog(loop.get(), &timed_out);
  EXPECT_TRUE(loop->Run());
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(calls, 1);
  EXPECT_GE(fired_at - start, 30u * 1000000);
}

TEST(EventLoopTest, PeriodicTimerRepeatsUntilCancelledFromItsOwnCallback) {
  auto loop = NewLoop();
  std::vector<uint64_t> times;
  uint64_t id = 0;
  uint64_t start = MonotonicNs();
  id = loop->AddTimer(5, 10, [&] {
    times.push_back(MonotonicNs());
    if (times.size() == 5) {
      loop->CancelTimer(id);
      loop->AddTimer(30, 0, [&] { loop->RequestStop(); });
    }
  });
  EXPECT_NE(id, 0u);
  bool timed_out = false;
  Watchdog(loop.get(), &timed_out);
  EXPECT_TRUE(loop->Run());
  EXPECT_FALSE(timed_out);
  ASSERT_EQ(times.size(), 5u);  // not a sixth after the cancel
  // Tick k is due at start + 5 + 10 k ms (fixed rate) and never runs early.
  for (size_t k = 0; k < times.size(); ++k) EXPECT_GE(times[k] - start, (5 + 10 * k) * 1000000) << k;
}

TEST(EventLoopTest, TimersRunInDeadlineOrderAndCancelWorksWithinARound) {
  auto loop = NewLoop();
  std::vector<int> order;
  uint64_t later = 0;
  loop->AddTimer(20, 0, [&] { order.push_back(2); });
  loop->AddTimer(10, 0, [&] {
    order.push_back(1);
    loop->CancelTimer(later);
  });
  later = loop->AddTimer(20, 0, [&] { order.push_back(3); });
  loop->AddTimer(40, 0, [&] { loop->RequestStop(); });
  loop->CancelTimer(12345);  // unknown: no-op
  EXPECT_TRUE(loop->Run());
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(loop->pending_timers(), 0u);
}

TEST(EventLoopTest, PostedTasksRunOnTheLoopThreadInFifoOrder) {
  auto loop = NewLoop();
  constexpr int kPerThread = 2000;
  std::vector<std::pair<int, int>> seen;  // (thread, sequence), loop thread only
  std::atomic<int> remaining{2 * kPerThread};
  bool wrong_thread = false;
  std::thread runner([&] { EXPECT_TRUE(loop->Run()); });
  std::vector<std::thread> posters;
  for (int t = 0; t < 2; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        loop->Post([&, t, i] {
          if (!loop->InLoopThread()) wrong_thread = true;
          seen.emplace_back(t, i);
          if (remaining.fetch_sub(1) == 1) loop->RequestStop();
        });
      }
    });
  }
  for (auto& p : posters) p.join();
  runner.join();
  EXPECT_FALSE(wrong_thread);
  ASSERT_EQ(seen.size(), 2u * kPerThread);
  int next[2] = {0, 0};
  for (auto [t, i] : seen) {
    EXPECT_EQ(i, next[t]) << "thread " << t;
    next[t] = i + 1;
  }
}

TEST(EventLoopTest, TaskPostedByATaskRunsInTheNextRound) {
  auto loop = NewLoop();
  int round = 0;
  int inner_round = -1;
  loop->SetIdleHook([&] { ++round; });
  loop->Post([&] {
    loop->Post([&] {
      inner_round = round;
      loop->RequestStop();
    });
  });
  EXPECT_TRUE(loop->Run());
  EXPECT_EQ(inner_round, 1);  // the first round's hook ran before it
}

TEST(EventLoopTest, StopFromAnotherThreadAndBeforeRun) {
  auto loop = NewLoop();
  // Requested before Run: the next Run returns after one round.
  loop->RequestStop();
  EXPECT_TRUE(loop->Run());
  // Requested while running, from another thread.
  std::atomic<bool> in_loop{false};
  loop->Post([&] { in_loop = true; });
  std::thread runner([&] { EXPECT_TRUE(loop->Run()); });
  uint64_t deadline = MonotonicNs() + 5000000000ULL;
  while (!in_loop && MonotonicNs() < deadline) std::this_thread::yield();
  ASSERT_TRUE(in_loop);
  loop->RequestStop();
  runner.join();
  EXPECT_FALSE(loop->InLoopThread());
}

TEST(EventLoopTest, IdleHookRunsOnceAfterEachBatch) {
  auto loop = NewLoop();
  Pipe a = Pipe::Make(), b = Pipe::Make();
  int dispatched = 0;
  std::vector<int> per_round;
  auto drain = [&](const Pipe& p) {
    char c;
    while (::read(p.r.get(), &c, 1) == 1) {
    }
    ++dispatched;
  };
  ASSERT_TRUE(loop->AddFd(a.r.get(), [&] { drain(a); }).ok());
  ASSERT_TRUE(loop->AddFd(b.r.get(), [&] { drain(b); }).ok());
  a.Put();
  b.Put();
  loop->SetIdleHook([&] {
    per_round.push_back(dispatched);
    dispatched = 0;
    if (per_round.size() == 2) loop->RequestStop();
  });
  loop->AddTimer(10, 0, [] {});  // the second round
  EXPECT_TRUE(loop->Run());
  EXPECT_EQ(per_round, (std::vector<int>{2, 0}));
}

std::atomic<int> g_signals{0};
void CountSignal(int) { g_signals.fetch_add(1); }

TEST(EventLoopTest, InterruptedWaitIsRetried) {
  struct sigaction sa{};
  sa.sa_handler = CountSignal;  // no SA_RESTART: epoll_wait fails with EINTR
  sigemptyset(&sa.sa_mask);
  struct sigaction old{};
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  auto loop = NewLoop();
  std::atomic<bool> ok{false};
  std::atomic<bool> started{false};
  loop->Post([&] { started = true; });
  std::thread runner([&] { ok = loop->Run(); });
  uint64_t deadline = MonotonicNs() + 5000000000ULL;
  while (!started && MonotonicNs() < deadline) std::this_thread::yield();
  for (int i = 1; i <= 3; ++i) {
    ::pthread_kill(runner.native_handle(), SIGUSR1);
    while (g_signals.load() < i && MonotonicNs() < deadline) std::this_thread::yield();
  }
  EXPECT_EQ(g_signals.load(), 3);
  // Still serving after the interruptions.
  std::atomic<bool> served{false};
  loop->Post([&] {
    served = true;
    loop->RequestStop();
  });
  runner.join();
  EXPECT_TRUE(ok);
  EXPECT_TRUE(served);
  ::sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace
}  // namespace dsm::hostd
