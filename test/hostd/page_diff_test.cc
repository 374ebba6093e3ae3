// Tests of the coherence engine's page operations (hostd/page_diff.h): the
// diff encoding against a byte-by-byte reference, validation and fuzzing of
// malformed diffs, two-way diffing, and the concurrency guarantees (no write
// lost, no word torn) with real threads writing the pages.
#include "dsm/hostd/page_diff.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace dsm::hostd {
namespace {

constexpr size_t kPage = kDiffPageSize;

struct alignas(4096) Page {
  uint8_t b[kPage];
};

std::unique_ptr<Page> NewPage(uint8_t fill = 0) {
  auto p = std::make_unique<Page>();
  std::memset(p->b, fill, kPage);
  return p;
}

std::unique_ptr<Page> CopyOf(const Page& src) {
  auto p = std::make_unique<Page>();
  std::memcpy(p->b, src.b, kPage);
  return p;
}

void FillRandom(Page* p, std::mt19937_64& rng) {
  for (auto& byte : p->b) byte = static_cast<uint8_t>(rng());
}

// Byte accesses to pages other threads write (the functions under test use
// 8-byte atomics on the same memory).
uint8_t LoadByte(const Page& p, size_t i) {
  return __atomic_load_n(&p.b[i], __ATOMIC_RELAXED);
}
void StoreByte(Page* p, size_t i, uint8_t v) { __atomic_store_n(&p->b[i], v, __ATOMIC_RELAXED); }
uint64_t LoadWord(const Page& p, size_t w) {
  return __atomic_load_n(reinterpret_cast<const uint64_t*>(p.b) + w, __ATOMIC_RELAXED);
}

// The encoding, written the obvious way: exact maximal runs of differing
// bytes, or with more than 128 runs the bitmask form (marker, 512 bytes of
// mask, the changed bytes).
std::string ReferenceDiff(const Page& old_page, const Page& new_page) {
  std::string d;
  size_t runs = 0;
  size_t i = 0;
  while (i < kPage) {
    if (old_page.b[i] == new_page.b[i]) {
      ++i;
      continue;
    }
    const size_t start = i;
    while (i < kPage && old_page.b[i] != new_page.b[i]) ++i;
    const size_t len = i - start;
    d.push_back(static_cast<char>(start & 0xff));
    d.push_back(static_cast<char>(start >> 8));
    d.push_back(static_cast<char>(len & 0xff));
    d.push_back(static_cast<char>(len >> 8));
    d.append(reinterpret_cast<const char*>(new_page.b + start), len);
    ++runs;
  }
  if (runs <= 128) return d;
  std::string mask(kPage / 8, '\0'), bytes;
  for (size_t b = 0; b < kPage; ++b) {
    if (old_page.b[b] == new_page.b[b]) continue;
    mask[b / 8] = static_cast<char>(mask[b / 8] | (1 << (b % 8)));
    bytes.push_back(static_cast<char>(new_page.b[b]));
  }
  return std::string("\xff\xff", 2) + mask + bytes;
}

// Validation written independently of DiffReader: the expected answer for
// fuzzed inputs, and the page a well-formed diff makes.
bool ReferenceApply(std::string_view d, Page* page) {
  if (d.size() >= 2 && d[0] == '\xff' && d[1] == '\xff') {  // the bitmask form
    if (d.size() < 2 + kPage / 8) return false;
    size_t set = 0;
    for (size_t b = 0; b < kPage; ++b) set += (static_cast<uint8_t>(d[2 + b / 8]) >> (b % 8)) & 1;
    if (d.size() != 2 + kPage / 8 + set) return false;
    size_t next = 2 + kPage / 8;
    for (size_t b = 0; b < kPage; ++b) {
      if ((static_cast<uint8_t>(d[2 + b / 8]) >> (b % 8)) & 1) page->b[b] = static_cast<uint8_t>(d[next++]);
    }
    return true;
  }
  std::vector<std::pair<size_t, std::string_view>> runs;
  size_t pos = 0;
  size_t end_of_last = 0;
  while (pos < d.size()) {
    if (d.size() - pos < 4) return false;
    const auto u8 = [&](size_t at) { return static_cast<size_t>(static_cast<uint8_t>(d[at])); };
    const size_t off = u8(pos) | u8(pos + 1) << 8;
    const size_t len = u8(pos + 2) | u8(pos + 3) << 8;
    pos += 4;
    if (len == 0 || off < end_of_last || off + len > kPage || d.size() - pos < len) return false;
    runs.emplace_back(off, d.substr(pos, len));
    pos += len;
    end_of_last = off + len;
  }
  for (const auto& [off, bytes] : runs) std::memcpy(page->b + off, bytes.data(), bytes.size());
  return true;
}

std::string EncodedRun(size_t offset, size_t length, uint8_t fill = 0xab) {
  std::string r;
  r.push_back(static_cast<char>(offset & 0xff));
  r.push_back(static_cast<char>(offset >> 8));
  r.push_back(static_cast<char>(length & 0xff));
  r.push_back(static_cast<char>(length >> 8));
  r.append(length, static_cast<char>(fill));
  return r;
}

// ---------------------------------------------------------------------------
// Encoding

TEST(PageDiff, UnchangedPageGivesEmptyDiffAndKeepsOutput) {
  std::mt19937_64 rng(1);
  auto page = NewPage();
  FillRandom(page.get(), rng);
  auto twin = CopyOf(*page);
  std::string out = "prefix";
  EXPECT_EQ(MakeDiffAndUpdateTwin(page->b, twin->b, &out), 0u);
  EXPECT_EQ(out, "prefix");
  EXPECT_TRUE(PagesEqual(page->b, twin->b));
}

TEST(PageDiff, SingleBytesAtPageStartAndEnd) {
  auto twin = NewPage(0x10);
  auto page = NewPage(0x10);
  page->b[0] = 0x99;
  page->b[kPage - 1] = 0x77;
  std::string out = "ab";
  const size_t n = MakeDiffAndUpdateTwin(page->b, twin->b, &out);
  const std::string expected = std::string("\x00\x00\x01\x00\x99", 5) +
                               std::string("\xff\x0f\x01\x00\x77", 5);
  EXPECT_EQ(n, expected.size());
  EXPECT_EQ(out, "ab" + expected);
  EXPECT_EQ(twin->b[0], 0x99);
  EXPECT_EQ(twin->b[kPage - 1], 0x77);
  EXPECT_TRUE(PagesEqual(page->b, twin->b));
}

TEST(PageDiff, WholePageIsOneRun) {
  auto twin = NewPage(0x00);
  auto page = NewPage(0x5a);
  std::string out;
  ASSERT_EQ(MakeDiffAndUpdateTwin(page->b, twin->b, &out), kDiffRunHeader + kPage);
  EXPECT_EQ(out.substr(0, 4), std::string("\x00\x00\x00\x10", 4));
  EXPECT_EQ(out.substr(4), std::string(kPage, '\x5a'));
  EXPECT_TRUE(PagesEqual(page->b, twin->b));
}

TEST(PageDiff, OnlyTheBytesThatDifferAreSentEvenInsideAWord) {
  auto twin = NewPage(0x00);
  auto page = NewPage(0x00);
  for (size_t i = 1; i < kPage; i += 2) page->b[i] = 0x33;  // every other byte
  std::string out;
  // 2048 runs of one byte: the bitmask form, 514 + 2048 bytes (the run form
  // would take 2048 * 5).
  EXPECT_EQ(MakeDiffAndUpdateTwin(page->b, twin->b, &out), kDiffBitmaskHeader + 2048u);
  DiffReader r(out);
  DiffRun run;
  size_t runs = 0;
  while (r.Next(&run)) {
    EXPECT_EQ(run.offset, 2 * runs + 1);
    EXPECT_EQ(run.length, 1u);
    EXPECT_EQ(run.bytes[0], 0x33);
    ++runs;
  }
  EXPECT_FALSE(r.malformed());
  EXPECT_EQ(runs, 2048u);
}

TEST(PageDiff, LongestDiffIsMaxDiffBytes) {
  // 129 runs (the fewest the bitmask form is chosen for) separated by one
  // equal byte each: 514 + 4096 - 128 bytes.
  auto twin = NewPage(0x00);
  auto page = NewPage(0x01);
  for (size_t i = 16; i < kPage; i += 32) page->b[i] = 0;
  std::string out;
  EXPECT_EQ(MakeDiffAndUpdateTwin(page->b, twin->b, &out), kMaxDiffBytes);
  EXPECT_EQ(out, ReferenceDiff(*NewPage(0x00), *page));
  // 128 runs stay in the run form, one byte shorter at most.
  auto twin2 = NewPage(0x00);
  auto page2 = NewPage(0x01);
  for (size_t i = 32; i < kPage; i += 32) page2->b[i] = 0;
  std::string runs;
  EXPECT_EQ(MakeDiffAndUpdateTwin(page2->b, twin2->b, &runs), 128 * kDiffRunHeader + kPage - 127);
  EXPECT_LT(runs.size(), kMaxDiffBytes);
  EXPECT_EQ(runs, ReferenceDiff(*NewPage(0x00), *page2));
}

// Keys of a few significant bytes rewritten in place (Radix's permutation):
// three bytes of every four change, the fourth stays 0. The bitmask form
// carries 514 + 3072 bytes where runs would take 7168; the home gets the
// same page either way, and its own writes to the unchanged bytes survive.
TEST(PageDiff, InterleavedChangesTakeTheBitmaskFormAndApplyExactly) {
  auto twin = NewPage(0x00);
  auto page = NewPage(0x00);
  for (size_t i = 0; i < kPage; ++i) page->b[i] = i % 4 == 3 ? 0 : static_cast<uint8_t>(1 + i % 251);
  std::string out;
  ASSERT_EQ(MakeDiffAndUpdateTwin(page->b, twin->b, &out), kDiffBitmaskHeader + 3072u);
  EXPECT_EQ(out, ReferenceDiff(*NewPage(0x00), *page));
  EXPECT_TRUE(DiffIsWellFormed(out));
  auto home = NewPage(0x00);
  for (size_t i = 3; i < kPage; i += 4) home->b[i] = 0x7e;  // the home's own bytes
  ASSERT_TRUE(ApplyDiff(home->b, out));
  for (size_t i = 0; i < kPage; ++i) {
    ASSERT_EQ(home->b[i], i % 4 == 3 ? 0x7e : page->b[i]) << "byte " << i;
  }
  // Every cut of it is refused, and so is a byte more or a bit more.
  for (size_t cut : {size_t{1}, size_t{2}, size_t{100}, kDiffBitmaskHeader, out.size() - 1}) {
    EXPECT_FALSE(DiffIsWellFormed(std::string_view(out).substr(0, cut))) << cut;
  }
  EXPECT_FALSE(DiffIsWellFormed(out + "x"));
  std::string extra_bit = out;
  extra_bit[2 + 3 / 8] = static_cast<char>(extra_bit[2] | (1 << 3));
  EXPECT_FALSE(DiffIsWellFormed(extra_bit));
  EXPECT_FALSE(ApplyDiff(home->b, extra_bit));
}

// A change pattern: which bytes of a page change.
using Pattern = std::function<void(std::mt19937_64&, std::vector<bool>*)>;

struct NamedPattern {
  const char* name;
  Pattern pattern;
};

std::vector<NamedPattern> Patterns() {
  return {
      {"none", [](std::mt19937_64&, std::vector<bool>*) {}},
      {"all", [](std::mt19937_64&, std::vector<bool>* c) { c->assign(kPage, true); }},
      {"sparse",
       [](std::mt19937_64& rng, std::vector<bool>* c) {
         for (int n = 1 + static_cast<int>(rng() % 20); n > 0; --n) (*c)[rng() % kPage] = true;
       }},
      {"first_byte", [](std::mt19937_64&, std::vector<bool>* c) { (*c)[0] = true; }},
      {"last_byte", [](std::mt19937_64&, std::vector<bool>* c) { (*c)[kPage - 1] = true; }},
      {"even_bytes",
       [](std::mt19937_64&, std::vector<bool>* c) {
         for (size_t i = 0; i < kPage; i += 2) (*c)[i] = true;
       }},
      {"odd_bytes",
       [](std::mt19937_64&, std::vector<bool>* c) {
         for (size_t i = 1; i < kPage; i += 2) (*c)[i] = true;
       }},
      {"whole_words",
       [](std::mt19937_64& rng, std::vector<bool>* c) {
         for (int n = 1 + static_cast<int>(rng() % 16); n > 0; --n) {
           const size_t w = rng() % (kPage / 8);
           for (size_t i = 0; i < 8; ++i) (*c)[w * 8 + i] = true;
         }
       }},
      {"random_density",
       [](std::mt19937_64& rng, std::vector<bool>* c) {
         const double p = std::uniform_real_distribution<double>(0, 1)(rng);
         for (size_t i = 0; i < kPage; ++i) (*c)[i] = std::bernoulli_distribution(p)(rng);
       }},
      // Segments of random length, each unchanged, fully changed or random:
      // dense stretches that end inside words, at word and block boundaries,
      // and runs that go on across them.
      {"segments",
       [](std::mt19937_64& rng, std::vector<bool>* c) {
         size_t i = 0;
         while (i < kPage) {
           const size_t len = std::min<size_t>(kPage - i, 1 + rng() % 300);
           const int kind = static_cast<int>(rng() % 3);
           for (size_t j = i; j < i + len; ++j) (*c)[j] = kind == 1 || (kind == 2 && rng() % 2);
           i += len;
         }
       }},
      {"aligned_blocks",
       [](std::mt19937_64& rng, std::vector<bool>* c) {
         for (size_t blk = 0; blk < kPage / 32; ++blk) {
           const int kind = static_cast<int>(rng() % 4);
           for (size_t j = blk * 32; j < blk * 32 + 32; ++j) {
             (*c)[j] = kind == 1 || (kind == 2 && j % 32 != 0) || (kind == 3 && j % 32 != 31);
           }
         }
       }},
  };
}

// For every pattern and many random pages: the diff is exactly the
// reference encoding, the twin becomes the page, and applying the diff to a
// copy of the old page reproduces the new page.
TEST(PageDiff, RoundTripsMatchTheReferenceEncoding) {
  std::mt19937_64 rng(7);
  for (const auto& [name, pattern] : Patterns()) {
    SCOPED_TRACE(name);
    for (int iter = 0; iter < 200; ++iter) {
      auto old_page = NewPage();
      FillRandom(old_page.get(), rng);
      std::vector<bool> change(kPage, false);
      pattern(rng, &change);
      auto new_page = CopyOf(*old_page);
      for (size_t i = 0; i < kPage; ++i) {
        if (change[i]) new_page->b[i] ^= static_cast<uint8_t>(1 + rng() % 255);
      }
      auto twin = CopyOf(*old_page);
      std::string out = "x";
      const size_t n = MakeDiffAndUpdateTwin(new_page->b, twin->b, &out);
      const std::string diff = out.substr(1);
      ASSERT_EQ(n, diff.size());
      ASSERT_LE(n, kMaxDiffBytes);
      ASSERT_EQ(diff, ReferenceDiff(*old_page, *new_page)) << "iteration " << iter;
      ASSERT_EQ(std::memcmp(twin->b, new_page->b, kPage), 0);
      ASSERT_TRUE(DiffIsWellFormed(diff));

      auto home = CopyOf(*old_page);
      ASSERT_TRUE(ApplyDiff(home->b, diff));
      ASSERT_EQ(std::memcmp(home->b, new_page->b, kPage), 0);

      std::string again;
      EXPECT_EQ(MakeDiffAndUpdateTwin(new_page->b, twin->b, &again), 0u);
    }
  }
}

TEST(PageDiff, ReaderReturnsTheRuns) {
  const std::string d = EncodedRun(3, 2, 0x11) + EncodedRun(5, 1, 0x22) + EncodedRun(4000, 96, 0x33);
  DiffReader r(d);
  DiffRun run;
  ASSERT_TRUE(r.Next(&run));
  EXPECT_EQ(run.offset, 3u);
  EXPECT_EQ(run.length, 2u);
  EXPECT_EQ(run.bytes[1], 0x11);
  ASSERT_TRUE(r.Next(&run));  // runs may touch (the encoder never emits that)
  EXPECT_EQ(run.offset, 5u);
  EXPECT_EQ(run.bytes[0], 0x22);
  ASSERT_TRUE(r.Next(&run));
  EXPECT_EQ(run.offset, 4000u);
  EXPECT_EQ(run.length, 96u);
  EXPECT_FALSE(r.Next(&run));
  EXPECT_FALSE(r.malformed());
  EXPECT_EQ(r.position(), d.size());
  EXPECT_TRUE(DiffIsWellFormed(""));
}

// ---------------------------------------------------------------------------
// Malformed diffs

TEST(PageDiff, MalformedDiffsAreRejectedWithoutWriting) {
  const std::string good = EncodedRun(0, 8) + EncodedRun(100, 20);
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"header cut after 1 byte", std::string("\x00", 1)},
      {"header cut after 3 bytes", std::string("\x00\x00\x01", 3)},
      {"zero length", EncodedRun(10, 0)},
      {"past the page end", EncodedRun(4090, 7)},
      {"offset at the page end", EncodedRun(4096, 1)},
      {"offset far out", EncodedRun(0xffff, 1)},
      {"bytes cut short", EncodedRun(0, 8).substr(0, 10)},
      {"overlapping runs", EncodedRun(0, 8) + EncodedRun(7, 2)},
      {"decreasing offsets", EncodedRun(100, 1) + EncodedRun(50, 1)},
      {"same offset twice", EncodedRun(100, 1) + EncodedRun(100, 1)},
      {"garbage after the last run", good + "\x01"},
      {"good runs, then a bad one", good + EncodedRun(4000, 200)},
  };
  for (const auto& [name, diff] : cases) {
    SCOPED_TRACE(name);
    auto page = NewPage(0x42);
    EXPECT_FALSE(DiffIsWellFormed(diff));
    EXPECT_FALSE(ApplyDiff(page->b, diff));
    for (size_t i = 0; i < kPage; ++i) ASSERT_EQ(page->b[i], 0x42) << "byte " << i;
    DiffReader r(diff);
    DiffRun run;
    while (r.Next(&run)) {
    }
    EXPECT_TRUE(r.malformed());
    EXPECT_FALSE(r.Next(&run));
  }
}

// Random byte strings and damaged real diffs: the validator agrees with the
// reference, nothing crashes, and a rejected diff writes nothing.
TEST(PageDiff, FuzzedDiffsNeverWriteWhenRejected) {
  std::mt19937_64 rng(99);
  auto base = NewPage();
  FillRandom(base.get(), rng);
  int accepted = 0;
  int rejected = 0;
  for (int iter = 0; iter < 6000; ++iter) {
    std::string d;
    switch (iter % 3) {
      case 0: {  // random bytes; small offsets and lengths now and then
        const size_t len = rng() % 40;
        for (size_t i = 0; i < len; ++i) d.push_back(static_cast<char>(rng()));
        if (len >= 4 && rng() % 2) {
          d[1] = static_cast<char>(rng() % 17);
          d[2] = static_cast<char>(rng() % 40);
          d[3] = 0;
        }
        break;
      }
      default: {  // a real diff, damaged
        auto page = CopyOf(*base);
        auto twin = CopyOf(*base);
        for (int n = 1 + static_cast<int>(rng() % 30); n > 0; --n) page->b[rng() % kPage] ^= 0xff;
        MakeDiffAndUpdateTwin(page->b, twin->b, &d);
        const int how = static_cast<int>(rng() % 4);
        if (how == 0) d.resize(rng() % (d.size() + 1));
        if (how == 1) d[rng() % d.size()] ^= static_cast<char>(1 + rng() % 255);
        if (how == 2) d.push_back(static_cast<char>(rng()));
        if (how == 3) d.insert(rng() % (d.size() + 1), 1, static_cast<char>(rng()));
        break;
      }
    }
    auto expected = CopyOf(*base);
    const bool valid = ReferenceApply(d, expected.get());
    auto page = CopyOf(*base);
    ASSERT_EQ(DiffIsWellFormed(d), valid) << "iteration " << iter;
    ASSERT_EQ(ApplyDiff(page->b, d), valid) << "iteration " << iter;
    ASSERT_EQ(std::memcmp(page->b, expected->b, kPage), 0) << "iteration " << iter;
    ++(valid ? accepted : rejected);
  }
  // Both outcomes were exercised.
  EXPECT_GT(accepted, 300);
  EXPECT_GT(rejected, 300);
}

// ---------------------------------------------------------------------------
// Two-way diffing, copies

TEST(PageDiff, TwoWayApplyMergesFetchedBytesAndKeepsLocalOnes) {
  std::mt19937_64 rng(5);
  for (int iter = 0; iter < 300; ++iter) {
    auto twin = NewPage();
    FillRandom(twin.get(), rng);
    auto page = CopyOf(*twin);
    auto fetched = CopyOf(*twin);
    // Each byte: local change, remote change, both (remote wins), or none.
    std::vector<int> who(kPage);
    const int density = 1 + static_cast<int>(rng() % 8);
    for (size_t i = 0; i < kPage; ++i) {
      who[i] = static_cast<int>(rng() % (4 * density));
      if (who[i] & 1) page->b[i] ^= static_cast<uint8_t>(1 + rng() % 255);
      if (who[i] & 2) fetched->b[i] ^= static_cast<uint8_t>(1 + rng() % 255);
    }
    if (iter % 10 == 0) FillRandom(fetched.get(), rng);  // (nearly) everything remote
    auto local = CopyOf(*page);
    auto old_twin = CopyOf(*twin);
    TwoWayApply(page->b, twin->b, fetched->b);
    for (size_t i = 0; i < kPage; ++i) {
      const uint8_t want = fetched->b[i] != old_twin->b[i] ? fetched->b[i] : local->b[i];
      ASSERT_EQ(page->b[i], want) << "iteration " << iter << " byte " << i;
    }
    ASSERT_EQ(std::memcmp(twin->b, fetched->b, kPage), 0);
  }
}

TEST(PageDiff, CopyPageAndPagesEqual) {
  std::mt19937_64 rng(3);
  auto a = NewPage();
  FillRandom(a.get(), rng);
  auto b = NewPage();
  EXPECT_FALSE(PagesEqual(a->b, b->b));
  CopyPage(b->b, a->b);
  EXPECT_EQ(std::memcmp(a->b, b->b, kPage), 0);
  EXPECT_TRUE(PagesEqual(a->b, b->b));
  for (size_t i : {size_t{0}, size_t{7}, size_t{2049}, kPage - 1}) {
    b->b[i] ^= 1;
    EXPECT_FALSE(PagesEqual(a->b, b->b)) << i;
    b->b[i] ^= 1;
  }
}

// ---------------------------------------------------------------------------
// Concurrency. A writer thread owns some bytes of a page and keeps writing
// them while the main thread runs the operation under test on the same page;
// the writer's value for byte i in pass k is WriterValue(k, i).

uint8_t WriterValue(int pass, size_t i) { return static_cast<uint8_t>(pass * 7 + i * 13 + 1); }

// A thread writing passes over bytes first, first + 2, ... (below end) of a
// page until stopped. After each pass it checks that those bytes still hold what it
// wrote: nobody else may change them, so a difference is a write of its that
// someone else overwrote (a clobbered write).
class Writer {
 public:
  Writer(Page* page, size_t first, size_t end = kPage)
      : page_(page), first_(first), end_(end), thread_([this] { Loop(); }) {}
  ~Writer() { Stop(); }

  int passes_so_far() const { return passes_.load(std::memory_order_acquire); }

  // Ends the thread after its current pass; then passes() is the last pass.
  void Stop() {
    stop_.store(true, std::memory_order_release);
    if (thread_.joinable()) thread_.join();
  }
  int passes() const { return passes_.load(std::memory_order_acquire); }
  int clobbered() const { return clobbered_.load(std::memory_order_acquire); }

 private:
  void Loop() {
    for (int pass = 1; !stop_.load(std::memory_order_acquire); ++pass) {
      for (size_t i = first_; i < end_; i += 2) StoreByte(page_, i, WriterValue(pass, i));
      int bad = 0;
      for (size_t i = first_; i < end_; i += 2) bad += LoadByte(*page_, i) != WriterValue(pass, i);
      clobbered_.fetch_add(bad, std::memory_order_relaxed);
      passes_.store(pass, std::memory_order_release);
    }
  }

  Page* page_;
  size_t first_;
  size_t end_;
  std::atomic<bool> stop_{false};
  std::atomic<int> passes_{0};
  std::atomic<int> clobbered_{0};
  std::thread thread_;  // last: starts once the rest is initialised
};

// How long the main thread of a concurrency test goes on: at least kMinIters
// operations, and until kMinOverlaps of them overlapped with the writer's work
// (it finished a pass during the operation; on a busy machine the two threads
// may seldom run at the same time), but never more than kMaxIters.
constexpr int kMinIters = 2000;
constexpr int kMinOverlaps = 300;
constexpr int kMaxIters = 1000000;

class Overlaps {
 public:
  explicit Overlaps(const Writer& w) : w_(w) {}
  bool KeepGoing(int iter) const {
    return iter < kMaxIters && (iter < kMinIters || overlaps_ < kMinOverlaps);
  }
  void Before() { passes_ = w_.passes_so_far(); }
  void After() { overlaps_ += w_.passes_so_far() != passes_; }

 private:
  const Writer& w_;
  int passes_ = 0;
  int overlaps_ = 0;
};

// A local writer changes the odd bytes of a page while the main thread
// changes the even ones and makes diffs (updating the twin) that it applies
// to the home's copy. Every diff is applied, so the twin must always equal
// the home: a twin holding a value the diff did not carry (a word read
// twice) breaks that at once. At the end the home holds every write.
TEST(PageDiffConcurrency, DiffsLoseNoConcurrentWrite) {
  // The writer covers the whole page, or a few blocks at a high rate (a word
  // then changes every few tens of nanoseconds).
  for (const auto& [first, end] : {std::pair<size_t, size_t>{1, kPage}, {1025, 1025 + 128}, {2049, 2049 + 32}}) {
    SCOPED_TRACE(end - first);
    auto page = NewPage(0);
    auto twin = NewPage(0);
    auto home = NewPage(0);
    Writer writer(page.get(), first, end);
    std::string d;
    int diffs = 0;
    int mismatches = 0;
    Overlaps overlaps(writer);
    for (int iter = 0; overlaps.KeepGoing(iter); ++iter) {
      // This thread's own local writes: all even bytes (with the writer's,
      // words then change in every byte) or a changing subset of them.
      const size_t step = iter % 2 ? 2 : 8;
      for (size_t i = (iter % 4) * 2 % step; i < kPage; i += step) {
        StoreByte(page.get(), i, WriterValue(iter, i));
      }
      d.clear();
      overlaps.Before();
      if (MakeDiffAndUpdateTwin(page->b, twin->b, &d) > 0) ++diffs;
      overlaps.After();
      ASSERT_TRUE(ApplyDiff(home->b, d));
      if (std::memcmp(twin->b, home->b, kPage) != 0) {
        ++mismatches;
        std::memcpy(home->b, twin->b, kPage);  // count each lost write once
      }
    }
    writer.Stop();
    d.clear();
    MakeDiffAndUpdateTwin(page->b, twin->b, &d);
    ASSERT_TRUE(ApplyDiff(home->b, d));
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(writer.clobbered(), 0);
    EXPECT_GT(diffs, kMinIters / 2);
    EXPECT_EQ(std::memcmp(home->b, page->b, kPage), 0);
    for (size_t i = first; i < end; i += 2) {
      ASSERT_EQ(home->b[i], WriterValue(writer.passes(), i)) << "byte " << i;
    }
  }
}

// At the home: a local writer changes the even bytes while diffs from
// another host, changing the odd bytes, are applied. Neither side's bytes
// may be lost.
TEST(PageDiffConcurrency, ApplyDiffKeepsConcurrentWritesToOtherBytes) {
  for (const auto& [first, end] : {std::pair<size_t, size_t>{0, kPage}, {2048, 2048 + 32}}) {
    SCOPED_TRACE(end - first);
    auto home = NewPage(0);
    auto remote = NewPage(0);
    auto remote_twin = NewPage(0);
    Writer writer(home.get(), first, end);
    std::string d;
    Overlaps overlaps(writer);
    for (int iter = 0; overlaps.KeepGoing(iter); ++iter) {
      // Every odd byte, or every fourth word's odd bytes, by turns.
      const size_t step = iter % 2 ? 2 : 32;
      for (size_t i = 1; i < kPage; i += step) remote->b[i] = WriterValue(iter, i);
      d.clear();
      MakeDiffAndUpdateTwin(remote->b, remote_twin->b, &d);
      overlaps.Before();
      ASSERT_TRUE(ApplyDiff(home->b, d));
      overlaps.After();
    }
    writer.Stop();
    EXPECT_EQ(writer.clobbered(), 0);
    for (size_t i = 0; i < kPage; ++i) {
      const bool written = i % 2 == 0 && i >= first && i < end;
      const uint8_t want = written ? WriterValue(writer.passes(), i) : remote->b[i];
      ASSERT_EQ(home->b[i], want) << "byte " << i;
    }
  }
}

// A local writer changes the odd bytes of a page while fetched copies whose
// even bytes change are applied with two-way diffing. Afterwards the page
// holds the writer's bytes and the last fetched copy's, and the twin equals
// the last fetched copy.
TEST(PageDiffConcurrency, TwoWayApplyKeepsConcurrentLocalWrites) {
  for (const auto& [first, end] : {std::pair<size_t, size_t>{1, kPage}, {2049, 2049 + 32}}) {
    SCOPED_TRACE(end - first);
    auto page = NewPage(0);
    auto twin = NewPage(0);
    auto fetched = NewPage(0);
    Writer writer(page.get(), first, end);
    Overlaps overlaps(writer);
    for (int iter = 0; overlaps.KeepGoing(iter); ++iter) {
      // Dense and sparse changes by turns.
      const size_t step = iter % 2 ? 2 : 34;
      for (size_t i = 0; i < kPage; i += step) fetched->b[i] = WriterValue(iter, i);
      overlaps.Before();
      TwoWayApply(page->b, twin->b, fetched->b);
      overlaps.After();
      ASSERT_EQ(std::memcmp(twin->b, fetched->b, kPage), 0);
    }
    writer.Stop();
    EXPECT_EQ(writer.clobbered(), 0);
    for (size_t i = 0; i < kPage; ++i) {
      const bool written = i % 2 == 1 && i >= first && i < end;
      const uint8_t want = written ? WriterValue(writer.passes(), i) : fetched->b[i];
      ASSERT_EQ(page->b[i], want) << "byte " << i;
    }
  }
}

// A reader watches a few words of a page (the first block, and the last
// word) in a tight loop while the main thread switches the whole page between
// two patterns that differ in every byte; it must only ever see one of the two
// full patterns. The main thread goes on until the reader has seen the first
// word change 20000 times (the two threads really ran together).
void ExpectNoTornWords(const std::function<void(Page* page, bool to_b)>& switch_page,
                       Page* page) {
  constexpr uint64_t kA = 0x1111111111111111ULL;
  constexpr uint64_t kB = 0xeeeeeeeeeeeeeeeeULL;
  constexpr size_t kWatched[] = {0, 1, 2, 3, kPage / 8 - 1};
  std::atomic<bool> done{false};
  std::atomic<int> changes{0};
  uint64_t torn = 0;
  std::thread reader([&] {
    uint64_t last = LoadWord(*page, 0);
    int n = 0;
    do {
      for (int rep = 0; rep < 64; ++rep) {
        for (size_t w : kWatched) {
          const uint64_t v = LoadWord(*page, w);
          torn += v != kA && v != kB;
          if (w == 0 && v != last) {
            last = v;
            ++n;
          }
        }
      }
      changes.store(n, std::memory_order_relaxed);
    } while (!done.load(std::memory_order_acquire));
  });
  for (int i = 0; i < 20000 || (changes.load(std::memory_order_relaxed) < 20000 && i < 5000000);
       ++i) {
    switch_page(page, i % 2 == 0);
  }
  done.store(true, std::memory_order_release);
  reader.join();
  EXPECT_EQ(torn, 0u);
  EXPECT_GT(changes.load(), 0);
}

TEST(PageDiffConcurrency, CopyPageNeverTearsAWord) {
  auto a = NewPage(0x11);
  auto b = NewPage(0xee);
  auto page = NewPage(0x11);
  ExpectNoTornWords([&](Page* p, bool to_b) { CopyPage(p->b, to_b ? b->b : a->b); }, page.get());
}

TEST(PageDiffConcurrency, TwoWayApplyNeverTearsAWord) {
  auto a = NewPage(0x11);
  auto b = NewPage(0xee);
  auto page = NewPage(0x11);
  auto twin = NewPage(0x11);
  ExpectNoTornWords([&](Page* p, bool to_b) { TwoWayApply(p->b, twin->b, to_b ? b->b : a->b); },
                    page.get());
}

TEST(PageDiffConcurrency, ApplyDiffNeverTearsAWord) {
  auto a = NewPage(0x11);
  auto b = NewPage(0xee);
  std::string to_a, to_b;
  auto twin = NewPage(0xee);
  MakeDiffAndUpdateTwin(a->b, twin->b, &to_a);
  MakeDiffAndUpdateTwin(b->b, twin->b, &to_b);
  auto page = NewPage(0x11);
  ExpectNoTornWords([&](Page* p, bool go_b) { ASSERT_TRUE(ApplyDiff(p->b, go_b ? to_b : to_a)); },
                    page.get());
}

}  // namespace
}  // namespace dsm::hostd
