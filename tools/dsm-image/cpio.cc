#include "cpio.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

namespace dsm::image {
namespace {

constexpr std::string_view kMagic = "070701";
constexpr size_t kHeaderSize = 110;
constexpr std::string_view kTrailer = "TRAILER!!!";

void AppendHex(std::string& out, uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08X", v);
  out.append(buf, 8);
}

void Pad4(std::string& out) {
  while (out.size() % 4 != 0) out.push_back('\0');
}

std::string_view StripSlash(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return path;
}

bool ParseHex(std::string_view field, uint32_t* v) {
  *v = 0;
  for (char c : field) {
    uint32_t d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    *v = (*v << 4) | d;
  }
  return true;
}

size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }

}  // namespace

void CpioWriter::Add(std::string_view path, uint32_t mode, uint32_t major, uint32_t minor,
                     std::string_view data) {
  const std::string_view name = path == kTrailer ? path : StripSlash(path);
  out_.append(kMagic);
  const uint32_t fields[13] = {
      name == kTrailer ? 0 : next_ino_++,  // ino
      mode,
      0,  // uid
      0,  // gid
      1,  // nlink
      0,  // mtime
      static_cast<uint32_t>(data.size()),
      0,  // devmajor
      0,  // devminor
      major,
      minor,
      static_cast<uint32_t>(name.size() + 1),
      0,  // check (unused by newc)
  };
  for (uint32_t f : fields) AppendHex(out_, f);
  out_.append(name);
  out_.push_back('\0');
  Pad4(out_);
  out_.append(data);
  Pad4(out_);
}

void CpioWriter::AddDirectory(std::string_view path, uint32_t perm) {
  Add(path, S_IFDIR | perm, 0, 0, {});
}

void CpioWriter::AddFile(std::string_view path, std::string_view data, uint32_t perm) {
  Add(path, S_IFREG | perm, 0, 0, data);
}

void CpioWriter::AddSymlink(std::string_view path, std::string_view target) {
  Add(path, S_IFLNK | 0777, 0, 0, target);
}

void CpioWriter::AddCharDevice(std::string_view path, uint32_t major, uint32_t minor,
                               uint32_t perm) {
  Add(path, S_IFCHR | perm, major, minor, {});
}

std::string CpioWriter::Finish() {
  Add(kTrailer, 0, 0, 0, {});
  next_ino_ = 1;
  return std::exchange(out_, {});
}

Result<std::vector<CpioEntry>> ReadCpio(std::string_view archive) {
  std::vector<CpioEntry> entries;
  size_t pos = 0;
  auto bad = [&](const std::string& what) {
    return Status(EINVAL, "cpio archive: " + what + " at offset " + std::to_string(pos));
  };
  for (;;) {
    if (pos > archive.size() || archive.size() - pos < kHeaderSize) return bad("truncated header");
    const std::string_view header = archive.substr(pos, kHeaderSize);
    if (header.substr(0, 6) != kMagic) return bad("bad magic");
    uint32_t f[13];
    for (int i = 0; i < 13; ++i) {
      if (!ParseHex(header.substr(6 + 8 * i, 8), &f[i])) return bad("bad header field");
    }
    const uint32_t namesize = f[11];
    const uint32_t filesize = f[6];
    if (namesize == 0 || archive.size() - pos - kHeaderSize < namesize) return bad("truncated name");
    std::string_view name = archive.substr(pos + kHeaderSize, namesize - 1);
    const size_t data_at = Align4(pos + kHeaderSize + namesize);
    if (data_at > archive.size() || archive.size() - data_at < filesize) return bad("truncated data");
    if (name == kTrailer) break;
    CpioEntry e;
    e.name = std::string(name);
    e.mode = f[1];
    e.rdev_major = f[9];
    e.rdev_minor = f[10];
    e.data = std::string(archive.substr(data_at, filesize));
    entries.push_back(std::move(e));
    pos = Align4(data_at + filesize);
  }
  return entries;
}

}  // namespace dsm::image
