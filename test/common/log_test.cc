// Logging (common/src/log.cc): lines stay whole, and keep a whole prefix,
// while other threads change the prefix.
#include "dsm/common/log.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace dsm {
namespace {

// Sends this process's stderr into a memfd (appending, so that lines written
// by several threads at once cannot overwrite each other) until Finish.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    fd_ = ::memfd_create("log_test", MFD_CLOEXEC);
    saved_ = ::dup(STDERR_FILENO);
    ok_ = fd_ >= 0 && saved_ >= 0 && ::fcntl(fd_, F_SETFL, O_APPEND) == 0 &&
          ::dup2(fd_, STDERR_FILENO) == STDERR_FILENO;
  }
  ~StderrCapture() { Finish(); }
  bool ok() const { return ok_; }

  // Restores stderr and returns what was written meanwhile.
  std::string Finish() {
    if (saved_ < 0) return text_;
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
    char buf[65536];
    off_t at = 0;
    for (ssize_t n; (n = ::pread(fd_, buf, sizeof buf, at)) > 0; at += n) text_.append(buf, n);
    ::close(fd_);
    return text_;
  }

 private:
  int fd_ = -1;
  int saved_ = -1;
  bool ok_ = false;
  std::string text_;
};

TEST(Log, EveryLineKeepsOneWholePrefixWhileThePrefixChanges) {
  // Different lengths: a prefix rewritten in place under a reader would show
  // up as a mixture ("prfix-...", "other-paaaa...").
  const std::vector<std::string> prefixes = {"p", "prefix-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                             "other-prefix-bbbbbbbbbbbbbbbb"};
  constexpr int kThreads = 4;
  constexpr int kMinLines = 5000;    // per thread
  constexpr int kMinChanges = 10000;  // prefix changes while the threads log
  SetLogPrefix(prefixes[0].c_str());
  std::atomic<int> changes{0};
  std::atomic<int> finished{0};
  std::vector<int> lines(kThreads, 0);
  std::string out;
  {
    StderrCapture capture;
    ASSERT_TRUE(capture.ok());
    std::vector<std::thread> loggers;
    for (int t = 0; t < kThreads; ++t) {
      loggers.emplace_back([&, t] {
        // Log until both enough lines and enough prefix changes happened:
        // the changes overlap the logging whatever the scheduling.
        int i = 0;
        for (; i < kMinLines || changes.load() < kMinChanges; ++i) {
          DSM_LOG_ERROR("thread %d line %d", t, i);
        }
        lines[t] = i;
        finished.fetch_add(1);
      });
    }
    for (size_t k = 1; finished.load() < kThreads; ++k) {
      SetLogPrefix(prefixes[k % prefixes.size()].c_str());
      changes.fetch_add(1);
    }
    for (auto& l : loggers) l.join();
    out = capture.Finish();
  }
  SetLogPrefix("dsm");

  std::set<std::string> valid(prefixes.begin(), prefixes.end());
  std::vector<std::vector<bool>> seen(kThreads);
  for (int t = 0; t < kThreads; ++t) seen[t].assign(lines[t], false);
  std::istringstream in(out);
  std::string line;
  int bad = 0;
  while (std::getline(in, line)) {
    size_t colon = line.find(": error: thread ");
    int t = -1, i = -1;
    if (colon == std::string::npos || !valid.count(line.substr(0, colon)) ||
        std::sscanf(line.c_str() + colon, ": error: thread %d line %d", &t, &i) != 2 || t < 0 ||
        t >= kThreads || i < 0 || i >= lines[t] || seen[t][i]) {
      if (++bad <= 5) ADD_FAILURE() << "bad line: '" << line << "'";
      continue;
    }
    seen[t][i] = true;
  }
  EXPECT_EQ(bad, 0);
  for (int t = 0; t < kThreads; ++t) {
    int missing = 0;
    for (bool s : seen[t]) missing += !s;
    EXPECT_EQ(missing, 0) << "thread " << t << " of " << lines[t] << " lines";
  }
  EXPECT_GE(changes.load(), kMinChanges);
}

TEST(Log, LongPrefixIsCut) {
  std::string out;
  {
    StderrCapture capture;
    ASSERT_TRUE(capture.ok());
    SetLogPrefix(std::string(100, 'x').c_str());
    DSM_LOG_ERROR("long");
    SetLogPrefix("dsm");
    DSM_LOG_ERROR("short");
    out = capture.Finish();
  }
  EXPECT_EQ(out, std::string(63, 'x') + ": error: long\ndsm: error: short\n");
}

}  // namespace
}  // namespace dsm
