// The "newc" cpio format (the one the Linux kernel unpacks as an initramfs):
// a writer that builds an archive in memory, and a reader that parses one
// back (tests, `dsm-image list`). Each entry is a 110-byte ASCII header
// ("070701", then 13 eight-digit hex fields), the NUL-terminated name, padding
// to 4 bytes, the data, padding to 4 bytes; the archive ends with the entry
// "TRAILER!!!". Entries are written with uid/gid 0, mtime 0 and increasing
// inode numbers, so the same entries always give the same bytes.
//
// CpioWriter owns its buffer; not thread-safe. ReadCpio is a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dsm/common/status.h"

namespace dsm::image {

struct CpioEntry {
  std::string name;  // no leading '/', as the kernel expects ("bin/sh")
  uint32_t mode = 0;  // file type and permission bits (S_IFREG | 0755, ...)
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
  std::string data;  // file contents, or a symlink's target
};

class CpioWriter {
 public:
  // A leading '/' in `path` is dropped. Parents are not added implicitly:
  // add them first (the kernel creates nothing it is not given).
  void AddDirectory(std::string_view path, uint32_t perm = 0755);
  void AddFile(std::string_view path, std::string_view data, uint32_t perm = 0644);
  void AddSymlink(std::string_view path, std::string_view target);
  void AddCharDevice(std::string_view path, uint32_t major, uint32_t minor, uint32_t perm = 0600);
  // Appends the trailer and returns the archive; the writer is empty afterwards.
  std::string Finish();

 private:
  void Add(std::string_view path, uint32_t mode, uint32_t major, uint32_t minor,
           std::string_view data);
  std::string out_;
  uint32_t next_ino_ = 1;
};

// Parses a whole newc archive (up to and excluding the trailer). Errors
// (EINVAL): bad magic, a truncated header, name or data.
Result<std::vector<CpioEntry>> ReadCpio(std::string_view archive);

}  // namespace dsm::image
