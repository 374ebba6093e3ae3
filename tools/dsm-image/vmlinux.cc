#include "vmlinux.h"

#include <fcntl.h>
#include <lzma.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "dsm/common/fd.h"
#include "file_util.h"

namespace dsm::image {

Result<std::string> ExtractVmlinux(const std::string& bzimage) {
  static constexpr char kXzMagic[] = {'\xfd', '7', 'z', 'X', 'Z', '\0'};
  const size_t at = bzimage.find(std::string_view(kXzMagic, sizeof kXzMagic));
  if (at == std::string::npos) return Status(EINVAL, "the kernel holds no xz-compressed payload");
  lzma_stream s = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK) {
    return Status(ENOMEM, "cannot start an xz decoder");
  }
  std::string out;
  out.resize(64 << 20);
  s.next_in = reinterpret_cast<const uint8_t*>(bzimage.data() + at);
  s.avail_in = bzimage.size() - at;
  lzma_ret ret = LZMA_OK;
  while (ret == LZMA_OK) {
    if (s.total_out == out.size()) out.resize(out.size() * 2);
    s.next_out = reinterpret_cast<uint8_t*>(out.data() + s.total_out);
    s.avail_out = out.size() - s.total_out;
    // The payload is followed by other data: stop at the stream's end.
    ret = lzma_code(&s, LZMA_FINISH);
  }
  out.resize(s.total_out);
  lzma_end(&s);
  if (ret != LZMA_STREAM_END) return Status(EINVAL, "the kernel's xz payload is corrupt");
  if (out.size() < 4 || std::memcmp(out.data(), "\x7f" "ELF", 4) != 0) {
    return Status(EINVAL, "the kernel's payload is not an ELF file");
  }
  return out;
}

Result<std::string> CachedVmlinux(const std::string& bzimage_path, const std::string& dir) {
  auto bytes = ReadWholeFile(bzimage_path);
  if (!bytes.ok()) return bytes.status();
  Sha256 h;
  h.Update(*bytes);
  const std::string path = dir + "/vmlinux-" + h.HexDigest();
  if (IsReadableFile(path)) return path;
  auto vmlinux = ExtractVmlinux(*bytes);
  if (!vmlinux.ok()) return vmlinux.status();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(ec.value(), "cannot create " + dir + ": " + ec.message());
  std::string tmp = dir + "/.vmlinux.XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return Status::FromErrno("cannot create a file in " + dir);
  size_t done = 0;
  while (done < vmlinux->size()) {
    const ssize_t n = ::write(fd.get(), vmlinux->data() + done, vmlinux->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return Status::FromErrno("cannot write " + tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  ::fchmod(fd.get(), 0644);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Status::FromErrno("cannot move " + tmp + " to " + path, err);
  }
  return path;
}

}  // namespace dsm::image
