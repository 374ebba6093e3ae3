// dsm-run's look at the program file (tools/dsm-run/binary_check.h): the
// libraries an ELF file needs, read from hand-made ELF files and a real one,
// and the refusal of a program linked with another OpenMP runtime, in
// process and through the dsm-run binary (which then starts nothing).
#include "binary_check.h"

#include <elf.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "launcher_test_util.h"
#include "options.h"

namespace dsm::launcher::testing {
namespace {

constexpr uint64_t kBase = 0x400000;
constexpr uint64_t kStrtab = 0x200;
constexpr uint64_t kDynamic = 0x300;
constexpr uint64_t kFileSize = 0x400;

// A minimal dynamically linked x86-64 executable image needing `libs`: the
// ELF header, a loadable segment over the whole file, a dynamic segment.
std::string ElfNeeding(const std::vector<std::string>& libs, bool with_dynamic = true) {
  std::string file(kFileSize, '\0');
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = with_dynamic ? 2 : 1;
  std::memcpy(file.data(), &eh, sizeof eh);
  Elf64_Phdr load{};
  load.p_type = PT_LOAD;
  load.p_vaddr = kBase;
  load.p_filesz = kFileSize;
  load.p_memsz = kFileSize;
  std::memcpy(file.data() + eh.e_phoff, &load, sizeof load);
  Elf64_Phdr dynamic{};
  dynamic.p_type = PT_DYNAMIC;
  dynamic.p_offset = kDynamic;
  dynamic.p_vaddr = kBase + kDynamic;
  std::vector<Elf64_Dyn> dyn;
  std::string strings(1, '\0');
  for (const std::string& lib : libs) {
    Elf64_Dyn d{};
    d.d_tag = DT_NEEDED;
    d.d_un.d_val = strings.size();
    dyn.push_back(d);
    strings += lib + '\0';
  }
  Elf64_Dyn str{};
  str.d_tag = DT_STRTAB;
  str.d_un.d_ptr = kBase + kStrtab;
  dyn.push_back(str);
  dyn.push_back(Elf64_Dyn{});  // DT_NULL
  dynamic.p_filesz = dyn.size() * sizeof(Elf64_Dyn);
  dynamic.p_memsz = dynamic.p_filesz;
  if (with_dynamic) std::memcpy(file.data() + eh.e_phoff + sizeof load, &dynamic, sizeof dynamic);
  std::memcpy(file.data() + kStrtab, strings.data(), strings.size());
  std::memcpy(file.data() + kDynamic, dyn.data(), dyn.size() * sizeof(Elf64_Dyn));
  return file;
}

class BinaryCheck : public LauncherJob {
 protected:
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = Path(name);
    std::ofstream(path, std::ios::binary) << bytes;
    ::chmod(path.c_str(), 0755);
    return path;
  }
};

TEST_F(BinaryCheck, ReadsTheNeededLibrariesInOrder) {
  std::string p = Write("prog", ElfNeeding({"libdsm.so.0", "libm.so.6", "libc.so.6"}));
  EXPECT_EQ(NeededLibraries(p),
            (std::vector<std::string>{"libdsm.so.0", "libm.so.6", "libc.so.6"}));
  EXPECT_TRUE(CheckOpenMpRuntime(p).ok());
  // A real program: this test binary needs the C library.
  bool libc = false;
  for (const std::string& lib : NeededLibraries("/proc/self/exe")) {
    libc |= lib.starts_with("libc.so");
  }
  EXPECT_TRUE(libc);
  EXPECT_TRUE(CheckOpenMpRuntime("/proc/self/exe").ok());
}

TEST_F(BinaryCheck, RefusesProgramsLinkedWithAnotherOpenMpRuntime) {
  for (const char* runtime : {"libomp.so.5", "libomp.so", "libgomp.so.1", "libiomp5.so"}) {
    std::string p = Write("prog", ElfNeeding({"libm.so.6", runtime, "libc.so.6"}));
    Status s = CheckOpenMpRuntime(p);
    ASSERT_FALSE(s.ok()) << runtime;
    EXPECT_EQ(s.code(), EINVAL);
    EXPECT_NE(s.message().find(p + " is linked with " + runtime), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("build the program with dsm-clang or dsm-clang++"), std::string::npos)
        << s.message();
  }
  // Also next to libdsm: which runtime's entry points win is luck.
  EXPECT_FALSE(CheckOpenMpRuntime(Write("both", ElfNeeding({"libdsm.so.0", "libomp.so.5"}))).ok());
  // Names that only look alike are fine.
  EXPECT_TRUE(CheckOpenMpRuntime(Write("alike", ElfNeeding({"libompx.so.1", "mylibomp.so"}))).ok());
}

TEST_F(BinaryCheck, LeavesWhatItCannotReadToTheNodes) {
  EXPECT_TRUE(NeededLibraries(Write("script", "#!/bin/sh\nexit 0\n")).empty());
  EXPECT_TRUE(NeededLibraries(Write("static", ElfNeeding({"libomp.so.5"}, false))).empty());
  EXPECT_TRUE(NeededLibraries(Write("short", ElfNeeding({"libomp.so.5"}).substr(0, 40))).empty());
  std::string cut = ElfNeeding({"libomp.so.5"}).substr(0, kDynamic + 8);
  EXPECT_TRUE(NeededLibraries(Write("cut", cut)).empty());
  EXPECT_TRUE(NeededLibraries(Path("missing")).empty());
  EXPECT_TRUE(CheckOpenMpRuntime(Path("missing")).ok());
}

// Through the dsm-run binary: the error, exit status 2, and no daemon or
// node ever started.
TEST_F(BinaryCheck, DsmRunRefusesALibompProgramBeforeStartingAnything) {
  std::string p = Write("omp_program", ElfNeeding({"libomp.so.5", "libc.so.6"}));
  Outcome o = Run({"-n", "2", "--hostd", FAKE_HOSTD_PATH, p});
  EXPECT_EQ(o.status, kExitUsage);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(DsmRunLines(o.err).size(), 1u) << o.err;
  EXPECT_NE(o.err.find("dsm-run: error: " + p + " is linked with libomp.so.5"), std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find("dsm-clang"), std::string::npos) << o.err;
  EXPECT_FALSE(fs::exists(Path("hostd.pid")));
  ExpectJobGone();
}

}  // namespace
}  // namespace dsm::launcher::testing
