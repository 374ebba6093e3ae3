// Tests of the guest image builder (tools/dsm-image): the cpio writer parsed
// back, SHA-256 against FIPS 180-4's examples, the library collector on a
// real dynamically linked program, the errors before anything is built,
// the content-keyed cache, and one real QEMU (TCG) boot whose output and exit
// status come back with no kernel messages in them.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "cpio.h"
#include "elf_deps.h"
#include "file_util.h"
#include "image.h"
#include "qemu.h"
#include "vmlinux.h"
#include "vm_test_util.h"

#include <lzma.h>

extern char** environ;

namespace dsm::image {
namespace {

namespace fs = std::filesystem;

using vmtest::HaveQemu;
using vmtest::TempDir;

TEST(Cpio, RoundTripsEveryKindOfEntry) {
  CpioWriter w;
  w.AddDirectory("/bin");
  w.AddFile("/bin/hello", std::string("abc\0def", 7), 0755);
  w.AddFile("empty", "");
  w.AddSymlink("/bin/sh", "busybox");
  w.AddCharDevice("/dev/console", 5, 1);
  const std::string archive = w.Finish();
  EXPECT_EQ(archive.size() % 4, 0u);
  EXPECT_EQ(archive.compare(0, 6, "070701"), 0);
  auto entries = ReadCpio(archive);
  ASSERT_TRUE(entries.ok()) << entries.status().message();
  ASSERT_EQ(entries->size(), 5u);
  const auto& e = *entries;
  EXPECT_EQ(e[0].name, "bin");
  EXPECT_EQ(e[0].mode, S_IFDIR | 0755u);
  EXPECT_EQ(e[1].name, "bin/hello");
  EXPECT_EQ(e[1].mode, S_IFREG | 0755u);
  EXPECT_EQ(e[1].data, std::string("abc\0def", 7));
  EXPECT_EQ(e[2].name, "empty");
  EXPECT_EQ(e[2].data, "");
  EXPECT_EQ(e[3].mode, S_IFLNK | 0777u);
  EXPECT_EQ(e[3].data, "busybox");
  EXPECT_EQ(e[4].mode, S_IFCHR | 0600u);
  EXPECT_EQ(e[4].rdev_major, 5u);
  EXPECT_EQ(e[4].rdev_minor, 1u);
  // The same entries give the same bytes (the writer starts afresh after
  // Finish), different ones different bytes.
  w.AddDirectory("/bin");
  w.AddFile("/bin/hello", std::string("abc\0def", 7), 0755);
  w.AddFile("empty", "");
  w.AddSymlink("/bin/sh", "busybox");
  w.AddCharDevice("/dev/console", 5, 1);
  EXPECT_EQ(w.Finish(), archive);
  CpioWriter other;
  other.AddDirectory("/bin");
  EXPECT_NE(other.Finish(), archive);
}

TEST(Cpio, RejectsCorruptArchives) {
  CpioWriter w;
  w.AddFile("a", "0123456789");
  std::string archive = w.Finish();
  EXPECT_FALSE(ReadCpio(archive.substr(0, archive.size() - 8)).ok());  // no trailer
  EXPECT_FALSE(ReadCpio(archive.substr(0, 120)).ok());                   // truncated data
  archive[0] = 'x';
  auto bad = ReadCpio(archive);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad magic"), std::string::npos);
}

TEST(Sha256, MatchesTheStandardsExamples) {
  Sha256 empty;
  EXPECT_EQ(empty.HexDigest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.Update("a");
  abc.Update("bc");
  EXPECT_EQ(abc.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 two_blocks;
  two_blocks.Update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(two_blocks.HexDigest(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Vmlinux, IsTheElfFileInTheXzPayload) {
  const std::string elf = std::string("\x7f" "ELF", 4) + std::string(100000, 'k');
  std::string xz(elf.size() + 4096, '\0');
  size_t xz_size = 0;
  ASSERT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr,
                                    reinterpret_cast<const uint8_t*>(elf.data()), elf.size(),
                                    reinterpret_cast<uint8_t*>(xz.data()), &xz_size, xz.size()),
            LZMA_OK);
  xz.resize(xz_size);
  // A bzImage: a setup header before the payload, other data after it.
  auto out = ExtractVmlinux(std::string(5000, 's') + xz + std::string(300, 't'));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, elf);

  EXPECT_FALSE(ExtractVmlinux(std::string(5000, 's')).ok());                   // no payload
  EXPECT_FALSE(ExtractVmlinux(xz.substr(0, xz.size() / 2)).ok());              // cut short
  auto not_elf = ExtractVmlinux(std::string(xz).replace(xz.size() - 1, 1, "")); // corrupt
  EXPECT_FALSE(not_elf.ok());
}

TEST(Libraries, CollectsTheLoaderAndLibc) {
  auto libs = CollectLibraries(DSM_GUEST_PROGRAM, {{}, SystemLibraryDirs()});
  ASSERT_TRUE(libs.ok()) << libs.status().message();
  ASSERT_FALSE(libs->empty());
  auto info = ReadElf(DSM_GUEST_PROGRAM);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ((*libs)[0].path, info->interpreter);
  const bool has_libc = std::any_of(libs->begin(), libs->end(), [](const Library& l) {
    return l.soname == "libc.so.6" && IsReadableFile(l.path);
  });
  EXPECT_TRUE(has_libc);
}

TEST(Libraries, AStaticProgramNeedsNone) {
  auto busybox = FindBusybox();
  if (!busybox.ok()) FAIL() << busybox.status().message() << " (run scripts/bootstrap)";
  auto libs = CollectLibraries(*busybox, {{}, SystemLibraryDirs()});
  ASSERT_TRUE(libs.ok()) << libs.status().message();
  EXPECT_TRUE(libs->empty());
}

TEST(Libraries, AMissingLibraryIsNamed) {
  TempDir empty;
  auto libs = CollectLibraries(DSM_GUEST_PROGRAM, {{}, {empty.path()}});
  ASSERT_FALSE(libs.ok());
  EXPECT_NE(libs.status().message().find("libc.so.6"), std::string::npos)
      << libs.status().message();
  EXPECT_NE(libs.status().message().find("not found"), std::string::npos);
}

TEST(Libraries, LdLibraryPathComesBeforeTheSystem) {
  TempDir dir;
  auto system = CollectLibraries(DSM_GUEST_PROGRAM, {{}, SystemLibraryDirs()});
  ASSERT_TRUE(system.ok());
  std::string libc;
  for (const auto& l : *system) {
    if (l.soname == "libc.so.6") libc = l.path;
  }
  ASSERT_FALSE(libc.empty());
  fs::copy_file(libc, dir.path() + "/libc.so.6");
  auto libs = CollectLibraries(DSM_GUEST_PROGRAM, {{dir.path()}, SystemLibraryDirs()});
  ASSERT_TRUE(libs.ok()) << libs.status().message();
  bool from_dir = false;
  for (const auto& l : *libs) from_dir |= l.path == dir.path() + "/libc.so.6";
  EXPECT_TRUE(from_dir);
}

TEST(Image, RefusesWhatCannotGoIntoAnImage) {
  TempDir dir;
  const std::string script = dir.path() + "/script.sh";
  ASSERT_EQ(::system(("printf '#!/bin/sh\\necho hi\\n' > " + script).c_str()), 0);
  BuildOptions options;
  options.cache_dir = dir.path() + "/cache";
  auto not_elf = BuildImage(script, options);
  ASSERT_FALSE(not_elf.ok());
  EXPECT_NE(not_elf.status().message().find("not an ELF file"), std::string::npos);

  auto missing = BuildImage(dir.path() + "/nothing", options);
  ASSERT_FALSE(missing.ok());

  options.kernel_root = dir.path();  // holds no boot/vmlinuz-*
  auto no_kernel = BuildImage(DSM_GUEST_PROGRAM, options);
  ASSERT_FALSE(no_kernel.ok());
  EXPECT_NE(no_kernel.status().message().find("scripts/bootstrap"), std::string::npos)
      << no_kernel.status().message();
  EXPECT_FALSE(fs::exists(options.cache_dir));  // nothing written before the checks pass
}

TEST(Image, IsCachedByContent) {
  REQUIRE_IMAGE_INPUTS();
  TempDir dir;
  BuildOptions options;
  options.cache_dir = dir.path() + "/cache";
  const std::string program = dir.path() + "/prog";
  fs::copy_file(DSM_GUEST_PROGRAM, program);
  auto first = BuildImage(program, options);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_FALSE(first->cached);
  // The kernel booted is the uncompressed one, extracted into the cache.
  EXPECT_EQ(first->kernel.rfind(options.cache_dir + "/kernels/vmlinux-", 0), 0u) << first->kernel;
  struct stat st1, st2;
  ASSERT_EQ(::stat(first->initramfs.c_str(), &st1), 0);

  auto second = BuildImage(program, options);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_TRUE(second->cached);
  EXPECT_EQ(second->initramfs, first->initramfs);
  ASSERT_EQ(::stat(second->initramfs.c_str(), &st2), 0);
  EXPECT_EQ(st1.st_ino, st2.st_ino);
  EXPECT_EQ(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);

  // A changed program (one byte appended) gets a new image.
  ASSERT_EQ(::system(("printf x >> " + program).c_str()), 0);
  auto third = BuildImage(program, options);
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_FALSE(third->cached);
  EXPECT_NE(third->key, first->key);

  // The archive holds the init, busybox, the program, its loader, and the
  // modules listed dependencies first.
  auto bytes = ReadWholeFile(third->initramfs);
  ASSERT_TRUE(bytes.ok());
  auto entries = ReadCpio(*bytes);
  ASSERT_TRUE(entries.ok()) << entries.status().message();
  auto find = [&](const std::string& name) -> const CpioEntry* {
    for (const auto& e : *entries) {
      if (e.name == name) return &e;
    }
    return nullptr;
  };
  ASSERT_NE(find("init"), nullptr);
  ASSERT_NE(find("bin/busybox"), nullptr);
  ASSERT_NE(find("dev/console"), nullptr);
  ASSERT_NE(find(program.substr(1)), nullptr);
  auto info = ReadElf(program);
  ASSERT_TRUE(info.ok());
  ASSERT_NE(find(info->interpreter.substr(1)), nullptr);
  const CpioEntry* modules = find("etc/dsm/modules");
  ASSERT_NE(modules, nullptr);
  const size_t vfio = modules->data.find("vfio\n");
  const size_t vfio_pci = modules->data.find("vfio_pci\n");
  ASSERT_NE(vfio, std::string::npos) << modules->data;
  ASSERT_NE(vfio_pci, std::string::npos) << modules->data;
  EXPECT_LT(vfio, vfio_pci);
  EXPECT_NE(find("lib/modules/dsm/vfio_pci_core.ko"), nullptr);
}

TEST(Image, LibrariesFromLdLibraryPathAreFoundInTheGuest) {
  REQUIRE_IMAGE_INPUTS();
  TempDir dir;
  auto system = CollectLibraries(DSM_GUEST_PROGRAM, {{}, SystemLibraryDirs()});
  ASSERT_TRUE(system.ok());
  for (const auto& l : *system) {
    if (l.soname == "libc.so.6") fs::copy_file(l.path, dir.path() + "/libc.so.6");
  }
  BuildOptions options;
  options.cache_dir = dir.path() + "/cache";
  options.search.ld_library_path = {dir.path()};
  auto image = BuildImage(DSM_GUEST_PROGRAM, options);
  ASSERT_TRUE(image.ok()) << image.status().message();
  auto bytes = ReadWholeFile(image->initramfs);
  ASSERT_TRUE(bytes.ok());
  auto entries = ReadCpio(*bytes);
  ASSERT_TRUE(entries.ok());
  std::string library_path = "(none)";
  bool has_copy = false;
  for (const auto& e : *entries) {
    if (e.name == "etc/dsm/library-path") library_path = e.data;
    has_copy |= "/" + e.name == dir.path() + "/libc.so.6";
  }
  EXPECT_EQ(library_path, dir.path() + "\n");
  EXPECT_TRUE(has_copy);
}

TEST(Image, TheCommandPrintsThePaths) {
  REQUIRE_IMAGE_INPUTS();
  TempDir dir;
  const std::string out = dir.path() + "/out.txt";
  const std::string cmd = std::string(DSM_IMAGE_TOOL) + " build " DSM_GUEST_PROGRAM " --cache " +
                          dir.path() + "/cache --out " + dir.path() + "/img > " + out;
  ASSERT_EQ(::system(cmd.c_str()), 0);
  auto text = ReadWholeFile(out);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("kernel " + dir.path() + "/img/vmlinuz\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("initramfs " + dir.path() + "/img/initramfs.cpio\n"), std::string::npos);
  EXPECT_NE(text->find("cached no\n"), std::string::npos);
  EXPECT_TRUE(IsReadableFile(dir.path() + "/img/initramfs.cpio"));
  // A file that is not ELF: a message and status 1.
  EXPECT_EQ(::system((std::string(DSM_IMAGE_TOOL) + " build /etc/passwd --cache " + dir.path() +
                      "/cache 2>/dev/null")
                         .c_str()),
            1 << 8);
}

TEST(Image, QemuCommandRefusesArgumentsTheKernelCannotCarry) {
  GuestImage image;
  BootOptions o;
  o.args = {"has \"quote\""};
  EXPECT_FALSE(QemuCommand(image, o).ok());
  o.args = {""};
  EXPECT_FALSE(QemuCommand(image, o).ok());
  o.args = {std::string(3000, 'a')};
  EXPECT_FALSE(QemuCommand(image, o).ok());
  o.args = {"two words", "x"};
  EXPECT_TRUE(QemuCommand(image, o).ok());
}

TEST(Image, ParsesTheExitLine) {
  EXPECT_EQ(ParseExitStatus("dsm-guest-exit 3\r\n"), 3);
  EXPECT_EQ(ParseExitStatus("noise\r\ndsm-guest-exit 0\r\n"), 0);
  EXPECT_EQ(ParseExitStatus("x dsm-guest-exit 3\r\n"), std::nullopt);
  EXPECT_EQ(ParseExitStatus("dsm-guest-exit 3"), std::nullopt);  // cut short
  EXPECT_EQ(ParseExitStatus(""), std::nullopt);
}

TEST(Boot, ADynamicProgramRunsInAGuest) {
  REQUIRE_IMAGE_INPUTS();
  if (!HaveQemu()) FAIL() << "no qemu-system-x86_64: run scripts/bootstrap";
  TempDir dir;
  BuildOptions options;
  options.cache_dir = dir.path() + "/cache";
  // The program from a temporary directory (under /tmp, usually): the guest
  // finds it at the path it has here, whatever that is.
  const std::string program = dir.path() + "/guest_program";
  fs::copy_file(DSM_GUEST_PROGRAM, program);
  auto image = BuildImage(program, options);
  ASSERT_TRUE(image.ok()) << image.status().message();
  BootOptions boot;
  boot.args = {"one", "two words"};
  boot.console_path = dir.path() + "/console";
  boot.stdout_path = dir.path() + "/stdout";
  boot.stderr_path = dir.path() + "/stderr";
  auto cmd = QemuCommand(*image, boot);
  ASSERT_TRUE(cmd.ok()) << cmd.status().message();
  std::vector<char*> argv;
  for (auto& a : *cmd) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  const std::string qemu_log = dir.path() + "/qemu.log";
  posix_spawn_file_actions_addopen(&actions, 2, qemu_log.c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t pid;
  ASSERT_EQ(posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  // Wait for QEMU to end (the guest powers off), with a deadline.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  ASSERT_GE(pidfd, 0);
  pollfd p{pidfd, POLLIN, 0};
  const int ready = ::poll(&p, 1, 90'000);  // generous: these machines are often loaded
  ::close(pidfd);
  if (ready != 1) ::kill(pid, SIGKILL);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  ASSERT_EQ(ready, 1) << "the guest did not power off within 90 s";
  auto log = ReadWholeFile(qemu_log);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << (log.ok() ? *log : "");

  auto out = ReadWholeFile(boot.stdout_path);
  auto err = ReadWholeFile(boot.stderr_path);
  auto console = ReadWholeFile(boot.console_path);
  ASSERT_TRUE(out.ok() && err.ok() && console.ok());
  EXPECT_EQ(*out, "hello from the guest: [one] [two words]\n");
  EXPECT_EQ(*err, "a line on stderr\n");
  EXPECT_EQ(ParseExitStatus(*console), 3) << *console;
  // The exit line, then at most the kernel's own last words (loglevel=1
  // keeps emergency messages: "reboot: Power down", a panic): no other kernel
  // messages, no module failures.
  ASSERT_EQ(console->rfind("dsm-guest-exit 3\r\n", 0), 0u) << *console;
  std::istringstream rest(console->substr(std::string("dsm-guest-exit 3\r\n").size()));
  for (std::string line; std::getline(rest, line);) {
    EXPECT_NE(line.find("] reboot: Power down"), std::string::npos) << *console;
  }
}

}  // namespace
}  // namespace dsm::image
