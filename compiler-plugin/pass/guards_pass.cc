// The shared-guards pass (see passes.h).
//
// A function-local static with a dynamic initialiser, or an inline variable
// or template static member with one, is constructed under an Itanium ABI
// guard variable (_ZGV<name>, one byte flagging "done") that Clang creates
// without a declaration of its own, so the plugin's section attributes never
// reach it: a shared object would keep a guard private to each node, and
// every node would construct the object again over the others' copy. This
// pass gives each guard of a shared object (one placed in dsm_shared_data or
// dsm_shared_bss, by attribute or explicit section) the shared-bss section
// too, so the first node to get there constructs it and the others see it
// done. (Across hosts, the guard's acquire load is an atomic the atomics
// pass makes coherent.)
#include "passes.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/Module.h"

namespace dsm::compiler {

using namespace llvm;

namespace {

constexpr const char* kSharedData = "dsm_shared_data";
constexpr const char* kSharedBss = "dsm_shared_bss";

bool IsShared(const GlobalVariable& v) {
  if (v.isThreadLocal()) return false;
  if (v.hasSection()) return v.getSection() == kSharedData || v.getSection() == kSharedBss;
  const AttributeSet attrs = v.getAttributes();
  return (attrs.hasAttribute("bss-section") && attrs.getAttribute("bss-section").getValueAsString() == kSharedBss) ||
         (attrs.hasAttribute("data-section") &&
          attrs.getAttribute("data-section").getValueAsString() == kSharedData);
}

}  // namespace

PreservedAnalyses SharedGuardsPass::run(Module& m, ModuleAnalysisManager&) {
  bool changed = false;
  for (GlobalVariable& guard : m.globals()) {
    StringRef name = guard.getName();
    if (!name.startswith("_ZGV") || guard.isDeclaration() || guard.isThreadLocal()) continue;
    // _ZGVZ1fvE1v guards _ZZ1fvE1v; _ZGVN1A1xE guards _ZN1A1xE.
    GlobalVariable* object = m.getGlobalVariable(("_Z" + name.drop_front(4)).str(), /*AllowInternal=*/true);
    if (object == nullptr || !IsShared(*object) || guard.hasSection()) continue;
    guard.addAttribute("bss-section", kSharedBss);
    guard.addAttribute("data-section", kSharedData);
    changed = true;
  }
  return changed ? PreservedAnalyses::none() : PreservedAnalyses::all();
}

}  // namespace dsm::compiler
