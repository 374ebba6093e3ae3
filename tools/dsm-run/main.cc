// dsm-run: starts dsm-hostd and the nodes of a job and supervises them.
// Everything but the printing of usage errors is in the dsm_launcher library:
// options.h (the command line), find_program.h, binary_check.h (programs
// linked with another OpenMP runtime), job.h (the job runner).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent.h"
#include "binary_check.h"
#include "dsm/common/log.h"
#include "find_program.h"
#include "job.h"
#include "options.h"

namespace {

int UsageError(const std::string& what) {
  std::fprintf(stderr, "dsm-run: error: %s\n%s\n", what.c_str(), dsm::launcher::kTryHelp);
  return dsm::launcher::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  namespace launcher = dsm::launcher;
  dsm::SetLogPrefix("dsm-run");
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  // The far side of a job's ssh session (remote.h, agent.h).
  if (!args.empty() && args[0] == "--agent") return launcher::RunAgent({args.begin() + 1, args.end()});
  auto options = launcher::ParseOptions(args);
  if (!options.ok()) return UsageError(options.status().message());
  if (options->action == launcher::Options::Action::kHelp) {
    std::fputs(launcher::UsageText().c_str(), stdout);
    return std::fflush(stdout) == 0 ? 0 : launcher::kExitFailure;
  }
  if (options->action == launcher::Options::Action::kVersion) {
    std::puts(launcher::kVersionText);
    return std::fflush(stdout) == 0 ? 0 : launcher::kExitFailure;
  }

  if (dsm::Status s = launcher::ResolveHosts(&*options, [](const char* name) { return std::getenv(name); }); !s.ok()) {
    return UsageError(s.message());
  }
  auto program = launcher::FindProgram(options->program, std::getenv("PATH"));
  if (!program.ok()) return UsageError(program.status().message());
  if (dsm::Status s = launcher::CheckOpenMpRuntime(*program); !s.ok()) {
    std::fprintf(stderr, "dsm-run: error: %s\n", s.message().c_str());
    return launcher::kExitUsage;
  }

  // --hostd is resolved like the program; the default is an absolute path.
  std::string hostd = options->hostd;
  if (hostd.empty()) {
    auto path = launcher::DefaultHostdPath();
    if (!path.ok()) return UsageError("cannot locate dsm-hostd: " + path.status().message());
    hostd = *path;
  }
  auto resolved_hostd = launcher::FindProgram(hostd, std::getenv("PATH"));
  if (!resolved_hostd.ok()) {
    return UsageError("dsm-hostd: " + resolved_hostd.status().message() +
                      (options->hostd.empty() ? " (use --hostd PATH)" : ""));
  }
  std::fflush(stdout);
  return launcher::RunJob(*options, *program, *resolved_hostd);
}
