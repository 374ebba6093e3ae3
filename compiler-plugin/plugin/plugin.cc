// The dsmkit Clang plugin, loaded by dsm-clang with -fplugin=dsm-clang-plugin.so.
//
//  - Shared globals live in the sections dsm_shared_data (initialised) and
//    dsm_shared_bss (zero or dynamically initialised), which dsm_globals.ld
//    links as one window that the runtime maps onto the shared space. The
//    plugin marks a variable shared with the attributes `#pragma clang
//    section data=/bss=` would give it, so that LLVM picks the section by the
//    variable's initialiser.
//  - Zero-annotation mode (the default; plugin argument "no-auto-shared",
//    i.e. dsm-clang -fno-dsm-auto-shared, turns it off): every writable
//    global and static variable defined in the file is shared, as OpenMP
//    threads share them (set as Sema's `#pragma clang section` state, so
//    Sema applies it to every definition, static locals and template
//    instances included).
//  - `#pragma dsm shared` before a global (or static) declaration, or
//    `#pragma dsm shared(a, b)` naming globals declared earlier, shares those
//    variables in either mode; `#pragma dsm private` (same two forms) keeps
//    them per node (annotation "dsm_private").
//  - threadprivate variables are thread-local (Clang's default), so every
//    node has its own; the runtime implements copyin (omp_parallel.cc).
//  - `#pragma dsm parallel|for|parallel for|critical|barrier|single|master ...`
//    is the toolkit's spelling of the OpenMP directive of the same name: the
//    handler re-enters the tokens as `#pragma omp ...`, so Clang's OpenMP
//    parser checks the clauses and reports errors with their locations.
//  - OpenMP constructs the lock-based runtime cannot run (target, teams,
//    distribute, cancel, cancellation point, declare target, requires,
//    interop, dispatch) are compile-time errors at the construct.
//  - Explicit mode warns (-Wdsm-private-global) about every global or static
//    variable a parallel region uses, directly or through functions of the
//    file it calls, that is neither shared, read-only, thread-local nor
//    marked `#pragma dsm private`: every node would see its own copy.
// The parts: pragmas.cc, unsupported.cc, shared_use_check.cc (plugin.h).
// All state lives in the compiler instance's lifetime; Clang runs a plugin on
// one thread, so nothing here is synchronised.
#include "plugin.h"

#include "clang/AST/ASTConsumer.h"
#include "clang/AST/Attr.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Frontend/FrontendPluginRegistry.h"
#include "clang/Sema/Sema.h"
#include "clang/Sema/SemaConsumer.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dsm::plugin {

using namespace clang;

PluginState& State() {
  static PluginState state;
  return state;
}

void Error(DiagnosticsEngine& diags, SourceLocation loc, const std::string& text) {
  diags.Report(loc, diags.getCustomDiagID(DiagnosticsEngine::Error, "%0")) << text;
}

void Place(ASTContext& ctx, VarDecl* var, Placement placement, SourceLocation loc) {
  var->dropAttr<PragmaClangBSSSectionAttr>();
  var->dropAttr<PragmaClangDataSectionAttr>();
  if (placement == Placement::kPrivate) {
    var->addAttr(AnnotateAttr::CreateImplicit(ctx, kPrivateAnnotation, nullptr, 0, loc));
    return;
  }
  var->addAttr(PragmaClangBSSSectionAttr::CreateImplicit(ctx, kSharedBss, SourceRange(loc),
                                                         AttributeCommonInfo::AS_Pragma));
  var->addAttr(PragmaClangDataSectionAttr::CreateImplicit(ctx, kSharedData, SourceRange(loc),
                                                          AttributeCommonInfo::AS_Pragma));
}

bool IsMarkedShared(const VarDecl* var) {
  auto shared_name = [](llvm::StringRef name) { return name == kSharedData || name == kSharedBss; };
  for (const VarDecl* r : var->redecls()) {
    if (const auto* a = r->getAttr<PragmaClangBSSSectionAttr>(); a && shared_name(a->getName()))
      return true;
    if (const auto* a = r->getAttr<PragmaClangDataSectionAttr>(); a && shared_name(a->getName()))
      return true;
    if (const auto* a = r->getAttr<SectionAttr>(); a && shared_name(a->getName())) return true;
  }
  return false;
}

bool IsMarkedPrivate(const VarDecl* var) {
  for (const VarDecl* r : var->redecls()) {
    for (const auto* a : r->specific_attrs<AnnotateAttr>()) {
      if (a->getAnnotation() == kPrivateAnnotation) return true;
    }
  }
  return false;
}

namespace {

class DsmConsumer : public SemaConsumer {
 public:
  explicit DsmConsumer(CompilerInstance& ci) : ci_(ci) {}

  void InitializeSema(Sema& sema) override {
    State().sema = &sema;
    if (State().auto_shared) {
      // As if the file began with `#pragma clang section bss=... data=...`.
      SourceManager& sm = ci_.getSourceManager();
      SourceLocation at = sm.getLocForStartOfFile(sm.getMainFileID());
      sema.ActOnPragmaClangSection(at, Sema::PCSA_Set, Sema::PCSK_BSS, kSharedBss);
      sema.ActOnPragmaClangSection(at, Sema::PCSA_Set, Sema::PCSK_Data, kSharedData);
    }
  }
  void ForgetSema() override { State().sema = nullptr; }

  bool HandleTopLevelDecl(DeclGroupRef group) override {
    for (Decl* d : group) Matcher().HandleTopLevel(d);
    return true;
  }

  void HandleTranslationUnit(ASTContext& ctx) override {
    Matcher().Finish();
    ReportUnsupportedConstructs(ctx, ci_.getDiagnostics());
    // In zero-annotation mode every writable global is shared, and a private
    // one was marked so on purpose: nothing to warn about.
    if (!State().auto_shared)
      CheckSharedUses(ctx, ci_.getDiagnostics(), State().private_global_warning);
  }

 private:
  PlacementMatcher& Matcher() {
    if (!matcher_) matcher_.emplace(ci_.getASTContext(), ci_.getDiagnostics());
    return *matcher_;
  }

  CompilerInstance& ci_;
  std::optional<PlacementMatcher> matcher_;  // once the AST context exists
};

// Applies one -W flag for -Wdsm-private-global (without the -W); false if it
// is not one.
bool ApplyWarningFlag(const std::string& flag, WarningSettings& w) {
  if (flag == "dsm-private-global") {
    w.enabled = true;
  } else if (flag == "no-dsm-private-global") {
    w.enabled = false;
  } else if (flag == "error=dsm-private-global") {
    w.enabled = true;
    w.as_error = WarningSettings::AsError::kYes;
  } else if (flag == "no-error=dsm-private-global") {
    w.as_error = WarningSettings::AsError::kNo;
  } else {
    return false;
  }
  return true;
}

class DsmAction : public PluginASTAction {
 protected:
  std::unique_ptr<ASTConsumer> CreateASTConsumer(CompilerInstance& ci, llvm::StringRef) override {
    return std::make_unique<DsmConsumer>(ci);
  }
  bool ParseArgs(const CompilerInstance& ci, const std::vector<std::string>& args) override {
    PluginState& state = State();
    for (const std::string& a : args) {
      if (a == "no-auto-shared") {
        state.auto_shared = false;
      } else if (a == "auto-shared") {
        state.auto_shared = true;
      } else if (a.rfind("W", 0) != 0 ||
                 !ApplyWarningFlag(a.substr(1), state.private_global_warning)) {
        Error(ci.getDiagnostics(), SourceLocation(), "unknown dsm plugin argument '" + a + "'");
        return false;
      }
    }
    return true;
  }
  ActionType getActionType() override { return AddBeforeMainAction; }
};

}  // namespace

}  // namespace dsm::plugin

static clang::PragmaHandlerRegistry::Add<dsm::plugin::DsmPragmaHandler> dsm_pragmas(
    "dsm", "#pragma dsm directives");
static clang::FrontendPluginRegistry::Add<dsm::plugin::DsmAction> dsm_action(
    "dsm", "dsmkit shared data and checks");
