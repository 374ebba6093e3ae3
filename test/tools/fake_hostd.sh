#!/bin/sh
# A stand-in for dsm-hostd in the launcher tests. It speaks only the start-up
# part of the daemon's command line contract:
#   dsm-hostd --socket PATH --nodes N --memory BYTES --ready-fd FD
#             --exit-when-done [--stats]
# and the lines it writes on FD ("ready", "attached <node>" for every node,
# then "finished <status>" or "lost <node>" when the job ends); then it waits
# until it is killed (it never serves anything). Those lines are written here
# as literal text; their definition is common/include/dsm/common/job_status.h.
#
# Environment:
#   FAKE_HOSTD_MODE     ready (default): create PATH, write "ready" to FD,
#                         close FD, wait. It never says that the job
#                         finished, so a worker exiting 0 is a failure.
#                       finished: like ready, but write "finished 0" right
#                         after "ready" (for jobs whose nodes all exit 0)
#                       script: create PATH, write "ready", then run the
#                         shell code in FAKE_HOSTD_SCRIPT (FD is in $fd),
#                         close FD, wait
#                       fail:  exit 2 without writing "ready"
#                       close: close FD without writing "ready", then wait
#                       die:   write "ready", then exit 3 at once
#   FAKE_HOSTD_SCRIPT   for the script mode
#   FAKE_HOSTD_ATTACH   all (default): after "ready", say every node
#                         attached (as if they ran dsmkit programs);
#                       none: never (the nodes never join the job)
#   FAKE_HOSTD_PIDFILE  write our pid there (atomically, via a rename)
#   FAKE_HOSTD_ARGS     write our arguments there, one per line
set -u

if [ -n "${FAKE_HOSTD_ARGS:-}" ]; then
  printf '%s\n' "$@" > "$FAKE_HOSTD_ARGS.tmp" && mv "$FAKE_HOSTD_ARGS.tmp" "$FAKE_HOSTD_ARGS"
fi
if [ -n "${FAKE_HOSTD_PIDFILE:-}" ]; then
  echo $$ > "$FAKE_HOSTD_PIDFILE.tmp" && mv "$FAKE_HOSTD_PIDFILE.tmp" "$FAKE_HOSTD_PIDFILE"
fi

socket=
ready_fd=
nodes=0
while [ $# -gt 0 ]; do
  case "$1" in
    --socket) socket=$2; shift 2 ;;
    --ready-fd) ready_fd=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --memory) shift 2 ;;
    *) shift ;;
  esac
done
case "$ready_fd" in
  [0-9]) ;;
  *) echo "fake_hostd: --ready-fd must be one digit for sh, got '$ready_fd'" >&2; exit 2 ;;
esac

# The "ready" line, and an "attached" line per node unless told otherwise.
ready_lines='ready\n'
if [ "${FAKE_HOSTD_ATTACH:-all}" = all ]; then
  k=0
  while [ "$k" -lt "$nodes" ]; do ready_lines="${ready_lines}attached $k\n"; k=$((k + 1)); done
fi

case "${FAKE_HOSTD_MODE:-ready}" in
  fail)
    echo "fake_hostd: failing on purpose" >&2
    exit 2 ;;
  close)
    eval "exec $ready_fd>&-"
    exec sleep 600 ;;
  die)
    : > "$socket"
    eval "printf '$ready_lines' >&$ready_fd"
    exit 3 ;;
  finished)
    : > "$socket"
    # One write: the nodes must not be able to exit before both lines.
    eval "printf '${ready_lines}finished 0\n' >&$ready_fd"
    eval "exec $ready_fd>&-"
    exec sleep 600 ;;
  script)
    : > "$socket"
    eval "printf '$ready_lines' >&$ready_fd"
    fd=$ready_fd
    eval "${FAKE_HOSTD_SCRIPT:-}"
    eval "exec $ready_fd>&-"
    exec sleep 600 ;;
  *)
    : > "$socket"
    eval "printf '$ready_lines' >&$ready_fd"
    eval "exec $ready_fd>&-"
    exec sleep 600 ;;
esac
