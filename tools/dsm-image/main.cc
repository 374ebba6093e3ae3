// dsm-image: builds (or finds in its cache) the guest image for a program,
// and keeps the cache within its size.
//
//   dsm-image build PROG [--out DIR] [--kernel-root DIR] [--cache DIR]
//
// prints "kernel PATH", "initramfs PATH", "key HEX" and "cached yes|no", one
// per line. With --out the kernel and initramfs are also copied into DIR.
// Every build prunes the cache to $DSM_IMAGE_CACHE_MAX (cache_prune.h).
//
//   dsm-image prune [--cache DIR] [--max SIZE] [--min-age SECONDS]
//
// removes the least recently used images until the cache holds at most SIZE
// (default $DSM_IMAGE_CACHE_MAX, else 2G; 0 removes every image old enough),
// none used within the last SECONDS (default 600), and prints "removed N
// entries (B bytes), B bytes kept".
// Exit status 0, or 1 with a message on stderr; 2 for a usage error.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cache_prune.h"
#include "dsm/common/parse.h"
#include "image.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: dsm-image build PROG [--out DIR] [--kernel-root DIR] [--cache DIR]\n"
               "       dsm-image prune [--cache DIR] [--max SIZE] [--min-age SECONDS]\n");
  return 2;
}

int UsageError(const std::string& what) {
  std::fprintf(stderr, "dsm-image: %s\n", what.c_str());
  return Usage();
}

int Prune(int argc, char** argv) {
  std::string cache = dsm::image::DefaultImageCache();
  dsm::image::PruneOptions options;
  auto max = dsm::image::CacheMaxFromEnvironment();
  if (!max.ok()) return UsageError(max.status().message());
  options.max_bytes = *max;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return UsageError("'" + a + "' needs a value");
    const std::string v = argv[++i];
    if (a == "--cache" && !v.empty()) {
      cache = v;
    } else if (a == "--max") {
      auto n = dsm::ParseSize(v);
      if (!n) return UsageError("--max needs a size such as 512M or 4G, not '" + v + "'");
      options.max_bytes = *n;
    } else if (a == "--min-age") {
      auto n = dsm::ParseUint(v);
      if (!n || *n > 100ULL * 365 * 86400) return UsageError("--min-age needs a number of seconds, not '" + v + "'");
      options.min_age = std::chrono::seconds(*n);
    } else {
      return UsageError("unknown argument '" + a + "'");
    }
  }
  auto r = dsm::image::PruneImageCache(cache, options);
  if (!r.ok()) {
    std::fprintf(stderr, "dsm-image: %s\n", r.status().message().c_str());
    return 1;
  }
  std::printf("removed %zu entries (%llu bytes), %llu bytes kept\n", r->removed.size(),
              static_cast<unsigned long long>(r->removed_bytes), static_cast<unsigned long long>(r->kept_bytes));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "prune") return Prune(argc, argv);
  if (argc < 3 || std::string(argv[1]) != "build") return Usage();
  dsm::image::BuildOptions options;
  std::string program, out;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= argc) return false;
      *dst = argv[++i];
      return true;
    };
    if (a == "--out") {
      if (!value(&out)) return Usage();
    } else if (a == "--kernel-root") {
      if (!value(&options.kernel_root)) return Usage();
    } else if (a == "--cache") {
      if (!value(&options.cache_dir)) return Usage();
    } else if (program.empty() && !a.empty() && a[0] != '-') {
      program = a;
    } else {
      return Usage();
    }
  }
  if (program.empty()) return Usage();
  // The program's libraries are found as the loader would find them here.
  options.search = dsm::image::SearchFromEnvironment();
  auto image = dsm::image::BuildImage(program, options);
  if (!image.ok()) {
    std::fprintf(stderr, "dsm-image: %s\n", image.status().message().c_str());
    return 1;
  }
  std::string kernel = image->kernel, initramfs = image->initramfs;
  if (!out.empty()) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(out, ec);
    const std::string k = out + "/vmlinuz", i = out + "/initramfs.cpio";
    if (!ec) fs::copy_file(kernel, k, fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::copy_file(initramfs, i, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      std::fprintf(stderr, "dsm-image: cannot copy the image into %s: %s\n", out.c_str(),
                   ec.message().c_str());
      return 1;
    }
    kernel = k;
    initramfs = i;
  }
  std::printf("kernel %s\ninitramfs %s\nkey %s\ncached %s\n", kernel.c_str(), initramfs.c_str(),
              image->key.c_str(), image->cached ? "yes" : "no");
  return 0;
}
