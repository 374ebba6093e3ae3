// What goes into a guest image besides the program: the ELF facts dsm-image
// needs, read from the file's bytes (no program is run).
//   - ReadElf: a 64-bit x86-64 ELF file's interpreter (PT_INTERP), its
//     DT_NEEDED, DT_RPATH and DT_RUNPATH entries, and a kernel module's
//     "depends=" (from its .modinfo section).
//   - CollectLibraries: the loader and every shared library a program needs,
//     recursively, found with the dynamic loader's rules: DT_RPATH of the
//     needing object (and of the program) when it has no DT_RUNPATH, then
//     LD_LIBRARY_PATH, then its DT_RUNPATH, then the system's directories
//     (/etc/ld.so.conf and its includes, then the built-in ones); $ORIGIN is
//     expanded. A candidate that is not a 64-bit x86-64 ELF file is skipped,
//     as the loader does.
//
// Pure functions over the file system; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "dsm/common/status.h"

namespace dsm::image {

struct ElfInfo {
  std::string interpreter;  // empty for a static program or a library
  std::vector<std::string> needed;
  std::vector<std::string> rpath;  // split at ':', unexpanded
  std::vector<std::string> runpath;
  bool has_runpath = false;
  std::vector<std::string> module_depends;  // a .ko's "depends=", split at ','
};

// Errors (EINVAL naming the file): not an ELF file, not 64-bit x86-64,
// truncated or malformed headers. ENOENT etc. when it cannot be read.
Result<ElfInfo> ReadElf(const std::string& path);
Result<ElfInfo> ParseElf(const std::string& bytes, const std::string& what);

struct Library {
  std::string soname;  // as named by DT_NEEDED (or the interpreter's path)
  std::string path;    // where it was found; also where it goes in the image
};

struct LibrarySearch {
  std::vector<std::string> ld_library_path;  // from the environment
  std::vector<std::string> system_dirs;      // SystemLibraryDirs() by default
};

// /etc/ld.so.conf (following "include" globs), then LoaderBuiltinDirs().
std::vector<std::string> SystemLibraryDirs();

// What the loader would search here: this process's LD_LIBRARY_PATH (empty
// items dropped) and SystemLibraryDirs().
LibrarySearch SearchFromEnvironment();
// The directories Debian's x86-64 loader searches without ld.so.cache (a
// guest has none).
const std::vector<std::string>& LoaderBuiltinDirs();

// The program's interpreter first (if any), then its libraries in the order
// found (breadth first), each once. Errors (ENOENT): "PROG: library libX.so.1
// (needed by OBJ) not found in DIRS".
Result<std::vector<Library>> CollectLibraries(const std::string& program,
                                              const LibrarySearch& search);

}  // namespace dsm::image
