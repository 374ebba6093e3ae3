"""The SPLASH-2 suite's matrix: the programs with their arguments per size set, and
the configurations (OpenMP reference threads, dsmkit hosts x nodes) they run on.

Pure data and parsing: nothing here starts a process or touches a file except
write_input_file(), which writes one generated input file. Plain Python 3, no
third-party modules.
"""

import os
import re
from dataclasses import dataclass

SIZES = ("small", "default", "large")


@dataclass(frozen=True)
class InputFile:
    """An input file of the program: a shipped file (relative to examples/splash2)
    with some of its `name value` lines changed (empty: used as shipped)."""

    base: str
    changes: tuple = ()  # ((name, value), ...)


@dataclass(frozen=True)
class SizeArgs:
    """A program's command line at one size: options, then an optional input file."""

    options: tuple
    input_file: InputFile = None
    note: str = ""  # what the size is, for the Markdown table's legend


@dataclass(frozen=True)
class Program:
    name: str
    sizes: dict  # size name -> SizeArgs
    power_of_two_threads: bool = False  # the program refuses other thread counts


def _inp(base, **changes):
    return InputFile(base, tuple(sorted(changes.items())))


# small: milliseconds to a few tenths of a second on 1 thread, so that the
# whole matrix runs in CI in well under a minute; default: the SPLASH-2
# default problem sizes (each program's own defaults); large: for
# measurements, about 1 to 5 s per run on 1 thread of a current machine (the
# programs' READMEs' medium sizes, or larger where those take well under 1 s),
# within dsm-run's default 1 GiB shared space.
PROGRAMS = {
    p.name: p
    for p in (
        Program("lu", {
            "small": SizeArgs(("-n", "256", "-b", "16"), note="-n 256 -b 16"),
            "default": SizeArgs(("-n", "512", "-b", "16"), note="-n 512 -b 16"),
            "large": SizeArgs(("-n", "2048", "-b", "64"), note="-n 2048 -b 64"),
        }),
        Program("fft", {
            "small": SizeArgs(("-m", "14"), note="-m 14 (16K points)"),
            "default": SizeArgs(("-m", "16"), note="-m 16 (64K points)"),
            "large": SizeArgs(("-m", "22"), note="-m 22 (4M points)"),
        }),
        Program("radix", {
            "small": SizeArgs(("-n", "200000", "-r", "256", "-m", "1000000"),
                              note="-n 200000 -r 256 -m 1000000"),
            "default": SizeArgs(("-n", "262144", "-r", "1024", "-m", "524288"),
                                note="-n 262144 -r 1024 -m 524288"),
            "large": SizeArgs(("-n", "16777216", "-r", "1024", "-m", "524288"),
                              note="-n 16777216 -r 1024 -m 524288"),
        }),
        Program("ocean", {
            "small": SizeArgs(("-n", "130"), note="-n 130"),
            "default": SizeArgs(("-n", "258"), note="-n 258"),
            "large": SizeArgs(("-n", "1026"), note="-n 1026"),
        }, power_of_two_threads=True),
        Program("water-nsquared", {
            "small": SizeArgs((), _inp("water-nsquared/input.small"),
                              note="64 molecules, 20 steps"),
            "default": SizeArgs((), _inp("water-nsquared/input"),
                                note="512 molecules, 3 steps"),
            "large": SizeArgs((), _inp("water-nsquared/input", nmol="4096"),
                              note="4096 molecules, 3 steps"),
        }),
        Program("barnes", {
            "small": SizeArgs((), _inp("barnes/input.small"), note="2048 bodies, 4 steps"),
            "default": SizeArgs((), _inp("barnes/input"), note="16384 bodies, 3 steps"),
            "large": SizeArgs((), _inp("barnes/input", nbody="65536", tstop="0.1"),
                              note="65536 bodies, 4 steps"),
        }),
    )
}


@dataclass(frozen=True)
class Config:
    """Where a program runs. kind "omp": the clang -fopenmp build with `threads`
    libomp threads; kind "dsm": the dsm-clang build under dsm-run on `hosts`
    simulated hosts of `per_host` nodes each, processes or (vm) QEMU guests."""

    name: str
    kind: str
    threads: int = 0
    hosts: int = 0
    per_host: int = 0
    vm: bool = False

    @property
    def workers(self):
        return self.threads if self.kind == "omp" else self.hosts * self.per_host

    @property
    def label(self):
        if self.kind == "omp":
            return "OpenMP %d" % self.threads
        return "%d host%s x %d%s" % (self.hosts, "" if self.hosts == 1 else "s", self.per_host,
                                     " VM" if self.vm else "")


DEFAULT_CONFIGS = ("omp-1", "omp-2", "dsm-1x1", "dsm-1x2", "dsm-1x4", "dsm-2x1", "dsm-2x2",
                   "dsm-3x1")

_CONFIG_RE = re.compile(r"^(?:omp-(\d+)|(dsm|vm)-(\d+)x(\d+))$")


def parse_config(name):
    """omp-T (T libomp threads), dsm-HxK (H hosts of K nodes) or vm-HxK (the same
    with every node a QEMU guest). Raises ValueError."""
    m = _CONFIG_RE.match(name)
    if not m:
        raise ValueError("unknown configuration %r (expected omp-T, dsm-HxK or vm-HxK, e.g. "
                         "dsm-2x1)" % name)
    if m.group(1):
        t = int(m.group(1))
        if not 1 <= t <= 256:
            raise ValueError("%s: threads must be 1 to 256" % name)
        return Config(name, "omp", threads=t)
    h, k = int(m.group(3)), int(m.group(4))
    if not 1 <= h <= 64 or not 1 <= k <= 64:
        raise ValueError("%s: hosts and nodes per host must be 1 to 64" % name)
    return Config(name, "dsm", hosts=h, per_host=k, vm=m.group(2) == "vm")


def parse_list(text, known, what):
    """A comma-separated list of names, each in `known` (order kept, no repeats)."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if item not in known:
            raise ValueError("unknown %s %r (known: %s)" % (what, item, ", ".join(known)))
        if item not in out:
            out.append(item)
    if not out:
        raise ValueError("no %s given" % what)
    return out


def parse_configs(text):
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise ValueError("no configuration given")
    configs = []
    for n in names:
        c = parse_config(n)
        if c not in configs:
            configs.append(c)
    return configs


def skip_reason(program, config):
    """Why `program` cannot run on `config` (a string), or None if it can."""
    w = config.workers
    if program.power_of_two_threads and w & (w - 1):
        return "needs a power-of-two thread count"
    return None


def write_input_file(source_dir, input_file, path):
    """Writes the shipped input file with the changes applied to `path`; returns
    `path`. Lines are `name value [# comment]`; a changed name keeps its place."""
    with open(os.path.join(source_dir, input_file.base), encoding="utf-8") as f:
        lines = f.read().splitlines()
    changes = dict(input_file.changes)
    seen = set()
    out = []
    for line in lines:
        words = line.split("#", 1)[0].split()
        if words and words[0] in changes:
            out.append("%s %s" % (words[0], changes[words[0]]))
            seen.add(words[0])
        else:
            out.append(line)
    for name, value in input_file.changes:
        if name not in seen:
            out.append("%s %s" % (name, value))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    return path
