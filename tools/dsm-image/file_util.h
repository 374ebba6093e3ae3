// Small file helpers for dsm-image: whole-file reads, existence checks, and
// SHA-256 (FIPS 180-4) for the image cache's content keys.
// Pure functions (Sha256 keeps its state in the object); thread-safe for
// distinct objects.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dsm/common/status.h"

namespace dsm::image {

Result<std::string> ReadWholeFile(const std::string& path);
bool IsReadableFile(const std::string& path);  // a regular file (after symlinks) we may read

class Sha256 {
 public:
  Sha256();
  void Update(std::string_view data);
  // Feeds a length-prefixed field, so that ("ab","c") and ("a","bc") differ.
  void UpdateField(std::string_view data);
  std::string HexDigest();  // ends the hash

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace dsm::image
