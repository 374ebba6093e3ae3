// The far side of a job's ssh session (remote.h): `dsm-run --agent daemon|node
// ...`, a mode of dsm-run that --help does not show.
//
// The agent starts one child, the host's daemon or a node, in a process
// group of its own that dies with the agent (PR_SET_PDEATHSIG), and stays
// until one of these happens:
//   - the child exits: whatever is left of its process group is killed, the
//     agent removes what it made and exits with the child's status (128+S
//     when signal S killed it, said on stderr);
//   - the session is gone (end of file on the daemon agent's stdin, or
//     stdout's reader gone: dsm-run's ssh died, was killed, or lost its
//     connection), or a SIGTERM/SIGINT/SIGHUP/SIGUSR1 arrives (SIGTERM is
//     also sent when the agent's parent, sshd or slurmstepd, dies; SIGUSR1
//     is what srun passes on when dsm-run ends the job, remote.h): the
//     child's group gets SIGTERM, SIGKILL
//     one second later; then the same cleanup.
// The daemon's agent makes the host's private directory (mode 0700; it must
// not exist), reads the key block from stdin and hands it to the daemon on a
// pipe (--keys-fd), writes a staged program there, gives the daemon its own
// stdout as the status pipe (--ready-fd) and its stderr as the daemon's
// stdout and stderr, and removes the directory and everything in it at the
// end. A node's agent gives the node its own stdin, stdout and stderr, the
// environment plus --env, and address-space randomisation off (as dsm-run
// does for local nodes). Both start the child in --cwd when it exists.
//
// Single thread; forks.
#pragma once

#include <string>
#include <vector>

namespace dsm::launcher {

// Runs the agent with the arguments after "--agent"; returns the process's
// exit status.
int RunAgent(const std::vector<std::string>& args);

}  // namespace dsm::launcher
