#include "cluster_job.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "process_group.h"

namespace dsm_cluster {

namespace {

bool WriteLine(int fd, std::string line) {
  line += '\n';
  return dsm_bench::WriteAll(fd, line.data(), line.size());
}

constexpr int kKillGraceMs = 5000;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// poll() on one fd until readable or the deadline; 1 ready, 0 timeout, -1 error.
int WaitReadable(int fd, int64_t deadline_ms) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int64_t left = deadline_ms - NowMs();
    int n = ::poll(&p, 1, left > 0 ? static_cast<int>(left) : 0);
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? -1 : (n > 0 ? 1 : 0);
  }
}

std::string DescribeExit(int status) {
  char buf[96];
  if (WIFEXITED(status)) {
    std::snprintf(buf, sizeof buf, "exited with status %d", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    std::snprintf(buf, sizeof buf, "was killed by signal %d", WTERMSIG(status));
  } else {
    std::snprintf(buf, sizeof buf, "ended with wait status 0x%x", status);
  }
  return buf;
}

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

}  // namespace

ClusterJob::~ClusterJob() { Abort(); }

std::string ClusterJob::Describe() const { return "the job (" + command_ + ")"; }

std::string ClusterJob::Start(const JobSpec& spec) {
  if (pid_ >= 0) return "job already started";
  std::vector<std::string> args = {spec.dsm_run, "--hosts", std::to_string(spec.hosts), "-n",
                                   std::to_string(spec.nodes)};
  if (!spec.placement.empty()) args.insert(args.end(), {"--placement", spec.placement});
  if (!spec.home.empty()) args.insert(args.end(), {"--home", spec.home});
  args.push_back("--");
  args.insert(args.end(), spec.program.begin(), spec.program.end());
  command_.clear();
  for (const auto& a : args) command_ += (command_.empty() ? "" : " ") + a;

  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return std::string("pipe: ") + std::strerror(errno);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
    return std::string("fork: ") + std::strerror(errno);
  }
  if (pid == 0) {
    // dsm-run ends the whole job on SIGTERM; send it if the benchmark dies.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(121);
    if (::dup2(in[0], STDIN_FILENO) < 0 || ::dup2(out[1], STDOUT_FILENO) < 0) ::_exit(122);
    // Quiet daemons unless the user asked otherwise (see docs/performance.md).
    ::setenv("DSM_LOG", "error", 0);
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "dsm_cluster_bench: cannot execute %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  pid_ = pid;
  // glibc 2.36's <sys/pidfd.h> lacks C linkage for C++: the raw system call.
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  to_job_ = in[1];
  from_job_ = out[0];
  buffer_.clear();
  Reply reply;
  if (std::string e = ReadReply(&reply); !e.empty()) return e;
  if (reply.kind == Reply::Kind::kError) return "node 0: " + reply.error;
  if (reply.kind != Reply::Kind::kReady) return Describe() + " answered before it was ready";
  return "";
}

std::string ClusterJob::ReadReply(Reply* reply) {
  const int64_t deadline = NowMs() + timeout_ms_;
  for (;;) {
    size_t nl;
    while ((nl = buffer_.find('\n')) != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (ParseReply(line, reply)) return "";
      std::fprintf(stderr, "%s\n", line.c_str());  // not ours: a node's or a daemon's output
    }
    int r = WaitReadable(from_job_, deadline);
    if (r == 0)
      return Describe() + " did not answer within " + std::to_string(timeout_ms_ / 1000) + " s (hang)";
    char chunk[4096];
    ssize_t n = r < 0 ? -1 : ::read(from_job_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = Reap(kKillGraceMs);
      return Describe() + " ended without answering" + (why.empty() ? "" : ": " + why);
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

std::string ClusterJob::Run(uint64_t n, Reply* reply) {
  if (pid_ < 0) return "no job";
  if (!WriteLine(to_job_, std::string(kRun) + std::to_string(n))) {
    return Describe() + " went away: " + std::strerror(errno);
  }
  if (std::string e = ReadReply(reply); !e.empty()) return e;
  if (reply->kind == Reply::Kind::kError) return "node 0: " + reply->error;
  if (reply->kind != Reply::Kind::kOk) return Describe() + " answered 'ready' to a batch";
  return "";
}

std::string ClusterJob::Reap(int timeout_ms) {
  if (pid_ < 0) return "";
  if (pidfd_ >= 0 && WaitReadable(pidfd_, NowMs() + timeout_ms) == 0) {
    return Describe() + " did not exit within " + std::to_string(timeout_ms / 1000) + " s (hang)";
  }
  int status = 0;
  pid_t got;
  do {
    got = ::waitpid(pid_, &status, 0);
  } while (got < 0 && errno == EINTR);
  pid_ = -1;
  CloseFd(&pidfd_);
  if (got < 0) return std::string("waitpid: ") + std::strerror(errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return "dsm-run " + DescribeExit(status);
}

std::string ClusterJob::Finish() {
  if (pid_ < 0) return "no job";
  std::string error;
  if (!WriteLine(to_job_, std::string(kEnd))) error = Describe() + " went away before the end";
  CloseFd(&to_job_);
  if (error.empty()) error = Reap(timeout_ms_);
  if (!error.empty()) Abort();
  CloseFd(&from_job_);
  return error;
}

void ClusterJob::Abort() {
  if (pid_ >= 0) {
    ::kill(pid_, SIGTERM);
    if (pidfd_ < 0 || WaitReadable(pidfd_, NowMs() + kKillGraceMs) == 0) ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  CloseFd(&pidfd_);
  CloseFd(&to_job_);
  CloseFd(&from_job_);
}

}  // namespace dsm_cluster
