#include "globals.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "dsm/device/protocol.h"

namespace dsm::runtime {

using device::kPageSize;

void GlobalsWindow::Set(char* begin, char* end, char* data_end, char* any_section) {
  if (begin == nullptr || end == nullptr) {
    if (any_section != nullptr) {
      error_ = "this program has shared globals but was linked without the dsm_globals.ld linker "
               "script: link it with dsm-clang, the CMake target dsmkit::dsm or pkg-config dsm";
    }
    return;
  }
  const auto b = reinterpret_cast<uintptr_t>(begin);
  const auto e = reinterpret_cast<uintptr_t>(end);
  if (b % kPageSize != 0 || e % kPageSize != 0 || e < b || data_end < begin || data_end > end) {
    error_ = "this program's shared-globals window is not page-aligned (a modified dsm_globals.ld?)";
    return;
  }
  begin_ = begin;
  size_ = e - b;
  data_size_ = static_cast<uint64_t>(data_end - begin);
}

Status GlobalsWindow::CheckPlacement() const {
  return error_ != nullptr ? Status(EINVAL, error_) : Status::Ok();
}

Status GlobalsWindow::Save() {
  if (data_size_ == 0) return Status::Ok();
  void* p = ::mmap(nullptr, data_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Status::FromErrno("cannot save the initial values of the shared globals");
  saved_ = static_cast<char*>(p);
  std::memcpy(saved_, begin_, data_size_);
  return Status::Ok();
}

void GlobalsWindow::Publish() {
  if (saved_ == nullptr) return;
  // Page by page, skipping zero pages: the space starts zeroed, and a page
  // never written is never faulted in (nor, with several hosts, homed here).
  for (uint64_t off = 0; off < data_size_; off += kPageSize) {
    const uint64_t n = std::min<uint64_t>(kPageSize, data_size_ - off);
    const char* src = saved_ + off;
    bool zero = true;
    for (uint64_t i = 0; i < n && zero; ++i) zero = src[i] == 0;
    if (!zero) std::memcpy(begin_ + off, src, n);
  }
  ::munmap(saved_, data_size_);
  saved_ = nullptr;
}

}  // namespace dsm::runtime
