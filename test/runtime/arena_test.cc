// The node allocator over the daemon's real heap allocator, with chunks
// backed by a local mapping instead of a shared space.
#include "arena.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "dsm/hostd/shm_heap.h"

namespace dsm::runtime {
namespace {

class HeapSource : public ChunkSource {
 public:
  explicit HeapSource(size_t bytes) : size_(bytes), heap_(0, bytes) {
    base_ = static_cast<char*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  }
  ~HeapSource() override { munmap(base_, size_); }
  void* AllocChunk(size_t bytes) override {
    uint64_t off;
    if (heap_.Allocate(bytes, 4096, &off) != device::kOk) return nullptr;
    ++chunks;
    return base_ + off;
  }
  bool FreeChunk(void* p) override {
    return heap_.Free(static_cast<uint64_t>(static_cast<char*>(p) - base_)) == device::kOk;
  }
  bool Contains(const void* p, size_t n) const {
    auto* c = static_cast<const char*>(p);
    return c >= base_ && c + n <= base_ + size_;
  }
  int chunks = 0;
  size_t size_;
  char* base_;
  hostd::ShmHeap heap_;
};

TEST(ArenaClasses, CoverEverySizeTightly) {
  int last = 0;
  for (size_t size = 1; size <= Arena::kLargeThreshold; ++size) {
    int cls = Arena::ClassOf(size);
    ASSERT_GE(cls, 0);
    ASSERT_LT(cls, Arena::kClasses);
    ASSERT_GE(Arena::ClassSize(cls), size);
    ASSERT_GE(cls, last);  // monotonic
    // At most 25% (or 15 bytes) of waste.
    ASSERT_LE(Arena::ClassSize(cls) - size, std::max<size_t>(15, size / 4)) << size;
    last = cls;
  }
  EXPECT_EQ(Arena::ClassOf(Arena::kLargeThreshold + 1), -1);
  EXPECT_EQ(Arena::ClassSize(Arena::kClasses - 1), Arena::kLargeThreshold);
}

TEST(Arena, ManySizesAreAlignedDisjointAndWritable) {
  HeapSource src(256 << 20);
  Arena arena(&src);
  std::mt19937 rng(1);
  std::map<char*, size_t> live;
  for (int i = 0; i < 20000; ++i) {
    size_t size = (i % 10 == 0) ? rng() % (300 * 1024) : rng() % 2000;
    auto* p = static_cast<char*>(arena.Allocate(size));
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
    ASSERT_TRUE(src.Contains(p, size));
    EXPECT_EQ(Arena::RequestedSize(p), size);
    std::memset(p, i & 0xff, size);
    auto next = live.lower_bound(p);
    if (next != live.end()) ASSERT_LE(p + size, next->first);
    if (next != live.begin()) {
      auto prev = std::prev(next);
      ASSERT_LE(prev->first + prev->second, p);
    }
    live.emplace(p, size);
    if (rng() % 2 == 0) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      ASSERT_EQ(arena.Free(it->first), Arena::FreeResult::kOk);
      live.erase(it);
    }
  }
}

TEST(Arena, FreedBlocksAreReusedBySizeClass) {
  HeapSource src(64 << 20);
  Arena arena(&src);
  void* a = arena.Allocate(100);
  void* b = arena.Allocate(100);
  ASSERT_EQ(arena.Free(a), Arena::FreeResult::kOk);
  EXPECT_EQ(arena.Allocate(112), a);  // same class (97..112)
  int chunks = src.chunks;
  for (int i = 0; i < 1000; ++i) {
    void* p = arena.Allocate(64);
    ASSERT_EQ(arena.Free(p), Arena::FreeResult::kOk);
  }
  EXPECT_EQ(src.chunks, chunks);  // no growth in a malloc/free loop
  EXPECT_EQ(arena.Free(b), Arena::FreeResult::kOk);
}

TEST(Arena, LargeBlocksReturnTheirChunk) {
  HeapSource src(64 << 20);
  Arena arena(&src);
  uint64_t before = src.heap_.bytes_free();
  void* p = arena.Allocate(1 << 20);
  ASSERT_NE(p, nullptr);
  EXPECT_LT(src.heap_.bytes_free(), before);
  ASSERT_EQ(arena.Free(p), Arena::FreeResult::kOk);
  EXPECT_EQ(src.heap_.bytes_free(), before);
}

TEST(Arena, ExhaustionGivesNullAndEnomem) {
  HeapSource src(8 << 20);
  Arena arena(&src);
  errno = 0;
  EXPECT_EQ(arena.Allocate(16 << 20), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(arena.Allocate(~size_t{0}), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  // Small blocks until the source is dry, then a clean failure.
  int count = 0;
  while (arena.Allocate(4000) != nullptr) ++count;
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_GT(count, 1000);
}

TEST(Arena, BadAndDoubleFreesAreRecognised) {
  HeapSource src(8 << 20);
  Arena arena(&src);
  auto* p = static_cast<char*>(arena.Allocate(40));
  EXPECT_EQ(arena.Free(p + 16), Arena::FreeResult::kNotAllocated);
  EXPECT_EQ(arena.Free(p + 3), Arena::FreeResult::kNotAllocated);
  EXPECT_EQ(arena.Free(p), Arena::FreeResult::kOk);
  EXPECT_EQ(arena.Free(p), Arena::FreeResult::kDoubleFree);
  EXPECT_EQ(arena.Free(nullptr), Arena::FreeResult::kOk);
}

TEST(Arena, AlignedBlocksUpToLargeAlignments) {
  HeapSource src(256 << 20);
  Arena arena(&src);
  std::mt19937 rng(2);
  std::map<char*, size_t> live;
  for (size_t align = 32; align <= (size_t{1} << 20); align *= 2) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{24}, align - 1, align, 3 * align + 5,
                        size_t{70000}}) {
      auto* p = static_cast<char*>(arena.AllocateAligned(size, align));
      ASSERT_NE(p, nullptr) << align << " " << size;
      ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << align << " " << size;
      ASSERT_TRUE(src.Contains(p, size));
      EXPECT_EQ(Arena::RequestedSize(p), size);
      EXPECT_GE(Arena::UsableSize(p), size);
      ASSERT_TRUE(src.Contains(p, Arena::UsableSize(p)));
      std::memset(p, static_cast<int>(size & 0xff), Arena::UsableSize(p));
      auto next = live.lower_bound(p);
      if (next != live.end()) ASSERT_LE(p + Arena::UsableSize(p), next->first);
      if (next != live.begin()) ASSERT_LE(std::prev(next)->first + std::prev(next)->second, p);
      live.emplace(p, Arena::UsableSize(p));
    }
  }
  // Small alignments are plain blocks.
  void* q = arena.AllocateAligned(40, 8);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 16, 0u);
  EXPECT_EQ(Arena::UsableSize(q), Arena::ClassSize(Arena::ClassOf(40)));
  ASSERT_EQ(arena.Free(q), Arena::FreeResult::kOk);
  // Freeing every aligned block gives every chunk and class block back: the
  // same requests again need no new chunk.
  uint64_t free_before = src.heap_.bytes_free();
  for (auto it = live.begin(); it != live.end(); it = live.erase(it)) {
    ASSERT_EQ(arena.Free(it->first), Arena::FreeResult::kOk);
  }
  EXPECT_GT(src.heap_.bytes_free(), free_before);
  const int chunks = src.chunks;
  for (int i = 0; i < 100; ++i) {
    void* p = arena.AllocateAligned(100, 4096);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 4096, 0u);
    ASSERT_EQ(arena.Free(p), Arena::FreeResult::kOk);
  }
  EXPECT_EQ(src.chunks, chunks);
}

TEST(Arena, AlignedBlocksRefuseBadAlignmentsAndRecogniseBadFrees) {
  HeapSource src(8 << 20);
  Arena arena(&src);
  errno = 0;
  EXPECT_EQ(arena.AllocateAligned(10, 48), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(arena.AllocateAligned(10, Arena::kMaxAlign * 2), nullptr);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(arena.AllocateAligned(16 << 20, 4096), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  auto* p = static_cast<char*>(arena.AllocateAligned(100, 256));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(arena.Free(p + 16), Arena::FreeResult::kNotAllocated);
  EXPECT_EQ(arena.Free(p), Arena::FreeResult::kOk);
  EXPECT_EQ(arena.Free(p), Arena::FreeResult::kDoubleFree);
  EXPECT_EQ(Arena::UsableSize(p), 0u);
  EXPECT_EQ(Arena::RequestedSize(p), 0u);
}

TEST(Arena, UsableSizeCoversTheWholeClassOrChunk) {
  HeapSource src(16 << 20);
  Arena arena(&src);
  void* small = arena.Allocate(100);
  EXPECT_EQ(Arena::UsableSize(small), 112u);
  void* large = arena.Allocate(100000);
  EXPECT_EQ(Arena::UsableSize(large), 102400u - 16);
  ASSERT_EQ(arena.Free(small), Arena::FreeResult::kOk);
  EXPECT_EQ(Arena::UsableSize(small), 0u);
  ASSERT_EQ(arena.Free(large), Arena::FreeResult::kOk);
}

}  // namespace
}  // namespace dsm::runtime
