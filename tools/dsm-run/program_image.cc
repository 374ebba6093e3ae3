#include "program_image.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "dsm/common/fd.h"
#include "dsm/device/protocol.h"

namespace dsm::launcher {
namespace {

constexpr uint64_t kMaxNames = 16 << 20;

Status Bad(const std::string& path, const std::string& what) {
  return Status(EINVAL, "cannot read the program " + path + ": " + what);
}

}  // namespace

Result<ProgramImage> ReadProgramImage(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::FromErrno("cannot open the program " + path);
  ProgramImage image;
  Elf64_Ehdr eh;
  ssize_t got = ::pread(fd.get(), &eh, sizeof eh, 0);
  if (got < 4 || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return image;  // not ELF
  image.elf = true;
  if (got != static_cast<ssize_t>(sizeof eh) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return Bad(path, "not a 64-bit little-endian ELF file");
  }
  if (eh.e_shoff == 0 || eh.e_shnum == 0) return image;  // stripped of sections
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum) {
    return Bad(path, "malformed section header table");
  }
  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  if (!PreadFully(fd.get(), sections.data(), sections.size() * sizeof(Elf64_Shdr), eh.e_shoff)) {
    return Bad(path, "truncated section header table");
  }
  const Elf64_Shdr& names_header = sections[eh.e_shstrndx];
  if (names_header.sh_size > kMaxNames) return Bad(path, "malformed section name table");
  std::string names(names_header.sh_size, '\0');
  if (!PreadFully(fd.get(), names.data(), names.size(), names_header.sh_offset)) {
    return Bad(path, "truncated section name table");
  }
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const Elf64_Shdr& s : sections) {
    if (s.sh_name >= names.size()) return Bad(path, "malformed section name");
    const char* name = names.c_str() + s.sh_name;
    if (std::strcmp(name, "dsm_shared_data") != 0 && std::strcmp(name, "dsm_shared_bss") != 0) continue;
    if (s.sh_size == 0) continue;
    if (s.sh_addr > UINT64_MAX - s.sh_size) return Bad(path, std::string("malformed section ") + name);
    lo = std::min(lo, s.sh_addr);
    hi = std::max(hi, s.sh_addr + s.sh_size);
  }
  if (hi == 0) return image;
  hi = device::AlignUp(hi, device::kPageSize);  // dsm_globals.ld keeps the rest of the page
  if (lo % device::kPageSize != 0) {
    return Bad(path, "its shared globals (sections dsm_shared_data, dsm_shared_bss) are not one "
                     "page-aligned window: link it with dsm-clang, or with the dsm_globals.ld linker "
                     "script (CMake target dsmkit::dsm, pkg-config dsm)");
  }
  if (hi - lo > device::kMaxGlobalsSize) return Bad(path, "its shared globals are larger than 512 GiB");
  const uint64_t end = hi - lo;
  image.globals_size = end;
  return image;
}

}  // namespace dsm::launcher
