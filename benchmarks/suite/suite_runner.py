"""One run of the suite: the command line of a program on a configuration, the
process with its timeout, and what comes out of it (the program's DSM-SUITE
line, its exit status, the DSM statistics dsm-run --stats-json wrote).

run_one() starts one process group (the program, or dsm-run with its daemons
and nodes) and waits for it; on the suite's own deadline it kills that group
and nothing else. The parsers are pure functions. No third-party modules.
"""

import json
import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass, field

# dsm-run's exit status when its --timeout expired (tools/dsm-run/options.h).
DSM_RUN_EXIT_TIMEOUT = 124
# How long past dsm-run's own --timeout the suite waits before killing it.
BACKSTOP_SECONDS = 60

STAT_KEYS = ("faults", "read_faults", "write_faults", "pages_fetched", "fetch_messages",
             "diffs", "diff_bytes", "messages", "message_bytes", "lock_acquires", "lock_wait_s",
             "barriers", "barrier_wait_s", "fault_s", "nodes", "homes_moved")


@dataclass
class RunResult:
    program: str
    config: str
    repeat: int  # 1-based
    status: str  # "ok", "failed", "timeout"
    reason: str = ""  # why it failed, one line
    exit_code: object = None  # int, or None when killed by the suite
    threads: object = None  # the team size the program reported
    phase_s: object = None  # the program's time of its parallel phase
    total_s: object = None  # the program's time with initialisation
    wall_s: object = None  # the whole process (dsm-run with daemons), measured here
    cpu_s: object = None  # user + system time of the process and its children
    load1: object = None  # the machine's 1-minute load average when the run began
    stats: dict = field(default_factory=dict)  # aggregate_stats(); empty for OpenMP runs
    shared_memory: str = ""  # host 0's space file ("tmpfs huge=advise", "memfd (why)"); dsmkit runs
    log: str = ""  # the file with the run's output


def parse_suite_line(text):
    """The key=value fields of the last `DSM-SUITE:` line in text, or None."""
    found = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("DSM-SUITE:"):
            found = line
    if found is None:
        return None
    fields = {}
    for word in found[len("DSM-SUITE:"):].split():
        if "=" in word:
            k, v = word.split("=", 1)
            fields[k] = v
    return fields


def failure_message(text):
    """Why a run failed, as its output says: the program's first `FAILED: ...`
    line without that word, else dsm-run's last line (how the job ended), else
    the last line with "error:" in it, or ''."""
    lines = [line.strip() for line in text.splitlines()]
    for line in lines:
        if line.startswith("FAILED"):
            return line[len("FAILED"):].lstrip(": ")[:200]
    for prefix in ("dsm-run:", ""):
        for line in reversed(lines):
            if line.startswith(prefix) and (prefix or "error:" in line):
                return line[:200]
    return ""


def _float(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f >= 0 else None


def aggregate_stats(doc):
    """Job totals of a dsm-run --stats-json document: sums over every node and
    host (times in seconds). `hosts_missing` counts hosts whose daemon wrote no
    statistics (null in the document)."""
    out = {k: 0 for k in STAT_KEYS}
    out["hosts_missing"] = 0
    hosts = doc.get("hosts") if isinstance(doc, dict) else None
    if not isinstance(hosts, list):
        raise ValueError("no \"hosts\" list in the statistics")
    ns = {"lock_wait_s": 0, "barrier_wait_s": 0, "fault_s": 0}
    for h in hosts:
        if not isinstance(h, dict):
            out["hosts_missing"] += 1
            continue
        for n in h.get("nodes", []):
            out["nodes"] += 1
            out["read_faults"] += n.get("read_faults", 0)
            out["write_faults"] += n.get("write_faults", 0)
            out["lock_acquires"] += n.get("lock_fast", 0) + n.get("lock_slow", 0)
            out["barriers"] = max(out["barriers"], n.get("barriers", 0))
            ns["lock_wait_s"] += n.get("lock_wait_ns", 0)
            ns["barrier_wait_s"] += n.get("barrier_wait_ns", 0)
            ns["fault_s"] += n.get("fault_ns", 0)
        c = h.get("coherence", {})
        for k in ("pages_fetched", "fetch_messages", "diffs", "diff_bytes"):
            out[k] += c.get(k, 0)
        out["homes_moved"] += c.get("homes_gained", 0)  # home migration: pages that moved here
        for m in h.get("messages", {}).values():
            out["messages"] += m.get("count", 0)
            out["message_bytes"] += m.get("bytes", 0)
    out["faults"] = out["read_faults"] + out["write_faults"]
    for k, v in ns.items():
        out[k] = v / 1e9
    return out


def shared_memory_of(doc):
    """What host 0's shared space is in a dsm-run --stats-json document:
    "tmpfs huge=advise" (huge pages for the nodes of one host) or "memfd
    (why not)"; "" when the document does not say."""
    hosts = doc.get("hosts") if isinstance(doc, dict) else None
    if isinstance(hosts, list) and hosts and isinstance(hosts[0], dict):
        return str(hosts[0].get("shared_memory", ""))
    return ""


@dataclass
class Paths:
    build: str  # the build directory
    source: str  # the source tree

    @property
    def programs(self):
        return os.path.join(self.build, "examples", "splash2")

    @property
    def dsm_run(self):
        return os.path.join(self.build, "bin", "dsm-run")


def command(prog_name, config, program_args, paths, timeout, stats_json, home=None):
    """(argv, extra environment) of one run. program_args: the program's own
    arguments (options, then its input file) without -p, which is added here.
    home: dsm-run's --home for dsmkit runs (None: its default)."""
    args = ["-p", str(config.workers)] + list(program_args)
    if config.kind == "omp":
        exe = os.path.join(paths.programs, prog_name + "_omp")
        return [exe] + args, {"OMP_NUM_THREADS": str(config.threads)}
    exe = os.path.join(paths.programs, prog_name + "_dsm")
    argv = [paths.dsm_run, "-n", str(config.workers), "--hosts", str(config.hosts),
            "--timeout", "%g" % timeout, "--stats-json", stats_json]
    if home:
        argv += ["--home", home]
    if config.vm:
        # A guest has no host files: the input file goes to node 0's stdin
        # (see stdin_of), and the programs read their standard input then.
        argv.append("--vm")
        if stdin_of(config, args) is not None:
            args = args[:-1]
    return argv + ["--", exe] + args, {}


def stdin_of(config, program_args):
    """The file a run reads as its standard input: a VM run's input file (the
    last argument, an absolute path), else None."""
    if config.kind == "dsm" and config.vm and program_args:
        last = program_args[-1]
        if os.path.isabs(last) and os.path.isfile(last):
            return last
    return None


def judge(result, output, expected_threads, under_dsm_run):
    """Fills result.status/reason/times from the run's exit status and output."""
    line = parse_suite_line(output)
    if line is not None:
        result.phase_s = _float(line.get("phase_s"))
        result.total_s = _float(line.get("total_s"))
        try:
            result.threads = int(line.get("threads", ""))
        except ValueError:
            result.threads = None
    if under_dsm_run and result.exit_code == DSM_RUN_EXIT_TIMEOUT:
        result.status, result.reason = "timeout", "dsm-run --timeout expired"
        return
    if result.exit_code != 0:
        msg = failure_message(output)
        result.status = "failed"
        result.reason = "exit %s%s" % (result.exit_code, ": " + msg if msg else "")
        return
    if line is None:
        result.status, result.reason = "failed", "no DSM-SUITE line in the output"
        return
    if line.get("check") != "ok":
        result.status, result.reason = "failed", "check=%s" % line.get("check", "missing")
        return
    if result.phase_s is None or result.total_s is None:
        result.status, result.reason = "failed", "no phase_s/total_s in the DSM-SUITE line"
        return
    if result.threads != expected_threads:
        result.status = "failed"
        result.reason = "ran %s threads, expected %d" % (result.threads, expected_threads)
        return
    result.status = "ok"


def run_one(prog_name, config, program_args, repeat, paths, timeout, log_path, stats_path,
            home=None):
    """Runs one program once and returns its RunResult; writes the output to
    log_path and (DSM runs) the statistics to stats_path."""
    argv, extra_env = command(prog_name, config, program_args, paths, timeout, stats_path, home)
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.update(extra_env)
    if os.path.exists(stats_path):
        os.unlink(stats_path)
    result = RunResult(prog_name, config.name, repeat, "failed", log=log_path)
    # OpenMP runs have only this deadline; dsm-run has its own and this one is
    # a backstop against a launcher that does not end.
    deadline = timeout if config.kind == "omp" else timeout + BACKSTOP_SECONDS
    result.load1 = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with open(log_path, "w", encoding="utf-8", errors="replace") as log:
        log.write("$ %s\n" % " ".join(argv))
        log.flush()
        stdin_path = stdin_of(config, program_args)
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
        finally:
            if stdin_path:
                stdin.close()
        try:
            out, _ = proc.communicate(timeout=deadline)
            result.exit_code = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            result.exit_code = None
        result.wall_s = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # dsm-run waits for its daemons and nodes, so their time is in it
        result.cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        text = out.decode("utf-8", errors="replace")
        log.write(text)
    if result.exit_code is None:
        result.status, result.reason = "timeout", "no end after %g s; killed" % deadline
        return result
    judge(result, text, config.workers, config.kind == "dsm")
    if config.kind == "dsm" and result.status == "ok":
        try:
            with open(stats_path, encoding="utf-8") as f:
                doc = json.load(f)
            result.stats = aggregate_stats(doc)
            result.shared_memory = shared_memory_of(doc)
        except (OSError, ValueError) as e:
            result.status, result.reason = "failed", "statistics: %s" % e
    return result
