// dsm-image: builds (or finds in its cache) the guest image for a program.
//
//   dsm-image build PROG [--out DIR] [--kernel-root DIR] [--cache DIR]
//
// prints "kernel PATH", "initramfs PATH", "key HEX" and "cached yes|no", one
// per line. With --out the kernel and initramfs are also copied into DIR.
// Exit status 0, or 1 with a message on stderr; 2 for a usage error.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "image.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: dsm-image build PROG [--out DIR] [--kernel-root DIR] [--cache DIR]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
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
