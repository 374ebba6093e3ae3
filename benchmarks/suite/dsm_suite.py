#!/usr/bin/env python3
"""The SPLASH-2 benchmark suite of dsmkit: builds what it needs, runs every
program of examples/splash2 on a matrix of configurations (the clang -fopenmp
reference on 1 and 2 threads; the dsm-clang build under dsm-run on 1 host x 1,
2, 4 nodes, 2 hosts x 1 and x 2, 3 hosts x 1), repeats each run, and writes
the medians with speedups, ratios to OpenMP and the DSM statistics as CSV,
Markdown and SVG charts. One line of progress per run. Exit status: 0 when
every run's check passed, 1 when a run failed its check, exited non-zero or
timed out (the table says which), 2 for a bad command line or a failed build.

Usage: benchmarks/suite/run [--sizes small|default|large] [--repeat N]
         [--programs lu,fft,...] [--configs omp-1,dsm-2x1,...] [--out DIR]
         [--build DIR] [--no-build] [--timeout SECONDS]
       benchmarks/suite/run --report-from DIR [--out DIR]

Plain Python 3 (Debian's python3), no third-party modules.
"""

import argparse
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys

import suite_matrix
import suite_results
import suite_runner

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_TIMEOUT = {"small": 120, "default": 600, "large": 1800}
BUILD_TARGETS = ("splash2_programs", "dsm-run", "dsm-hostd")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="benchmarks/suite/run",
        description="Run the SPLASH-2 programs on OpenMP and dsmkit configurations; write CSV, "
                    "Markdown and SVG results.")
    p.add_argument("--sizes", choices=suite_matrix.SIZES, default="default",
                   help="problem sizes: small (CI, seconds), default (SPLASH-2's), large "
                        "(measurements)")
    p.add_argument("--repeat", type=int, default=3, help="runs per program and configuration "
                   "(the median is reported; default 3)")
    p.add_argument("--programs", default=",".join(suite_matrix.PROGRAMS),
                   help="comma-separated (default: all: %(default)s)")
    p.add_argument("--configs", default=",".join(suite_matrix.DEFAULT_CONFIGS),
                   help="comma-separated omp-T (T OpenMP threads), dsm-HxK (H hosts of K "
                        "nodes) and vm-HxK (the same in QEMU guests) (default: %(default)s)")
    p.add_argument("--out", help="output folder (default: BUILD/suite-SIZES)")
    p.add_argument("--build", default=os.path.join(SOURCE_DIR, "build-release"),
                   help="build folder; configured as Release if it is not configured yet "
                        "(default: %(default)s)")
    p.add_argument("--no-build", action="store_true",
                   help="do not run cmake --build first")
    p.add_argument("--timeout", type=float,
                   help="seconds per run before it counts as a timeout (default: small %d, "
                        "default %d, large %d)" % tuple(DEFAULT_TIMEOUT[s]
                                                      for s in suite_matrix.SIZES))
    p.add_argument("--home", choices=("first-touch", "round-robin", "migrate"),
                   help="dsm-run --home for every dsmkit run (default: dsm-run's, migrate)")
    p.add_argument("--report-from", metavar="DIR",
                   help="run nothing: write the results again from DIR/runs.csv and DIR/stats "
                        "of an earlier run (into --out, default DIR)")
    # For tests only: these programs get -X corrupt (their check must then fail).
    p.add_argument("--test-corrupt", default="", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    try:
        a.program_list = suite_matrix.parse_list(a.programs, list(suite_matrix.PROGRAMS),
                                                 "program")
        a.config_list = suite_matrix.parse_configs(a.configs)
        a.corrupt = (suite_matrix.parse_list(a.test_corrupt, list(suite_matrix.PROGRAMS),
                                             "program") if a.test_corrupt else [])
    except ValueError as e:
        p.error(str(e))
    if a.repeat < 1:
        p.error("--repeat must be at least 1")
    if a.timeout is None:
        a.timeout = DEFAULT_TIMEOUT[a.sizes]
    if a.timeout <= 0:
        p.error("--timeout must be positive")
    a.build = os.path.abspath(a.build)
    if a.report_from:
        a.report_from = os.path.abspath(a.report_from)
        a.out = os.path.abspath(a.out or a.report_from)
    a.out = os.path.abspath(a.out or os.path.join(a.build, "suite-" + a.sizes))
    return a


def build(build_dir):
    """Configures (if needed) and builds the programs, dsm-run and dsm-hostd."""
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        print("suite: configuring %s (Release)" % build_dir, flush=True)
        subprocess.run(["cmake", "-S", SOURCE_DIR, "-B", build_dir, "-G", "Ninja",
                        "-DCMAKE_C_COMPILER=clang-14", "-DCMAKE_CXX_COMPILER=clang++-14",
                        "-DCMAKE_BUILD_TYPE=Release"], check=True, stdout=subprocess.DEVNULL)
    print("suite: building %s in %s" % (" ".join(BUILD_TARGETS), build_dir), flush=True)
    subprocess.run(["cmake", "--build", build_dir, "--target"] + list(BUILD_TARGETS),
                   check=True, stdout=subprocess.DEVNULL)


def cache_value(build_dir, name):
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt"), encoding="utf-8") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""


def git_revision():
    try:
        r = subprocess.run(["git", "-C", SOURCE_DIR, "describe", "--always", "--dirty"],
                           capture_output=True, text=True, check=True)
        return r.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def huge_page_mode(name):
    """The kernel's transparent huge page mode in /sys/kernel/mm/
    transparent_hugepage/NAME: "enabled" for anonymous memory (the OpenMP
    builds' heap), "shmem_enabled" for shared memory (a memfd; dsmkit's space
    is a private tmpfs that grants huge pages whatever this says, where the
    daemon can mount one). Both change the builds' page fault counts. "?"
    when unreadable."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/" + name, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return "?"
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else text.strip()


def program_args(a, prog, inputs_dir):
    """The program's arguments at the chosen size (without -p)."""
    size = suite_matrix.PROGRAMS[prog].sizes[a.sizes]
    args = list(size.options)
    if prog in a.corrupt:
        args += ["-X", "corrupt"]
    if size.input_file is not None:
        f = size.input_file
        if f.changes:
            path = os.path.join(inputs_dir, "%s-%s.input" % (prog, a.sizes))
            args.append(suite_matrix.write_input_file(
                os.path.join(SOURCE_DIR, "examples", "splash2"), f, path))
        else:
            args.append(os.path.join(SOURCE_DIR, "examples", "splash2", f.base))
    return args


def progress_line(index, total, r, repeats):
    def t(v):
        return "%9.4f s" % v if v is not None else "%11s" % "-"
    what = "ok" if r.status == "ok" else "%s: %s" % (r.status.upper(), r.reason)
    return "[%*d/%d] %-15s %-8s rep %d/%d  phase %s  total %s  wall %s  %s" % (
        len(str(total)), index, total, r.program, r.config, r.repeat, repeats, t(r.phase_s),
        t(r.total_s), t(r.wall_s), what)


def plan_of(program_list, config_list):
    """([(program, Config)] to run, {(program, config name): why not})."""
    plan, skipped = [], {}
    for prog in program_list:
        for c in config_list:
            why = suite_matrix.skip_reason(suite_matrix.PROGRAMS[prog], c)
            if why:
                skipped[prog, c.name] = why
            else:
                plan.append((prog, c))
    return plan, skipped


def run_matrix(a, argv):
    """Runs the plan with one progress line per run; returns (runs, skipped, meta)."""
    paths = suite_runner.Paths(a.build, SOURCE_DIR)
    for d in ("logs", "stats", "inputs"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    plan, skipped = plan_of(a.program_list, a.config_list)
    args_of = {p: program_args(a, p, os.path.join(a.out, "inputs")) for p in a.program_list}
    total = len(plan) * a.repeat
    started = datetime.datetime.now().astimezone()
    loads = [os.getloadavg()[0]]
    print("suite: %d programs x %d configurations x %d repeats = %d runs, sizes %s, into %s"
          % (len(a.program_list), len(a.config_list), a.repeat, total, a.sizes, a.out), flush=True)
    for (prog, c), why in skipped.items():
        print("suite: %s on %s skipped: %s" % (prog, c, why), flush=True)
    anon_pages, shared_pages = huge_page_mode("enabled"), huge_page_mode("shmem_enabled")
    spaces = set()  # what the dsmkit runs' shared spaces were (their statistics say)

    runs, index = [], 0
    # Repeat i of every run before repeat i + 1 of any, so that a change of
    # the machine's load spreads over the matrix instead of one cell.
    for rep in range(1, a.repeat + 1):
        for prog, c in plan:
            index += 1
            stem = "%s-%s-%d" % (prog, c.name, rep)
            r = suite_runner.run_one(prog, c, args_of[prog], rep, paths, a.timeout,
                                     os.path.join(a.out, "logs", stem + ".log"),
                                     os.path.join(a.out, "stats", stem + ".json"), home=a.home)
            runs.append(r)
            loads.append(os.getloadavg()[0])
            print(progress_line(index, total, r, a.repeat), flush=True)
            if r.shared_memory.startswith("memfd") and r.shared_memory not in spaces and \
                    c.hosts == 1 and c.per_host > 1 and not c.vm:
                print("suite: note: dsmkit's shared space is a %s, without huge pages unless "
                      "transparent_hugepage/shmem_enabled allows them, so the nodes on one host "
                      "each take a page fault per 4 KiB they touch (docs/design.md, \"The shared "
                      "space's file\")" % r.shared_memory, flush=True)
            if r.shared_memory:
                spaces.add(r.shared_memory)
    meta = [
        ("date", started.strftime("%Y-%m-%d %H:%M %Z")),
        ("machine", "%s, %s, %d logical CPUs" % (socket.gethostname(), cpu_model(),
                                                  os.cpu_count() or 0)),
        ("transparent huge pages", "anonymous %s, shared memory %s" % (anon_pages, shared_pages)),
        ("dsmkit's shared space", ", ".join(sorted(spaces)) or "-"),
        ("load (1-minute average, sampled after every run)",
         "min %.1f, median %.1f, max %.1f" % (min(loads), statistics.median(loads), max(loads))),
        ("sizes", a.sizes),
        ("page homes (several hosts)", a.home or "migrate (dsm-run's default)"),
        ("repeats", "%d (medians)" % a.repeat),
        ("source", git_revision()),
        ("build", "%s (%s)" % (a.build, cache_value(a.build, "CMAKE_BUILD_TYPE") or "?")),
        ("command", "benchmarks/suite/run " + " ".join(argv)),
    ]
    with open(os.path.join(a.out, "meta.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "programs": a.program_list,
                   "configs": [c.name for c in a.config_list]}, f, indent=1)
    return runs, skipped, meta


def load_runs(a):
    """--report-from: (runs, skipped, meta) of an earlier run's folder; the
    statistics come again from its stats/ files."""
    d = a.report_from
    a.sizes, runs = suite_results.read_runs_csv(os.path.join(d, "runs.csv"))
    try:
        with open(os.path.join(d, "meta.json"), encoding="utf-8") as f:
            saved = json.load(f)
        meta = [tuple(m) for m in saved["meta"]]
        a.program_list = saved["programs"]
        a.config_list = suite_matrix.parse_configs(",".join(saved["configs"]))
    except FileNotFoundError:
        meta = [("sizes", a.sizes)]
        a.program_list = [p for p in suite_matrix.PROGRAMS if any(r.program == p for r in runs)]
        seen = []
        for r in runs:
            if r.config not in seen:
                seen.append(r.config)
        a.config_list = suite_matrix.parse_configs(",".join(seen))
    meta.append(("reported again from", d))
    for r in runs:
        path = os.path.join(d, "stats", "%s-%s-%d.json" % (r.program, r.config, r.repeat))
        if r.status == "ok" and r.config.startswith("dsm-") and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                r.stats = suite_runner.aggregate_stats(json.load(f))
    _, skipped = plan_of(a.program_list, a.config_list)
    return runs, skipped, meta


def report(a, runs, skipped, meta):
    """Writes the results and returns the exit status (1 if a cell failed)."""
    cells = suite_results.summarize(a.program_list, a.config_list, runs, skipped)
    notes = {p: suite_matrix.PROGRAMS[p].sizes[a.sizes].note for p in a.program_list}
    os.makedirs(a.out, exist_ok=True)
    suite_results.write_cells_csv(os.path.join(a.out, "results.csv"), cells, a.sizes)
    suite_results.write_runs_csv(os.path.join(a.out, "runs.csv"), runs, a.sizes)
    with open(os.path.join(a.out, "results.md"), "w", encoding="utf-8") as f:
        f.write(suite_results.markdown(cells, a.program_list, a.config_list, meta, notes))
    svgs = suite_results.write_charts(a.out, cells, a.program_list, a.config_list)

    print("suite: wrote %s" % ", ".join(os.path.join(a.out, n) for n in
                                        ["results.csv", "runs.csv", "results.md"]
                                        + [os.path.basename(s) for s in svgs]), flush=True)
    bad = suite_results.failures(cells)
    for c in bad:
        print("suite: %s: %s on %s: %s" % (c.status.upper(), c.program, c.config.name, c.reason),
              file=sys.stderr)
    if bad:
        print("suite: %d of %d cells failed" % (len(bad), len(cells)), file=sys.stderr)
        return 1
    print("suite: every check passed", flush=True)
    return 0


def main(argv):
    a = parse_args(argv)
    if a.report_from:
        try:
            runs, skipped, meta = load_runs(a)
        except (OSError, ValueError, KeyError) as e:
            print("suite: --report-from %s: %s" % (a.report_from, e), file=sys.stderr)
            return 2
        return report(a, runs, skipped, meta)
    if not a.no_build:
        try:
            build(a.build)
        except (OSError, subprocess.CalledProcessError) as e:
            print("suite: build failed: %s" % e, file=sys.stderr)
            return 2
    runs, skipped, meta = run_matrix(a, argv)
    return report(a, runs, skipped, meta)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
