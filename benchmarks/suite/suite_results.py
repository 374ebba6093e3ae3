"""The suite's results: the repeats of each (program, configuration) reduced to
one cell (medians, speedup, ratio to OpenMP, DSM statistics), and the files
written from them: a CSV of the cells, a CSV of every run, a Markdown report
and the SVG charts. Pure functions of their arguments apart from the writers,
which write the one file they are given. No third-party modules.
"""

import csv
import math
import os
import statistics
from dataclasses import dataclass, field

import suite_svg
from suite_runner import STAT_KEYS, RunResult


@dataclass
class Cell:
    program: str
    config: object  # suite_matrix.Config
    status: str  # "ok", "failed", "timeout", "skipped"
    reason: str = ""
    repeats: int = 0  # runs made
    ok_runs: int = 0
    phase_s: object = None  # medians over the runs (all of them ok, or None)
    total_s: object = None
    wall_s: object = None
    cpu_s: object = None
    phase_min: object = None
    phase_max: object = None
    stats: dict = field(default_factory=dict)  # of the run with the median phase time
    stats_wall_s: object = None  # that run's wall time
    speedup: object = None  # phase time of 1 OpenMP thread / this one's
    self_speedup: object = None  # phase time of this build on 1 worker / this one's
    ratio_omp: object = None  # this one's phase time / OpenMP's with as many workers
    # The same ratio repeat by repeat (the runs of one repeat ran close in
    # time, so a slow spell of the machine hits both): the median of the
    # per-repeat ratios, and the smallest and largest.
    ratio_paired: object = None
    ratio_paired_min: object = None
    ratio_paired_max: object = None


def _cell_of(program, config, runs, skipped):
    cell = Cell(program, config, "ok", repeats=len(runs))
    if skipped:
        cell.status, cell.reason = "skipped", skipped
        return cell
    ok = [r for r in runs if r.status == "ok"]
    cell.ok_runs = len(ok)
    bad = [r for r in runs if r.status != "ok"]
    if not runs:
        cell.status, cell.reason = "skipped", "not run"
        return cell
    if bad:
        # a wrong answer is a failure whatever else happened; then timeouts
        worst = next((r for r in bad if r.status == "failed"), bad[0])
        cell.status = worst.status
        cell.reason = "%s (%d of %d runs)" % (worst.reason, len(bad), len(runs))
        return cell
    by_phase = sorted(ok, key=lambda r: r.phase_s)
    cell.phase_s = statistics.median(r.phase_s for r in ok)
    cell.total_s = statistics.median(r.total_s for r in ok)
    cell.wall_s = statistics.median(r.wall_s for r in ok)
    cpu = [r.cpu_s for r in ok if r.cpu_s is not None]
    cell.cpu_s = statistics.median(cpu) if cpu else None
    cell.phase_min, cell.phase_max = by_phase[0].phase_s, by_phase[-1].phase_s
    median_run = by_phase[(len(by_phase) - 1) // 2]
    cell.stats, cell.stats_wall_s = dict(median_run.stats), median_run.wall_s
    return cell


def _div(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _pair(cell, mine, reference):
    """Sets cell's paired ratio from the repeats both configurations ran ok."""
    ref = {r.repeat: r.phase_s for r in reference if r.status == "ok"}
    ratios = [r.phase_s / ref[r.repeat] for r in mine
              if r.status == "ok" and ref.get(r.repeat, 0) > 0 and r.phase_s is not None]
    if ratios:
        cell.ratio_paired = statistics.median(ratios)
        cell.ratio_paired_min, cell.ratio_paired_max = min(ratios), max(ratios)


def summarize(programs, configs, runs, skipped):
    """Cells in (program, config) order. runs: RunResults of any order; skipped:
    {(program, config name): reason} for combinations that were not run."""
    cells = []
    for p in programs:
        row, runs_of = {}, {}
        for c in configs:
            runs_of[c.name] = [r for r in runs if r.program == p and r.config == c.name]
            row[c.name] = _cell_of(p, c, runs_of[c.name], skipped.get((p, c.name)))
        omp = {c.threads: row[c.name] for c in configs if c.kind == "omp"}
        one = {}  # kind -> the cell on one worker
        for c in configs:
            if c.workers == 1 and c.kind not in one:
                one[c.kind] = row[c.name]
        for c in configs:
            cell = row[c.name]
            if cell.status != "ok":
                continue
            ref1 = omp.get(1)
            cell.speedup = _div(ref1.phase_s, cell.phase_s) if ref1 else None
            base = one.get(c.kind)
            cell.self_speedup = _div(base.phase_s, cell.phase_s) if base else None
            if c.kind == "dsm" and c.workers in omp:
                cell.ratio_omp = _div(cell.phase_s, omp[c.workers].phase_s)
                _pair(cell, runs_of[c.name], runs_of[omp[c.workers].config.name])
        cells.extend(row[c.name] for c in configs)
    return cells


def failures(cells):
    return [c for c in cells if c.status in ("failed", "timeout")]


# ---- CSV

CELL_COLUMNS = ("program", "size", "config", "kind", "hosts", "nodes_per_host", "workers",
                "repeats", "ok_runs", "status", "reason", "phase_s", "total_s", "wall_s", "cpu_s",
                "phase_min_s", "phase_max_s", "speedup", "self_speedup",
                "ratio_omp", "ratio_paired", "ratio_paired_min", "ratio_paired_max") + STAT_KEYS

RUN_COLUMNS = ("program", "size", "config", "repeat", "status", "reason", "exit_code", "threads",
               "phase_s", "total_s", "wall_s", "cpu_s", "load1") + STAT_KEYS


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "%.6g" % v
    return str(v)


def write_cells_csv(path, cells, size):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CELL_COLUMNS)
        for c in cells:
            cfg = c.config
            row = [c.program, size, cfg.name, cfg.kind, cfg.hosts if cfg.kind == "dsm" else "",
                   cfg.per_host if cfg.kind == "dsm" else "", cfg.workers, c.repeats, c.ok_runs,
                   c.status, c.reason, c.phase_s, c.total_s, c.wall_s, c.cpu_s, c.phase_min, c.phase_max,
                   c.speedup, c.self_speedup, c.ratio_omp, c.ratio_paired, c.ratio_paired_min,
                   c.ratio_paired_max]
            row += [c.stats.get(k) if c.stats else None for k in STAT_KEYS]
            w.writerow([_csv_value(v) for v in row])


def write_runs_csv(path, runs, size):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(RUN_COLUMNS)
        for r in runs:
            row = [r.program, size, r.config, r.repeat, r.status, r.reason, r.exit_code, r.threads,
                   r.phase_s, r.total_s, r.wall_s, r.cpu_s, r.load1]
            row += [r.stats.get(k) if r.stats else None for k in STAT_KEYS]
            w.writerow([_csv_value(v) for v in row])


def _parse_number(text):
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def read_runs_csv(path):
    """(size, [RunResult]) from a file write_runs_csv wrote. Raises ValueError
    (or OSError) when it is not one."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError("%s: no runs" % path)
    missing = [c for c in RUN_COLUMNS[:11] if c not in rows[0]]
    if missing:
        raise ValueError("%s: no column %s" % (path, ", ".join(missing)))
    runs = []
    for row in rows:
        stats = {k: _parse_number(row[k]) for k in STAT_KEYS if row.get(k, "") != ""}
        runs.append(RunResult(row["program"], row["config"], int(row["repeat"]), row["status"],
                              reason=row["reason"], exit_code=_parse_number(row["exit_code"]),
                              threads=_parse_number(row["threads"]),
                              phase_s=_parse_number(row["phase_s"]),
                              total_s=_parse_number(row["total_s"]),
                              wall_s=_parse_number(row["wall_s"]),
                              cpu_s=_parse_number(row.get("cpu_s", "")),
                              load1=_parse_number(row.get("load1", "")), stats=stats))
    return rows[0]["size"], runs


# ---- Markdown

def _md(s):
    """Text safe inside a Markdown table cell."""
    return str(s).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _num(v, digits=3):
    """v with `digits` decimals, or (below 0.1) `digits` significant digits."""
    if v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    if abs(v) >= 100:
        return "%.0f" % v
    if v == 0 or abs(v) >= 0.1:
        return "%.*f" % (digits, v)
    return "%.*f" % (digits - 1 - math.floor(math.log10(abs(v))), v)


def _count(v):
    if v is None:
        return ""
    v = int(v)
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if v >= 10 * div:
            return "%.0f%s" % (v / div, unit)
    return str(v)


def _status_text(cell):
    return {"failed": "**FAILED**", "timeout": "**timeout**", "skipped": "n/a"}.get(cell.status, "")


def table(header, rows, align=None):
    """A Markdown table; align: one of 'l'/'r' per column (default: first left)."""
    align = align or ["l"] + ["r"] * (len(header) - 1)
    out = ["| " + " | ".join(_md(h) for h in header) + " |",
           "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    for r in rows:
        out.append("| " + " | ".join(_md(v) for v in r) + " |")
    return "\n".join(out) + "\n"


def markdown(cells, programs, configs, meta, size_notes):
    """The report: meta (list of (name, value) lines), a table of phase times
    (program x configuration), one of speedup and ratio, one per cell with the
    DSM statistics, the failures, and the sizes used."""
    by = {(c.program, c.config.name): c for c in cells}
    out = ["# SPLASH-2 suite results", ""]
    out += ["- %s: %s" % (k, v) for k, v in meta]
    out += ["", "## Parallel phase, seconds (median)", ""]
    rows = []
    for p in programs:
        rows.append([p] + [_status_text(by[p, c.name]) or _num(by[p, c.name].phase_s)
                           for c in configs])
    out.append(table(["program"] + [c.label for c in configs], rows))
    out += ["## Speedup over one OpenMP thread (ratio to OpenMP with as many workers)", ""]
    rows = []
    for p in programs:
        row = [p]
        for c in configs:
            cell = by[p, c.name]
            text = _status_text(cell) or _num(cell.speedup, 2)
            if cell.ratio_omp is not None:
                text += " (%.2f)" % cell.ratio_omp
            row.append(text)
        rows.append(row)
    out.append(table(["program"] + [c.label for c in configs], rows))
    compared = [c for c in configs if any(by[p, c.name].ratio_paired is not None for p in programs)]
    if compared:
        out += ["## Ratio to OpenMP repeat by repeat (median, smallest and largest)", ""]
        rows = []
        for p in programs:
            row = [p]
            for c in compared:
                cell = by[p, c.name]
                row.append("" if cell.ratio_paired is None else "%.2f (%.2f-%.2f)" % (
                    cell.ratio_paired, cell.ratio_paired_min, cell.ratio_paired_max))
            rows.append(row)
        out.append(table(["program"] + [c.label for c in compared], rows))
        out += ["Each repeat runs every configuration once before the next repeat starts, so "
                "the two runs of one ratio are close in time; on a machine whose speed "
                "drifts this median is steadier than the ratio of the medians above.", ""]
    out += ["## Every cell", ""]
    header = ["program", "config", "workers", "phase s", "total s", "wall s", "cpu s", "speedup",
              "vs OpenMP", "faults", "pages fetched", "diffs", "diff KiB", "messages",
              "lock wait s", "barrier wait s", "status"]
    rows = []
    for c in cells:
        s = c.stats
        rows.append([c.program, c.config.label, c.config.workers, _num(c.phase_s),
                     _num(c.total_s), _num(c.wall_s), _num(c.cpu_s), _num(c.speedup, 2), _num(c.ratio_omp, 2),
                     _count(s.get("faults")), _count(s.get("pages_fetched")),
                     _count(s.get("diffs")),
                     _count(s["diff_bytes"] // 1024) if "diff_bytes" in s else "",
                     _count(s.get("messages")), _num(s.get("lock_wait_s")),
                     _num(s.get("barrier_wait_s")),
                     c.status if c.status == "ok" else "%s: %s" % (c.status, c.reason)])
    out.append(table(header, rows, ["l", "l"] + ["r"] * 14 + ["l"]))
    bad = failures(cells)
    out += ["## Failures", ""]
    if bad:
        out += ["- %s on %s: %s: %s" % (c.program, c.config.label, c.status, c.reason) for c in bad]
    else:
        out.append("None: every run's check passed.")
    out += ["", "## Sizes", ""]
    out += ["- %s: `%s`" % (p, size_notes[p]) for p in programs]
    out += ["", "Times are the programs' own (`phase_s`: the parallel phase; `total_s`: with "
            "initialisation); wall is the whole process as the suite saw it (dsm-run with its "
            "daemons), cpu the user and system time of all its processes (more than wall: "
            "they ran in parallel; much less: they waited, or the machine was busy). "
            "Statistics are job totals of the run with the median phase time; lock "
            "and barrier waits are summed over the nodes."]
    return "\n".join(out) + "\n"


# ---- charts

SEGMENTS = ("compute and other", "fault", "lock wait", "barrier wait")


def _note(cell):
    return {"failed": "failed", "timeout": "timeout", "skipped": "n/a"}.get(cell.status, "")


def breakdown(cell):
    """The wall time of the cell's median run (the one its statistics come
    from) split into SEGMENTS per worker (seconds), or None. The statistics
    cover the whole job (its start, the programs' checks), so they are set
    against the wall time; the rest is computing, starting and ending."""
    wall = cell.stats_wall_s
    if cell.status != "ok" or wall is None:
        return None
    s = cell.stats
    nodes = s.get("nodes") or 0
    if cell.config.kind != "dsm" or nodes == 0:
        return [wall, 0.0, 0.0, 0.0]
    fault = s.get("fault_s", 0.0) / nodes
    lock = s.get("lock_wait_s", 0.0) / nodes
    barrier = s.get("barrier_wait_s", 0.0) / nodes
    rest = max(0.0, wall - fault - lock - barrier)
    return [rest, fault, lock, barrier]


def charts(cells, programs, configs):
    """{"speedup": Chart, "ratio": Chart or None, "breakdown": [Chart per program]}."""
    by = {(c.program, c.config.name): c for c in cells}
    labels = [c.label for c in configs]
    notes = [[_note(by[p, c.name]) for c in configs] for p in programs]
    out = {"speedup": suite_svg.grouped_bars(
        "Speedup over one OpenMP thread (parallel phase; higher is better)", programs, labels,
        [[by[p, c.name].speedup for c in configs] for p in programs], "speedup", notes=notes,
        reference=1.0)}
    omp_workers = {c.workers for c in configs if c.kind == "omp"}
    ratio_cfgs = [c for c in configs if c.kind == "dsm" and c.workers in omp_workers]
    out["ratio"] = None
    if ratio_cfgs:
        ratio = [[by[p, c.name].ratio_omp for c in ratio_cfgs] for p in programs]
        rnotes = [[_note(by[p, c.name]) for c in ratio_cfgs] for p in programs]
        colours = [suite_svg.PALETTE[configs.index(c) % len(suite_svg.PALETTE)]
                   for c in ratio_cfgs]
        out["ratio"] = suite_svg.grouped_bars(
            "dsmkit time / OpenMP time, as many workers (log scale; lower is better)", programs,
            [c.label for c in ratio_cfgs], ratio, "ratio", notes=rnotes, log=True, baseline=1.0,
            reference=1.0, colours=colours)
    out["breakdown"] = [
        suite_svg.stacked_bars(p, [p], labels, SEGMENTS,
                               [[breakdown(by[p, c.name]) for c in configs]],
                               "wall time per worker, s",
                               notes=[[_note(by[p, c.name]) for c in configs]],
                               group_labels=False)
        for p in programs]
    return out


def write_charts(out_dir, cells, programs, configs):
    """speedup.svg, ratio.svg (when OpenMP references exist), breakdown.svg (one
    chart per program) and suite.svg (all of them on one page) in out_dir;
    returns the paths written."""
    c = charts(cells, programs, configs)
    files = {"speedup.svg": suite_svg.page([c["speedup"]]),
             "breakdown.svg": suite_svg.page(c["breakdown"], columns=3)}
    top = [c["speedup"]]
    if c["ratio"] is not None:
        files["ratio.svg"] = suite_svg.page([c["ratio"]])
        top.append(c["ratio"])
    files["suite.svg"] = suite_svg.page(top + [suite_svg.grid(c["breakdown"], columns=3)])
    paths = []
    for name, text in files.items():
        path = os.path.join(out_dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        paths.append(path)
    return paths
