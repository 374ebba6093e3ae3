// The uncompressed kernel for fast guest boots: Debian's vmlinuz is a bzImage
// whose payload is an xz stream holding the kernel's ELF file (vmlinux). QEMU
// boots that ELF file directly through its PVH entry point, skipping the
// firmware's real-mode start and the in-guest decompression (about 2 s
// instead of 5 s under TCG, docs/vm.md).
//
// Pure functions; the cache file appears whole (written beside, renamed) so
// concurrent callers are safe.
#pragma once

#include <string>

#include "dsm/common/status.h"

namespace dsm::image {

// The ELF image inside a bzImage's xz payload. Errors (EINVAL): no xz stream,
// a corrupt one, or one that does not hold an ELF file.
Result<std::string> ExtractVmlinux(const std::string& bzimage);

// DIR/vmlinux-SHA (SHA: the bzImage's SHA-256), extracted on first use.
Result<std::string> CachedVmlinux(const std::string& bzimage, const std::string& dir);

}  // namespace dsm::image
