// RunProgram: runs one program to its end, with extra environment and a
// deadline, and returns its stdout, stderr and exit status. For the tests
// that run whole programs and jobs (test/atomics, test/openmp,
// test/splash2): the program is usually dsm-run or a program built by the
// test area.
//
// Header-only, no state. It forks: call it from the test's own thread (the
// child only duplicates descriptors and execs, so it is safe after fork in a
// multi-threaded process too, but gtest assertions are not thread-safe).
// Nothing sleeps: the pipes are polled until both close or the deadline.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dsm/common/fd.h"

extern char** environ;

namespace dsm::testing {

struct ProgramOutput {
  int status = -1;         // exit status; -1 if ended by a signal or the deadline
  bool timed_out = false;  // killed at the deadline
  std::string out, err;
};

// Variables a run never inherits from the test's environment: those that
// would attach the program to a job (DSM_*) or shape its OpenMP team
// (OMP_*). A test that wants one sets it in `env`.
inline constexpr std::string_view kNotInherited[] = {
    "DSM_SOCKET", "DSM_NODE_ID", "DSM_NUM_NODES", "OMP_NUM_THREADS", "OMP_SCHEDULE"};

// Runs argv (argv[0] a path; no PATH search) with the test's environment,
// less kNotInherited, plus env; collects its stdout and stderr until both
// close, then reaps it. At the deadline it is killed (SIGKILL to the program
// itself, not to what it started) and timed_out is set; what it wrote until
// then is kept. A failed pipe or fork gives status -1 and the reason in err.
inline ProgramOutput RunProgram(const std::vector<std::string>& argv,
                                const std::map<std::string, std::string>& env,
                                std::chrono::milliseconds deadline) {
  ProgramOutput r;
  if (argv.empty()) {
    r.err = "RunProgram: no program";
    return r;
  }
  // Everything the child needs is built before fork.
  std::vector<std::string> entries;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string name(entry.substr(0, entry.find('=')));
    if (std::find(std::begin(kNotInherited), std::end(kNotInherited), name) !=
            std::end(kNotInherited) ||
        env.count(name) != 0) {
      continue;
    }
    entries.emplace_back(entry);
  }
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& e : entries) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    r.err = std::string("pipe2: ") + std::strerror(errno);
    return r;
  }
  dsm::UniqueFd out_read(out[0]), out_write(out[1]);
  if (pipe2(err, O_CLOEXEC) != 0) {
    r.err = std::string("pipe2: ") + std::strerror(errno);
    return r;
  }
  dsm::UniqueFd err_read(err[0]), err_write(err[1]);
  const auto end = std::chrono::steady_clock::now() + deadline;
  pid_t pid = fork();
  if (pid < 0) {
    r.err = std::string("fork: ") + std::strerror(errno);
    return r;
  }
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  out_write.reset();
  err_write.reset();

  dsm::UniqueFd* fds[2] = {&out_read, &err_read};
  std::string* sinks[2] = {&r.out, &r.err};
  while (out_read.valid() || err_read.valid()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    end - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p[2];
    for (int i = 0; i < 2; ++i) p[i] = {fds[i]->valid() ? fds[i]->get() : -1, POLLIN, 0};
    int ready = poll(p, 2, static_cast<int>(std::min<decltype(left)>(left, 1 << 30)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      r.err += std::string("RunProgram: poll: ") + std::strerror(errno);
      kill(pid, SIGKILL);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || (p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[4096];
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i]->reset();
      }
    }
  }
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  if (!r.timed_out && WIFEXITED(ws)) r.status = WEXITSTATUS(ws);
  return r;
}

}  // namespace dsm::testing
