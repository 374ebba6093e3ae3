// Page diffs, two-way diffing and tear-free page copies (see page_diff.h).
//
// Pages are read and written only through the Load, Store and Merge helpers
// below (relaxed 8-byte atomics); twins and fetched copies, which belong to
// the caller during a call, also with 16-byte vector accesses and memcpy.
// Bytes of a word are
// numbered in memory order, which on a little-endian machine is the order of
// the word's bytes from least to most significant.
#include "dsm/hostd/page_diff.h"

#include <algorithm>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dsm::hostd {
namespace {

static_assert(std::endian::native == std::endian::little,
              "byte b of a word is bits 8b..8b+7 only on little-endian machines");
static_assert(kDiffPageSize % 8 == 0 && kDiffPageSize <= 0xffff, "offsets and lengths are u16");

constexpr size_t kWords = kDiffPageSize / 8;
static_assert(kWords % 4 == 0, "pages are scanned in blocks of four words");
constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7fULL;
constexpr uint64_t kHigh = 0x8080808080808080ULL;

inline uint64_t Load(const void* page, size_t word) {
  return __atomic_load_n(static_cast<const uint64_t*>(page) + word, __ATOMIC_RELAXED);
}

inline void Store(void* page, size_t word, uint64_t v) {
  __atomic_store_n(static_cast<uint64_t*>(page) + word, v, __ATOMIC_RELAXED);
}

// Writes the bytes of v selected by mask into the word, keeping whatever the
// other bytes hold at the moment of the write (a concurrent writer of those
// bytes makes the CAS fail, and the merge is redone over its value).
inline void Merge(void* page, size_t word, uint64_t v, uint64_t mask) {
  uint64_t* w = static_cast<uint64_t*>(page) + word;
  uint64_t cur = __atomic_load_n(w, __ATOMIC_RELAXED);
  for (;;) {
    const uint64_t next = (cur & ~mask) | (v & mask);
    if (next == cur) return;
    if (__atomic_compare_exchange_n(w, &cur, next, /*weak=*/true, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED)) {
      return;
    }
  }
}

// The high bit of each byte of the result is set iff that byte of x is not
// zero; the other bits are clear. (Adding 0x7f to the low seven bits carries
// into the high bit iff any of them is set; no carry crosses a byte.)
inline uint64_t NonzeroBytes(uint64_t x) { return (((x & kLow7) + kLow7) | x) & kHigh; }

// 0xff in every byte whose high bit is set in high (a NonzeroBytes result).
inline uint64_t ByteMask(uint64_t high) { return (high >> 7) * 0xff; }

inline void PutU16(uint8_t* p, size_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

inline uint32_t GetU16(const char* p) {
  return static_cast<uint32_t>(static_cast<uint8_t>(p[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 8;
}

// Four consecutive words, as read once from a page.
struct Block {
  uint64_t w0, w1, w2, w3;
};
static_assert(sizeof(Block) == 32);

inline Block LoadBlock(const void* page, size_t b) {
  return {Load(page, b), Load(page, b + 1), Load(page, b + 2), Load(page, b + 3)};
}

// Whether block b of a page, read as k, equals block b of the twin.
inline bool Unchanged(const Block& k, const void* twin, size_t b) {
  return ((k.w0 ^ Load(twin, b)) | (k.w1 ^ Load(twin, b + 1)) | (k.w2 ^ Load(twin, b + 2)) |
          (k.w3 ^ Load(twin, b + 3))) == 0;
}

#if defined(__SSE2__)
// k as two 16-byte vectors, and the movemask of its bytewise equality with
// block b of the twin (0: every byte differs). The twin is the caller's alone
// during a call, so plain vector accesses to it race with nothing.
struct BlockCompare {
  __m128i lo, hi;
  int equal_bytes;
};

inline BlockCompare CompareBlock(const Block& k, const void* twin, size_t b) {
  const __m128i lo = _mm_set_epi64x(static_cast<int64_t>(k.w1), static_cast<int64_t>(k.w0));
  const __m128i hi = _mm_set_epi64x(static_cast<int64_t>(k.w3), static_cast<int64_t>(k.w2));
  const auto* t = reinterpret_cast<const __m128i*>(static_cast<const uint64_t*>(twin) + b);
  const __m128i eq = _mm_or_si128(_mm_cmpeq_epi8(lo, _mm_loadu_si128(t)),
                                  _mm_cmpeq_epi8(hi, _mm_loadu_si128(t + 1)));
  return {lo, hi, _mm_movemask_epi8(eq)};
}
#endif

// Whether every byte of k differs from block b of the twin.
inline bool AllBytesDiffer(const Block& k, const void* twin, size_t b) {
#if defined(__SSE2__)
  return CompareBlock(k, twin, b).equal_bytes == 0;
#else
  // The classic zero-byte test, (x - 0x01..01) & ~x & 0x80..80, whose high bit
  // of a byte is set where x has a zero byte (and possibly above one), is not
  // zero iff some byte of x is zero; "& kHigh" is applied once to all four.
  const auto zero_bytes = [](uint64_t x) { return (x - 0x0101010101010101ULL) & ~x; };
  return ((zero_bytes(k.w0 ^ Load(twin, b)) | zero_bytes(k.w1 ^ Load(twin, b + 1)) |
           zero_bytes(k.w2 ^ Load(twin, b + 2)) | zero_bytes(k.w3 ^ Load(twin, b + 3))) &
          kHigh) == 0;
#endif
}

// When every byte of k differs from block b of the twin, writes k into the
// twin and returns true; else changes nothing.
inline bool TakeIfAllBytesDiffer(const Block& k, void* twin, size_t b) {
#if defined(__SSE2__)
  const BlockCompare cmp = CompareBlock(k, twin, b);
  if (cmp.equal_bytes != 0) return false;
  auto* t = reinterpret_cast<__m128i*>(static_cast<uint64_t*>(twin) + b);
  _mm_storeu_si128(t, cmp.lo);  // two 16-byte stores instead of four
  _mm_storeu_si128(t + 1, cmp.hi);
  return true;
#else
  if (!AllBytesDiffer(k, twin, b)) return false;
  Store(twin, b, k.w0);
  Store(twin, b + 1, k.w1);
  Store(twin, b + 2, k.w2);
  Store(twin, b + 3, k.w3);
  return true;
#endif
}

// Where a diff being built stands: the next byte to write and the header of
// the open run (null: none). Passed and returned by value, so it stays in
// registers. Runs are opened at the first differing byte and closed (length
// filled in) at the first equal one.
struct Cursor {
  uint8_t* w;
  uint8_t* run;
};

inline Cursor OpenRun(Cursor c, size_t offset) {
  PutU16(c.w, offset);
  return {c.w + kDiffRunHeader, c.w};
}

inline Cursor CloseRun(Cursor c) {
  if (c.run != nullptr) PutU16(c.run + 2, static_cast<size_t>(c.w - c.run) - kDiffRunHeader);
  return {c.w, nullptr};
}

// The general case of MakeDiffAndUpdateTwin, for a block where some bytes
// changed and some did not: k is block b of the page as read (the page is not
// read again). Records each word in the twin and puts its differing bytes
// into runs.
[[gnu::noinline]] Cursor DiffWords(Cursor c, void* twin, size_t b, Block k) {
  const uint64_t pv[4] = {k.w0, k.w1, k.w2, k.w3};
  for (size_t j = 0; j < 4; ++j) {
    const size_t i = b + j;
    const uint64_t x = pv[j] ^ Load(twin, i);
    if (x == 0) {
      c = CloseRun(c);
      continue;
    }
    Store(twin, i, pv[j]);
    const uint64_t high = NonzeroBytes(x);
    if (high == kHigh) {  // the whole word
      if (c.run == nullptr) c = OpenRun(c, i * 8);
      std::memcpy(c.w, &pv[j], 8);
      c.w += 8;
      continue;
    }
    for (size_t byte = 0; byte < 8; ++byte) {
      if (((high >> (8 * byte + 7)) & 1) == 0) {
        c = CloseRun(c);
        continue;
      }
      if (c.run == nullptr) c = OpenRun(c, i * 8 + byte);
      *c.w++ = static_cast<uint8_t>(pv[j] >> (8 * byte));
    }
  }
  return c;
}

// The general case of TwoWayApply, for a block where some bytes differ and
// some do not: k is block b of the fetched copy.
[[gnu::noinline]] void MergeWords(void* page, void* twin, size_t b, Block k) {
  const uint64_t fv[4] = {k.w0, k.w1, k.w2, k.w3};
  for (size_t j = 0; j < 4; ++j) {
    const size_t i = b + j;
    const uint64_t x = fv[j] ^ Load(twin, i);
    if (x == 0) continue;
    const uint64_t high = NonzeroBytes(x);
    if (high == kHigh) {
      Store(page, i, fv[j]);  // every byte is the home's: nothing local to keep
    } else {
      Merge(page, i, fv[j], ByteMask(high));
    }
    Store(twin, i, fv[j]);  // equal to fv outside the mask already
  }
}

// Writes n (< 8) bytes from src at byte offset off of the page, which lie in
// one word.
void MergeBytes(void* page, size_t off, const uint8_t* src, size_t n) {
  const size_t first = off % 8;
  uint64_t v = 0;
  std::memcpy(reinterpret_cast<uint8_t*>(&v) + first, src, n);
  const uint64_t mask = ((uint64_t{1} << (8 * n)) - 1) << (8 * first);
  Merge(page, off / 8, v, mask);
}

void ApplyRun(void* page, const DiffRun& run) {
  size_t off = run.offset;
  const size_t end = off + run.length;
  const uint8_t* src = run.bytes;
  if (off % 8 != 0) {  // head, up to the first word boundary
    const size_t n = std::min<size_t>(8 - off % 8, end - off);
    MergeBytes(page, off, src, n);
    off += n;
    src += n;
  }
  // Whole words: nothing else to keep. Four at a time (a loop of one load and
  // one store would be bound by its branch).
  for (; off + 32 <= end; off += 32, src += 32) {
    uint64_t v[4];
    std::memcpy(v, src, 32);
    Store(page, off / 8, v[0]);
    Store(page, off / 8 + 1, v[1]);
    Store(page, off / 8 + 2, v[2]);
    Store(page, off / 8 + 3, v[3]);
  }
  for (; off + 8 <= end; off += 8, src += 8) {
    uint64_t v;
    std::memcpy(&v, src, 8);
    Store(page, off / 8, v);
  }
  if (off < end) MergeBytes(page, off, src, end - off);  // tail
}

// The run form's longest diff: 2048 runs of one byte, the last of two.
constexpr size_t kMaxRunDiffBytes = 4 * 2048 + 2049;

// Bit `byte` of a bitmask diff's mask: that byte of the page changed.
bool MaskBit(const char* mask, size_t byte) {
  return ((static_cast<uint8_t>(mask[byte / 8]) >> (byte % 8)) & 1) != 0;
}

// Rewrites the run-form diff at out[start..] in the bitmask form.
void ToBitmask(std::string* out, size_t start) {
  char mask[kDiffPageSize / 8] = {};
  std::string bytes;
  bytes.reserve(out->size() - start);
  DiffReader r(std::string_view(*out).substr(start));
  DiffRun run;
  while (r.Next(&run)) {
    for (size_t b = run.offset; b < run.offset + run.length; ++b) {
      mask[b / 8] = static_cast<char>(mask[b / 8] | (1 << (b % 8)));
    }
    bytes.append(reinterpret_cast<const char*>(run.bytes), run.length);
  }
  out->resize(start);
  const char marker[2] = {static_cast<char>(kDiffBitmaskMarker & 0xff), static_cast<char>(kDiffBitmaskMarker >> 8)};
  out->append(marker, 2);
  out->append(mask, sizeof mask);
  out->append(bytes);
}

// MakeDiffAndUpdateTwin's scan, writing the run form.
size_t MakeRunDiffAndUpdateTwin(const void* page, void* twin, std::string* out) {
  const size_t start = out->size();
  uint8_t buf[kMaxRunDiffBytes];
  Cursor c{buf, nullptr};
  // Blocks of four words, in three tight loops: unchanged blocks (eight loads
  // and a branch each), blocks where every byte changed, and anything else,
  // word by word (DiffWords). A stretch of blocks where every byte changed
  // goes into the twin only, and from there into *out with one copy (a store
  // per word to both would cost nearly twice as much).
  size_t b = 0;
  Block k{};
  bool loaded = false;  // k already holds block b
  while (b < kWords) {
    if (!loaded) k = LoadBlock(page, b);  // the only read of these page words
    loaded = false;
    if (Unchanged(k, twin, b)) {
      c = CloseRun(c);
      for (b += 4; b < kWords; b += 4) {
        k = LoadBlock(page, b);
        if (!Unchanged(k, twin, b)) break;
      }
      loaded = b < kWords;
      continue;
    }
    if (TakeIfAllBytesDiffer(k, twin, b)) {
      const size_t from = b;
      if (c.run == nullptr) c = OpenRun(c, b * 8);
      for (b += 4; b < kWords; b += 4) {
        k = LoadBlock(page, b);
        if (!TakeIfAllBytesDiffer(k, twin, b)) break;
      }
      loaded = b < kWords;
      const uint8_t* bytes = static_cast<const uint8_t*>(twin) + from * 8;
      const size_t n = (b - from) * 8;
      if (loaded && static_cast<uint8_t>(k.w0) != static_cast<uint8_t>(Load(twin, b))) {
        // The run goes on into the next block: its bytes stay together in buf.
        std::memcpy(c.w, bytes, n);
        c.w += n;
        continue;
      }
      // The run ends with the stretch: close it counting the bytes still in
      // the twin, then move buf and those bytes to *out.
      PutU16(c.run + 2, static_cast<size_t>(c.w - c.run) - kDiffRunHeader + n);
      out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(c.w - buf));
      out->append(reinterpret_cast<const char*>(bytes), n);
      c = {buf, nullptr};
      continue;
    }
    c = DiffWords(c, twin, b, k);
    b += 4;
  }
  c = CloseRun(c);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(c.w - buf));
  return out->size() - start;
}

}  // namespace

size_t MakeDiffAndUpdateTwin(const void* page, void* twin, std::string* out) {
  const size_t start = out->size();
  const size_t n = MakeRunDiffAndUpdateTwin(page, twin, out);
  // Many small runs: the bitmask form is shorter (a run's header costs 4
  // bytes, the mask 514 for the whole page). More than 128 runs need more
  // than 5 * 128 bytes, so shorter diffs are not even looked at.
  if (n > 5 * (kDiffBitmaskHeader / kDiffRunHeader)) {
    size_t runs = 0;
    DiffReader r(std::string_view(*out).substr(start));
    DiffRun run;
    while (r.Next(&run)) ++runs;
    if (runs * kDiffRunHeader > kDiffBitmaskHeader) ToBitmask(out, start);
  }
  return out->size() - start;
}

bool DiffReader::Next(DiffRun* run) {
  if (malformed_) return false;
  if (!started_) {
    started_ = true;
    if (diff_.size() >= 2 && GetU16(diff_.data()) == kDiffBitmaskMarker) {
      // The whole form is checked at once: the mask, then exactly one byte
      // per bit set in it.
      bitmask_ = true;
      size_t set = 0;
      for (size_t i = 2; i < kDiffBitmaskHeader && i < diff_.size(); ++i) {
        set += static_cast<size_t>(std::popcount(static_cast<uint8_t>(diff_[i])));
      }
      if (diff_.size() < kDiffBitmaskHeader || diff_.size() != kDiffBitmaskHeader + set) {
        malformed_ = true;
        return false;
      }
      pos_ = kDiffBitmaskHeader;
    }
  }
  if (bitmask_) return NextOfBitmask(run);
  if (pos_ == diff_.size()) return false;
  const size_t left = diff_.size() - pos_;
  if (left < kDiffRunHeader) {
    malformed_ = true;
    return false;
  }
  const uint32_t offset = GetU16(diff_.data() + pos_);
  const uint32_t length = GetU16(diff_.data() + pos_ + 2);
  if (length == 0 || offset < end_of_last_run_ || offset + length > kDiffPageSize ||
      left - kDiffRunHeader < length) {
    malformed_ = true;
    return false;
  }
  run->offset = offset;
  run->length = length;
  run->bytes = reinterpret_cast<const uint8_t*>(diff_.data() + pos_ + kDiffRunHeader);
  pos_ += kDiffRunHeader + length;
  end_of_last_run_ = offset + length;
  return true;
}

bool DiffReader::NextOfBitmask(DiffRun* run) {
  const char* mask = diff_.data() + 2;
  size_t b = end_of_last_run_;
  while (b < kDiffPageSize && !MaskBit(mask, b)) {
    b = (b % 8 == 0 && mask[b / 8] == 0) ? b + 8 : b + 1;  // whole empty mask bytes at once
  }
  if (b >= kDiffPageSize) {
    end_of_last_run_ = kDiffPageSize;
    return false;
  }
  size_t e = b + 1;
  while (e < kDiffPageSize && MaskBit(mask, e)) ++e;
  run->offset = static_cast<uint32_t>(b);
  run->length = static_cast<uint32_t>(e - b);
  run->bytes = reinterpret_cast<const uint8_t*>(diff_.data() + pos_);
  pos_ += e - b;
  end_of_last_run_ = static_cast<uint32_t>(e);
  return true;
}

bool DiffIsWellFormed(std::string_view diff) {
  DiffReader r(diff);
  DiffRun run;
  while (r.Next(&run)) {
  }
  return !r.malformed();
}

bool ApplyDiff(void* page, std::string_view diff) {
  if (!DiffIsWellFormed(diff)) return false;
  DiffReader r(diff);
  DiffRun run;
  while (r.Next(&run)) ApplyRun(page, run);
  return true;
}

void TwoWayApply(void* page, void* twin, const void* fetched) {
  // As in MakeDiffAndUpdateTwin: blocks of four words; a stretch of blocks
  // where every byte differs reaches the twin in one copy.
  size_t b = 0;
  Block k{};
  bool loaded = false;  // k already holds block b of fetched
  while (b < kWords) {
    if (!loaded) k = LoadBlock(fetched, b);
    loaded = false;
    if (Unchanged(k, twin, b)) {
      for (b += 4; b < kWords; b += 4) {
        k = LoadBlock(fetched, b);
        if (!Unchanged(k, twin, b)) break;
      }
      loaded = b < kWords;
      continue;
    }
    if (AllBytesDiffer(k, twin, b)) {
      const size_t from = b;
      for (;;) {
        // Every byte is the home's: nothing local to keep.
        Store(page, b, k.w0);
        Store(page, b + 1, k.w1);
        Store(page, b + 2, k.w2);
        Store(page, b + 3, k.w3);
        b += 4;
        if (b == kWords) break;
        k = LoadBlock(fetched, b);
        if (!AllBytesDiffer(k, twin, b)) break;
      }
      std::memcpy(static_cast<uint8_t*>(twin) + from * 8,
                  static_cast<const uint8_t*>(fetched) + from * 8, (b - from) * 8);
      loaded = b < kWords;
      continue;
    }
    MergeWords(page, twin, b, k);
    b += 4;
  }
}

void CopyPage(void* dst, const void* src) {
  for (size_t i = 0; i < kWords; ++i) Store(dst, i, Load(src, i));
}

bool PagesEqual(const void* a, const void* b) {
  for (size_t i = 0; i < kWords; i += 4) {
    uint64_t any = 0;
    for (size_t k = 0; k < 4; ++k) any |= Load(a, i + k) ^ Load(b, i + k);
    if (any != 0) return false;
  }
  return true;
}

}  // namespace dsm::hostd
