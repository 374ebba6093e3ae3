#include "dsm/hostd/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "dsm/common/clock.h"
#include "dsm/common/log.h"

namespace dsm::hostd {

namespace {

constexpr uint64_t kWakeTag = 0;
constexpr uint64_t kNsPerMs = 1000000;

uint64_t MsToNs(int64_t ms) { return ms <= 0 ? 0 : static_cast<uint64_t>(ms) * kNsPerMs; }

}  // namespace

Result<std::unique_ptr<EventLoop>> EventLoop::Create() {
  std::unique_ptr<EventLoop> loop(new EventLoop());
  loop->epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!loop->epoll_) return Status::FromErrno("epoll_create1");
  loop->wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!loop->wake_) return Status::FromErrno("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (::epoll_ctl(loop->epoll_.get(), EPOLL_CTL_ADD, loop->wake_.get(), &ev) != 0) {
    return Status::FromErrno("epoll_ctl(eventfd)");
  }
  return loop;
}

EventLoop::~EventLoop() = default;

Status EventLoop::AddFd(int fd, std::function<void()> on_readable) {
  if (fds_.count(fd) != 0) return Status(EEXIST, "event loop: fd " + std::to_string(fd) + " is already watched");
  uint64_t id = next_watch_id_++;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return Status::FromErrno("epoll_ctl(add fd " + std::to_string(fd) + ")");
  }
  watches_.emplace(id, Watch{fd, std::make_shared<std::function<void()>>(std::move(on_readable))});
  fds_.emplace(fd, id);
  return Status::Ok();
}

void EventLoop::RemoveFd(int fd) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  // Fails harmlessly (EBADF, ENOENT) when the fd was closed already: the
  // kernel dropped it from the set then.
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  watches_.erase(it->second);
  fds_.erase(it);
}

uint64_t EventLoop::AddTimer(int64_t delay_ms, int64_t period_ms, std::function<void()> fn) {
  uint64_t id = next_timer_id_++;
  uint64_t deadline = MonotonicNs() + MsToNs(delay_ms);
  timers_.emplace(id, Timer{deadline, MsToNs(period_ms), std::make_shared<std::function<void()>>(std::move(fn))});
  deadlines_.emplace(deadline, id);
  return id;
}

void EventLoop::CancelTimer(uint64_t id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  deadlines_.erase({it->second.deadline_ns, id});
  timers_.erase(it);
}

void EventLoop::Post(std::function<void()> fn) {
  bool was_empty;
  {
    MutexLock lock(&post_mu_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  // A non-empty queue has a wake-up on its way already (see RunPosted: the
  // loop drains the eventfd before it takes the queue).
  if (was_empty) {
    uint64_t one = 1;
    ssize_t n = ::write(wake_.get(), &one, sizeof one);
    (void)n;  // only fails when the counter is saturated, i.e. already readable
  }
}

void EventLoop::RequestStop() {
  stop_.store(true, std::memory_order_release);
  uint64_t one = 1;
  ssize_t n = ::write(wake_.get(), &one, sizeof one);
  (void)n;
}

int EventLoop::TimeoutMs() const {
  if (deadlines_.empty()) return -1;
  uint64_t next = deadlines_.begin()->first;
  uint64_t now = MonotonicNs();
  if (next <= now) return 0;
  uint64_t ms = (next - now + kNsPerMs - 1) / kNsPerMs;  // rounded up: never early
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

void EventLoop::RunPosted() {
  std::deque<std::function<void()>> batch;
  {
    MutexLock lock(&post_mu_);
    batch.swap(posted_);
  }
  // Tasks posted by these tasks go to the next round.
  for (auto& fn : batch) fn();
}

void EventLoop::RunDueTimers() {
  if (deadlines_.empty()) return;
  uint64_t now = MonotonicNs();
  std::vector<uint64_t> due;
  for (auto it = deadlines_.begin(); it != deadlines_.end() && it->first <= now; ++it) due.push_back(it->second);
  for (uint64_t id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled by an earlier timer of this round
    Timer& t = it->second;
    deadlines_.erase({t.deadline_ns, id});
    Callback fn = t.fn;
    if (t.period_ns == 0) {
      timers_.erase(it);
    } else {
      uint64_t missed = (now - t.deadline_ns) / t.period_ns;
      t.deadline_ns += (missed + 1) * t.period_ns;
      deadlines_.emplace(t.deadline_ns, id);
    }
    (*fn)();
  }
}

bool EventLoop::Run() {
  running_thread_.store(std::this_thread::get_id(), std::memory_order_release);
  bool ok = true;
  epoll_event events[64];
  for (;;) {
    int timeout = stop_.load(std::memory_order_acquire) ? 0 : TimeoutMs();
    int n = ::epoll_wait(epoll_.get(), events, 64, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      DSM_LOG_ERROR("event loop: epoll_wait: %s", std::strerror(errno));
      ok = false;
      break;
    }
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        uint64_t v;
        while (::read(wake_.get(), &v, sizeof v) == sizeof v) {
        }
        woken = true;
        continue;
      }
      auto it = watches_.find(tag);
      if (it == watches_.end()) continue;  // removed earlier in this batch
      Callback fn = it->second.fn;       // keeps it alive if it removes itself
      (*fn)();
    }
    if (woken) RunPosted();
    RunDueTimers();
    if (idle_hook_) idle_hook_();
    if (stop_.exchange(false, std::memory_order_acq_rel)) break;
  }
  running_thread_.store(std::thread::id(), std::memory_order_release);
  return ok;
}

}  // namespace dsm::hostd
