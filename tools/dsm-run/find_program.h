// Finding the executables dsm-run starts: the program (searched in PATH like
// execvp() would) and the daemon (by default next to dsm-run itself).
//
// Nothing here runs anything. Thread-safe.
#pragma once

#include <string>

#include "dsm/common/status.h"

namespace dsm::launcher {

// Resolves the program like execvp() would, without running it: a name with
// a '/' is taken as a path, any other name is searched in path_env (PATH;
// nullptr means the default "/usr/local/bin:/usr/bin:/bin"). Returns the path
// to exec, or an error (code EINVAL) naming what is wrong (not found, not
// executable, a directory).
Result<std::string> FindProgram(const std::string& program, const char* path_env);

// The default daemon: "dsm-hostd" in the directory of /proc/self/exe.
Result<std::string> DefaultHostdPath();

}  // namespace dsm::launcher
