// Keeping the image cache (image.h) within a size: every build adds an
// image of a few to tens of MiB under a new key (a rebuilt program, a library
// update), so a cache nobody prunes grows without bound. The entries are the
// images (CACHE/<64 hex digits>/), the uncompressed kernels
// (CACHE/kernels/vmlinux-*) and folders of builds that never finished
// (CACHE/.build.*). An entry's last use is its modification time: BuildImage
// touches the image and the kernel it returns (MarkUsed), cached or new.
//
// PruneImageCache removes entries least recently used first until the cache
// holds at most max_bytes, and never one used within min_age (a job may be
// about to boot it: QEMU reads the files when it starts) nor the ones named
// in keep. Abandoned build folders older than min_age go whatever the size.
//
// Functions only. Several processes may prune and build at once: removing
// an entry another removed is not an error, and an image removed under a
// builder is rebuilt by its next BuildImage.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dsm/common/status.h"

namespace dsm::image {

// The default budget: dsm-image build and dsm-run --vm prune to it after
// every build; $DSM_IMAGE_CACHE_MAX (a size such as 512M or 4G; 0 keeps only
// what was used within min_age) overrides it.
inline constexpr uint64_t kDefaultCacheMaxBytes = 2ULL << 30;
inline constexpr std::chrono::seconds kDefaultCacheMinAge{600};

struct PruneOptions {
  uint64_t max_bytes = kDefaultCacheMaxBytes;
  std::chrono::seconds min_age = kDefaultCacheMinAge;
  std::vector<std::string> keep;  // paths of entries never removed
};

struct PruneResult {
  std::vector<std::string> removed;  // the entries' paths, oldest first
  uint64_t removed_bytes = 0;
  uint64_t kept_bytes = 0;  // what the cache holds afterwards
};

// Errors only when the cache folder cannot be read; a missing one is empty.
Result<PruneResult> PruneImageCache(const std::string& cache, const PruneOptions& options);

// Sets the entry's modification time to now (its last use).
void MarkUsed(const std::string& path);

// The budget from $DSM_IMAGE_CACHE_MAX, else kDefaultCacheMaxBytes; an error
// naming the variable when it is not a size.
Result<uint64_t> CacheMaxFromEnvironment();

}  // namespace dsm::image
