// The guest image builder (docs/vm.md): a Debian kernel and an initramfs that
// holds busybox-static, the project's init script, the kernel modules the
// guest side of the device needs, the user's program and, for a dynamically
// linked one, its loader and every library it needs at the paths it has on
// this machine. Images are cached by content under
// $XDG_CACHE_HOME/dsmkit/images (else ~/.cache/dsmkit/images): the key is a
// SHA-256 over the program, its libraries, busybox, the init, the kernel and
// the module files, so an unchanged program gets the same image back without
// rebuilding it, and any change gives a new one.
//
// How QEMU boots an image is in qemu.h.
//
// Functions only; thread-safe except that two processes building the same
// key race harmlessly (each renames a whole image into place; the loser's is
// discarded).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dsm/common/status.h"
#include "elf_deps.h"

namespace dsm::image {

struct KernelFiles {
  std::string version;      // "6.1.0-57-amd64"
  std::string vmlinuz;      // ROOT/boot/vmlinuz-VERSION
  std::string modules_dir;  // ROOT/lib/modules/VERSION
};

// Looks in `root` only when it is not empty; else only in $DSM_GUEST_KERNEL
// when that is set; else in the unpacked packages scripts/fetch-guest-kernel
// keeps in ${XDG_CACHE_HOME:-~/.cache}/dsmkit/guest-kernel/*, then the
// installed system (/). The newest version found in the first root that has
// one wins.
// Errors (ENOENT) say where it looked and to run scripts/bootstrap.
Result<KernelFiles> FindKernel(const std::string& root);

// /usr/bin/busybox or /bin/busybox, which must be statically linked
// (Debian's busybox-static). Errors name the package.
Result<std::string> FindBusybox();

// The modules the guest loads at boot (in this order, each after the modules
// it depends on, which come along): VFIO for the ivshmem-doorbell device's
// BARs and MSI-X interrupts in guest user space (docs/vm.md).
const std::vector<std::string>& GuestModules();

struct BuildOptions {
  std::string kernel_root;  // FindKernel's argument
  std::string cache_dir;    // empty: DefaultImageCache()
  LibrarySearch search;     // system_dirs empty: SystemLibraryDirs()
};

struct GuestImage {
  std::string key;        // hex SHA-256 of the inputs
  std::string kernel;     // the kernel to boot: CACHE/kernels/vmlinux-SHA, else the bzImage
  std::string initramfs;  // CACHE/KEY/initramfs.cpio (uncompressed newc)
  std::string program;    // the program's path, on this machine and in the guest
  bool cached = false;    // true when the image was already there
};

std::string DefaultImageCache();

// Errors, all before anything is written: no kernel, no busybox, a program
// that is not a 64-bit x86-64 ELF file, a missing library or module.
Result<GuestImage> BuildImage(const std::string& program, const BuildOptions& options);

}  // namespace dsm::image
