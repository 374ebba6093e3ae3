// Who is to blame: what the exit of one process of a job means, judged from
// what dsm-run knows when it sees that exit.
//
// Used only while the job runs and no daemon has named a culprit yet (a
// "lost <node>" or "lost-host <host>" line names one; then only the culprit's
// own exit matters). When several exits are seen at once they are handled in
// the order of Verdict below, so the likeliest root cause is named first: a
// death by a signal before an error exit, an error exit before node 0's
// normal one, and a node that stopped because of a failure elsewhere last,
// after its cause has had a chance to show up.
//
// Pure functions; thread-safe.
#pragma once

#include "spawn.h"

namespace dsm::launcher {

// In the order exits seen together are handled.
enum class Verdict {
  kKilled,       // a signal killed it: the failure, named at once
  kFailed,       // a daemon or a node other than node 0 exited with a non-zero
                 // status: the failure, named at once
  kNode0Exited,  // node 0 exited: the job ends with its status (the others wind down)
  kLeftEarly,    // a daemon or worker exited with status 0 before the job finished:
                 // a failure, named at once
  kNormal,       // a daemon or worker exited with status 0 after the job finished
  kConsequence,  // a node exited with the runtime's kExitJobFailed before the job
                 // finished: it stopped because of a failure elsewhere (the
                 // daemon died, another node left), which is awaited for a
                 // moment before this node is named
  kNeverJoined,  // a node exited without ever joining the job: the program is not
                 // linked with libdsm (named with that hint)
};

// What dsm-run knows about one exit.
struct ExitFacts {
  bool is_node = false;  // false: a daemon
  bool is_node0 = false;
  bool attached = false;      // a node: its daemon said "attached <node>"
  bool job_finished = false;  // a daemon said "finished <status>"
  ExitInfo exit;
};

Verdict Judge(const ExitFacts& facts);

// dsm-run's exit status when this exit is the job's failure: the exit status,
// 128 + the signal, or 1 for a status 0 that was not a success.
int FailureExitCode(const ExitInfo& exit);

}  // namespace dsm::launcher
