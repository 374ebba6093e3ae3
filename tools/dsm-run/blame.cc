#include "blame.h"

#include "dsm/common/exit_status.h"
#include "options.h"

namespace dsm::launcher {

Verdict Judge(const ExitFacts& f) {
  if (f.exit.signaled) return Verdict::kKilled;
  if (f.is_node) {
    // The runtime's own failure status: a dsmkit program, joined or not (it
    // could not reach the daemon, say), that reported its reason itself.
    if (!f.job_finished && f.exit.value == kExitJobFailed) return Verdict::kConsequence;
    // The daemon says "attached K" before node K can go on: a node that exits
    // otherwise without it never joined the job.
    if (!f.attached) return Verdict::kNeverJoined;
    if (f.is_node0) return Verdict::kNode0Exited;
  }
  if (f.exit.value != 0) return Verdict::kFailed;
  // Workers exit with status 0 once their daemon tells them that the job
  // finished, which may be before dsm-run sees node 0 go.
  return f.job_finished ? Verdict::kNormal : Verdict::kLeftEarly;
}

int FailureExitCode(const ExitInfo& e) {
  if (e.signaled) return 128 + e.value;
  return e.value != 0 ? e.value : kExitFailure;
}

}  // namespace dsm::launcher
