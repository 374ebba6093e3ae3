#include "binary_check.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "dsm/common/fd.h"

namespace dsm::launcher {
namespace {

// Bounds that no real program reaches; beyond them the file is not read.
constexpr uint64_t kMaxProgramHeaders = 4096;
constexpr uint64_t kMaxDynamicEntries = 1 << 16;
constexpr uint64_t kMaxName = 4096;

// The file offset of virtual address `addr`, through the loadable segments.
bool FileOffset(const std::vector<Elf64_Phdr>& phdrs, uint64_t addr, uint64_t* offset) {
  for (const Elf64_Phdr& p : phdrs) {
    if (p.p_type == PT_LOAD && addr >= p.p_vaddr && addr - p.p_vaddr < p.p_filesz) {
      *offset = p.p_offset + (addr - p.p_vaddr);
      return true;
    }
  }
  return false;
}

// The OpenMP runtimes that are not libdsm's, by the start of their sonames.
const char* const kOtherOpenMpRuntimes[] = {"libomp.so", "libgomp.so", "libiomp5.so"};

}  // namespace

std::vector<std::string> NeededLibraries(const std::string& path) {
  std::vector<std::string> needed;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return needed;
  Elf64_Ehdr eh;
  if (!PreadFully(fd.get(), &eh, sizeof eh, 0) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
      eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > kMaxProgramHeaders) {
    return needed;
  }
  std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
  if (!PreadFully(fd.get(), phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr), eh.e_phoff)) return needed;
  const Elf64_Phdr* dynamic = nullptr;
  for (const Elf64_Phdr& p : phdrs) {
    if (p.p_type == PT_DYNAMIC) dynamic = &p;
  }
  if (dynamic == nullptr) return needed;  // statically linked
  uint64_t count = dynamic->p_filesz / sizeof(Elf64_Dyn);
  if (count > kMaxDynamicEntries) return needed;
  std::vector<Elf64_Dyn> dyn(count);
  if (!PreadFully(fd.get(), dyn.data(), count * sizeof(Elf64_Dyn), dynamic->p_offset)) return needed;
  uint64_t strtab = 0;
  for (const Elf64_Dyn& d : dyn) {
    if (d.d_tag == DT_NULL) break;
    if (d.d_tag == DT_STRTAB) strtab = d.d_un.d_ptr;
  }
  uint64_t strtab_offset;
  if (strtab == 0 || !FileOffset(phdrs, strtab, &strtab_offset)) return needed;
  for (const Elf64_Dyn& d : dyn) {
    if (d.d_tag == DT_NULL) break;
    if (d.d_tag != DT_NEEDED) continue;
    char name[kMaxName];
    const uint64_t at = strtab_offset + d.d_un.d_val;
    ssize_t n = ::pread(fd.get(), name, sizeof name - 1, static_cast<off_t>(at));
    if (n <= 0) continue;
    name[n] = '\0';
    needed.emplace_back(name);  // up to its terminating NUL
  }
  return needed;
}

Status CheckOpenMpRuntime(const std::string& path) {
  for (const std::string& lib : NeededLibraries(path)) {
    for (const char* other : kOtherOpenMpRuntimes) {
      if (lib.rfind(other, 0) != 0) continue;
      return Status(EINVAL, path + " is linked with " + lib +
                                ", an OpenMP runtime of its own threads (plain 'clang -fopenmp' or "
                                "'gcc -fopenmp'); a dsmkit job runs OpenMP on libdsm, one thread per "
                                "node: build the program with dsm-clang or dsm-clang++");
    }
  }
  return Status::Ok();
}

}  // namespace dsm::launcher
