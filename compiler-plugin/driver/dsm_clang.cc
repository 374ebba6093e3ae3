// dsm-clang / dsm-clang++: a thin driver over clang-14 / clang++-14.
//
// Every argument is passed through unchanged. When the command compiles C or
// C++ sources the driver adds the dsmkit plugin (-fplugin=, and again as the
// atomics pass, -fpass-plugin=) and OpenMP code generation; when the command
// links (no -c, -S, -E, -fsyntax-only, -M/-MM) it links libdsm in place of
// libomp: -no-pie, libdsm_main.a with -Wl,--wrap=main, -L<libdir> -ldsm and
// an rpath to <libdir>.
//
// The plugin and the runtime are found relative to the driver's own location:
// <prefix>/bin/dsm-clang uses <prefix>/lib (the build tree and an installed
// tree share that layout; an installed tree keeps the plugin in
// <prefix>/lib/dsmkit). DSM_CLANG_EXE overrides the underlying compiler.
// Single-threaded; owns nothing beyond the argument vector it execs.
#include <unistd.h>

#include "driver_command.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// The directory holding the running executable, without a trailing slash.
std::string ExecutableDir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string ParentDir(const std::string& dir) {
  size_t slash = dir.rfind('/');
  if (slash == std::string::npos) return "..";
  if (slash == 0) return "/";
  return dir.substr(0, slash);
}

void PrintHelp(const char* name, const std::string& clang) {
  printf("%s: the dsmkit compiler driver over %s.\n"
         "Every argument goes to %s unchanged; %s adds:\n"
         "  when compiling C/C++: -fplugin=<lib>/%s (#pragma dsm shared|private|parallel|for|\n"
         "    critical|barrier|single|master; every writable global and static shared;\n"
         "    errors for OpenMP constructs the runtime cannot run), -fpass-plugin=<lib>/%s\n"
         "    (atomics on shared memory made correct across hosts) and OpenMP code\n"
         "    generation (-fopenmp);\n"
         "  when compiling: -idirafter <include> for <dsm/dsm.h>;\n"
         "  when linking: -no-pie <lib>/libdsm_main.a -Wl,--wrap=main -Wl,-T,<lib>/dsm_globals.ld\n    -L<lib> -ldsm\n"
         "    -Wl,-rpath,<lib>, and not libomp; before libdsm_main.a, unless\n"
         "    -fno-dsm-shared-heap: <lib>/libdsm_heap.a -Wl,--wrap=malloc,... (the malloc\n"
         "    family, and with C++ operator new/delete, over the shared heap).\n"
         "<lib> is the lib directory next to this program's bin directory (an installed\n"
         "tree keeps the plugin in <lib>/dsmkit).\n",
         name, clang.c_str(), clang.c_str(), name, dsm::compiler::kPluginName,
         dsm::compiler::kPluginName);
  fflush(stdout);
}

void PrintDsmOptions(const std::string& clang) {
  printf("\ndsmkit options (taken by %s, not passed on):\n"
         "  -fno-dsm-auto-shared  share only the globals marked `#pragma dsm shared` (and\n"
         "                        threadprivate ones); default: every writable global and\n"
         "                        static variable of the compiled files is shared\n"
         "  -fdsm-auto-shared     the default\n"
         "  -fno-dsm-shared-heap  keep malloc/new private to each node (link time)\n"
         "  -fdsm-shared-heap     the default: the program's malloc/new use the shared heap\n"
         "  -W[no-][error=]dsm-private-global\n"
         "                        with -fno-dsm-auto-shared, warn (default), do not warn, or\n"
         "                        fail where a parallel region uses a global that is not shared\n"
         "\nOptions of %s follow.\n\n",
         "dsm-clang", clang.c_str());
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  using dsm::compiler::kPluginName;
  std::string self = argv[0];
  std::string base = self.substr(self.rfind('/') == std::string::npos ? 0 : self.rfind('/') + 1);
  bool cxx = base.find("++") != std::string::npos;
  dsm::compiler::DriverPaths paths;
  paths.clang = cxx ? "/usr/bin/clang++-14" : "/usr/bin/clang-14";
  if (const char* over = getenv("DSM_CLANG_EXE"); over && *over) paths.clang = over;
  paths.libdir = ParentDir(ExecutableDir()) + "/lib";
  // The plugin: the installed tree's lib/dsmkit/, else the build tree's lib/.
  paths.plugin = paths.libdir + "/dsmkit/" + kPluginName;
  if (access(paths.plugin.c_str(), R_OK) != 0) paths.plugin = paths.libdir + "/" + kPluginName;
  // <dsm/dsm.h>: the installed tree's include/, else the source tree's.
  paths.incdir = ParentDir(paths.libdir) + "/include";
  if (access((paths.incdir + "/dsm/dsm.h").c_str(), R_OK) != 0)
    paths.incdir = DSM_SOURCE_INCLUDE_DIR;

  std::vector<std::string> given(argv + 1, argv + argc);
  std::vector<std::string> expanded = dsm::compiler::ExpandArguments(given);
  dsm::compiler::CommandMode mode = dsm::compiler::ClassifyCommand(expanded);
  if (mode.help) {
    PrintHelp(base.c_str(), paths.clang);
    PrintDsmOptions(paths.clang);
  }
  if (mode.version) {
    printf("%s (dsmkit): adds the dsmkit plugin, OpenMP and libdsm from %s to:\n",
           base.c_str(), paths.libdir.c_str());
    fflush(stdout);
  }

  std::vector<std::string> args =
      dsm::compiler::BuildClangCommand(paths, mode, dsm::compiler::PassThrough(given, expanded));
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  execv(cargs[0], cargs.data());
  fprintf(stderr, "%s: cannot run %s: %s\n", base.c_str(), paths.clang.c_str(), strerror(errno));
  return 127;
}
