#include "cache_prune.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <system_error>

#include "dsm/common/parse.h"

namespace dsm::image {

namespace fs = std::filesystem;

namespace {

struct Entry {
  std::string path;
  uint64_t bytes = 0;
  timespec used{};  // modification time
  bool abandoned = false;
};

bool Earlier(const timespec& a, const timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec < b.tv_sec : a.tv_nsec < b.tv_nsec;
}

// Used within min_age of now (whole seconds: no arithmetic that can overflow).
bool Recent(const timespec& used, time_t now, std::chrono::seconds min_age) {
  return used.tv_sec > now || now - used.tv_sec < min_age.count();
}

// The entry's modification time now, if it still exists.
std::optional<timespec> UsedNow(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return st.st_mtim;
}

// Bytes the entry takes on disk (allocated blocks), its files together.
uint64_t DiskBytes(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  uint64_t bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  if (!S_ISDIR(st.st_mode)) return bytes;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat f {};
    if (::lstat(it->path().c_str(), &f) == 0) bytes += static_cast<uint64_t>(f.st_blocks) * 512;
  }
  return bytes;
}

bool IsKey(const std::string& name) {
  return name.size() == 64 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

void AddEntry(const std::string& path, bool abandoned, std::vector<Entry>* out) {
  std::optional<timespec> used = UsedNow(path);
  if (!used) return;  // gone meanwhile
  out->push_back(Entry{path, DiskBytes(path), *used, abandoned});
}

}  // namespace

void MarkUsed(const std::string& path) { (void)::utimensat(AT_FDCWD, path.c_str(), nullptr, 0); }

Result<uint64_t> CacheMaxFromEnvironment() {
  const char* v = std::getenv("DSM_IMAGE_CACHE_MAX");
  if (v == nullptr || *v == '\0') return kDefaultCacheMaxBytes;
  std::optional<uint64_t> n = ParseSize(v);
  if (!n) return Status(EINVAL, std::string("DSM_IMAGE_CACHE_MAX='") + v + "' is not a size such as 512M or 4G");
  return *n;
}

Result<PruneResult> PruneImageCache(const std::string& cache, const PruneOptions& options) {
  std::vector<Entry> entries;
  std::error_code ec;
  fs::directory_iterator it(cache, ec);
  if (ec == std::errc::no_such_file_or_directory) return PruneResult{};
  if (ec) return Status(ec.value(), "cannot read the image cache " + cache + ": " + ec.message());
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string path = it->path().string();
    if (IsKey(name)) {
      AddEntry(path, false, &entries);
    } else if (name.rfind(".build.", 0) == 0) {
      AddEntry(path, true, &entries);
    } else if (name == "kernels") {
      std::error_code kec;
      for (fs::directory_iterator k(path, kec); !kec && k != fs::directory_iterator(); k.increment(kec)) {
        if (k->path().filename().string().rfind("vmlinux-", 0) == 0) AddEntry(k->path().string(), false, &entries);
      }
    }
  }
  const time_t now = ::time(nullptr);
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return Earlier(a.used, b.used); });
  PruneResult result;
  for (const Entry& e : entries) result.kept_bytes += e.bytes;
  for (const Entry& e : entries) {
    const bool recent = Recent(e.used, now, options.min_age);
    const bool kept = std::find(options.keep.begin(), options.keep.end(), e.path) != options.keep.end();
    const bool over = result.kept_bytes > options.max_bytes;
    if (recent || kept || !(e.abandoned || over)) continue;
    // A builder may have taken it since it was listed (MarkUsed before it
    // looks): look again just before removing.
    std::optional<timespec> used = UsedNow(e.path);
    if (!used || Recent(*used, ::time(nullptr), options.min_age)) continue;
    std::error_code rec;
    fs::remove_all(e.path, rec);
    if (rec) continue;  // not ours to remove, say: it stays counted
    result.removed.push_back(e.path);
    result.removed_bytes += e.bytes;
    result.kept_bytes -= e.bytes;
  }
  return result;
}

}  // namespace dsm::image
