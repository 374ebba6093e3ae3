// A look at the program's ELF file before a job starts, to refuse at once,
// with a message saying what to do, a program that cannot run as a dsmkit
// job: an OpenMP program linked with another OpenMP runtime (libomp from
// plain `clang -fopenmp`, libgomp from `gcc -fopenmp`, Intel's libiomp5)
// instead of libdsm's, whose nodes would each run the whole program with
// their own threads.
//
// Reads the file only (its program headers and dynamic section: the
// libraries it needs directly); runs nothing. Thread-safe (no shared state).
#pragma once

#include <string>
#include <vector>

#include "dsm/common/status.h"

namespace dsm::launcher {

// The DT_NEEDED entries of a dynamically linked 64-bit ELF file, in order.
// Empty for a file that is not ELF (a script), a static executable, or one
// this reader does not understand: the check below only ever refuses on
// evidence, and otherwise leaves the verdict to the nodes.
std::vector<std::string> NeededLibraries(const std::string& path);

// OK, or an error (EINVAL) naming the OpenMP runtime the program needs and
// telling to build it with dsm-clang / dsm-clang++.
Status CheckOpenMpRuntime(const std::string& path);

}  // namespace dsm::launcher
