// One daemon's event loop: an epoll set of file descriptors with a callback
// each, one-shot and periodic timers (CLOCK_MONOTONIC, millisecond
// resolution, computed into the epoll timeout), a queue of tasks that other
// threads post, and a hook run after every round.
//
// A round is: wait (until an fd is readable, the next timer is due, a task is
// posted or a stop is requested), call the callback of every readable fd of
// the batch, run the posted tasks (FIFO), run the due timers, then the idle
// hook. Callbacks are level-triggered: an fd that stays readable is
// dispatched again next round. EINTR is retried.
//
// Callbacks may add and remove fds and timers, including their own: a removed
// fd is not dispatched again, even later in the same batch, and a callback
// that removes itself keeps running to its end (the loop holds a reference).
//
// Ownership: the loop owns its epoll fd and wake-up eventfd and the callbacks;
// it does not own the fds it watches (remove one before closing it; an fd
// closed first is dropped from the epoll set by the kernel, and RemoveFd then
// only forgets the callback).
//
// Thread safety: Post() and RequestStop() may be called from any thread at
// any time while the loop exists. Everything else belongs to the thread that
// runs Run() (or to whoever owns the loop while it does not run).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "dsm/common/fd.h"
#include "dsm/common/status.h"
#include "dsm/common/thread_annotations.h"

namespace dsm::hostd {

class EventLoop {
 public:
  static Result<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Calls on_readable whenever fd is readable (or hung up, or in error).
  // Fails with EEXIST for an fd that is already watched.
  Status AddFd(int fd, std::function<void()> on_readable);
  // Stops watching fd. No-op for an fd that is not watched.
  void RemoveFd(int fd);

  // Runs fn after delay_ms, then every period_ms (0: once). Returns the
  // timer's id, never 0. A periodic timer that fell behind skips the missed
  // ticks rather than running them in a burst.
  uint64_t AddTimer(int64_t delay_ms, int64_t period_ms, std::function<void()> fn);
  // No-op for an unknown, fired (one-shot) or already cancelled id.
  void CancelTimer(uint64_t id);

  // Runs fn on the loop thread in the next round, after every task posted
  // before it. Thread-safe; never blocks on the loop.
  void Post(std::function<void()> fn) EXCLUDES(post_mu_);

  // Makes the current Run() return at the end of its round, or the next
  // Run() return after its first round if none is running. Thread-safe.
  void RequestStop();

  // Called at the end of every round (see above), on the loop thread.
  void SetIdleHook(std::function<void()> hook) { idle_hook_ = std::move(hook); }

  // Serves until RequestStop(). Returns false if epoll_wait failed (logged).
  bool Run();

  // True on the thread inside Run().
  [[nodiscard]] bool InLoopThread() const {
    return running_thread_.load(std::memory_order_acquire) == std::this_thread::get_id();
  }
  [[nodiscard]] size_t watched_fds() const { return fds_.size(); }
  [[nodiscard]] size_t pending_timers() const { return timers_.size(); }

 private:
  using Callback = std::shared_ptr<std::function<void()>>;
  struct Watch {
    int fd;
    Callback fn;
  };
  struct Timer {
    uint64_t deadline_ns;
    uint64_t period_ns;
    Callback fn;
  };

  EventLoop() = default;
  int TimeoutMs() const EXCLUDES(post_mu_);
  void RunPosted() EXCLUDES(post_mu_);
  void RunDueTimers();

  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd: a task was posted or a stop requested
  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> running_thread_{};

  // Watched fds by registration id (the epoll tag; 0 is the wake-up eventfd),
  // and the registration id of each fd.
  std::unordered_map<uint64_t, Watch> watches_;
  std::unordered_map<int, uint64_t> fds_;
  uint64_t next_watch_id_ = 1;

  // Timers by id, and their ids by deadline.
  std::unordered_map<uint64_t, Timer> timers_;
  std::set<std::pair<uint64_t, uint64_t>> deadlines_;
  uint64_t next_timer_id_ = 1;

  std::function<void()> idle_hook_;

  Mutex post_mu_;
  std::deque<std::function<void()>> posted_ GUARDED_BY(post_mu_);
};

}  // namespace dsm::hostd
