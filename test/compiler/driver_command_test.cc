// Unit tests of dsm-clang's command logic (compiler-plugin/lib): which
// commands compile and link, response files, and the exec'd argument vector.
#include "driver_command.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace dsm::compiler {
namespace {

using Args = std::vector<std::string>;

// What the shared heap adds to a link: every heap function the program calls
// goes to libdsm_heap.a.
const char* const kHeapWraps =
    "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=reallocarray,--wrap=free,"
    "--wrap=posix_memalign,--wrap=aligned_alloc,--wrap=memalign,--wrap=valloc,--wrap=pvalloc,"
    "--wrap=strdup,--wrap=strndup,--wrap=malloc_usable_size,--wrap=getline,--wrap=getdelim,"
    "--wrap=__getdelim";

bool Contains(const Args& args, const std::string& word) {
  return std::find(args.begin(), args.end(), word) != args.end();
}

TEST(ClassifyCommand, CompileOnlyFlagsDoNotLink) {
  for (const char* flag : {"-c", "-S", "-E", "-fsyntax-only", "-M", "-MM"}) {
    CommandMode mode = ClassifyCommand({flag, "a.c"});
    EXPECT_TRUE(mode.compiles_source) << flag;
    EXPECT_FALSE(mode.links) << flag;
  }
}

TEST(ClassifyCommand, DependencyFilesWithCompileStillCompile) {
  CommandMode mode = ClassifyCommand({"-MD", "-MF", "a.d", "-c", "a.c"});
  EXPECT_TRUE(mode.compiles_source);
  EXPECT_FALSE(mode.links);
  mode = ClassifyCommand({"-MMD", "a.c", "-o", "a"});
  EXPECT_TRUE(mode.links);
}

TEST(ClassifyCommand, ObjectsOnlyLinkWithoutCompiling) {
  CommandMode mode = ClassifyCommand({"a.o", "b.o", "-o", "prog", "-lm"});
  EXPECT_FALSE(mode.compiles_source);
  EXPECT_TRUE(mode.links);
}

TEST(ClassifyCommand, OptionValuesAreNotInputs) {
  CommandMode mode = ClassifyCommand({"-o", "out.c", "-MF", "x.cc", "a.o"});
  EXPECT_FALSE(mode.compiles_source);
  mode = ClassifyCommand({"-x", "c", "-", "-c"});
  EXPECT_TRUE(mode.compiles_source);
  mode = ClassifyCommand({"-xc++", "input.txt", "-c"});
  EXPECT_TRUE(mode.compiles_source);
}

TEST(ClassifyCommand, NoInputMeansNoLink) {
  EXPECT_FALSE(ClassifyCommand({"--version"}).links);
  EXPECT_TRUE(ClassifyCommand({"--version"}).version);
  EXPECT_TRUE(ClassifyCommand({"--help"}).help);
}

TEST(ExpandArguments, ReadsResponseFilesWithQuotesAndNesting) {
  char inner[] = "/tmp/dsm_clang_inner_XXXXXX";
  char outer[] = "/tmp/dsm_clang_outer_XXXXXX";
  int fd_inner = mkstemp(inner);
  int fd_outer = mkstemp(outer);
  ASSERT_GE(fd_inner, 0);
  ASSERT_GE(fd_outer, 0);
  std::string inner_text = "-DNAME=\"two words\" 'x y.c'\n";
  std::string outer_text = "-c\t@" + std::string(inner) + "\n-o a.o";
  ASSERT_EQ(write(fd_inner, inner_text.data(), inner_text.size()),
            static_cast<ssize_t>(inner_text.size()));
  ASSERT_EQ(write(fd_outer, outer_text.data(), outer_text.size()),
            static_cast<ssize_t>(outer_text.size()));
  close(fd_inner);
  close(fd_outer);
  Args expanded = ExpandArguments({"-O2", "@" + std::string(outer)});
  unlink(inner);
  unlink(outer);
  EXPECT_EQ(expanded, (Args{"-O2", "-c", "-DNAME=two words", "x y.c", "-o", "a.o"}));
  CommandMode mode = ClassifyCommand(expanded);
  EXPECT_TRUE(mode.compiles_source);
  EXPECT_FALSE(mode.links);
}

TEST(BuildClangCommand, PluginPathWhenGiven) {
  DriverPaths paths{"/usr/bin/clang-14", "/usr/lib", "/usr/include",
                    "/usr/lib/dsmkit/dsm-clang-plugin.so"};
  Args cmd = BuildClangCommand(paths, ClassifyCommand({"a.c"}), {"a.c"});
  EXPECT_TRUE(Contains(cmd, "-fplugin=/usr/lib/dsmkit/dsm-clang-plugin.so"));
  EXPECT_TRUE(Contains(cmd, "-fpass-plugin=/usr/lib/dsmkit/dsm-clang-plugin.so"));
  EXPECT_TRUE(Contains(cmd, "-L/usr/lib"));
}

TEST(BuildClangCommand, CompilePassesArgumentsAndAddsPluginAndOpenMP) {
  DriverPaths paths{"/usr/bin/clang-14", "/p/lib", "/p/include", "/p/lib/dsm-clang-plugin.so"};
  Args given = {"-c", "@rsp", "a.c", "-o", "a.o"};
  Args cmd = BuildClangCommand(paths, ClassifyCommand({"-c", "a.c", "-o", "a.o"}), given);
  EXPECT_EQ(cmd.front(), "/usr/bin/clang-14");
  EXPECT_TRUE(Contains(cmd, "-fplugin=/p/lib/dsm-clang-plugin.so"));
  EXPECT_TRUE(Contains(cmd, "-fpass-plugin=/p/lib/dsm-clang-plugin.so"));
  EXPECT_TRUE(Contains(cmd, "-fopenmp=libomp"));
  EXPECT_FALSE(Contains(cmd, "-ldsm"));
  // The given arguments follow, unchanged and in order.
  auto it = std::search(cmd.begin(), cmd.end(), given.begin(), given.end());
  EXPECT_NE(it, cmd.end());
}

TEST(BuildClangCommand, PrivateGlobalWarningFlagsGoToThePluginInOrder) {
  DriverPaths paths{"/usr/bin/clang-14", "/p/lib", "/p/include", "/p/lib/dsm-clang-plugin.so"};
  Args expanded = {"-c", "a.c", "-Werror", "-Werror=dsm-private-global", "-Wall",
                   "-Wno-dsm-private-global", "-Wno-error=dsm-private-global",
                   "-Wdsm-private-global"};
  CommandMode mode = ClassifyCommand(expanded);
  Args given = PassThrough(expanded, expanded);
  EXPECT_EQ(given, Args({"-c", "a.c", "-Werror", "-Wall"}));
  Args cmd = BuildClangCommand(paths, mode, given);
  Args plugin_args;
  for (const std::string& a : cmd) {
    if (a.rfind("-fplugin-arg-dsm-W", 0) == 0) plugin_args.push_back(a);
    else EXPECT_EQ(a.find("dsm-private-global"), std::string::npos) << a;
  }
  EXPECT_EQ(plugin_args, Args({"-fplugin-arg-dsm-Werror=dsm-private-global",
                               "-fplugin-arg-dsm-Wno-dsm-private-global",
                               "-fplugin-arg-dsm-Wno-error=dsm-private-global",
                               "-fplugin-arg-dsm-Wdsm-private-global"}));
}

TEST(BuildClangCommand, LinkingObjectsLoadsNoPlugin) {
  DriverPaths paths{"/usr/bin/clang-14", "/p/lib", "/p/include", "/p/lib/dsm-clang-plugin.so"};
  Args given = {"a.o", "-o", "prog"};
  Args cmd = BuildClangCommand(paths, ClassifyCommand(given), given);
  for (const std::string& a : cmd) EXPECT_EQ(a.find("plugin"), std::string::npos) << a;
}

TEST(BuildClangCommand, LinkAddsLibdsmAfterInputsAndNeverLibomp) {
  DriverPaths paths{"/usr/bin/clang-14", "/p/lib", "/p/include", "/p/lib/dsm-clang-plugin.so"};
  Args given = {"a.c", "-o", "prog"};
  Args cmd = BuildClangCommand(paths, ClassifyCommand(given), given);
  EXPECT_FALSE(Contains(cmd, "-fopenmp=libomp"));
  EXPECT_FALSE(Contains(cmd, "-lomp"));
  EXPECT_TRUE(Contains(cmd, "-fopenmp"));
  // Compiling and linking in one command still runs the atomics pass.
  EXPECT_TRUE(Contains(cmd, "-fpass-plugin=/p/lib/dsm-clang-plugin.so"));
  Args tail = {"-fno-openmp", "-no-pie", "/p/lib/libdsm_heap.a", kHeapWraps,
               "/p/lib/libdsm_main.a", "-Wl,--wrap=main", "-Wl,-T,/p/lib/dsm_globals.ld",
               "-L/p/lib", "-ldsm", "-Wl,-rpath,/p/lib"};
  ASSERT_GE(cmd.size(), tail.size());
  EXPECT_EQ(Args(cmd.end() - static_cast<long>(tail.size()), cmd.end()), tail);
}

TEST(BuildClangCommand, NoSharedHeapLinksNoHeapWrappers) {
  DriverPaths paths{"/usr/bin/clang++-14", "/p/lib", "/p/include", "/p/lib/dsm-clang-plugin.so"};
  Args expanded = {"a.o", "-fno-dsm-shared-heap", "-o", "prog"};
  Args cmd = BuildClangCommand(paths, ClassifyCommand(expanded), PassThrough(expanded, expanded));
  for (const std::string& a : cmd) {
    EXPECT_EQ(a.find("heap"), std::string::npos) << a;
    EXPECT_EQ(a.find("--wrap=malloc"), std::string::npos) << a;
  }
  Args tail = {"-fno-openmp", "-no-pie", "/p/lib/libdsm_main.a", "-Wl,--wrap=main",
               "-Wl,-T,/p/lib/dsm_globals.ld", "-L/p/lib", "-ldsm", "-Wl,-rpath,/p/lib"};
  ASSERT_GE(cmd.size(), tail.size());
  EXPECT_EQ(Args(cmd.end() - static_cast<long>(tail.size()), cmd.end()), tail);
  // The last of -f[no-]dsm-shared-heap wins.
  expanded.push_back("-fdsm-shared-heap");
  cmd = BuildClangCommand(paths, ClassifyCommand(expanded), PassThrough(expanded, expanded));
  EXPECT_TRUE(Contains(cmd, "/p/lib/libdsm_heap.a"));
}

TEST(BuildClangCommand, CxxLinksAlwaysTakeOperatorNew) {
  Args given = {"a.o", "-o", "prog"};
  const std::string marker = "-Wl,--undefined=__dsm_heap_cxx";
  DriverPaths c{"/usr/bin/clang-14", "/p/lib", "/p/include", "/p/lib/dsm-clang-plugin.so"};
  EXPECT_FALSE(Contains(BuildClangCommand(c, ClassifyCommand(given), given), marker));
  DriverPaths cxx{"/usr/bin/clang++-14", "/p/lib", "/p/include", "/p/lib/dsm-clang-plugin.so"};
  Args cmd = BuildClangCommand(cxx, ClassifyCommand(given), given);
  ASSERT_TRUE(Contains(cmd, marker));
  // Right after the archive and its wraps, before libdsm.
  auto heap = std::find(cmd.begin(), cmd.end(), "/p/lib/libdsm_heap.a");
  auto pull = std::find(cmd.begin(), cmd.end(), marker);
  auto ldsm = std::find(cmd.begin(), cmd.end(), "-ldsm");
  EXPECT_LT(heap, pull);
  EXPECT_LT(pull, ldsm);
  // A C driver told to link libstdc++.
  Args with_stdcxx = {"a.o", "-lstdc++", "-o", "prog"};
  EXPECT_TRUE(Contains(BuildClangCommand(c, ClassifyCommand(with_stdcxx), with_stdcxx), marker));
  // Compile-only commands link nothing.
  Args compile = {"-c", "a.cc"};
  EXPECT_FALSE(Contains(BuildClangCommand(cxx, ClassifyCommand(compile), compile), marker));
}

}  // namespace
}  // namespace dsm::compiler
