#!/usr/bin/env python3
"""Unit tests of the SPLASH-2 suite's pure parts (benchmarks/suite): the SVG
charts, the CSV and Markdown writers, the reduction of repeats to medians,
speedups and ratios, the parsers of a run's output and statistics, and the
matrix. No process is started; files go to a temporary folder."""

import csv
import json
import math
import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "benchmarks", "suite"))

import suite_matrix  # noqa: E402
import suite_results  # noqa: E402
import suite_runner  # noqa: E402
import suite_svg  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def bars(svg_text):
    """The <rect class="bar"> elements of an SVG document, parsed."""
    root = ET.fromstring(svg_text.encode("utf-8"))
    assert root.tag == SVG + "svg", root.tag
    return [r for r in root.iter(SVG + "rect") if r.get("class") == "bar"]


def missing(svg_text):
    root = ET.fromstring(svg_text.encode("utf-8"))
    return [t for t in root.iter(SVG + "text") if t.get("class") == "missing"]


def run(program, config, repeat, status="ok", phase=1.0, total=2.0, stats=None, reason=""):
    return suite_runner.RunResult(program, config, repeat, status, reason=reason, exit_code=0,
                                  threads=1, phase_s=phase, total_s=total, wall_s=total + 0.1,
                                  stats=stats or {})


class SvgTest(unittest.TestCase):
    def test_grouped_bars_one_rect_per_value_with_heights_in_proportion(self):
        chart = suite_svg.grouped_bars("t", ["lu", "fft"], ["a", "b"], [[1.0, 2.0], [4.0, 3.0]],
                                       "speedup")
        rects = bars(chart.svg())
        self.assertEqual(len(rects), 4)
        height = {(r.get("data-group"), r.get("data-series")): float(r.get("height"))
                  for r in rects}
        self.assertAlmostEqual(height["lu", "b"] / height["lu", "a"], 2.0, places=3)
        self.assertAlmostEqual(height["fft", "a"] / height["lu", "a"], 4.0, places=3)
        # bars stand on the baseline
        bottoms = {round(float(r.get("y")) + float(r.get("height")), 3) for r in rects}
        self.assertEqual(len(bottoms), 1)
        self.assertEqual({r.get("data-value") for r in rects}, {"1", "2", "3", "4"})

    def test_missing_value_is_a_note_not_a_bar(self):
        chart = suite_svg.grouped_bars("t", ["lu"], ["a", "b"], [[None, 2.0]], "y",
                                       notes=[["failed", ""]])
        text = chart.svg()
        self.assertEqual(len(bars(text)), 1)
        notes = missing(text)
        self.assertEqual([(n.get("data-series"), n.text) for n in notes], [("a", "failed")])

    def test_log_axis_bars_grow_from_the_baseline_both_ways(self):
        chart = suite_svg.grouped_bars("t", ["g"], ["slow", "fast"], [[4.0, 0.25]], "ratio",
                                       log=True, baseline=1.0, reference=1.0)
        rects = {r.get("data-series"): r for r in bars(chart.svg())}
        slow, fast = rects["slow"], rects["fast"]
        self.assertAlmostEqual(float(slow.get("height")), float(fast.get("height")), places=3)
        # the slow bar ends where the fast one starts: at the baseline, value 1
        self.assertAlmostEqual(float(slow.get("y")) + float(slow.get("height")),
                               float(fast.get("y")), places=3)

    def test_names_are_escaped(self):
        chart = suite_svg.grouped_bars("a <b> & \"c\"", ["x&y"], ["<s>"], [[1.0]], "y")
        rects = bars(chart.svg())
        self.assertEqual(rects[0].get("data-group"), "x&y")
        self.assertEqual(rects[0].get("data-series"), "<s>")
        root = ET.fromstring(chart.svg().encode("utf-8"))
        self.assertIn("a <b> & \"c\"", [t.text for t in root.iter(SVG + "text")])

    def test_stacked_bars_sum_their_segments_and_skip_zero_ones(self):
        chart = suite_svg.stacked_bars("t", ["p"], ["one", "two", "gone"], ["x", "y"],
                                       [[[1.0, 1.0], [3.0, 0.0], None]], "s",
                                       notes=[["", "", "timeout"]])
        text = chart.svg()
        rects = bars(text)
        self.assertEqual(len(rects), 3)  # one + one segments, two's second is 0
        per_bar = {}
        for r in rects:
            per_bar[r.get("data-series")] = per_bar.get(r.get("data-series"), 0.0) + float(
                r.get("height"))
        self.assertAlmostEqual(per_bar["one"] / per_bar["two"], 2.0 / 3.0, places=3)
        self.assertEqual([n.text for n in missing(text)], ["timeout"])
        # segments of one bar touch
        one = sorted((r for r in rects if r.get("data-series") == "one"),
                     key=lambda r: float(r.get("y")))
        self.assertAlmostEqual(float(one[0].get("y")) + float(one[0].get("height")),
                               float(one[1].get("y")), delta=0.11)  # written to 0.1 px

    def test_page_lays_charts_out_in_a_grid_within_its_size(self):
        charts = [suite_svg.grouped_bars("t%d" % i, ["g"], ["s"], [[1.0]], "y") for i in range(5)]
        text = suite_svg.page(charts, columns=2)
        root = ET.fromstring(text.encode("utf-8"))
        width, height = int(root.get("width")), int(root.get("height"))
        self.assertEqual(len(bars(text)), 5)
        self.assertGreaterEqual(width, 2 * charts[0].width)
        self.assertGreaterEqual(height, 3 * charts[0].height)
        self.assertLess(width, 3 * charts[0].width)

    def test_ticks_cover_the_values(self):
        for lo, hi in ((0, 1), (0, 7.3), (0, 0.013), (-2, 5), (0, 1234)):
            t = suite_svg.nice_ticks(lo, hi)
            self.assertLessEqual(t[0], lo)
            self.assertGreaterEqual(t[-1], hi)
            self.assertLessEqual(len(t), 12)
        t = suite_svg.log_ticks(0.1, 50)
        self.assertEqual(t[0], 0.1)
        self.assertIn(1.0, t)
        self.assertEqual(t[-1], 50)


class SummaryTest(unittest.TestCase):
    configs = [suite_matrix.parse_config(n) for n in ("omp-1", "omp-2", "dsm-1x1", "dsm-2x1")]

    def test_medians_speedups_ratios(self):
        runs = []
        for rep, (a, b, c, d) in enumerate([(2.0, 1.0, 2.2, 4.0), (2.2, 1.2, 2.0, 3.0),
                                           (1.8, 1.1, 2.4, 5.0)], 1):
            runs += [run("lu", "omp-1", rep, phase=a), run("lu", "omp-2", rep, phase=b),
                     run("lu", "dsm-1x1", rep, phase=c),
                     run("lu", "dsm-2x1", rep, phase=d, stats={"faults": rep})]
        cells = suite_results.summarize(["lu"], self.configs, runs, {})
        by = {c.config.name: c for c in cells}
        self.assertEqual([c.config.name for c in cells], ["omp-1", "omp-2", "dsm-1x1", "dsm-2x1"])
        self.assertAlmostEqual(by["omp-1"].phase_s, 2.0)
        self.assertAlmostEqual(by["dsm-2x1"].phase_s, 4.0)
        self.assertEqual((by["dsm-2x1"].phase_min, by["dsm-2x1"].phase_max), (3.0, 5.0))
        self.assertEqual(by["dsm-2x1"].stats["faults"], 1)  # the run with the median time
        self.assertAlmostEqual(by["omp-2"].speedup, 2.0 / 1.1)
        self.assertAlmostEqual(by["dsm-2x1"].speedup, 0.5)
        self.assertAlmostEqual(by["dsm-2x1"].self_speedup, 2.2 / 4.0)
        self.assertAlmostEqual(by["dsm-2x1"].ratio_omp, 4.0 / 1.1)
        self.assertAlmostEqual(by["dsm-1x1"].ratio_omp, 1.1)
        self.assertIsNone(by["omp-2"].ratio_omp)
        # Repeat by repeat: 4.0/1.0, 3.0/1.2, 5.0/1.1 against OpenMP 2.
        self.assertAlmostEqual(by["dsm-2x1"].ratio_paired, 4.0)
        self.assertAlmostEqual(by["dsm-2x1"].ratio_paired_min, 3.0 / 1.2)
        self.assertAlmostEqual(by["dsm-2x1"].ratio_paired_max, 5.0 / 1.1)
        self.assertAlmostEqual(by["dsm-1x1"].ratio_paired, 2.2 / 2.0)
        self.assertIsNone(by["omp-2"].ratio_paired)

    def test_one_failed_repeat_fails_the_cell_whatever_its_speed(self):
        runs = [run("fft", "omp-1", 1), run("fft", "omp-1", 2, status="timeout", reason="t/o"),
                run("fft", "omp-2", 1), run("fft", "omp-2", 2, status="failed", phase=0.01,
                                            reason="check=failed")]
        cells = suite_results.summarize(["fft"], self.configs[:2], runs, {})
        self.assertEqual([c.status for c in cells], ["timeout", "failed"])
        self.assertIn("check=failed (1 of 2 runs)", cells[1].reason)
        self.assertIsNone(cells[1].phase_s)
        self.assertEqual(len(suite_results.failures(cells)), 2)

    def test_skipped_cells_are_not_failures(self):
        cells = suite_results.summarize(["ocean"], self.configs[:1], [],
                                        {("ocean", "omp-1"): "needs a power of two"})
        self.assertEqual(cells[0].status, "skipped")
        self.assertEqual(suite_results.failures(cells), [])


class WriterTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        configs = [suite_matrix.parse_config(n) for n in ("omp-1", "omp-2", "dsm-2x1")]
        stats = {k: 7 for k in suite_runner.STAT_KEYS}
        stats.update(nodes=2, fault_s=0.2, lock_wait_s=0.5, barrier_wait_s=0.3)
        runs = [run("lu", "omp-1", 1, phase=1.5), run("lu", "omp-2", 1, phase=1.0),
                run("lu", "dsm-2x1", 1, phase=2.0, stats=stats),
                run("radix", "omp-1", 1, phase=1.5), run("radix", "omp-2", 1, phase=1.0),
                run("radix", "dsm-2x1", 1, status="failed", reason='exit 1: "x", y | z')]
        self.configs = configs
        self.cells = suite_results.summarize(["lu", "radix"], configs, runs, {})
        self.runs = runs

    def tearDown(self):
        self.dir.cleanup()

    def test_cells_csv_reads_back(self):
        path = os.path.join(self.dir.name, "results.csv")
        suite_results.write_cells_csv(path, self.cells, "small")
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(tuple(rows[0].keys()), suite_results.CELL_COLUMNS)
        self.assertEqual(len(rows), 6)
        lu = rows[2]
        self.assertEqual((lu["program"], lu["config"], lu["hosts"], lu["workers"]),
                         ("lu", "dsm-2x1", "2", "2"))
        self.assertAlmostEqual(float(lu["phase_s"]), 2.0)
        self.assertAlmostEqual(float(lu["ratio_omp"]), 2.0)
        self.assertEqual(lu["faults"], "7")
        self.assertAlmostEqual(float(lu["lock_wait_s"]), 0.5)
        self.assertEqual(rows[0]["hosts"], "")  # OpenMP: no hosts
        bad = rows[5]
        self.assertEqual(bad["status"], "failed")
        self.assertEqual(bad["reason"], 'exit 1: "x", y | z (1 of 1 runs)')
        self.assertEqual(bad["phase_s"], "")

    def test_runs_csv_reads_back(self):
        path = os.path.join(self.dir.name, "runs.csv")
        suite_results.write_runs_csv(path, self.runs, "small")
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(tuple(rows[0].keys()), suite_results.RUN_COLUMNS)
        self.assertEqual([r["status"] for r in rows], ["ok"] * 5 + ["failed"])
        size, back = suite_results.read_runs_csv(path)
        self.assertEqual(size, "small")
        self.assertEqual([(r.program, r.config, r.repeat, r.status, r.reason, r.phase_s)
                          for r in back],
                         [(r.program, r.config, r.repeat, r.status, r.reason, r.phase_s)
                          for r in self.runs])
        self.assertEqual(back[2].stats["nodes"], 2)
        self.assertAlmostEqual(back[2].stats["lock_wait_s"], 0.5)
        with open(path, "w", encoding="utf-8") as f:
            f.write("program,size\nlu,small\n")
        with self.assertRaises(ValueError):
            suite_results.read_runs_csv(path)

    def test_markdown_tables_are_rectangular_and_name_failures(self):
        text = suite_results.markdown(self.cells, ["lu", "radix"], self.configs,
                                      [("date", "today")], {"lu": "-n 1", "radix": "-n 2"})
        tables = 0
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|")):
                tables += 1
                width = self._cells(line)
                j = i + 1
                while j < len(lines) and lines[j].startswith("|"):
                    self.assertEqual(self._cells(lines[j]), width, lines[j])
                    j += 1
        self.assertEqual(tables, 4)  # phase, speedup, ratio repeat by repeat, every cell
        self.assertIn("**FAILED**", text)
        self.assertIn("radix on 2 hosts x 1: failed", text)

    @staticmethod
    def _cells(line):
        # cells split at unescaped pipes
        count, i = 0, 0
        while i < len(line):
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == "|":
                count += 1
            i += 1
        return count - 1

    def test_charts_written_are_svg_with_a_bar_per_cell(self):
        paths = suite_results.write_charts(self.dir.name, self.cells, ["lu", "radix"],
                                           self.configs)
        names = sorted(os.path.basename(p) for p in paths)
        self.assertEqual(names, ["breakdown.svg", "ratio.svg", "speedup.svg", "suite.svg"])
        with open(os.path.join(self.dir.name, "speedup.svg"), encoding="utf-8") as f:
            text = f.read()
        self.assertEqual({(b.get("data-group"), b.get("data-series")) for b in bars(text)},
                         {("lu", "OpenMP 1"), ("lu", "OpenMP 2"), ("lu", "2 hosts x 1"),
                          ("radix", "OpenMP 1"), ("radix", "OpenMP 2")})
        self.assertEqual([(m.get("data-group"), m.text) for m in missing(text)],
                         [("radix", "failed")])
        with open(os.path.join(self.dir.name, "breakdown.svg"), encoding="utf-8") as f:
            segs = {b.get("data-segment") for b in bars(f.read()) if b.get("data-group") == "lu"}
        self.assertEqual(segs, {"compute and other", "lock wait", "fault", "barrier wait"})

    def test_breakdown_per_worker(self):
        cell = [c for c in self.cells if c.config.name == "dsm-2x1" and c.program == "lu"][0]
        cell.stats.update(nodes=2, fault_s=0.2, lock_wait_s=0.4, barrier_wait_s=0.6)
        parts = suite_results.breakdown(cell)
        self.assertEqual(len(parts), 4)
        self.assertAlmostEqual(sum(parts), cell.stats_wall_s)
        self.assertAlmostEqual(parts[1], 0.1)
        self.assertAlmostEqual(parts[3], 0.3)


class RunnerTest(unittest.TestCase):
    def test_suite_line(self):
        out = ("noise\nDSM-SUITE: program=lu threads=2 phase_s=0.5 total_s=1.5 check=ok\n"
               "DSM-SUITE: program=lu threads=2 phase_s=0.25 total_s=1 check=failed\n")
        self.assertEqual(suite_runner.parse_suite_line(out)["phase_s"], "0.25")
        self.assertIsNone(suite_runner.parse_suite_line("nothing"))
        self.assertEqual(suite_runner.failure_message("a\nFAILED: the sum is 3\n"), "the sum is 3")
        lost = ("x: error: host 0 silent\ndsm-run: lost contact with host 0; ending the job\n"
                "dsm-hostd[host 0]: error: node 0 left the job\n")
        self.assertEqual(suite_runner.failure_message(lost),
                         "dsm-run: lost contact with host 0; ending the job")
        self.assertEqual(suite_runner.failure_message("a: error: b\nc\n"), "a: error: b")
        self.assertEqual(suite_runner.failure_message("fine\n"), "")

    def _judge(self, output, exit_code, under_dsm_run=True, threads=2):
        r = suite_runner.RunResult("lu", "dsm-2x1", 1, "failed", exit_code=exit_code)
        suite_runner.judge(r, output, threads, under_dsm_run)
        return r

    def test_judge(self):
        good = "DSM-SUITE: program=lu threads=2 phase_s=0.5 total_s=1.5 check=ok\n"
        r = self._judge(good, 0)
        self.assertEqual((r.status, r.phase_s, r.total_s, r.threads), ("ok", 0.5, 1.5, 2))
        self.assertEqual(self._judge(good.replace("=ok", "=failed"), 0).status, "failed")
        self.assertEqual(self._judge(good, 1).status, "failed")
        self.assertEqual(self._judge(good, 124).status, "timeout")
        self.assertEqual(self._judge(good, 124, under_dsm_run=False).status, "failed")
        self.assertEqual(self._judge("", 0).status, "failed")
        r = self._judge(good, 0, threads=4)
        self.assertEqual((r.status, r.reason), ("failed", "ran 2 threads, expected 4"))
        r = self._judge(good.replace("phase_s=0.5", "phase_s=nan"), 0)
        self.assertEqual(r.status, "failed")

    def test_aggregate_stats(self):
        node = {"read_faults": 2, "write_faults": 3, "lock_fast": 1, "lock_slow": 1,
                "lock_wait_ns": 1000000000, "barriers": 4, "barrier_wait_ns": 500000000,
                "fault_ns": 250000000}
        host = {"nodes": [node, node], "coherence": {"pages_fetched": 10, "fetch_messages": 4,
                                                     "diffs": 3, "diff_bytes": 300,
                                                     "homes_gained": 5, "homes_lost": 2},
                "messages": {"fetch": {"count": 4, "bytes": 40},
                             "diff": {"count": 3, "bytes": 330}}}
        s = suite_runner.aggregate_stats(json.loads(json.dumps({"hosts": [host, host, None]})))
        self.assertEqual((s["faults"], s["read_faults"], s["nodes"], s["hosts_missing"]),
                         (20, 8, 4, 1))
        self.assertEqual((s["pages_fetched"], s["diffs"], s["diff_bytes"]), (20, 6, 600))
        self.assertEqual(s["homes_moved"], 10, "pages that moved their home, counted where they arrived")
        self.assertEqual((s["messages"], s["message_bytes"]), (14, 740))
        self.assertEqual((s["lock_acquires"], s["barriers"]), (8, 4))
        self.assertTrue(math.isclose(s["lock_wait_s"], 4.0))
        self.assertTrue(math.isclose(s["barrier_wait_s"], 2.0))
        self.assertTrue(math.isclose(s["fault_s"], 1.0))
        with self.assertRaises(ValueError):
            suite_runner.aggregate_stats({"nodes": []})

    def test_commands(self):
        paths = suite_runner.Paths("/b", "/s")
        argv, env = suite_runner.command("fft", suite_matrix.parse_config("omp-2"), ["-m", "14"],
                                         paths, 10, "/x.json")
        self.assertEqual(argv, ["/b/examples/splash2/fft_omp", "-p", "2", "-m", "14"])
        self.assertEqual(env, {"OMP_NUM_THREADS": "2"})
        argv, env = suite_runner.command("fft", suite_matrix.parse_config("dsm-3x2"), ["in"],
                                         paths, 2.5, "/x.json")
        self.assertEqual(argv, ["/b/bin/dsm-run", "-n", "6", "--hosts", "3", "--timeout", "2.5",
                                "--stats-json", "/x.json", "--", "/b/examples/splash2/fft_dsm",
                                "-p", "6", "in"])
        # --home goes to dsm-run, never to an OpenMP run.
        argv, env = suite_runner.command("fft", suite_matrix.parse_config("dsm-2x1"), ["in"],
                                         paths, 5, "/x.json", home="migrate")
        self.assertEqual(argv, ["/b/bin/dsm-run", "-n", "2", "--hosts", "2", "--timeout", "5",
                                "--stats-json", "/x.json", "--home", "migrate", "--",
                                "/b/examples/splash2/fft_dsm", "-p", "2", "in"])
        argv, env = suite_runner.command("fft", suite_matrix.parse_config("omp-1"), [], paths, 5,
                                         "/x.json", home="migrate")
        self.assertNotIn("--home", argv)
        # In guests an input file (an absolute path that exists) becomes stdin.
        with tempfile.NamedTemporaryFile() as f:
            vm = suite_matrix.parse_config("vm-2x1")
            argv, env = suite_runner.command("barnes", vm, [f.name], paths, 10, "/x.json")
            self.assertEqual(argv, ["/b/bin/dsm-run", "-n", "2", "--hosts", "2", "--timeout", "10",
                                    "--stats-json", "/x.json", "--vm", "--",
                                    "/b/examples/splash2/barnes_dsm", "-p", "2"])
            self.assertEqual(suite_runner.stdin_of(vm, [f.name]), f.name)
            self.assertIsNone(suite_runner.stdin_of(suite_matrix.parse_config("dsm-2x1"), [f.name]))
            self.assertIsNone(suite_runner.stdin_of(vm, ["-n", "200"]))


class MatrixTest(unittest.TestCase):
    def test_configs(self):
        c = suite_matrix.parse_config("dsm-2x4")
        self.assertEqual((c.kind, c.hosts, c.per_host, c.workers, c.label),
                         ("dsm", 2, 4, 8, "2 hosts x 4"))
        v = suite_matrix.parse_config("vm-1x2")
        self.assertEqual((v.kind, v.vm, v.workers, v.label), ("dsm", True, 2, "1 host x 2 VM"))
        self.assertFalse(c.vm)
        self.assertEqual(suite_matrix.parse_config("omp-3").workers, 3)
        for bad in ("omp-0", "dsm-2", "dsm-0x1", "mpi-2", "omp-2 "):
            with self.assertRaises(ValueError):
                suite_matrix.parse_config(bad)
        self.assertEqual([x.name for x in suite_matrix.parse_configs("omp-1, dsm-1x1,omp-1")],
                         ["omp-1", "dsm-1x1"])
        with self.assertRaises(ValueError):
            suite_matrix.parse_list("lu,nope", ["lu"], "program")

    def test_every_program_has_every_size_and_default_configs_parse(self):
        for p in suite_matrix.PROGRAMS.values():
            self.assertEqual(set(p.sizes), set(suite_matrix.SIZES), p.name)
        for n in suite_matrix.DEFAULT_CONFIGS:
            suite_matrix.parse_config(n)

    def test_skip(self):
        ocean = suite_matrix.PROGRAMS["ocean"]
        self.assertIsNotNone(suite_matrix.skip_reason(ocean, suite_matrix.parse_config("dsm-3x1")))
        self.assertIsNone(suite_matrix.skip_reason(ocean, suite_matrix.parse_config("dsm-2x2")))
        self.assertIsNone(suite_matrix.skip_reason(suite_matrix.PROGRAMS["lu"],
                                                   suite_matrix.parse_config("dsm-3x1")))

    def test_input_file_changes(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "base"), "w", encoding="utf-8") as f:
                f.write("# comment\nnmol 512  # molecules\nnstep 3\n")
            path = suite_matrix.write_input_file(
                d, suite_matrix.InputFile("base", (("nmol", "4096"), ("seed", "2"))),
                os.path.join(d, "out"))
            with open(path, encoding="utf-8") as f:
                self.assertEqual(f.read(), "# comment\nnmol 4096\nnstep 3\nseed 2\n")


if __name__ == "__main__":
    unittest.main()
