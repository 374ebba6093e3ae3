// The LLVM passes of dsm-clang-plugin.so (loaded by dsm-clang with
// -fpass-plugin; pass_plugin.cc registers them with LLVM's PassBuilder).
//
// Both are module passes, required at every optimisation level, stateless
// between modules; LLVM runs them on one thread.
#pragma once

#include "llvm/IR/PassManager.h"

namespace dsm::compiler {

// Atomics on possibly shared memory call libdsm when the job spans several
// hosts (atomics_pass.cc).
struct AtomicsPass : llvm::PassInfoMixin<AtomicsPass> {
  llvm::PreservedAnalyses run(llvm::Module& m, llvm::ModuleAnalysisManager&);
  static bool isRequired() { return true; }
};

// The guard variable of a shared function-local static (or of a shared
// dynamically initialised inline variable) is shared with it, so that the
// object is constructed once for the job (guards_pass.cc).
struct SharedGuardsPass : llvm::PassInfoMixin<SharedGuardsPass> {
  llvm::PreservedAnalyses run(llvm::Module& m, llvm::ModuleAnalysisManager&);
  static bool isRequired() { return true; }
};

}  // namespace dsm::compiler
