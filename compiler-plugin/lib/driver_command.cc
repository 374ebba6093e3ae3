// What dsm-clang adds to a clang command line (see driver_command.h).
#include "driver_command.h"

#include <cstring>
#include <fstream>
#include <iterator>

namespace dsm::compiler {
namespace {

// Splits a response file the way GNU tools do: whitespace separates,
// quotes and backslashes group. Nested @files are expanded too.
void ExpandResponseFile(const std::string& path, std::vector<std::string>& out, int depth) {
  std::ifstream in(path);
  if (!in || depth > 8) return;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string cur;
  bool have = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      cur += text[++i];
      have = true;
    } else if (quote) {
      if (c == quote) quote = 0; else cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      have = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (have) {
        if (cur.size() > 1 && cur[0] == '@') ExpandResponseFile(cur.substr(1), out, depth + 1);
        else out.push_back(cur);
      }
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) {
    if (cur.size() > 1 && cur[0] == '@') ExpandResponseFile(cur.substr(1), out, depth + 1);
    else out.push_back(cur);
  }
}

bool EndsWith(const std::string& s, const char* suffix) {
  size_t n = strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool IsCSource(const std::string& a) {
  static const char* const kExts[] = {".c", ".cc", ".cpp", ".cxx", ".c++", ".C", ".cp",
                                      ".CPP", ".i", ".ii"};
  for (const char* ext : kExts) {
    if (EndsWith(a, ext)) return true;
  }
  return false;
}

// Options whose next argument is a value, not an input file.
bool TakesValue(const std::string& a) {
  static const char* const kOpts[] = {"-o", "-x", "-I", "-L", "-D", "-U", "-include", "-isystem",
                                      "-iquote", "-idirafter", "-MF", "-MT", "-MQ", "-Xlinker",
                                      "-Xclang", "-Xassembler", "-Xpreprocessor", "-target",
                                      "-arch", "-imacros", "-isysroot", "--sysroot", "-l",
                                      "-T", "-z", "-u", "-e"};
  for (const char* o : kOpts) {
    if (a == o) return true;
  }
  return false;
}

// The program's heap functions that libdsm_heap.a wraps (runtime/src/heap_wrap.c).
constexpr const char* kWrappedHeapFunctions[] = {
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "strdup", "strndup", "malloc_usable_size", "getline",
    "getdelim", "__getdelim"};

// The link includes libstdc++: the underlying driver is clang++ (or told to
// act as it), or the user names libstdc++.
bool LinksCxx(const DriverPaths& paths, const std::vector<std::string>& given) {
  size_t slash = paths.clang.rfind('/');
  std::string base = slash == std::string::npos ? paths.clang : paths.clang.substr(slash + 1);
  if (base.find("++") != std::string::npos) return true;
  for (const std::string& a : given) {
    if (a == "-lstdc++" || a == "--driver-mode=g++") return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> ExpandArguments(const std::vector<std::string>& given) {
  std::vector<std::string> expanded;
  for (const std::string& a : given) {
    if (a.size() > 1 && a[0] == '@') ExpandResponseFile(a.substr(1), expanded, 0);
    else expanded.push_back(a);
  }
  return expanded;
}

bool IsDsmWarningFlag(const std::string& a) {
  return a == "-Wdsm-private-global" || a == "-Wno-dsm-private-global" ||
         a == "-Werror=dsm-private-global" || a == "-Wno-error=dsm-private-global";
}

bool IsDsmFlag(const std::string& a) {
  return a == "-fdsm-auto-shared" || a == "-fno-dsm-auto-shared" || a == "-fdsm-shared-heap" ||
         a == "-fno-dsm-shared-heap" || IsDsmWarningFlag(a);
}

std::vector<std::string> PassThrough(const std::vector<std::string>& given,
                                     const std::vector<std::string>& expanded) {
  size_t given_flags = 0, expanded_flags = 0;
  for (const std::string& a : given) given_flags += IsDsmFlag(a);
  for (const std::string& a : expanded) expanded_flags += IsDsmFlag(a);
  const bool in_file = expanded_flags > given_flags;
  std::vector<std::string> out;
  for (const std::string& a : in_file ? expanded : given) {
    if (!IsDsmFlag(a)) out.push_back(a);
  }
  return out;
}

CommandMode ClassifyCommand(const std::vector<std::string>& args) {
  CommandMode m;
  bool any_input = false;
  bool dep_only = false;  // -M or -MM without -MD/-MMD: preprocess only
  std::string lang;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-c" || a == "-S" || a == "-E" || a == "-fsyntax-only" || a == "-emit-llvm" ||
        a == "--precompile") {
      if (a != "-emit-llvm") m.links = false;
    } else if (a == "-M" || a == "-MM") {
      dep_only = true;
    } else if (a == "--help" || a == "-help") {
      m.help = true;
    } else if (a == "--version") {
      m.version = true;
    } else if (IsDsmFlag(a)) {
      if (IsDsmWarningFlag(a)) m.warning_flags.push_back(a);
      else if (a == "-fdsm-auto-shared" || a == "-fno-dsm-auto-shared") m.auto_shared = a[2] != 'n';
      else m.shared_heap = a[2] != 'n';
    } else if (a == "-x" && i + 1 < args.size()) {
      lang = args[++i];
    } else if (a.rfind("-x", 0) == 0 && a.size() > 2) {
      lang = a.substr(2);
    } else if (TakesValue(a)) {
      ++i;
    } else if (a == "-" || a[0] != '-') {
      any_input = true;
      bool c_lang = lang == "c" || lang == "c++" || lang == "cpp-output" ||
                    lang == "c++-cpp-output";
      if (lang.empty() ? IsCSource(a) : c_lang) m.compiles_source = true;
    }
  }
  if (dep_only) m.links = false;
  if (!any_input) m.links = false;
  return m;
}

std::vector<std::string> BuildClangCommand(const DriverPaths& paths, const CommandMode& mode,
                                           const std::vector<std::string>& given) {
  std::vector<std::string> args = {paths.clang};
  if (mode.compiles_source) {
    args.push_back("-fplugin=" + paths.plugin);
    // The same module holds the atomics pass (compiler-plugin/pass).
    args.push_back("-fpass-plugin=" + paths.plugin);
    args.insert(args.end(), {"-idirafter", paths.incdir});
    if (!mode.auto_shared) args.push_back("-fplugin-arg-dsm-no-auto-shared");
    // The plugin takes them without the dash: -fplugin-arg-dsm-Wno-dsm-private-global.
    for (const std::string& w : mode.warning_flags)
      args.push_back("-fplugin-arg-dsm-" + w.substr(1));
    // -fopenmp on a linking command would make clang add -lomp: hand it to the
    // compiler proper only.
    if (mode.links) {
      args.insert(args.end(), {"-Xclang", "-fopenmp"});
    } else {
      args.push_back("-fopenmp=libomp");
    }
  }
  args.insert(args.end(), given.begin(), given.end());
  if (mode.links) {
    // -fno-openmp last: a -fopenmp given by the user must not bring libomp in.
    args.insert(args.end(), {"-fno-openmp", "-no-pie"});
    if (mode.shared_heap) {
      // The program's malloc family and operator new/delete over the shared
      // heap; C++ links always take the operator new/delete member.
      args.push_back(paths.libdir + "/libdsm_heap.a");
      std::string wrap = "-Wl";
      for (const char* f : kWrappedHeapFunctions) wrap += std::string(",--wrap=") + f;
      args.push_back(wrap);
      if (LinksCxx(paths, given)) args.push_back("-Wl,--undefined=__dsm_heap_cxx");
    }
    args.insert(args.end(), {paths.libdir + "/libdsm_main.a",
                             "-Wl,--wrap=main", "-Wl,-T," + paths.libdir + "/dsm_globals.ld",
                             "-L" + paths.libdir, "-ldsm",
                             "-Wl,-rpath," + paths.libdir});
  }
  return args;
}

}  // namespace dsm::compiler
