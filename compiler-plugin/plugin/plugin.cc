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
// All state lives in the compiler instance's lifetime; Clang runs a plugin on
// one thread, so nothing here is synchronised.
#include "clang/AST/ASTConsumer.h"
#include "clang/AST/ASTContext.h"
#include "clang/AST/Attr.h"
#include "clang/AST/Expr.h"
#include "clang/AST/RecursiveASTVisitor.h"
#include "clang/AST/StmtOpenMP.h"
#include "clang/Basic/OpenMPKinds.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Frontend/FrontendPluginRegistry.h"
#include "clang/Lex/Pragma.h"
#include "clang/Lex/Preprocessor.h"
#include "clang/Sema/Lookup.h"
#include "clang/Sema/Sema.h"
#include "clang/Sema/SemaConsumer.h"
#include "llvm/Frontend/OpenMP/OMPConstants.h"

#include <memory>
#include <string>
#include <vector>

namespace {

using namespace clang;

constexpr const char* kSharedData = "dsm_shared_data";
constexpr const char* kSharedBss = "dsm_shared_bss";

enum class Placement { kShared, kPrivate };

// A `#pragma dsm shared|private` waiting for the declaration after it.
struct PendingPlacement {
  Placement placement;
  SourceLocation loc;
};

// What the pragma handler hands the AST side: placements waiting for their
// declarations (in source order), and the Sema that resolves names of earlier
// ones.
struct PluginState {
  Sema* sema = nullptr;
  bool auto_shared = true;
  std::vector<PendingPlacement> pending;
};

constexpr const char* kDanglingPlacement =
    "'#pragma dsm shared' and 'private' must precede a global or static variable declaration";

PluginState& State() {
  static PluginState state;
  return state;
}

void Place(ASTContext& ctx, VarDecl* var, Placement placement, SourceLocation loc) {
  var->dropAttr<PragmaClangBSSSectionAttr>();
  var->dropAttr<PragmaClangDataSectionAttr>();
  if (placement == Placement::kPrivate) {
    var->addAttr(AnnotateAttr::CreateImplicit(ctx, "dsm_private", nullptr, 0, loc));
    return;
  }
  var->addAttr(PragmaClangBSSSectionAttr::CreateImplicit(ctx, kSharedBss, SourceRange(loc),
                                                         AttributeCommonInfo::AS_Pragma));
  var->addAttr(PragmaClangDataSectionAttr::CreateImplicit(ctx, kSharedData, SourceRange(loc),
                                                          AttributeCommonInfo::AS_Pragma));
}

void Error(DiagnosticsEngine& diags, SourceLocation loc, const std::string& text) {
  diags.Report(loc, diags.getCustomDiagID(DiagnosticsEngine::Error, "%0")) << text;
}

bool IsDirective(const std::string& name) {
  return name == "parallel" || name == "for" || name == "critical" || name == "barrier" ||
         name == "single" || name == "master";
}

// Handles every `#pragma dsm ...`.
class DsmPragmaHandler : public PragmaHandler {
 public:
  DsmPragmaHandler() : PragmaHandler("dsm") {}

  void HandlePragma(Preprocessor& pp, PragmaIntroducer introducer, Token& first) override {
    Token tok;
    pp.Lex(tok);
    if (tok.is(tok::eod)) {
      Error(pp.getDiagnostics(), tok.getLocation(),
            "expected a dsm directive (shared, private, parallel, for, critical, barrier, "
            "single, master)");
      return;
    }
    std::string name = pp.getSpelling(tok);
    if (name == "shared" || name == "private") {
      HandlePlacement(pp, tok, name == "shared" ? Placement::kShared : Placement::kPrivate);
      return;
    }
    if (!IsDirective(name)) {
      Error(pp.getDiagnostics(), tok.getLocation(), "unknown dsm directive '" + name + "'");
      pp.DiscardUntilEndOfDirective();
      return;
    }
    if (!pp.getLangOpts().OpenMP) {
      Error(pp.getDiagnostics(), tok.getLocation(),
            "'#pragma dsm " + name + "' needs OpenMP code generation (compile with dsm-clang)");
      pp.DiscardUntilEndOfDirective();
      return;
    }
    // Re-enter the directive as an OpenMP pragma, as Clang's own handler does.
    std::vector<Token> toks;
    Token annot;
    annot.startToken();
    annot.setKind(tok::annot_pragma_openmp);
    annot.setLocation(introducer.Loc);
    toks.push_back(annot);
    while (tok.isNot(tok::eod) && tok.isNot(tok::eof)) {
      toks.push_back(tok);
      pp.Lex(tok);
    }
    Token end;
    end.startToken();
    end.setKind(tok::annot_pragma_openmp_end);
    end.setLocation(tok.getLocation());
    toks.push_back(end);
    auto buffer = std::make_unique<Token[]>(toks.size());
    std::copy(toks.begin(), toks.end(), buffer.get());
    pp.EnterTokenStream(std::move(buffer), toks.size(), /*DisableMacroExpansion=*/false,
                        /*IsReinject=*/false);
  }

 private:
  // `shared` / `private` alone (applies to the next declaration) or with a
  // parenthesised list of earlier globals.
  static void HandlePlacement(Preprocessor& pp, const Token& keyword, Placement placement) {
    DiagnosticsEngine& diags = pp.getDiagnostics();
    Token tok;
    pp.Lex(tok);
    if (tok.is(tok::eod)) {
      State().pending.push_back({placement, keyword.getLocation()});
      return;
    }
    if (tok.isNot(tok::l_paren)) {
      Error(diags, tok.getLocation(), "expected '(' or end of line after '#pragma dsm " +
                                          pp.getSpelling(keyword) + "'");
      pp.DiscardUntilEndOfDirective();
      return;
    }
    std::vector<Token> names;
    while (true) {
      pp.Lex(tok);
      if (tok.isNot(tok::identifier)) {
        Error(diags, tok.getLocation(), "expected a variable name");
        if (tok.isNot(tok::eod)) pp.DiscardUntilEndOfDirective();
        return;
      }
      names.push_back(tok);
      pp.Lex(tok);
      if (tok.is(tok::comma)) continue;
      if (tok.is(tok::r_paren)) break;
      Error(diags, tok.getLocation(), "expected ',' or ')'");
      if (tok.isNot(tok::eod)) pp.DiscardUntilEndOfDirective();
      return;
    }
    pp.Lex(tok);
    if (tok.isNot(tok::eod)) {
      Error(diags, tok.getLocation(), "extra tokens after '#pragma dsm " +
                                          pp.getSpelling(keyword) + "(...)'");
      pp.DiscardUntilEndOfDirective();
    }
    Sema* sema = State().sema;
    if (sema == nullptr) return;
    for (const Token& name : names) {
      LookupResult lookup(*sema, name.getIdentifierInfo(), name.getLocation(),
                          Sema::LookupOrdinaryName);
      sema->LookupName(lookup, sema->getCurScope());
      auto* var = lookup.isSingleResult() ? dyn_cast<VarDecl>(lookup.getFoundDecl()) : nullptr;
      if (var == nullptr || !var->hasGlobalStorage()) {
        Error(diags, name.getLocation(), "'" + pp.getSpelling(name) +
                                             "' is not a global or static variable");
        continue;
      }
      Place(sema->getASTContext(), var, placement, name.getLocation());
    }
  }
};

// Reports OpenMP constructs the runtime cannot run.
class UnsupportedFinder : public RecursiveASTVisitor<UnsupportedFinder> {
 public:
  explicit UnsupportedFinder(DiagnosticsEngine& diags) : diags_(diags) {}

  bool VisitOMPExecutableDirective(OMPExecutableDirective* d) {
    llvm::omp::Directive kind = d->getDirectiveKind();
    bool unsupported = isOpenMPTargetExecutionDirective(kind) ||
                       isOpenMPTargetDataManagementDirective(kind) ||
                       isOpenMPTeamsDirective(kind) || isOpenMPDistributeDirective(kind) ||
                       kind == llvm::omp::OMPD_cancel ||
                       kind == llvm::omp::OMPD_cancellation_point ||
                       kind == llvm::omp::OMPD_interop || kind == llvm::omp::OMPD_dispatch;
    if (unsupported) Report(d->getBeginLoc(), llvm::omp::getOpenMPDirectiveName(kind).str());
    return true;
  }

  bool VisitDecl(Decl* d) {
    const auto* attr = d->getAttr<OMPDeclareTargetDeclAttr>();
    // Sema creates this attribute as implicit even for the written directive.
    if (attr != nullptr) {
      SourceLocation at = attr->getRange().getBegin();
      Report(at.isValid() ? at : d->getLocation(), "declare target");
    }
    if (isa<OMPRequiresDecl>(d)) Report(d->getLocation(), "requires");
    return true;
  }

 private:
  void Report(SourceLocation loc, const std::string& construct) {
    Error(diags_, loc, "OpenMP construct '" + construct +
                           "' is not supported by dsmkit (no devices, teams or cancellation "
                           "across a distributed shared memory job)");
  }

  DiagnosticsEngine& diags_;
};

// The variables declared in a function body, in source order (the places a
// `#pragma dsm shared` inside a function may point at).
class LocalVarCollector : public RecursiveASTVisitor<LocalVarCollector> {
 public:
  bool VisitVarDecl(VarDecl* var) {
    if (!isa<ParmVarDecl>(var)) vars.push_back(var);
    return true;
  }
  std::vector<VarDecl*> vars;
};

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
    for (Decl* d : group) Visit(d);
    return true;
  }

  void HandleTranslationUnit(ASTContext& ctx) override {
    PluginState& state = State();
    for (const PendingPlacement& p : state.pending)
      Error(ci_.getDiagnostics(), p.loc, kDanglingPlacement);
    state.pending.clear();
    UnsupportedFinder finder(ci_.getDiagnostics());
    finder.TraverseDecl(ctx.getTranslationUnitDecl());
  }

 private:
  // A pragma is lexed as the parser's lookahead, before the declaration that
  // precedes it reaches the consumer: pragmas apply only to declarations
  // after them, the last one before a declaration is its own, and an earlier
  // one had no variable. Every variable of one declaration (`int a, b;`)
  // gets its placement.
  void Visit(Decl* d) {
    if (auto* ns = dyn_cast<NamespaceDecl>(d)) {
      for (Decl* inner : ns->decls()) Visit(inner);
      return;
    }
    if (auto* linkage = dyn_cast<LinkageSpecDecl>(d)) {
      for (Decl* inner : linkage->decls()) Visit(inner);
      return;
    }
    Match(d);
    auto* fn = dyn_cast<FunctionDecl>(d);
    if (fn == nullptr || !fn->doesThisDeclarationHaveABody() || State().pending.empty()) return;
    // A static local after a pragma inside the body.
    LocalVarCollector locals;
    locals.TraverseStmt(fn->getBody());
    for (VarDecl* var : locals.vars) Match(var);
    // A pragma left before the closing brace had no variable after it.
    std::vector<PendingPlacement>& pending = State().pending;
    SourceManager& sm = ci_.getSourceManager();
    while (!pending.empty() && sm.isBeforeInTranslationUnit(pending.front().loc, fn->getEndLoc())) {
      Error(ci_.getDiagnostics(), pending.front().loc, kDanglingPlacement);
      pending.erase(pending.begin());
    }
  }

  void Match(Decl* d) {
    auto* var = dyn_cast<VarDecl>(d);
    bool global_var = var != nullptr && var->hasGlobalStorage();
    if (global_var && last_placed_begin_.isValid() && var->getBeginLoc() == last_placed_begin_) {
      Place(ci_.getASTContext(), var, last_placement_, var->getLocation());
      return;
    }
    last_placed_begin_ = SourceLocation();
    std::vector<PendingPlacement>& pending = State().pending;
    SourceManager& sm = ci_.getSourceManager();
    SourceLocation loc = d->getLocation();
    if (loc.isInvalid()) return;
    size_t before = 0;
    while (before < pending.size() && sm.isBeforeInTranslationUnit(pending[before].loc, loc))
      ++before;
    if (before == 0) return;
    for (size_t i = 0; i + 1 < before; ++i)
      Error(ci_.getDiagnostics(), pending[i].loc, kDanglingPlacement);
    PendingPlacement own = pending[before - 1];
    pending.erase(pending.begin(), pending.begin() + static_cast<long>(before));
    if (!global_var) {
      Error(ci_.getDiagnostics(), own.loc, kDanglingPlacement);
      return;
    }
    Place(ci_.getASTContext(), var, own.placement, own.loc);
    last_placed_begin_ = var->getBeginLoc();
    last_placement_ = own.placement;
  }

  CompilerInstance& ci_;
  SourceLocation last_placed_begin_;  // start of the declaration last placed
  Placement last_placement_ = Placement::kShared;
};

class DsmAction : public PluginASTAction {
 protected:
  std::unique_ptr<ASTConsumer> CreateASTConsumer(CompilerInstance& ci, llvm::StringRef) override {
    return std::make_unique<DsmConsumer>(ci);
  }
  bool ParseArgs(const CompilerInstance& ci, const std::vector<std::string>& args) override {
    for (const std::string& a : args) {
      if (a == "no-auto-shared") {
        State().auto_shared = false;
      } else if (a == "auto-shared") {
        State().auto_shared = true;
      } else {
        Error(ci.getDiagnostics(), SourceLocation(), "unknown dsm plugin argument '" + a + "'");
        return false;
      }
    }
    return true;
  }
  ActionType getActionType() override { return AddBeforeMainAction; }
};

}  // namespace

static PragmaHandlerRegistry::Add<DsmPragmaHandler> dsm_pragmas("dsm", "#pragma dsm directives");
static FrontendPluginRegistry::Add<DsmAction> dsm_action("dsm", "dsmkit shared data and checks");
