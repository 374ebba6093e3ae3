// `#pragma dsm ...`: the pragma handler (run by the preprocessor, in source
// order) and the matcher that gives a `#pragma dsm shared|private` to the
// declaration after it (run on each top-level declaration the parser
// finishes). See plugin.h for the pieces; one compiler instance, one thread.
#include "plugin.h"

#include "clang/AST/Attr.h"
#include "clang/AST/DeclCXX.h"
#include "clang/AST/RecursiveASTVisitor.h"
#include "clang/Lex/Preprocessor.h"
#include "clang/Sema/Lookup.h"
#include "clang/Sema/Sema.h"

#include <memory>
#include <string>
#include <vector>

namespace dsm::plugin {

using namespace clang;

namespace {

constexpr const char* kDanglingPlacement =
    "'#pragma dsm shared' and 'private' must precede a global or static variable declaration";

bool IsDirective(const std::string& name) {
  return name == "parallel" || name == "for" || name == "critical" || name == "barrier" ||
         name == "single" || name == "master";
}

// `shared` / `private` alone (applies to the next declaration) or with a
// parenthesised list of earlier globals.
void HandlePlacement(Preprocessor& pp, const Token& keyword, Placement placement) {
  DiagnosticsEngine& diags = pp.getDiagnostics();
  Token tok;
  pp.Lex(tok);
  if (tok.is(tok::eod)) {
    State().pending.push_back({placement, keyword.getLocation()});
    return;
  }
  if (tok.isNot(tok::l_paren)) {
    Error(diags, tok.getLocation(),
          "expected '(' or end of line after '#pragma dsm " + pp.getSpelling(keyword) + "'");
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
    Error(diags, tok.getLocation(),
          "extra tokens after '#pragma dsm " + pp.getSpelling(keyword) + "(...)'");
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
      Error(diags, name.getLocation(),
            "'" + pp.getSpelling(name) + "' is not a global or static variable");
      continue;
    }
    Place(sema->getASTContext(), var, placement, name.getLocation());
  }
}

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

}  // namespace

void DsmPragmaHandler::HandlePragma(Preprocessor& pp, PragmaIntroducer introducer, Token&) {
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

void PlacementMatcher::HandleTopLevel(Decl* d) { Visit(d); }

void PlacementMatcher::Finish() {
  std::vector<PendingPlacement>& pending = State().pending;
  for (const PendingPlacement& p : pending) Error(diags_, p.loc, kDanglingPlacement);
  pending.clear();
}

// A pragma is lexed as the parser's lookahead, before the declaration that
// precedes it reaches the consumer: pragmas apply only to declarations after
// them, the last one before a declaration is its own, and an earlier one had
// no variable. Every variable of one declaration (`int a, b;`) gets its
// placement. Members of a class are matched in order (a static data member
// may be marked in the class body); a pragma before a non-static member is an
// error like any pragma without a variable.
void PlacementMatcher::Visit(Decl* d) {
  if (auto* ns = dyn_cast<NamespaceDecl>(d)) {
    for (Decl* inner : ns->decls()) Visit(inner);
    return;
  }
  if (auto* linkage = dyn_cast<LinkageSpecDecl>(d)) {
    for (Decl* inner : linkage->decls()) Visit(inner);
    return;
  }
  Match(d);
  std::vector<PendingPlacement>& pending = State().pending;
  if (pending.empty()) return;
  if (auto* record = dyn_cast<RecordDecl>(d)) {
    if (!record->isThisDeclarationADefinition() || record->isDependentContext()) return;
    for (Decl* member : record->decls()) {
      if (!member->isImplicit()) Visit(member);
    }
    DropPendingBefore(record->getBraceRange().getEnd());
    return;
  }
  auto* fn = dyn_cast<FunctionDecl>(d);
  if (fn == nullptr || !fn->doesThisDeclarationHaveABody()) return;
  // A static local after a pragma inside the body.
  LocalVarCollector locals;
  locals.TraverseStmt(fn->getBody());
  for (VarDecl* var : locals.vars) Match(var);
  DropPendingBefore(fn->getEndLoc());
}

// A pragma left before the closing brace had no variable after it.
void PlacementMatcher::DropPendingBefore(SourceLocation end) {
  std::vector<PendingPlacement>& pending = State().pending;
  SourceManager& sm = ctx_.getSourceManager();
  while (!pending.empty() && sm.isBeforeInTranslationUnit(pending.front().loc, end)) {
    Error(diags_, pending.front().loc, kDanglingPlacement);
    pending.erase(pending.begin());
  }
}

void PlacementMatcher::Match(Decl* d) {
  auto* var = dyn_cast<VarDecl>(d);
  bool global_var = var != nullptr && var->hasGlobalStorage();
  if (global_var && last_placed_begin_.isValid() && var->getBeginLoc() == last_placed_begin_) {
    Place(ctx_, var, last_placement_, var->getLocation());
    return;
  }
  last_placed_begin_ = SourceLocation();
  std::vector<PendingPlacement>& pending = State().pending;
  SourceManager& sm = ctx_.getSourceManager();
  SourceLocation loc = d->getLocation();
  if (loc.isInvalid()) return;
  size_t before = 0;
  while (before < pending.size() && sm.isBeforeInTranslationUnit(pending[before].loc, loc))
    ++before;
  if (before == 0) return;
  for (size_t i = 0; i + 1 < before; ++i) Error(diags_, pending[i].loc, kDanglingPlacement);
  PendingPlacement own = pending[before - 1];
  pending.erase(pending.begin(), pending.begin() + static_cast<long>(before));
  if (!global_var) {
    Error(diags_, own.loc, kDanglingPlacement);
    return;
  }
  Place(ctx_, var, own.placement, own.loc);
  last_placed_begin_ = var->getBeginLoc();
  last_placement_ = own.placement;
}

}  // namespace dsm::plugin
