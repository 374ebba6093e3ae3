// OpenMP constructs the lock-based runtime cannot run (target in every form,
// teams, distribute, cancel, cancellation point, declare target, requires,
// interop, dispatch): an error at each, once the translation unit is parsed.
// One compiler instance, one thread.
#include "plugin.h"

#include "clang/AST/Attr.h"
#include "clang/AST/DeclOpenMP.h"
#include "clang/AST/RecursiveASTVisitor.h"
#include "clang/AST/StmtOpenMP.h"
#include "clang/Basic/OpenMPKinds.h"
#include "llvm/Frontend/OpenMP/OMPConstants.h"

#include <string>

namespace dsm::plugin {

using namespace clang;

namespace {

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
    Error(diags_, loc,
          "OpenMP construct '" + construct +
              "' is not supported by dsmkit (no devices, teams or cancellation "
              "across a distributed shared memory job)");
  }

  DiagnosticsEngine& diags_;
};

}  // namespace

void ReportUnsupportedConstructs(ASTContext& ctx, DiagnosticsEngine& diags) {
  UnsupportedFinder finder(diags);
  finder.TraverseDecl(ctx.getTranslationUnitDecl());
}

}  // namespace dsm::plugin
