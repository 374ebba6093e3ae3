// Internal interface between the parts of the dsmkit Clang plugin
// (dsm-clang-plugin.so; plugin.cc says what the plugin does):
//   plugin.cc            the AST consumer, the plugin action, the registries
//   pragmas.cc           `#pragma dsm ...` and matching placements to variables
//   unsupported.cc       errors for OpenMP constructs the runtime cannot run
//   shared_use_check.cc  -Wdsm-private-global (explicit mode)
// Everything here lives as long as one compiler instance; Clang runs a plugin
// on one thread, so nothing is synchronised.
#ifndef DSM_COMPILER_PLUGIN_PLUGIN_H_
#define DSM_COMPILER_PLUGIN_PLUGIN_H_

#include "clang/AST/ASTContext.h"
#include "clang/AST/Decl.h"
#include "clang/Basic/Diagnostic.h"
#include "clang/Basic/SourceLocation.h"
#include "clang/Lex/Pragma.h"

#include <string>
#include <vector>

namespace clang {
class Sema;
}  // namespace clang

namespace dsm::plugin {

// The sections shared globals go to (dsm_globals.ld gathers them).
inline constexpr const char* kSharedData = "dsm_shared_data";
inline constexpr const char* kSharedBss = "dsm_shared_bss";
// The annotation `#pragma dsm private` leaves on a variable.
inline constexpr const char* kPrivateAnnotation = "dsm_private";

enum class Placement { kShared, kPrivate };

// A `#pragma dsm shared|private` waiting for the declaration after it.
struct PendingPlacement {
  Placement placement;
  clang::SourceLocation loc;
};

// How -Wdsm-private-global is set: plugin arguments Wdsm-private-global,
// Wno-dsm-private-global, Werror=dsm-private-global, Wno-error=dsm-private-global
// (dsm-clang turns the -W flags into them), combined with clang's -w and -Werror.
struct WarningSettings {
  bool enabled = true;
  enum class AsError { kDefault, kYes, kNo } as_error = AsError::kDefault;
};

// What the pragma handler and the plugin's arguments hand the AST side.
struct PluginState {
  clang::Sema* sema = nullptr;  // set while Sema lives (to resolve `shared(a, b)` names)
  bool auto_shared = true;      // zero-annotation mode
  WarningSettings private_global_warning;
  std::vector<PendingPlacement> pending;  // in source order
};

// The one state of this compiler instance.
PluginState& State();

// Reports `text` as an error at `loc`.
void Error(clang::DiagnosticsEngine& diags, clang::SourceLocation loc, const std::string& text);

// Gives `var` the attributes of `placement` (replacing those of the other one).
void Place(clang::ASTContext& ctx, clang::VarDecl* var, Placement placement,
           clang::SourceLocation loc);

// Handles every `#pragma dsm ...` line (pragmas.cc).
class DsmPragmaHandler : public clang::PragmaHandler {
 public:
  DsmPragmaHandler() : clang::PragmaHandler("dsm") {}
  void HandlePragma(clang::Preprocessor& pp, clang::PragmaIntroducer introducer,
                    clang::Token& first) override;
};

// Gives the variables of each top-level declaration the placement of the
// pragma before them (pragmas.cc). Feed it every top-level declaration in
// order, then call Finish once at the end of the translation unit.
class PlacementMatcher {
 public:
  PlacementMatcher(clang::ASTContext& ctx, clang::DiagnosticsEngine& diags)
      : ctx_(ctx), diags_(diags) {}
  void HandleTopLevel(clang::Decl* d);
  void Finish();

 private:
  void Visit(clang::Decl* d);
  void Match(clang::Decl* d);
  void DropPendingBefore(clang::SourceLocation end);

  clang::ASTContext& ctx_;
  clang::DiagnosticsEngine& diags_;
  clang::SourceLocation last_placed_begin_;  // start of the declaration last placed
  Placement last_placement_ = Placement::kShared;
};

// Errors for OpenMP constructs the runtime cannot run (unsupported.cc).
void ReportUnsupportedConstructs(clang::ASTContext& ctx, clang::DiagnosticsEngine& diags);

// True when `var` is shared: marked `#pragma dsm shared` (or placed in a
// dsm_shared_* section some other way) on any of its declarations.
bool IsMarkedShared(const clang::VarDecl* var);
// True when `var` is marked `#pragma dsm private` on any of its declarations.
bool IsMarkedPrivate(const clang::VarDecl* var);

// -Wdsm-private-global: warns about every global or static variable a
// parallel region uses (directly, or in functions of this translation unit
// it calls) that is not shared (shared_use_check.cc).
void CheckSharedUses(clang::ASTContext& ctx, clang::DiagnosticsEngine& diags,
                     const WarningSettings& settings);

}  // namespace dsm::plugin

#endif  // DSM_COMPILER_PLUGIN_PLUGIN_H_
