#include "func_ref.h"

#include <link.h>

namespace dsm::runtime {

namespace {

uint32_t HashName(const char* s) {
  uint32_t h = 2166136261u;
  for (; s != nullptr && *s != '\0'; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 16777619u;
  return h;
}

struct EncodeState {
  uintptr_t addr;
  uint32_t index;
  bool found;
  FuncRef* ref;
};

int EncodeCallback(dl_phdr_info* info, size_t, void* data) {
  auto* st = static_cast<EncodeState*>(data);
  uint32_t index = st->index++;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (st->addr >= start && st->addr < start + ph.p_memsz) {
      st->ref->object = index;
      st->ref->name_hash = HashName(info->dlpi_name);
      st->ref->offset = st->addr - info->dlpi_addr;
      st->found = true;
      return 1;
    }
  }
  return 0;
}

struct DecodeState {
  const FuncRef* ref;
  uint32_t index;
  void* result;
};

int DecodeCallback(dl_phdr_info* info, size_t, void* data) {
  auto* st = static_cast<DecodeState*>(data);
  if (st->index++ != st->ref->object) return 0;
  if (HashName(info->dlpi_name) == st->ref->name_hash) {
    st->result = reinterpret_cast<void*>(info->dlpi_addr + st->ref->offset);
  }
  return 1;
}

}  // namespace

bool EncodeFunc(const void* fn, FuncRef* ref) {
  EncodeState st{reinterpret_cast<uintptr_t>(fn), 0, false, ref};
  dl_iterate_phdr(EncodeCallback, &st);
  return st.found;
}

void* DecodeFunc(const FuncRef& ref) {
  DecodeState st{&ref, 0, nullptr};
  dl_iterate_phdr(DecodeCallback, &st);
  return st.result;
}

}  // namespace dsm::runtime
