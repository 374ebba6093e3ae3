#include "elf_deps.h"

#include <elf.h>
#include <glob.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>

#include "file_util.h"

namespace dsm::image {
namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

template <typename T>
bool At(const std::string& b, uint64_t off, T* out) {
  if (off > b.size() || b.size() - off < sizeof(T)) return false;
  std::memcpy(out, b.data() + off, sizeof(T));
  return true;
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string ExpandOrigin(std::string dir, const std::string& origin) {
  for (const char* token : {"${ORIGIN}", "$ORIGIN"}) {
    size_t at;
    while ((at = dir.find(token)) != std::string::npos) dir.replace(at, std::strlen(token), origin);
  }
  return dir;
}

void ReadLdSoConf(const std::string& path, int depth, std::vector<std::string>* dirs) {
  if (depth > 8) return;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string word;
    if (!(words >> word)) continue;
    if (word == "include") {
      std::string pattern;
      while (words >> pattern) {
        if (pattern[0] != '/') pattern = DirName(path) + "/" + pattern;
        glob_t g{};
        if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
          for (size_t i = 0; i < g.gl_pathc; ++i) ReadLdSoConf(g.gl_pathv[i], depth + 1, dirs);
        }
        globfree(&g);
      }
      continue;
    }
    if (word[0] == '/') dirs->push_back(word);
  }
}

}  // namespace

Result<ElfInfo> ParseElf(const std::string& b, const std::string& what) {
  auto bad = [&](const std::string& why) { return Status(EINVAL, what + ": " + why); };
  Elf64_Ehdr eh;
  if (b.size() < 4 || std::memcmp(b.data(), ELFMAG, SELFMAG) != 0) return bad("not an ELF file");
  if (!At(b, 0, &eh)) return bad("truncated ELF header");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
      eh.e_machine != EM_X86_64) {
    return bad("not a 64-bit x86-64 ELF file");
  }
  ElfInfo info;
  // Program headers: the interpreter and the dynamic segment.
  uint64_t dyn_off = 0, dyn_size = 0;
  std::vector<Elf64_Phdr> loads;
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (eh.e_phentsize != sizeof ph || !At(b, eh.e_phoff + uint64_t{i} * sizeof ph, &ph)) {
      return bad("truncated program headers");
    }
    if (ph.p_type == PT_LOAD) loads.push_back(ph);
    if (ph.p_type == PT_DYNAMIC) {
      dyn_off = ph.p_offset;
      dyn_size = ph.p_filesz;
    }
    if (ph.p_type == PT_INTERP) {
      if (ph.p_offset > b.size() || b.size() - ph.p_offset < ph.p_filesz || ph.p_filesz == 0) {
        return bad("truncated interpreter name");
      }
      info.interpreter.assign(b.data() + ph.p_offset, strnlen(b.data() + ph.p_offset, ph.p_filesz));
    }
  }
  if (dyn_size != 0) {
    std::vector<uint64_t> needed, rpath, runpath;
    uint64_t strtab_addr = 0;
    bool have_strtab = false;
    for (uint64_t o = 0; o + sizeof(Elf64_Dyn) <= dyn_size; o += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      if (!At(b, dyn_off + o, &d)) return bad("truncated dynamic section");
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag == DT_NEEDED) needed.push_back(d.d_un.d_val);
      if (d.d_tag == DT_RPATH) rpath.push_back(d.d_un.d_val);
      if (d.d_tag == DT_RUNPATH) runpath.push_back(d.d_un.d_val);
      if (d.d_tag == DT_STRTAB) {
        strtab_addr = d.d_un.d_ptr;
        have_strtab = true;
      }
    }
    // DT_STRTAB is an address: map it to a file offset through PT_LOAD.
    uint64_t strtab_off = 0;
    bool mapped = false;
    for (const Elf64_Phdr& ph : loads) {
      if (have_strtab && strtab_addr >= ph.p_vaddr && strtab_addr < ph.p_vaddr + ph.p_filesz) {
        strtab_off = strtab_addr - ph.p_vaddr + ph.p_offset;
        mapped = true;
      }
    }
    auto str = [&](uint64_t at, std::string* out) {
      if (!mapped || strtab_off + at >= b.size()) return false;
      const char* s = b.data() + strtab_off + at;
      out->assign(s, strnlen(s, b.size() - strtab_off - at));
      return true;
    };
    std::string s;
    for (uint64_t at : needed) {
      if (!str(at, &s)) return bad("DT_NEEDED outside the string table");
      info.needed.push_back(s);
    }
    for (uint64_t at : rpath) {
      if (!str(at, &s)) return bad("DT_RPATH outside the string table");
      for (auto& d : Split(s, ':')) info.rpath.push_back(d);
    }
    for (uint64_t at : runpath) {
      if (!str(at, &s)) return bad("DT_RUNPATH outside the string table");
      for (auto& d : Split(s, ':')) info.runpath.push_back(d);
      info.has_runpath = true;
    }
  }
  // Section headers: a kernel module's .modinfo ("key=value\0" strings).
  if (eh.e_shoff != 0 && eh.e_shentsize == sizeof(Elf64_Shdr)) {
    Elf64_Shdr names;
    if (At(b, eh.e_shoff + uint64_t{eh.e_shstrndx} * sizeof names, &names)) {
      for (uint16_t i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr sh;
        if (!At(b, eh.e_shoff + uint64_t{i} * sizeof sh, &sh)) return bad("truncated section headers");
        const uint64_t name_at = names.sh_offset + sh.sh_name;
        if (name_at >= b.size() || std::strncmp(b.data() + name_at, ".modinfo", 9) != 0) continue;
        if (sh.sh_offset > b.size() || b.size() - sh.sh_offset < sh.sh_size) {
          return bad("truncated .modinfo");
        }
        const std::string modinfo = b.substr(sh.sh_offset, sh.sh_size);
        for (const std::string& kv : Split(modinfo, '\0')) {
          if (kv.rfind("depends=", 0) == 0) info.module_depends = Split(kv.substr(8), ',');
        }
      }
    }
  }
  return info;
}

Result<ElfInfo> ReadElf(const std::string& path) {
  auto bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  return ParseElf(*bytes, path);
}

const std::vector<std::string>& LoaderBuiltinDirs() {
  static const std::vector<std::string> kDirs = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                                                 "/lib64", "/usr/lib64", "/lib", "/usr/lib"};
  return kDirs;
}

std::vector<std::string> SystemLibraryDirs() {
  std::vector<std::string> dirs;
  ReadLdSoConf("/etc/ld.so.conf", 0, &dirs);
  dirs.insert(dirs.end(), LoaderBuiltinDirs().begin(), LoaderBuiltinDirs().end());
  return dirs;
}

Result<std::vector<Library>> CollectLibraries(const std::string& program,
                                              const LibrarySearch& search) {
  auto prog = ReadElf(program);
  if (!prog.ok()) return prog.status();
  std::vector<Library> libs;
  std::set<std::string> seen;  // sonames (the loader loads each once)
  if (!prog->interpreter.empty()) {
    if (!IsReadableFile(prog->interpreter)) {
      return Status(ENOENT, program + ": its loader " + prog->interpreter + " does not exist");
    }
    libs.push_back({prog->interpreter, prog->interpreter});
    seen.insert(prog->interpreter);
  }
  struct Pending {
    std::string soname;
    std::string needed_by;
    std::vector<std::string> dirs;  // the needing object's own search path
  };
  std::deque<Pending> queue;
  const std::vector<std::string> program_rpath = prog->has_runpath ? std::vector<std::string>{}
                                                                   : prog->rpath;
  auto enqueue = [&](const ElfInfo& obj, const std::string& obj_path) {
    const std::string origin = DirName(obj_path);
    std::vector<std::string> dirs;
    if (!obj.has_runpath) {
      for (const auto& d : obj.rpath) dirs.push_back(ExpandOrigin(d, origin));
      if (obj_path != program) {
        for (const auto& d : program_rpath) dirs.push_back(ExpandOrigin(d, DirName(program)));
      }
    }
    for (const auto& d : search.ld_library_path) dirs.push_back(d);
    for (const auto& d : obj.runpath) dirs.push_back(ExpandOrigin(d, origin));
    for (const auto& d : search.system_dirs) dirs.push_back(d);
    for (const auto& n : obj.needed) queue.push_back({n, obj_path, dirs});
  };
  enqueue(*prog, program);
  while (!queue.empty()) {
    Pending p = std::move(queue.front());
    queue.pop_front();
    if (seen.count(p.soname)) continue;
    std::string found;
    Result<ElfInfo> found_info = Status(ENOENT, "");
    if (p.soname.find('/') != std::string::npos) {
      found = p.soname;
      found_info = ReadElf(found);
      if (!found_info.ok()) return found_info.status();
    } else {
      for (const auto& dir : p.dirs) {
        const std::string candidate = dir + "/" + p.soname;
        if (!IsReadableFile(candidate)) continue;
        auto info = ReadElf(candidate);
        if (!info.ok()) continue;  // wrong class or not ELF: the loader skips it too
        found = candidate;
        found_info = std::move(info);
        break;
      }
    }
    if (found.empty()) {
      std::string where;
      for (const auto& d : p.dirs) where += (where.empty() ? "" : ":") + d;
      return Status(ENOENT, program + ": library " + p.soname + " (needed by " + p.needed_by +
                                ") not found in " + where);
    }
    seen.insert(p.soname);
    libs.push_back({p.soname, found});
    enqueue(*found_info, found);
  }
  return libs;
}

LibrarySearch SearchFromEnvironment() {
  LibrarySearch search;
  if (const char* lp = std::getenv("LD_LIBRARY_PATH"); lp != nullptr) {
    std::string dir;
    for (const char* c = lp;; ++c) {
      if (*c == ':' || *c == '\0') {
        if (!dir.empty()) search.ld_library_path.push_back(dir);
        dir.clear();
        if (*c == '\0') break;
      } else {
        dir.push_back(*c);
      }
    }
  }
  search.system_dirs = SystemLibraryDirs();
  return search;
}

}  // namespace dsm::image
