// The shared space's file: a private tmpfs mounted huge=advise where the
// daemon can make one (as root, or in a user namespace of its own), a memfd
// otherwise, saying why.
#include "dsm/hostd/space_file.h"

#include <gtest/gtest.h>
#include <grp.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

#include "dsm/hostd/shared_space.h"

namespace dsm::hostd {
namespace {

constexpr uint64_t kSize = 64ull << 20;
constexpr uintptr_t kHuge = 2u << 20;
constexpr uid_t kNobody = 65534;

// The kernel gives shared memory huge pages as the mappings ask (a kernel
// with transparent huge pages, shmem_enabled neither "deny" nor "force").
// ("force" would give every mapping huge pages: not what is tested here.)
bool KernelHasShmemHugePages() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  std::string modes;
  return std::getline(f, modes) && modes.find("[deny]") == std::string::npos &&
         modes.find("[force]") == std::string::npos;
}

// Runs `body` in a child process; true when it returned true.
bool InChild(const std::function<bool()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body() ? 0 : 1);
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Drops root for nobody (nothing to do for any other user), as a daemon
// started by nobody would be: dumpable (a process that changes its ids
// without exec is not, and then cannot write its user namespace's maps).
bool BecomeNobody() {
  if (::geteuid() != 0) return true;
  return ::setgroups(0, nullptr) == 0 && ::setresgid(kNobody, kNobody, kNobody) == 0 &&
         ::setresuid(kNobody, kNobody, kNobody) == 0 && ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0;
}

// This machine lets an unprivileged process make a user namespace (Debian
// allows it by default; containers often do not).
bool UnprivilegedUserNamespaces() {
  return InChild([] { return BecomeNobody() && ::unshare(CLONE_NEWUSER) == 0; });
}

std::string FdLink(int fd) {
  char buf[256];
  ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf - 1);
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

// Kilobytes of the mapping holding `addr` that huge pages map, from smaps;
// -1 when no mapping holds it.
long PmdMappedKb(const void* addr) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool inside = false;
  bool found = false;
  long kb = 0;
  const auto a = reinterpret_cast<uintptr_t>(addr);
  while (std::getline(f, line)) {
    unsigned long lo = 0, hi = 0;
    long v = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find('-') < line.find(' ')) {
      if (inside) break;
      inside = a >= lo && a < hi;
      found = found || inside;
      continue;
    }
    if (inside && (std::sscanf(line.c_str(), "ShmemPmdMapped: %ld kB", &v) == 1 ||
                   std::sscanf(line.c_str(), "FilePmdMapped: %ld kB", &v) == 1)) {
      kb += v;
    }
  }
  return found ? kb : -1;
}

// Maps the file twice, asks for huge pages on the first mapping only and
// writes a 2 MiB page through each (different ones). Returns the huge-page
// kilobytes of each mapping.
std::pair<long, long> TouchBothWays(int fd) {
  void* asks = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  void* plain = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (asks == MAP_FAILED || plain == MAP_FAILED) return {-1, -1};
  (void)::madvise(asks, kSize, MADV_HUGEPAGE);
  // File offsets 4 MiB and 8 MiB; the mapping's address need not be aligned,
  // so each touches the 2 MiB page that is aligned in its address space.
  auto aligned = [](void* base, uintptr_t at) {
    return reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(base) + at + kHuge - 1) & ~(kHuge - 1));
  };
  char* a = aligned(asks, 4u << 20);
  char* p = aligned(plain, 16u << 20);
  for (uintptr_t i = 0; i < kHuge; i += 4096) a[i] = 1;
  for (uintptr_t i = 0; i < kHuge; i += 4096) p[i] = 1;
  std::pair<long, long> kb{PmdMappedKb(a), PmdMappedKb(p)};
  ::munmap(asks, kSize);
  ::munmap(plain, kSize);
  return kb;
}

void ExpectPrivateTmpfs(const SpaceFile& f) {
  ASSERT_TRUE(f.huge_pages) << f.why_not;
  EXPECT_EQ(f.why_not, "");
  EXPECT_EQ(DescribeSpaceFile(f), "tmpfs huge=advise");
  struct statfs fs {};
  ASSERT_EQ(::fstatfs(f.fd.get(), &fs), 0);
  EXPECT_EQ(fs.f_type, TMPFS_MAGIC);
  struct stat st {};
  ASSERT_EQ(::fstat(f.fd.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSize);
  EXPECT_EQ(st.st_nlink, 0u) << "the file is unlinked: nothing to clean up";
  // Named for whoever looks at a daemon's descriptors (tests, people).
  EXPECT_EQ(FdLink(f.fd.get()), "/dsm-shared-space (deleted)");
}

TEST(SpaceFile, PrivateTmpfsGivesHugePagesToTheMappingsThatAskOnly) {
  if (!KernelHasShmemHugePages()) GTEST_SKIP() << "the kernel gives shared memory no huge pages";
  if (::geteuid() != 0 && !UnprivilegedUserNamespaces()) {
    GTEST_SKIP() << "neither root nor allowed user namespaces: the space is a memfd here";
  }
  auto f = CreateSpaceFile(kSize, true);
  ASSERT_TRUE(f.ok()) << f.status().message();
  ExpectPrivateTmpfs(f.value());
  auto [asks, plain] = TouchBothWays(f.value().fd.get());
  EXPECT_EQ(asks, 2048) << "the mapping that asked maps its 2 MiB with one huge page";
  EXPECT_EQ(plain, 0) << "huge=advise: a mapping that did not ask gets 4 KiB pages";
}

TEST(SpaceFile, UnprivilegedDaemonMountsInAUserNamespaceOfItsOwn) {
  if (!KernelHasShmemHugePages()) GTEST_SKIP() << "the kernel gives shared memory no huge pages";
  if (!UnprivilegedUserNamespaces()) GTEST_SKIP() << "this machine refuses unprivileged user namespaces";
  // A gtest assertion in the child would not reach this process: the child
  // checks and exits with the verdict.
  EXPECT_TRUE(InChild([] {
    if (!BecomeNobody()) return false;
    auto f = CreateSpaceFile(kSize, true);
    if (!f.ok() || !f.value().huge_pages) {
      std::fprintf(stderr, "no private tmpfs as nobody: %s\n",
                   f.ok() ? f.value().why_not.c_str() : f.status().message().c_str());
      return false;
    }
    struct statfs fs {};
    auto [asks, plain] = TouchBothWays(f.value().fd.get());
    std::fprintf(stderr, "as nobody: %ld and %ld kB in huge pages\n", asks, plain);
    return ::fstatfs(f.value().fd.get(), &fs) == 0 && fs.f_type == TMPFS_MAGIC && asks == 2048 && plain == 0;
  }));
}

TEST(SpaceFile, MemfdWhenHugePagesAreNotAskedFor) {
  auto f = CreateSpaceFile(kSize, false);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_FALSE(f.value().huge_pages);
  EXPECT_EQ(DescribeSpaceFile(f.value()), "memfd (not asked for)");
  EXPECT_EQ(FdLink(f.value().fd.get()).rfind("/memfd:dsm-shared-space", 0), 0u) << FdLink(f.value().fd.get());
  struct stat st {};
  ASSERT_EQ(::fstat(f.value().fd.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSize);
}

// Where no user namespace can be made (here: a namespace whose own limit
// allows no more of them, and which does not own the mount namespace, so
// fsopen is refused too) the space is a memfd, and the reason names the
// step that failed.
TEST(SpaceFile, MemfdSayingWhyWhenNoUserNamespaceCanBeMade) {
  if (::geteuid() != 0 && !UnprivilegedUserNamespaces()) GTEST_SKIP() << "no user namespaces to limit";
  EXPECT_TRUE(InChild([] {
    const std::string map = "0 " + std::to_string(::geteuid()) + " 1\n";
    if (::unshare(CLONE_NEWUSER) != 0) return false;
    FILE* m = std::fopen("/proc/self/uid_map", "w");
    if (m == nullptr || std::fputs(map.c_str(), m) < 0 || std::fclose(m) != 0) return false;
    FILE* limit = std::fopen("/proc/sys/user/max_user_namespaces", "w");
    if (limit == nullptr || std::fputs("0\n", limit) < 0 || std::fclose(limit) != 0) return false;
    auto f = CreateSpaceFile(kSize, true);
    if (!f.ok()) return false;
    const std::string said = DescribeSpaceFile(f.value());
    std::fprintf(stderr, "said: %s\n", said.c_str());
    return !f.value().huge_pages && said.rfind("memfd (unshare a user namespace: ", 0) == 0 &&
           FdLink(f.value().fd.get()).rfind("/memfd:", 0) == 0;
  }));
}

// The header tells nodes whether to ask (kSpaceHugePages), and the space
// says what its file is.
TEST(SpaceFile, SharedSpaceHeaderCarriesTheChoice) {
  for (bool huge : {true, false}) {
    SpaceConfig config;
    config.size = kSize;
    config.huge_pages = huge;
    auto space = SharedSpace::Create(config);
    ASSERT_TRUE(space.ok()) << space.status().message();
    EXPECT_EQ(space.value().header()->flags, huge ? device::kSpaceHugePages : 0u);
    if (!huge) EXPECT_EQ(space.value().backing(), "memfd (not asked for)");
    if (huge && ::geteuid() == 0 && KernelHasShmemHugePages()) EXPECT_EQ(space.value().backing(), "tmpfs huge=advise");
  }
}

}  // namespace
}  // namespace dsm::hostd
