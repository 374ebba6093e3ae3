// The file behind a host's shared space.
//
// Nodes are processes, each with page tables of its own: with 4 KiB pages
// every node takes a fault on every page it touches, where the threads of
// an OpenMP program take one per page for all of them. Huge pages make that
// 512 times rarer, but the kernel gives them to a memfd only where the
// machine's /sys/kernel/mm/transparent_hugepage/shmem_enabled allows (its
// default is "never"). A tmpfs mounted with huge=advise gives them to every
// mapping that asks (MADV_HUGEPAGE) whatever that setting, unless it is
// "deny". So the daemon mounts a tmpfs of its own: detached (fsopen and
// fsmount: it appears in no mount table and needs no directory), inside a
// user namespace of a child process when the daemon lacks CAP_SYS_ADMIN,
// and keeps one unlinked file of it. The mount lives as long as that file
// is open or mapped, like a memfd; nothing is left behind.
//
// Only the mappings that ask get huge pages: a node of a one-host job asks
// for its data area (runtime.cc); nodes of several hosts, which protect 4 KiB
// pages one by one, do not. Where no such mount can be made (no user
// namespaces, a kernel without transparent huge pages) the space is a memfd
// as before and `why_not` says why.
//
// Thread safety: CreateSpaceFile may be called from any thread; it forks a
// child that runs system calls only.
#pragma once
#include <cstdint>
#include <string>

#include "dsm/common/fd.h"
#include "dsm/common/status.h"

namespace dsm::hostd {

struct SpaceFile {
  UniqueFd fd;
  bool huge_pages = false;  // on a private tmpfs mounted huge=advise
  std::string why_not;      // when not: the step that failed and its error
};

// A file of `size` bytes (sparse, zero) for a shared space. With
// want_huge_pages false, or when a private tmpfs cannot be had, a memfd.
Result<SpaceFile> CreateSpaceFile(uint64_t size, bool want_huge_pages);

// What a space's backing is, for statistics and logs: "tmpfs huge=advise"
// or "memfd (<why>)".
std::string DescribeSpaceFile(const SpaceFile& file);

}  // namespace dsm::hostd
