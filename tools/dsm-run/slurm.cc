#include "slurm.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dsm/common/fd.h"
#include "dsm/common/parse.h"
#include "options.h"

extern char** environ;

namespace dsm::launcher {
namespace {

constexpr uint64_t kMaxRepeat = 65536;

// Runs argv (argv[0] looked up on PATH) to its end; its stdout, or an error
// with its stderr.
Result<std::string> Capture(const std::vector<std::string>& argv) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Status::FromErrno("pipe2");
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return Status::FromErrno("pipe2");
  UniqueFd err_r(err[0]), err_w(err[1]);
  std::vector<std::string> words = argv;
  std::vector<char*> argp;
  for (std::string& w : words) argp.push_back(w.data());
  argp.push_back(nullptr);
  // Before fork: nothing but async-signal-safe calls in the child.
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno("fork");
  if (pid == 0) {
    if (::dup2(devnull.get(), STDIN_FILENO) < 0 || ::dup2(out_w.get(), STDOUT_FILENO) < 0 ||
        ::dup2(err_w.get(), STDERR_FILENO) < 0) {
      ::_exit(127);
    }
    ::execvp(argp[0], argp.data());
    const char msg[] = "cannot execute it\n";
    ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    ::_exit(127);
  }
  out_w.reset();
  err_w.reset();
  // scontrol writes little; reading stdout to its end first cannot block on
  // a full stderr pipe (64 KiB) in practice, but read both in turn anyway.
  std::string text, errors;
  for (int fd : {out_r.get(), err_r.get()}) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) != 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      (fd == out_r.get() ? text : errors).append(buf, static_cast<size_t>(n));
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!errors.empty() && errors.back() == '\n') errors.pop_back();
    std::string cmd;
    for (const std::string& w : argv) cmd += (cmd.empty() ? "" : " ") + w;
    return Status(EINVAL, cmd + " failed" + (errors.empty() ? "" : ": " + errors));
  }
  return text;
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (!line.empty()) lines.emplace_back(line);
    at = end + 1;
  }
  return lines;
}

}  // namespace

Result<std::vector<uint32_t>> ParseTasksPerNode(std::string_view text) {
  std::vector<uint32_t> counts;
  auto bad = [&] { return Status(EINVAL, "cannot read '" + std::string(text) + "' as tasks per node (like 2(x3),1)"); };
  if (text.empty()) return bad();
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(at, end - at);
    uint64_t repeat = 1;
    if (size_t paren = item.find('('); paren != std::string_view::npos) {
      if (!item.ends_with(')') || item.substr(paren, 2) != "(x") return bad();
      auto r = ParseUint(item.substr(paren + 2, item.size() - paren - 3));
      if (!r || *r < 1 || *r > kMaxRepeat) return bad();
      repeat = *r;
      item = item.substr(0, paren);
    }
    auto n = ParseUint(item);
    if (!n || *n < 1 || *n > kMaxNodes) return bad();
    counts.insert(counts.end(), repeat, static_cast<uint32_t>(*n));
    if (counts.size() > kMaxRepeat) return bad();
    at = end + 1;
  }
  return counts;
}

std::vector<SlurmNodeAddr> ParseNodeAddrs(std::string_view text) {
  std::vector<SlurmNodeAddr> nodes;
  for (const std::string& line : Lines(text)) {
    SlurmNodeAddr n;
    size_t at = 0;
    while (at < line.size()) {
      size_t end = line.find(' ', at);
      if (end == std::string::npos) end = line.size();
      std::string_view word(line.data() + at, end - at);
      if (word.starts_with("NodeName=")) n.name = word.substr(9);
      if (word.starts_with("NodeAddr=")) n.addr = word.substr(9);
      at = end + 1;
    }
    if (!n.name.empty()) nodes.push_back(std::move(n));
  }
  return nodes;
}

bool InSlurmJob(const EnvLookup& env) {
  const char* id = env("SLURM_JOB_ID");
  return id != nullptr && *id != '\0';
}

Result<std::vector<HostEntry>> ReadAllocation(const EnvLookup& env) {
  if (!InSlurmJob(env)) return Status(EINVAL, "--launcher slurm: not inside a Slurm allocation (no SLURM_JOB_ID)");
  const char* list = env("SLURM_JOB_NODELIST");
  if (list == nullptr || *list == '\0') list = env("SLURM_NODELIST");
  if (list == nullptr || *list == '\0') return Status(EINVAL, "Slurm allocation: SLURM_JOB_NODELIST is not set");
  const char* tasks = env("SLURM_TASKS_PER_NODE");
  const char* which = "SLURM_TASKS_PER_NODE";
  if (tasks == nullptr || *tasks == '\0') {
    tasks = env("SLURM_JOB_CPUS_PER_NODE");
    which = "SLURM_JOB_CPUS_PER_NODE";
  }
  if (tasks == nullptr || *tasks == '\0') {
    return Status(EINVAL, "Slurm allocation: neither SLURM_TASKS_PER_NODE nor SLURM_JOB_CPUS_PER_NODE is set");
  }
  auto counts = ParseTasksPerNode(tasks);
  if (!counts.ok()) return Status(EINVAL, std::string("Slurm allocation: ") + which + ": " + counts.status().message());

  auto names = Capture({"scontrol", "show", "hostnames", list});
  if (!names.ok()) return Status(EINVAL, "Slurm allocation: " + names.status().message());
  std::vector<std::string> hosts = Lines(*names);
  if (hosts.size() != counts->size()) {
    return Status(EINVAL, "Slurm allocation: SLURM_JOB_NODELIST names " + std::to_string(hosts.size()) +
                              " machines but " + which + " counts " + std::to_string(counts->size()));
  }
  auto shown = Capture({"scontrol", "-o", "show", "node", list});
  if (!shown.ok()) return Status(EINVAL, "Slurm allocation: " + shown.status().message());
  std::vector<SlurmNodeAddr> addrs = ParseNodeAddrs(*shown);

  std::vector<HostEntry> entries;
  for (size_t k = 0; k < hosts.size(); ++k) {
    HostEntry e;
    e.name = hosts[k];
    e.slots = (*counts)[k];
    e.listen = hosts[k];  // NodeAddr defaults to the node's name
    for (const SlurmNodeAddr& a : addrs) {
      if (a.name == hosts[k] && !a.addr.empty()) e.listen = a.addr;
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace dsm::launcher
