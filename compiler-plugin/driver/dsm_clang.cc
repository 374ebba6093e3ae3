// dsm-clang / dsm-clang++: a thin driver over clang-14 / clang++-14.
//
// Every argument is passed through unchanged. When the command compiles C or
// C++ sources the driver adds the dsmkit plugin (-fplugin=) and OpenMP code
// generation; when the command links (no -c, -S, -E, -fsyntax-only, -M/-MM)
// it links libdsm in place of libomp: -no-pie, libdsm_main.a with
// -Wl,--wrap=main, -L<libdir> -ldsm and an rpath to <libdir>.
//
// The plugin and the runtime are found relative to the driver's own location:
// <prefix>/bin/dsm-clang uses <prefix>/lib (the build tree and an installed
// tree share that layout). DSM_CLANG_EXE overrides the underlying compiler.
// Single-threaded; owns nothing beyond the argument vector it execs.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

constexpr const char* kPluginName = "dsm-clang-plugin.so";

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

// What the command does, read from the fully expanded arguments.
struct Mode {
  bool compiles_source = false;  // some input is C/C++ (or -x c/c++ is given)
  bool links = true;             // the driver runs the linker
  bool help = false;
  bool version = false;
  bool any_input = false;
};

Mode Classify(const std::vector<std::string>& args) {
  Mode m;
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
    } else if (a == "-x" && i + 1 < args.size()) {
      lang = args[++i];
    } else if (a.rfind("-x", 0) == 0 && a.size() > 2) {
      lang = a.substr(2);
    } else if (TakesValue(a)) {
      ++i;
    } else if (a == "-" || a[0] != '-') {
      m.any_input = true;
      bool c_lang = lang == "c" || lang == "c++" || lang == "cpp-output" ||
                    lang == "c++-cpp-output";
      if (lang.empty() ? IsCSource(a) : c_lang) m.compiles_source = true;
    }
  }
  if (dep_only) m.links = false;
  if (!m.any_input) m.links = false;
  return m;
}

void PrintHelp(const char* name, const std::string& clang) {
  printf("%s: the dsmkit compiler driver over %s.\n"
         "Every argument goes to %s unchanged; %s adds:\n"
         "  when compiling C/C++: -fplugin=<lib>/%s (#pragma dsm shared|private|parallel|for|\n"
         "    critical|barrier|single|master; errors for OpenMP constructs the runtime cannot\n"
         "    run) and OpenMP code generation (-fopenmp);\n"
         "  when compiling: -idirafter <include> for <dsm/dsm.h>;\n"
         "  when linking: -no-pie <lib>/libdsm_main.a -Wl,--wrap=main -L<lib> -ldsm\n"
         "    -Wl,-rpath,<lib>, and not libomp.\n"
         "<lib> is the lib directory next to this program's bin directory.\n"
         "Options of %s follow.\n\n",
         name, clang.c_str(), clang.c_str(), name, kPluginName, clang.c_str());
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string self = argv[0];
  std::string base = self.substr(self.rfind('/') == std::string::npos ? 0 : self.rfind('/') + 1);
  bool cxx = base.find("++") != std::string::npos;
  std::string clang = cxx ? "/usr/bin/clang++-14" : "/usr/bin/clang-14";
  if (const char* over = getenv("DSM_CLANG_EXE"); over && *over) clang = over;
  std::string libdir = ParentDir(ExecutableDir()) + "/lib";

  std::vector<std::string> given(argv + 1, argv + argc);
  std::vector<std::string> expanded;
  for (const std::string& a : given) {
    if (a.size() > 1 && a[0] == '@') ExpandResponseFile(a.substr(1), expanded, 0);
    else expanded.push_back(a);
  }
  Mode mode = Classify(expanded);
  if (mode.help) PrintHelp(base.c_str(), clang);
  if (mode.version) {
    printf("%s (dsmkit): adds the dsmkit plugin, OpenMP and libdsm from %s to:\n",
           base.c_str(), libdir.c_str());
    fflush(stdout);
  }

  std::vector<std::string> args = {clang};
  if (mode.compiles_source) {
    args.push_back("-fplugin=" + libdir + "/" + kPluginName);
    // <dsm/dsm.h>: the installed tree's include/, else the source tree's.
    std::string incdir = ParentDir(libdir) + "/include";
    if (access((incdir + "/dsm/dsm.h").c_str(), R_OK) != 0) incdir = DSM_SOURCE_INCLUDE_DIR;
    args.insert(args.end(), {"-idirafter", incdir});
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
    args.insert(args.end(), {"-fno-openmp", "-no-pie", libdir + "/libdsm_main.a", "-Wl,--wrap=main",
                             "-L" + libdir, "-ldsm", "-Wl,-rpath," + libdir});
  }

  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  execv(cargs[0], cargs.data());
  fprintf(stderr, "%s: cannot run %s: %s\n", base.c_str(), clang.c_str(), strerror(errno));
  return 127;
}
