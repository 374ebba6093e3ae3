// What dsm-clang adds to a clang command line, apart from finding its files.
//
// ExpandArguments reads @response files (only to decide; the command passes
// them on unchanged), ClassifyCommand tells whether the command compiles C/C++
// and whether it links, BuildClangCommand makes the argument vector to exec.
// Pure functions over strings (ExpandArguments reads files); thread-safe.
#ifndef DSM_COMPILER_DRIVER_COMMAND_H_
#define DSM_COMPILER_DRIVER_COMMAND_H_

#include <string>
#include <vector>

namespace dsm::compiler {

inline constexpr const char* kPluginName = "dsm-clang-plugin.so";

// What the command does, read from the fully expanded arguments.
struct CommandMode {
  bool compiles_source = false;  // some input is C/C++ (or -x c/c++ is given)
  bool links = true;             // the clang driver runs the linker
  bool help = false;             // --help
  bool version = false;          // --version
  // dsmkit's own flags (the last of each pair wins; never passed to clang):
  bool auto_shared = true;  // -f[no-]dsm-auto-shared: every writable global shared
  bool shared_heap = true;  // -f[no-]dsm-shared-heap: the program's malloc/new shared
  // -W[no-][error=]dsm-private-global in order, for the plugin (Clang 14 has
  // no warning group for it and would call the flags unknown).
  std::vector<std::string> warning_flags;
};

// True for the flags above.
bool IsDsmFlag(const std::string& arg);

// What goes to clang from the user: `given` without dsmkit's flags; when a
// response file holds one of them, the expanded arguments without them.
std::vector<std::string> PassThrough(const std::vector<std::string>& given,
                                     const std::vector<std::string>& expanded);

// Where the underlying compiler, the plugin and libdsm are.
struct DriverPaths {
  std::string clang;   // /usr/bin/clang-14 or clang++-14
  std::string libdir;  // holds libdsm.so, libdsm_main.a, libdsm_heap.a
  std::string incdir;  // holds dsm/dsm.h
  // dsm-clang-plugin.so: in <libdir>/dsmkit/ in an installed tree (a loadable
  // module, kept out of the library directory), in <libdir>/ in the build tree.
  std::string plugin;
};

// The arguments with every @file replaced by its words (nested too; a file
// that cannot be read contributes nothing).
std::vector<std::string> ExpandArguments(const std::vector<std::string>& given);

CommandMode ClassifyCommand(const std::vector<std::string>& expanded);

// argv for exec: clang, what compiling adds, `given` (from PassThrough),
// what linking adds (with the shared heap: libdsm_heap.a, -Wl,--wrap= for
// each heap function, and on C++ links the member with operator new).
std::vector<std::string> BuildClangCommand(const DriverPaths& paths, const CommandMode& mode,
                                           const std::vector<std::string>& given);

}  // namespace dsm::compiler

#endif  // DSM_COMPILER_DRIVER_COMMAND_H_
