// dsm-clang-plugin.so as an LLVM pass plugin (dsm-clang loads it a second
// time with -fpass-plugin): registers the passes of passes.h last in the
// optimisation pipeline at every level (-O0 included: they are required, so
// optnone functions get them too), and by name for opt
// (-load-pass-plugin=dsm-clang-plugin.so -passes=dsm-atomics|dsm-shared-guards).
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Passes/PassPlugin.h"

#include "passes.h"

namespace {

using namespace llvm;
using dsm::compiler::AtomicsPass;
using dsm::compiler::SharedGuardsPass;

void Register(PassBuilder& pb) {
  pb.registerOptimizerLastEPCallback([](ModulePassManager& mpm, OptimizationLevel) {
    mpm.addPass(SharedGuardsPass());
    mpm.addPass(AtomicsPass());
  });
  pb.registerPipelineParsingCallback(
      [](StringRef name, ModulePassManager& mpm, ArrayRef<PassBuilder::PipelineElement>) {
        if (name == "dsm-atomics") {
          mpm.addPass(AtomicsPass());
          return true;
        }
        if (name == "dsm-shared-guards") {
          mpm.addPass(SharedGuardsPass());
          return true;
        }
        return false;
      });
}

}  // namespace

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo llvmGetPassPluginInfo() {
  return {LLVM_PLUGIN_API_VERSION, "dsm-passes", "0.1", Register};
}
