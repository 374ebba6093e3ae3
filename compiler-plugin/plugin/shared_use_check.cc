// -Wdsm-private-global: in explicit mode (-fno-dsm-auto-shared) only
// variables marked `#pragma dsm shared` live in the shared space; any other
// writable global or static has one copy per node. This check finds every
// such variable that a parallel region uses and warns at the use, with the
// chain of calls that leads there and a note at the variable.
//
// A parallel region is an OpenMP parallel directive (any combined form, the
// `#pragma dsm` spellings included) or a function passed to dsm_parallel. It
// uses what its statement uses (tasks, worksharing loops, lambdas inside it
// included), what the data-sharing clauses of the region read or write
// (firstprivate, lastprivate, reduction, linear: evaluated on every node),
// and, transitively, what the functions it calls or names use when their
// bodies are in this translation unit. A `private(v)` clause gives the code
// under it its own v, so those uses are not uses of the global.
//
// Not warned about: const (constexpr) variables without mutable members,
// thread-local and threadprivate ones, those marked `#pragma dsm shared` (or
// put in a dsm_shared_* section with an attribute) or `#pragma dsm private`,
// references, and variables declared in system headers. An `extern` variable
// defined elsewhere counts as shared only if the declaration seen here is
// marked. Each variable is reported once per region, at its first use (direct
// uses before those in called functions), and each use once per file.
//
// Clang 14 gives a plugin's diagnostics no group, so the flag is handled here:
// -w silences the warning, -Werror makes it an error, and the plugin
// arguments from dsm-clang's -W[no-][error=]dsm-private-global decide first.
//
// Cost: one walk of each region and of each reachable function body
// (summaries are cached per function), then a breadth-first search per
// region over the call graph. One compiler instance, one thread.
#include "plugin.h"

#include "clang/AST/Attr.h"
#include "clang/AST/DeclCXX.h"
#include "clang/AST/ExprCXX.h"
#include "clang/AST/ExprObjC.h"
#include "clang/AST/OpenMPClause.h"
#include "clang/AST/RecursiveASTVisitor.h"
#include "clang/AST/StmtOpenMP.h"
#include "clang/Basic/OpenMPKinds.h"
#include "clang/Basic/SourceManager.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#include <memory>
#include <utility>
#include <vector>

namespace dsm::plugin {

using namespace clang;

namespace {

constexpr char kWarningText[] =
    "parallel region uses %0 %q1, which is not shared: every node has its own copy "
    "[-Wdsm-private-global]";

// True for a variable whose per-node copies would silently diverge when a
// parallel region uses it.
bool IsPrivateWritableGlobal(const VarDecl* var, const ASTContext& ctx) {
  if (!var->hasGlobalStorage() || var->isImplicit()) return false;
  if (var->getType()->isReferenceType()) return false;
  if (var->getTLSKind() != VarDecl::TLS_None) return false;
  if (ctx.getSourceManager().isInSystemHeader(var->getCanonicalDecl()->getLocation()))
    return false;
  QualType type = var->getType();
  if (type.isConstant(ctx)) {
    const CXXRecordDecl* record = ctx.getBaseElementType(type)->getAsCXXRecordDecl();
    if (record == nullptr || !record->hasDefinition() || !record->hasMutableFields()) return false;
  }
  for (const VarDecl* r : var->redecls()) {
    if (r->hasAttr<OMPThreadPrivateDeclAttr>()) return false;
  }
  return !IsMarkedShared(var) && !IsMarkedPrivate(var);
}

const FunctionDecl* DefinitionOf(const FunctionDecl* fn) {
  const FunctionDecl* def = nullptr;
  if (fn == nullptr || !fn->hasBody(def) || def->isDependentContext()) return nullptr;
  return def;
}

struct Use {
  const VarDecl* var;  // canonical declaration
  SourceLocation loc;
};

struct Call {
  const FunctionDecl* callee;  // its definition
  SourceLocation loc;
};

// What a piece of code does that matters here: its first use of each
// candidate variable, in walking order, and the functions it calls or names.
struct Summary {
  std::vector<Use> uses;
  std::vector<Call> calls;
};

// Walks statements (not through calls) and fills a Summary.
class CodeWalker {
 public:
  CodeWalker(const ASTContext& ctx, Summary& out) : ctx_(ctx), out_(out) {}

  void WalkFunction(const FunctionDecl* fn) {
    if (const auto* ctor = dyn_cast<CXXConstructorDecl>(fn)) {
      for (const CXXCtorInitializer* init : ctor->inits()) Walk(init->getInit());
    }
    Walk(fn->getBody());
  }

  // The region's own directive: its statement and the clauses every node
  // evaluates (the others, like if and num_threads, run before the region).
  void WalkRegion(const OMPExecutableDirective* d) { WalkDirective(d, /*root=*/true); }

  void Walk(const Stmt* s) {
    if (s == nullptr) return;
    if (const auto* d = dyn_cast<OMPExecutableDirective>(s)) return WalkDirective(d, false);
    if (const auto* captured = dyn_cast<CapturedStmt>(s)) return Walk(captured->getCapturedStmt());
    if (const auto* ref = dyn_cast<DeclRefExpr>(s))
      return Refer(ref->getDecl(), ref->getLocation());
    if (const auto* member = dyn_cast<MemberExpr>(s)) {
      Refer(member->getMemberDecl(), member->getMemberLoc());
      return Walk(member->getBase());
    }
    if (isa<UnaryExprOrTypeTraitExpr>(s) || isa<CXXNoexceptExpr>(s)) return;  // unevaluated
    if (const auto* typeid_expr = dyn_cast<CXXTypeidExpr>(s)) {
      if (!typeid_expr->isPotentiallyEvaluated()) return;
    }
    if (const auto* generic = dyn_cast<GenericSelectionExpr>(s)) {
      if (!generic->isResultDependent()) Walk(generic->getResultExpr());
      return;
    }
    if (const auto* arg = dyn_cast<CXXDefaultArgExpr>(s)) return Walk(arg->getExpr());
    if (const auto* init = dyn_cast<CXXDefaultInitExpr>(s)) return Walk(init->getExpr());
    if (const auto* opaque = dyn_cast<OpaqueValueExpr>(s)) return Walk(opaque->getSourceExpr());
    if (const auto* lambda = dyn_cast<LambdaExpr>(s)) {
      for (const Expr* capture_init : lambda->capture_inits()) Walk(capture_init);
      return Walk(lambda->getBody());
    }
    if (const auto* block = dyn_cast<BlockExpr>(s)) return Walk(block->getBody());
    if (const auto* construct = dyn_cast<CXXConstructExpr>(s)) {
      Refer(construct->getConstructor(), construct->getLocation());
    } else if (const auto* temporary = dyn_cast<CXXBindTemporaryExpr>(s)) {
      Refer(temporary->getTemporary()->getDestructor(), temporary->getBeginLoc());
    } else if (const auto* alloc = dyn_cast<CXXNewExpr>(s)) {
      Refer(alloc->getOperatorNew(), alloc->getBeginLoc());
    } else if (const auto* free = dyn_cast<CXXDeleteExpr>(s)) {
      Refer(free->getOperatorDelete(), free->getBeginLoc());
      Destroy(free->getDestroyedType(), free->getBeginLoc());
    } else if (const auto* decls = dyn_cast<DeclStmt>(s)) {
      for (const Decl* d : decls->decls()) {
        if (const auto* var = dyn_cast<VarDecl>(d)) Destroy(var->getType(), var->getLocation());
      }
    }
    for (const Stmt* child : s->children()) Walk(child);
  }

 private:
  void WalkDirective(const OMPExecutableDirective* d, bool root) {
    size_t masked_before = masked_.size();
    for (const OMPClause* clause : d->clauses()) {
      if (clause == nullptr) continue;
      OpenMPClauseKind kind = clause->getClauseKind();
      if (kind == llvm::omp::OMPC_private) {
        MaskVarList(cast<OMPPrivateClause>(clause)->varlists());
        continue;
      }
      if (kind == llvm::omp::OMPC_shared) continue;  // names, evaluates nothing
      bool per_node = kind == llvm::omp::OMPC_firstprivate ||
                      kind == llvm::omp::OMPC_lastprivate ||
                      kind == llvm::omp::OMPC_reduction || kind == llvm::omp::OMPC_linear;
      if (root && !per_node) continue;
      for (const Stmt* child : clause->children()) Walk(child);
      // Reported at the clause; inside, the names mean the private copies.
      if (per_node) {
        for (const Stmt* child : clause->children()) Mask(dyn_cast_or_null<Expr>(child));
      }
    }
    // Loop counters are private to each thread.
    if (const auto* loop = dyn_cast<OMPLoopDirective>(d)) {
      for (const Expr* counter : loop->counters()) Mask(counter);
    }
    for (const Stmt* child : d->children()) Walk(child);
    masked_.resize(masked_before);
  }

  template <typename Range>
  void MaskVarList(Range vars) {
    for (const Expr* e : vars) Mask(e);
  }

  void Mask(const Expr* e) {
    if (e == nullptr) return;
    if (const auto* ref = dyn_cast<DeclRefExpr>(e->IgnoreParenImpCasts())) {
      if (const auto* var = dyn_cast<VarDecl>(ref->getDecl()))
        masked_.push_back(var->getCanonicalDecl());
    }
  }

  // Running the destructor of `type` (a local going out of scope, a delete).
  void Destroy(QualType type, SourceLocation loc) {
    const CXXRecordDecl* record = ctx_.getBaseElementType(type)->getAsCXXRecordDecl();
    if (record != nullptr && record->hasDefinition()) Refer(record->getDestructor(), loc);
  }

  void Refer(const ValueDecl* decl, SourceLocation loc) {
    if (decl == nullptr) return;
    if (const auto* fn = dyn_cast<FunctionDecl>(decl)) {
      const FunctionDecl* def = DefinitionOf(fn);
      if (def != nullptr && called_.insert(def).second) out_.calls.push_back({def, loc});
      return;
    }
    const auto* var = dyn_cast<VarDecl>(decl);
    if (var == nullptr) return;
    var = var->getCanonicalDecl();
    for (const VarDecl* m : masked_) {
      if (m == var) return;
    }
    if (used_.contains(var) || !IsPrivateWritableGlobal(var, ctx_)) return;
    used_.insert(var);
    out_.uses.push_back({var, loc});
  }

  const ASTContext& ctx_;
  Summary& out_;
  std::vector<const VarDecl*> masked_;  // privatised by an enclosing directive
  llvm::DenseSet<const VarDecl*> used_;
  llvm::DenseSet<const FunctionDecl*> called_;
};

// Where parallel regions start: OpenMP parallel directives, and functions
// handed to dsm_parallel. Template patterns are skipped; their instances are
// visited.
class RegionFinder : public RecursiveASTVisitor<RegionFinder> {
 public:
  struct DsmParallel {
    const FunctionDecl* fn;  // definition
    SourceLocation loc;      // the argument naming it
  };

  bool shouldVisitTemplateInstantiations() const { return true; }

  bool TraverseDecl(Decl* d) {
    if (const auto* dc = dyn_cast_or_null<DeclContext>(d); dc && dc->isDependentContext())
      return true;
    return RecursiveASTVisitor::TraverseDecl(d);
  }

  bool VisitOMPExecutableDirective(OMPExecutableDirective* d) {
    if (isOpenMPParallelDirective(d->getDirectiveKind())) directives.push_back(d);
    return true;
  }

  bool VisitCallExpr(CallExpr* call) {
    const FunctionDecl* callee = call->getDirectCallee();
    if (callee == nullptr || callee->getIdentifier() == nullptr ||
        callee->getName() != "dsm_parallel" || call->getNumArgs() < 1 ||
        !callee->getDeclContext()->getRedeclContext()->isTranslationUnit())
      return true;
    const Expr* arg = call->getArg(0)->IgnoreParenImpCasts();
    if (const auto* address = dyn_cast<UnaryOperator>(arg);
        address && address->getOpcode() == UO_AddrOf)
      arg = address->getSubExpr()->IgnoreParenImpCasts();
    const auto* ref = dyn_cast<DeclRefExpr>(arg);
    const FunctionDecl* def = ref ? DefinitionOf(dyn_cast<FunctionDecl>(ref->getDecl())) : nullptr;
    if (def != nullptr) dsm_parallels.push_back({def, ref->getLocation()});
    return true;
  }

  std::vector<const OMPExecutableDirective*> directives;
  std::vector<DsmParallel> dsm_parallels;
};

class Reporter {
 public:
  Reporter(ASTContext& ctx, DiagnosticsEngine& diags, bool as_error)
      : ctx_(ctx), diags_(diags) {
    warning_ = diags.getCustomDiagID(as_error ? DiagnosticsEngine::Error
                                              : DiagnosticsEngine::Warning, kWarningText);
    called_from_region_ = diags.getCustomDiagID(
        DiagnosticsEngine::Note, "in %q0, called from a parallel region here");
    run_by_dsm_parallel_ = diags.getCustomDiagID(
        DiagnosticsEngine::Note, "in %q0, run as a parallel region by dsm_parallel here");
    called_ = diags.getCustomDiagID(DiagnosticsEngine::Note, "in %q0, called here");
    declared_ = diags.getCustomDiagID(
        DiagnosticsEngine::Note,
        "%q0 is declared here; '#pragma dsm shared' shares it, '#pragma dsm private' keeps "
        "a copy per node");
  }

  void CheckDirective(const OMPExecutableDirective* d) {
    Summary direct;
    CodeWalker(ctx_, direct).WalkRegion(d);
    CheckRegion(direct, {});
  }

  void CheckDsmParallel(const FunctionDecl* fn, SourceLocation loc) {
    CheckRegion(SummaryOf(fn), {Step{fn, loc, -1, run_by_dsm_parallel_}});
  }

 private:
  // One function reached from a region: how (the call, which step called
  // it, the note to give) is kept to explain a use in it.
  struct Step {
    const FunctionDecl* fn;
    SourceLocation loc;
    int parent;  // index into the steps, -1: called by the region itself
    unsigned note;
  };

  // Breadth first from the region, so a variable is reported where the
  // region reaches it most directly. `steps` holds the region's own function
  // when it is one (dsm_parallel).
  void CheckRegion(const Summary& direct, std::vector<Step> steps) {
    llvm::DenseSet<const VarDecl*> reported;
    llvm::DenseSet<const FunctionDecl*> reached;
    for (const Step& s : steps) reached.insert(s.fn);
    const int root = steps.empty() ? -1 : 0;
    auto visit = [&](const Summary& summary, int at) {
      for (const Use& use : summary.uses) Report(use, at, steps, reported);
      for (const Call& call : summary.calls) {
        if (reached.insert(call.callee).second)
          steps.push_back({call.callee, call.loc, at, at < 0 ? called_from_region_ : called_});
      }
    };
    visit(direct, root);
    for (size_t i = root + 1; i < steps.size(); ++i) {
      visit(SummaryOf(steps[i].fn), static_cast<int>(i));
    }
  }

  void Report(const Use& use, int at, const std::vector<Step>& steps,
              llvm::DenseSet<const VarDecl*>& reported) {
    if (!reported.insert(use.var).second) return;
    if (!reported_uses_.insert({use.var, use.loc.getRawEncoding()}).second) return;
    SourceManager& sm = ctx_.getSourceManager();
    if (diags_.getSuppressSystemWarnings() && sm.isInSystemHeader(use.loc)) return;
    diags_.Report(use.loc, warning_) << KindOf(use.var) << use.var;
    for (int i = at; i >= 0; i = steps[i].parent) {
      if (sm.isInSystemHeader(steps[i].loc)) continue;
      diags_.Report(steps[i].loc, steps[i].note) << steps[i].fn;
    }
    const VarDecl* decl = use.var->getDefinition();
    if (decl == nullptr) decl = use.var->getActingDefinition();
    if (decl == nullptr) decl = use.var;
    diags_.Report(decl->getLocation(), declared_) << use.var;
  }

  static const char* KindOf(const VarDecl* var) {
    if (var->isStaticDataMember()) return "static data member";
    if (var->isStaticLocal()) return "static local variable";
    return "global variable";
  }

  const Summary& SummaryOf(const FunctionDecl* fn) {
    std::unique_ptr<Summary>& slot = summaries_[fn];
    if (!slot) {
      slot = std::make_unique<Summary>();
      CodeWalker(ctx_, *slot).WalkFunction(fn);
    }
    return *slot;
  }

  ASTContext& ctx_;
  DiagnosticsEngine& diags_;
  unsigned warning_, called_from_region_, run_by_dsm_parallel_, called_, declared_;
  llvm::DenseMap<const FunctionDecl*, std::unique_ptr<Summary>> summaries_;
  llvm::DenseSet<std::pair<const VarDecl*, unsigned>> reported_uses_;
};

}  // namespace

void CheckSharedUses(ASTContext& ctx, DiagnosticsEngine& diags, const WarningSettings& settings) {
  if (!settings.enabled || diags.getIgnoreAllWarnings()) return;
  bool as_error = settings.as_error == WarningSettings::AsError::kDefault
                      ? diags.getWarningsAsErrors()
                      : settings.as_error == WarningSettings::AsError::kYes;
  RegionFinder finder;
  finder.TraverseDecl(ctx.getTranslationUnitDecl());
  Reporter reporter(ctx, diags, as_error);
  for (const OMPExecutableDirective* d : finder.directives) reporter.CheckDirective(d);
  for (const RegionFinder::DsmParallel& p : finder.dsm_parallels)
    reporter.CheckDsmParallel(p.fn, p.loc);
}

}  // namespace dsm::plugin
