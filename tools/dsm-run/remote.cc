#include "remote.h"

#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "find_program.h"

namespace dsm::launcher {
namespace {

// A path as seen from any directory.
std::string Absolute(const std::string& path, const std::string& cwd) {
  if (path.empty() || path[0] == '/') return path;
  std::string p = path;
  while (p.starts_with("./")) p.erase(0, 2);
  return cwd + (cwd.ends_with('/') ? "" : "/") + p;
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool IsSsh(const std::string& command) {
  std::string name = Basename(command);
  return name == "ssh";
}

}  // namespace

Result<std::vector<std::string>> SplitCommand(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i++];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      in_word = true;
      size_t end = text.find('\'', i);
      if (end == std::string_view::npos) return Status(EINVAL, "unterminated ' in the command");
      word.append(text.substr(i, end - i));
      i = end + 1;
    } else if (c == '"') {
      in_word = true;
      for (;;) {
        if (i >= text.size()) return Status(EINVAL, "unterminated \" in the command");
        char d = text[i++];
        if (d == '"') break;
        if (d == '\\' && i < text.size() && (text[i] == '"' || text[i] == '\\')) d = text[i++];
        word.push_back(d);
      }
    } else if (c == '\\' && i < text.size()) {
      in_word = true;
      word.push_back(text[i++]);
    } else {
      in_word = true;
      word.push_back(c);
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return Status(EINVAL, "empty command");
  return words;
}

std::string ShellQuote(std::string_view word) {
  std::string q = "'";
  for (char c : word) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q.push_back(c);
    }
  }
  return q + "'";
}

RemoteLauncher::RemoteLauncher(const Options& o, std::vector<std::string> ssh_words, std::string self,
                               std::string cwd, uint64_t job_id)
    : o_(o), ssh_(std::move(ssh_words)), self_(std::move(self)), cwd_(std::move(cwd)), job_id_(job_id) {}

Result<RemoteLauncher> RemoteLauncher::Create(const Options& o, uint64_t job_id) {
  auto words = SplitCommand(o.slurm() ? std::string("srun") : o.ssh);
  if (!words.ok()) return Status(EINVAL, "--ssh " + o.ssh + ": " + words.status().message());
  auto path = FindProgram((*words)[0], std::getenv("PATH"));
  if (!path.ok()) return Status(EINVAL, (o.slurm() ? "srun: " : "--ssh: ") + path.status().message());
  (*words)[0] = *path;
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) return Status::FromErrno("readlink /proc/self/exe");
  std::string self(buf, static_cast<size_t>(n));
  std::string cwd = "/";
  if (::getcwd(buf, sizeof buf) != nullptr) cwd = buf;
  return RemoteLauncher(o, std::move(words).value(), std::move(self), std::move(cwd), job_id);
}

std::string RemoteLauncher::DirName(uint32_t host) const {
  char id[17];
  std::snprintf(id, sizeof id, "%016" PRIx64, job_id_);
  return "dsm-" + std::string(id) + "-h" + std::to_string(host);
}

std::string RemoteLauncher::ListenEndpoint(uint32_t host) const {
  const std::string& listen = o_.remote_hosts[host].listen;
  if (slurm()) return "tcp://" + std::string(kHostAddressPlaceholder) + ":0";
  return "tcp://" + (listen.empty() ? std::string(kSshAddressPlaceholder) : listen) + ":0";
}

std::string RemoteLauncher::StagedName(const std::string& path) {
  std::string name = Basename(path);
  return name.empty() || name == "." || name == ".." ? "program" : name;
}

std::string RemoteLauncher::ProgramPath(const std::string& local_path) const {
  if (o_.stage) return std::string(kDirPlaceholder) + "/" + StagedName(o_.program);
  return Absolute(local_path, cwd_);
}

std::vector<std::string> RemoteLauncher::Session(uint32_t host, const std::vector<std::string>& remote) const {
  std::vector<std::string> argv = ssh_;
  if (slurm()) {
    // One job step of one task on that node, sharing the allocation's CPUs
    // with the job's other steps; the words go to the task as they are.
    argv.insert(argv.end(), {"--nodes=1", "--ntasks=1", "--nodelist=" + host_name(host), "--overlap", "--quiet",
                             "--unbuffered", "--quit-on-interrupt", "--job-name=" + DirName(host)});
    argv.insert(argv.end(), remote.begin(), remote.end());
    return argv;
  }
  if (IsSsh(ssh_[0])) {
    // After the user's own words: ssh takes the first value given for an
    // option, so theirs win.
    argv.insert(argv.end(), {"-T", "-x", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o",
                             "ServerAliveInterval=1", "-o", "ServerAliveCountMax=3"});
  }
  argv.push_back(host_name(host));
  // One string for the remote shell.
  std::string command = "exec";
  for (const std::string& word : remote) command += " " + ShellQuote(word);
  argv.push_back(std::move(command));
  return argv;
}

std::vector<std::string> RemoteLauncher::DaemonArgv(uint32_t host, const std::vector<std::string>& daemon_argv,
                                                    bool keys, uint64_t stage_size, const std::string& label) const {
  std::vector<std::string> r = {self_, kAgentOption, "daemon", "--dir", DirName(host), "--cwd", cwd_};
  if (keys) r.emplace_back("--keys");
  if (slurm()) r.insert(r.end(), {"--resolve", o_.remote_hosts[host].listen});
  if (o_.stage) r.insert(r.end(), {"--stage", StagedName(o_.program), std::to_string(stage_size)});
  if (!o_.stats_json.empty()) r.insert(r.end(), {"--stats", kRemoteStatsName});
  if (!o_.trace.empty()) r.insert(r.end(), {"--traces", kRemoteTraceName});
  r.insert(r.end(), {"--label", label, "--"});
  r.push_back(Absolute(daemon_argv[0], cwd_));
  r.insert(r.end(), daemon_argv.begin() + 1, daemon_argv.end());
  return Session(host, r);
}

std::vector<std::string> RemoteLauncher::NodeArgv(uint32_t host, const std::vector<std::string>& env,
                                                  const std::vector<std::string>& program_argv,
                                                  const std::string& label) const {
  std::vector<std::string> r = {self_, kAgentOption, "node", "--dir", DirName(host), "--cwd", cwd_};
  for (const std::string& e : env) r.insert(r.end(), {"--env", e});
  r.insert(r.end(), {"--label", label, "--"});
  r.insert(r.end(), program_argv.begin(), program_argv.end());
  return Session(host, r);
}

std::string DescribeSrunExit(const ExitInfo& e) {
  if (e.signaled) return "lost its job step: srun " + Describe(e);
  // srun's own failures are status 1, like a program's; its message is above.
  return Describe(e);
}

std::string DescribeSshExit(const ExitInfo& e) {
  if (e.signaled) return "lost its ssh connection: ssh " + Describe(e);
  if (e.value == kSshFailed) return "lost its ssh connection, or ssh failed (status 255; ssh's message is above)";
  return Describe(e);
}

}  // namespace dsm::launcher
