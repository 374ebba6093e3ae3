#include "dsm/hostd/shared_space.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "dsm/hostd/space_file.h"

namespace dsm::hostd {

Status ValidateSpaceSize(uint64_t size) {
  if (!device::IsPowerOfTwo(size) || size < device::kMinSpaceSize ||
      size > device::kMaxSpaceSize) {
    return Status(EINVAL, "shared space size " + std::to_string(size) +
                              " must be a power of two between 64 MiB and 1 TiB");
  }
  return Status::Ok();
}

Status ValidateStackSize(uint64_t stack_size, uint64_t space_size, uint64_t globals_size) {
  if (globals_size > device::kMaxGlobalsSize ||
      (device::LayoutFits(space_size, stack_size) &&
       !device::LayoutFits(space_size, stack_size, globals_size))) {
    return Status(EINVAL, "the program's shared globals (" + std::to_string(globals_size >> 20) +
                              " MiB) and master stack leave less than 16 MiB of heap in a " +
                              std::to_string(space_size >> 20) +
                              " MiB shared space: ask for more memory (dsm-run --memory)");
  }
  if (!device::LayoutFits(space_size, stack_size)) {
    return Status(EINVAL, "master stack size " + std::to_string(stack_size) +
                              " must be between 64 KiB and 4 GiB and leave 16 MiB of heap in a " +
                              std::to_string(space_size >> 20) + " MiB shared space");
  }
  return Status::Ok();
}

Result<SharedSpace> SharedSpace::Create(const SpaceConfig& config) {
  if (Status s = ValidateSpaceSize(config.size); !s.ok()) return s;
  if (Status s = ValidateStackSize(config.stack_size, config.size, config.globals_size); !s.ok()) {
    return s;
  }
  if (config.num_nodes == 0 || config.num_nodes > device::kMaxNodes) {
    return Status(EINVAL, "node count " + std::to_string(config.num_nodes) + " out of range 1.." +
                              std::to_string(device::kMaxNodes));
  }
  SharedSpace space;
  auto file = CreateSpaceFile(config.size, config.huge_pages);
  if (!file.ok()) return file.status();
  space.backing_ = DescribeSpaceFile(file.value());
  space.fd_ = std::move(file.value().fd);
  void* addr = ::mmap(nullptr, config.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                      space.fd_.get(), 0);
  if (addr == MAP_FAILED) return Status::FromErrno("mmap shared space");
  space.map_ = Mapping(addr, config.size);

  const device::Layout l = device::ComputeLayout(config.size, config.stack_size, config.globals_size);
  device::SpaceHeader* h = space.header();
  std::memset(h, 0, sizeof *h);
  h->version = device::kVersion;
  h->header_size = sizeof(device::SpaceHeader);
  h->space_size = config.size;
  h->page_size = device::kPageSize;
  h->max_slots = device::kMaxSlots;
  h->regs_offset = l.regs_offset;
  h->lock_table_offset = l.lock_table_offset;
  h->lock_table_entries = device::kLockTableEntries;
  h->num_nodes = config.num_nodes;
  h->meta_offset = l.meta_offset;
  h->meta_size = l.meta_size;
  h->inval_offset = l.inval_offset;
  h->inval_size = l.inval_size;
  h->inval_entries = device::kInvalEntries;
  h->list_offset = l.list_offset;
  h->home_log_offset = l.home_log_offset;
  h->data_pages = l.data_size / device::kPageSize;
  h->home_mode = config.home_mode;
  h->data_offset = l.data_offset;
  h->data_size = l.data_size;
  h->control_offset = l.control_offset;
  h->globals_offset = l.globals_offset;
  h->globals_size = l.globals_size;
  h->stack_offset = l.stack_offset;
  h->stack_size = l.stack_size;
  h->heap_offset = l.heap_offset;
  h->heap_size = l.heap_size;
  h->host_id = config.host_id;
  h->num_hosts = config.num_hosts;
  h->job_id = config.job_id;
  h->flags = config.huge_pages ? device::kSpaceHugePages : 0;
  // Several hosts: every lock's token starts with the manager on host 0, so
  // every lock word starts "ask the daemon" (see coherence.h).
  if (config.num_hosts > 1) {
    device::LockEntry* table = device::LockTable(h);
    for (uint32_t i = 0; i < device::kLockTableEntries; ++i) table[i].word = device::kLockWaiters;
  }
  // The magic last: a reader that sees it sees a complete header.
  device::StoreRelease(&h->magic, device::kMagic);
  return space;
}

}  // namespace dsm::hostd
