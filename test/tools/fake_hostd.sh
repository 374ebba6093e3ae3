#!/bin/sh
# A stand-in for dsm-hostd in the launcher tests. It speaks only the start-up
# part of the daemon's command line contract:
#   dsm-hostd --socket PATH --nodes N [--memory BYTES] --ready-fd FD
#             --exit-when-done [--stats] [--stack BYTES] [--home MODE]
#             [--stats-json FILE]
#   and for a host of a multi-host job also
#             --host-id K --hosts H --local-nodes LIST --listen ENDPOINT
#             [--join ENDPOINT] --job-id J --keys-fd FD2
# and the lines it writes on FD ("listening tcp://127.0.0.1:1" first when it
# is host 0 of several, "ready", "attached <node>" for every node of its
# host, then "finished <status>", "lost <node>" or "lost-host <host>" when the
# job ends); then it waits until it is killed (it never serves anything).
# Those lines are written here as literal text; their definition is
# common/include/dsm/common/job_status.h.
#
# Environment (a variable with the suffix _K, e.g. FAKE_HOSTD_MODE_1, applies
# to host K only and wins over the plain one):
#   FAKE_HOSTD_MODE     ready (default): create PATH, write "ready" to FD,
#                         close FD, wait. It never says that the job
#                         finished, so a worker exiting 0 is a failure.
#                       finished: like ready, but write "finished 0" right
#                         after "ready" (for jobs whose nodes all exit 0)
#                       script: create PATH, write "ready", then run the
#                         shell code in FAKE_HOSTD_SCRIPT (FD is in $fd,
#                         the host in $host), close FD, wait
#                       fail:  exit 2 without writing "ready"
#                       close: close FD without writing "ready", then wait
#                       die:   write "ready", then exit 3 at once
#                       nolisten: as host 0 of several, write "ready"
#                         without "listening" first, then wait
#   FAKE_HOSTD_SCRIPT   for the script mode
#   FAKE_HOSTD_ATTACH   all (default): after "ready", say every node of the
#                         host attached (as if they ran dsmkit programs);
#                       none: never (the nodes never join the job)
#   FAKE_HOSTD_STATS    with --stats-json FILE: what to write there (default
#                         {"host":K}), before "ready"
#   FAKE_HOSTD_PIDFILE  write our pid there (atomically, via a rename); host
#                         K of several writes to FAKE_HOSTD_PIDFILE.hK
#   FAKE_HOSTD_ARGS     write our arguments there, one per line (.hK likewise)
#   FAKE_HOSTD_KEYS     copy what --keys-fd gives there (.hK likewise)
#   FAKE_HOSTD_LOG      append "host K start" and "host K ready" there as
#                         they happen
set -u

socket=
ready_fd=
nodes=0
host=0
hosts=1
local_nodes=
stats_json=
keys_fd=
saved_args=$(printf '%s\n' "$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --socket) socket=$2; shift 2 ;;
    --ready-fd) ready_fd=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --host-id) host=$2; shift 2 ;;
    --hosts) hosts=$2; shift 2 ;;
    --local-nodes) local_nodes=$2; shift 2 ;;
    --stats-json) stats_json=$2; shift 2 ;;
    --keys-fd) keys_fd=$2; shift 2 ;;
    --memory|--stack|--home|--listen|--join|--job-id) shift 2 ;;
    *) shift ;;
  esac
done

# Per-host settings: VAR_K wins over VAR.
per_host() {
  eval "printf '%s' \"\${$1_$host-\${$1-$2}}\""
}
mode=$(per_host FAKE_HOSTD_MODE ready)
script=$(per_host FAKE_HOSTD_SCRIPT '')
attach=$(per_host FAKE_HOSTD_ATTACH all)
suffix=
[ "$hosts" -gt 1 ] && suffix=".h$host"

if [ -n "${FAKE_HOSTD_ARGS:-}" ]; then
  f=$FAKE_HOSTD_ARGS$suffix
  printf '%s\n' "$saved_args" > "$f.tmp" && mv "$f.tmp" "$f"
fi
if [ -n "${FAKE_HOSTD_KEYS:-}" ] && [ -n "$keys_fd" ]; then
  f=$FAKE_HOSTD_KEYS$suffix
  eval "cat <&$keys_fd" > "$f.tmp" && mv "$f.tmp" "$f"
fi
if [ -n "${FAKE_HOSTD_PIDFILE:-}" ]; then
  f=$FAKE_HOSTD_PIDFILE$suffix
  echo $$ > "$f.tmp" && mv "$f.tmp" "$f"
fi
log() {
  [ -n "${FAKE_HOSTD_LOG:-}" ] && echo "host $host $1" >> "$FAKE_HOSTD_LOG"
  return 0
}
log start

case "$ready_fd" in
  [0-9]) ;;
  *) echo "fake_hostd: --ready-fd must be one digit for sh, got '$ready_fd'" >&2; exit 2 ;;
esac

# The nodes of this host: --local-nodes ("0-3,7") with several hosts, else all.
host_nodes() {
  if [ "$hosts" -le 1 ]; then
    k=0
    while [ "$k" -lt "$nodes" ]; do echo "$k"; k=$((k + 1)); done
    return
  fi
  echo "$local_nodes" | tr ',' '\n' | while IFS=- read -r first last; do
    k=$first
    while [ "$k" -le "${last:-$first}" ]; do echo "$k"; k=$((k + 1)); done
  done
}

# The start-up lines: "listening" for host 0 of several, "ready", and an
# "attached" line per node of this host unless told otherwise.
ready_lines=
if [ "$hosts" -gt 1 ] && [ "$host" = 0 ] && [ "$mode" != nolisten ]; then
  ready_lines='listening tcp://127.0.0.1:1\n'
fi
ready_lines="${ready_lines}ready\n"
if [ "$attach" = all ]; then
  for k in $(host_nodes); do ready_lines="${ready_lines}attached $k\n"; done
fi
if [ -n "$stats_json" ]; then
  stats=$(per_host FAKE_HOSTD_STATS '')
  [ -n "$stats" ] || stats="{\"host\":$host}"
  printf '%s\n' "$stats" > "$stats_json"
fi

say_ready() {
  : > "$socket"
  log ready
  eval "printf '$ready_lines$1' >&$ready_fd"
}

case "$mode" in
  fail)
    echo "fake_hostd: failing on purpose" >&2
    exit 2 ;;
  close)
    eval "exec $ready_fd>&-"
    exec sleep 600 ;;
  die)
    say_ready ''
    exit 3 ;;
  finished)
    # One write: the nodes must not be able to exit before both lines.
    say_ready 'finished 0\n'
    eval "exec $ready_fd>&-"
    exec sleep 600 ;;
  script)
    say_ready ''
    fd=$ready_fd
    eval "$script"
    eval "exec $ready_fd>&-"
    exec sleep 600 ;;
  *)
    say_ready ''
    eval "exec $ready_fd>&-"
    exec sleep 600 ;;
esac
