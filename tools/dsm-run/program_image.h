// What dsm-run needs to know about the program before starting a job: the
// size of its shared globals (the sections dsm_shared_data and
// dsm_shared_bss that dsm-clang and the DSM_SHARED macro fill, which
// dsm_globals.ld links together as one page-aligned window), read from the
// ELF section headers, so that the daemons reserve room for them.
//
// Reads the file only; runs nothing. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>

#include "dsm/common/status.h"

namespace dsm::launcher {

struct ProgramImage {
  // False for a file that is not ELF: a script (a libtool wrapper, say) that
  // execs the real program, whose globals dsm-run cannot see.
  bool elf = false;
  // Bytes of the globals window (a multiple of the page size); 0 when the
  // program has none or is not an ELF file.
  uint64_t globals_size = 0;
};

// What dsm-run reserves for the globals of a program it cannot read (not an
// ELF file): its nodes check that it is enough, and say so if not.
constexpr uint64_t kUnknownProgramGlobals = 64ULL << 20;

// Errors (EINVAL, naming the file and the problem): a truncated or malformed
// ELF file; shared-global sections not linked as one page-aligned window
// (linked without dsm_globals.ld). A position-independent program is fine:
// dsm-run starts every node without address randomisation.
Result<ProgramImage> ReadProgramImage(const std::string& path);

}  // namespace dsm::launcher
