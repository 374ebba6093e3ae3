#!/usr/bin/env python3
"""The SPLASH-2 suite (benchmarks/suite) run for real at the small sizes, one
repeat, on a reduced matrix (lu and radix; OpenMP on 1 and 2 threads, 1 host
x 2 nodes, 2 hosts x 1 node): its CSV, Markdown and SVG files must exist and be
well-formed, with the runs' numbers and DSM statistics in them, and the same
when written again from the saved runs (--report-from); a run whose result is
corrupted on purpose, or that times out, must make it exit 1.

Usage: suite_run_test.py BUILD_DIR OUT_DIR (the programs, dsm-run and dsm-hostd
already built in BUILD_DIR; OUT_DIR is emptied first)."""

import csv
import os
import shutil
import subprocess
import sys
import unittest
import xml.etree.ElementTree as ET

SUITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks",
                     "suite", "dsm_suite.py")
SVG = "{http://www.w3.org/2000/svg}"
BUILD = OUT = None  # set from the command line


def suite(out, *args):
    """Runs the suite (no build step) and returns (exit status, stdout, stderr)."""
    r = subprocess.run([sys.executable, SUITE, "--no-build", "--build", BUILD, "--out", out,
                        "--sizes", "small", "--repeat", "1"] + list(args),
                       capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def svg_root(path):
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg", root.tag
    return root


class SuiteRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        shutil.rmtree(OUT, ignore_errors=True)
        os.makedirs(OUT)

    def test_reduced_matrix_writes_well_formed_results(self):
        out = os.path.join(OUT, "good")
        configs = ["omp-1", "omp-2", "dsm-1x2", "dsm-2x1"]
        code, stdout, stderr = suite(out, "--programs", "lu,radix", "--configs", ",".join(configs))
        self.assertEqual(code, 0, stdout + stderr)
        # progress: one line per run
        progress = [l for l in stdout.splitlines() if l.startswith("[")]
        self.assertEqual(len(progress), 8, stdout)
        self.assertTrue(all(l.endswith(" ok") for l in progress), stdout)

        cells = read_csv(os.path.join(out, "results.csv"))
        self.assertEqual([(c["program"], c["config"]) for c in cells],
                         [(p, c) for p in ("lu", "radix") for c in configs])
        for c in cells:
            self.assertEqual((c["status"], c["size"], c["ok_runs"]), ("ok", "small", "1"), c)
            self.assertGreater(float(c["phase_s"]), 0)
            self.assertGreaterEqual(float(c["total_s"]), float(c["phase_s"]))
            self.assertGreater(float(c["wall_s"]), 0)
            self.assertGreater(float(c["speedup"]), 0)
        by = {(c["program"], c["config"]): c for c in cells}
        for p in ("lu", "radix"):
            two_hosts = by[p, "dsm-2x1"]
            self.assertEqual((two_hosts["hosts"], two_hosts["workers"]), ("2", "2"))
            self.assertGreater(float(two_hosts["ratio_omp"]), 0)
            # pages travel between the hosts: faults, fetches and messages
            for k in ("faults", "pages_fetched", "messages", "barriers"):
                self.assertGreater(int(two_hosts[k]), 0, (p, k))
            self.assertEqual(by[p, "omp-2"]["faults"], "")
        self.assertEqual(len(read_csv(os.path.join(out, "runs.csv"))), 8)

        with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
            md = f.read()
        self.assertIn("| program | OpenMP 1 | OpenMP 2 | 1 host x 2 | 2 hosts x 1 |", md)
        self.assertIn("None: every run's check passed.", md)

        for name in ("speedup.svg", "ratio.svg", "breakdown.svg", "suite.svg"):
            svg_root(os.path.join(out, name))
        bars = [r for r in svg_root(os.path.join(out, "speedup.svg")).iter(SVG + "rect")
                if r.get("class") == "bar"]
        self.assertEqual(sorted((b.get("data-group"), b.get("data-series")) for b in bars),
                         sorted((p, c) for p in ("lu", "radix") for c in
                                ("OpenMP 1", "OpenMP 2", "1 host x 2", "2 hosts x 1")))
        ratio = [r for r in svg_root(os.path.join(out, "ratio.svg")).iter(SVG + "rect")
                 if r.get("class") == "bar"]
        self.assertEqual(len(ratio), 4)
        segments = [r for r in svg_root(os.path.join(out, "breakdown.svg")).iter(SVG + "rect")
                    if r.get("class") == "bar" and r.get("data-series") == "2 hosts x 1"]
        self.assertIn("fault", {s.get("data-segment") for s in segments})

        # the same results again from the saved runs and statistics
        again = os.path.join(OUT, "again")
        r = subprocess.run([sys.executable, SUITE, "--report-from", out, "--out", again],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(read_csv(os.path.join(again, "results.csv")), cells)

    def test_corrupted_result_fails_the_suite(self):
        out = os.path.join(OUT, "corrupt")
        code, stdout, stderr = suite(out, "--programs", "lu,radix", "--configs", "dsm-1x2,dsm-2x1",
                                     "--test-corrupt", "radix")
        self.assertEqual(code, 1, stdout + stderr)
        self.assertIn("FAILED: radix on dsm-2x1", stderr)
        status = {(c["program"], c["config"]): c["status"]
                  for c in read_csv(os.path.join(out, "results.csv"))}
        self.assertEqual(status, {("lu", "dsm-1x2"): "ok", ("lu", "dsm-2x1"): "ok",
                                  ("radix", "dsm-1x2"): "failed", ("radix", "dsm-2x1"): "failed"})
        with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
            md = f.read()
        self.assertIn("**FAILED**", md)
        self.assertIn("radix on 2 hosts x 1: failed", md)
        missing = [t for t in svg_root(os.path.join(out, "speedup.svg")).iter(SVG + "text")
                   if t.get("class") == "missing"]
        # no OpenMP reference, so lu's speedups are "n/a"; radix's are failures
        self.assertEqual({t.get("data-group") for t in missing if t.text == "failed"}, {"radix"})

    def test_timeout_is_reported_and_fails_the_suite(self):
        out = os.path.join(OUT, "timeout")
        # ocean at the small size takes several tenths of a second on 2 hosts
        code, stdout, stderr = suite(out, "--programs", "ocean", "--configs", "dsm-2x1",
                                     "--timeout", "0.05")
        self.assertEqual(code, 1, stdout + stderr)
        self.assertIn("TIMEOUT: ocean on dsm-2x1", stderr)
        self.assertEqual(read_csv(os.path.join(out, "results.csv"))[0]["status"], "timeout")

    def test_bad_command_line_exits_2(self):
        for args in (["--configs", "dsm-1"], ["--programs", "nope"], ["--repeat", "0"]):
            code, _, stderr = suite(os.path.join(OUT, "bad"), *args)
            self.assertEqual(code, 2, (args, stderr))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: suite_run_test.py BUILD_DIR OUT_DIR")
    BUILD, OUT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=sys.argv[:1], verbosity=2)
