// The program's shared globals: the sections dsm_shared_data (initialised)
// and dsm_shared_bss (zero) that dsm-clang, `#pragma dsm shared` and the
// DSM_SHARED macro fill, linked by dsm_globals.ld as one page-aligned window
// among the program's data (at the same address on every node: dsm-run
// starts nodes without address randomisation, and the nodes check).
//
// The program loader maps the window as ordinary private memory and every
// process runs its constructors on its own copy. When the node attaches,
// node 0 saves the initialised bytes (Save), every node maps the space's
// globals pages over the window (DeviceClient::MapAlias), and node 0 copies
// its saved bytes in (Publish): node 0's values win; the other nodes drop
// theirs.
//
// Thread safety: the node's main thread, before and during attach only.
#pragma once

#include <cstdint>

#include "dsm/common/status.h"

namespace dsm::runtime {

class GlobalsWindow {
 public:
  // What the program's libdsm_main.a found: the window's bounds (null when
  // linked without dsm_globals.ld), the end of its initialised part, and
  // any shared-global section (null when there is none).
  void Set(char* begin, char* end, char* data_end, char* any_section);

  char* begin() const { return begin_; }
  // Bytes in the window (a multiple of the page size); 0 if none.
  uint64_t size() const { return size_; }

  // Every node, before attaching: an error naming the problem when the
  // program was linked without dsm_globals.ld or its window is malformed.
  Status CheckPlacement() const;

  // Node 0: saves the initialised bytes before the window is mapped over
  // (an error when there is no memory for them).
  Status Save();

  // Node 0: writes the saved bytes into the (now shared) window and frees
  // them. Faults through the coherence client in a job of several hosts.
  void Publish();

 private:
  char* begin_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_size_ = 0;  // the initialised part, from begin_
  char* saved_ = nullptr;   // data_size_ bytes, private
  const char* error_ = nullptr;
};

}  // namespace dsm::runtime
