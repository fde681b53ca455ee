#!/usr/bin/env python3
"""Self-test of the matrix's report generator and gate on synthetic runs (run by the lint cell).

    python3 ci/lib/test_tools.py

Each case builds a run directory the way ci/run-matrix.sh does (cells/<arch>-<cell>/result,
logs, CLI documents), runs report.py on it, then gate.py, and checks the gate's verdict and
that the report says why. Exit 0 when every case behaves.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

LIB = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("MATRIX_SWIFT_VERSION", "Swift version (self-test)")
# Synthetic runs never join the checkout's reports/history/ (history_self_test sets its own).
os.environ["OFFHEAP_HISTORY"] = "0"
FAILURES: list[str] = []


def cell(run: str, arch: str, name: str, status: str = "pass", reason: str = "", log: str = "",
         files: dict[str, str] | None = None, optional: str = "") -> None:
    folder = os.path.join(run, "cells", f"{arch}-{name}")
    os.makedirs(folder, exist_ok=True)
    exit_code = {"pass": 0, "fail": 1, "skipped": 3}[status]
    with open(os.path.join(folder, "result"), "w") as handle:
        handle.write(f"arch={arch}\ncell={name}\nstatus={status}\nexit={exit_code}\nwhere=host\n"
                     f"start=100.0\nend=112.5\ntimeout=900\nreason={reason}\noptional={optional}\n")
    with open(os.path.join(folder, "log.txt"), "w") as handle:
        handle.write(log)
    for file_name, text in (files or {}).items():
        with open(os.path.join(folder, file_name), "w") as handle:
            handle.write(text)


def run_doc(command: str, results: list[dict], corruption: int = 0, ok: bool = True,
            timeline: list[dict] | None = None, emulated: bool = False,
            config: dict | None = None) -> str:
    doc = {"schema": "offheap.run/1", "command": command, "arch": "x86_64", "emulated": emulated,
           "machine": {}, "config": config or {}, "results": results,
           "totals": {"errors": 0, "corruption": corruption, "failedRecoveries": 0}, "ok": ok}
    if timeline is not None:
        doc["timeline"] = timeline
    return json.dumps(doc)


def result(workload: str, allocator: str, ops: float, threads: int = 2) -> dict:
    return {"workload": workload, "allocator": allocator, "threads": threads, "operations": int(ops),
            "seconds": 1.0, "opsPerSecond": ops, "nsPerOp": 1e9 / ops, "p50Ns": 100, "p99Ns": 900,
            "errors": 0, "corruption": 0, "recovered": True}


STRESS_CONFIG = {"allocators": ["freelist", "sharded", "heap"], "hyaline": True,
                 "hyalineMixed": True, "hyalineController": True,
                 "roles": ["bounce", "publisher", "reader", "burst", "retire"]}


def stress_result(allocator: str, ops: float = 5e6, drop_role: str = "", cross: int = 4000,
                  ticks: int = 2000) -> dict:
    """A stress result that ran every role (as `offheap stress --roles all --hyaline mixed
    --hyaline-controller on` writes it), optionally without one role or cross-thread frees."""
    r = result("stress", allocator, ops, threads=6)
    r["roles"] = [{"role": role, "lanes": 2 if role == "bounce" else 1,
                   "operations": 0 if role == "reader" else int(ops / 5),
                   "validations": 90000 if role == "reader" else 0,
                   "crossThreadFrees": cross if role == "reader" else 0,
                   "corruption": 0, "errors": 0, "exhausted": 0}
                  for role in STRESS_CONFIG["roles"] if role != drop_role]
    r["facts"] = {"crossThreadFrees": cross * 2, "hyalineReads": 90000, "hyalinePeakUnreclaimed": 736,
                  "hyalineUnreclaimed": 0, "hyalineRetired": 4e6, "hyalineReclaimed": 4e6,
                  "hyalineReclaimCrossThread": cross, "hyalineReclaimCorruption": 0,
                  "hyalineController": 1, "hyalineControllerTicks": ticks,
                  "hyalineControllerFlushes": 1000, "hyalineControllerLowestThreshold": 1}
    return r


def stress_doc(drop_allocator: str = "", controller: bool = True, **changes) -> str:
    results = [stress_result(a, **changes) for a in STRESS_CONFIG["allocators"] if a != drop_allocator]
    return run_doc("stress", results, config=dict(STRESS_CONFIG, hyalineController=controller),
                   timeline=[{"t": t, "opsPerSecond": 4e6 + 1e5 * t} for t in range(11)])


def healthy_run(run: str) -> None:
    os.makedirs(run, exist_ok=True)
    with open(os.path.join(run, "run.env"), "w") as handle:
        handle.write("run_id=test\nprofile=quick\nengine=host\nstarted=2026-01-01T00:00:00Z\n"
                     "finished=2026-01-01T00:05:00Z\nwall_seconds=300\nrace_repetitions=50\n")
    cell(run, "x86_64", "debug-tests",
         log="✔ Test run with 42 tests in 7 suites passed after 1.2 seconds.\n"
             "\t Executed 5 tests, with 0 failures (0 unexpected) in 0.1 (0.1) seconds\n")
    cell(run, "x86_64", "tsan", files={"repetitions": "50\n",
                                       "tsan-race.log": "Test run with 300 tests passed after 3 seconds.\n"})
    cell(run, "x86_64", "valgrind", files={"valgrind-smoke.log":
         "==1==    definitely lost: 0 bytes in 0 blocks\n==1== ERROR SUMMARY: 0 errors from 0 contexts\n"})
    cell(run, "x86_64", "stress", files={"stress.json": stress_doc()})
    mib = 1048576
    sharded, jemalloc = result("larson", "sharded", 8e6), result("larson", "jemalloc", 6e6)
    sharded["facts"] = {"rssBaseBytes": 20 * mib, "rssPeakBytes": 23 * mib, "rssAfterFreeBytes": 22 * mib}
    jemalloc["facts"] = {"rssBaseBytes": 21 * mib, "rssPeakBytes": 26 * mib, "rssAfterFreeBytes": 21 * mib}
    # The thread sweep (outside quick): heap-unchecked against mimalloc at 1, 2 and 4 threads.
    sweep = [result("larson", name, ops * t, threads=t)
             for t in (1, 2, 4) for name, ops in (("heap-unchecked", 5e6), ("mimalloc", 4e6))]
    cell(run, "x86_64", "bench", files={"bench.json": run_doc("bench", [
        sharded, result("larson", "glibc", 4e6),
        jemalloc, result("rag", "heap", 2e6), result("rag", "glibc", 1e6)]),
        "bench-scaling.json": run_doc("bench", sweep),
        "bench-sizes.json": run_doc("bench", [result(f"random-mixed@{b}B", name, ops / b)
                                              for b in (16, 64, 256) for name, ops in (("sharded", 9e8), ("mimalloc", 6e8))])})
    cell(run, "aarch64", "smoke", "skipped", "not built: .build-aarch64/bin/offheap-smoke missing",
         optional="self-test profile lets it skip")


def with_repeats(run: str, larson: list[tuple[float, float]], main: tuple[float, float] | None = None,
                 corruption: int = 0) -> None:
    """Gives the bench cell a main run and repeats of the gated set: larson sharded vs glibc as
    (ours, glibc) ops/s per document (the main run's first), rag heap vs glibc steady at 2.0."""
    files = {}
    if main is not None:
        files["bench.json"] = run_doc("bench", [
            result("larson", "sharded", main[0]), result("larson", "glibc", main[1]),
            result("rag", "heap", 2e6), result("rag", "glibc", 1e6)])
    for index, (ours, peer) in enumerate(larson, start=1):
        files[f"bench-repeat-{index:02d}-t2.json"] = run_doc(
            "bench", [result("larson", "sharded", ours), result("larson", "glibc", peer),
                      result("rag", "heap", 2e6), result("rag", "glibc", 1e6)],
            corruption=corruption if index == len(larson) else 0,
            ok=not (corruption and index == len(larson)))
    files["bench-repeats.env"] = f"repeats={len(larson)}\nseconds=12.5\n"
    cell(run, "x86_64", "bench", files=files)


def strip_samples(run: str) -> None:
    """Rewrites summary.json the way report.py wrote it before repeats existed."""
    path = os.path.join(run, "summary.json")
    summary = json.load(open(path))
    summary.pop("benchmarkRepeats", None)
    for r in summary["ratios"]:
        for key in ("samples", "min", "max"):
            r.pop(key, None)
    with open(path, "w") as handle:
        json.dump(summary, handle)


def check(name: str, run: str, expect_exit: int, expect_text: str, *gate_args: str,
          regenerate: bool = True, absent: str | None = None) -> None:
    if os.path.isdir(run) and regenerate:
        subprocess.run([sys.executable, os.path.join(LIB, "report.py"), run], check=True,
                       capture_output=True, text=True)
    gate = subprocess.run([sys.executable, os.path.join(LIB, "gate.py"), run, *gate_args],
                          capture_output=True, text=True)
    output = gate.stdout + gate.stderr
    if gate.returncode != expect_exit or expect_text not in output or (absent and absent in output):
        FAILURES.append(f"{name}: exit {gate.returncode} (want {expect_exit}), "
                        f"want {expect_text!r} in{f' and no {absent!r}' if absent else ''}:\n{output}")
    else:
        print(f"ok   {name}")


def stand_in_cell(path: str, *body: str) -> str:
    """Writes a stand-in for ci/lib/cell.sh (MATRIX_CELL_SCRIPT): it needs nothing
    (`--needs` prints no probe) and runs BODY's lines as a cell ARCH CELL OUTDIR."""
    with open(path, "w") as handle:
        handle.write("\n".join(["#!/usr/bin/env bash", '[ "$1" = --needs ] && exit 0', *body]) + "\n")
    return path


def matrix_self_test(tmp: str) -> None:
    """ci/run-matrix.sh's own verdict, with a stand-in cell script (MATRIX_CELL_SCRIPT): a
    failed cell and a skipped required cell each make it exit 1 (and the gate too), a clean run
    exits 0, and unknown --cells/--arch names are usage errors (exit 2)."""
    root = os.path.dirname(os.path.dirname(LIB))
    stub = stand_in_cell(os.path.join(tmp, "stub-cell.sh"),
                         'arch="$1"; cell="$2"; out="$3"; mkdir -p "$out"',
                         'case "${STUB_OUTCOME:-pass}:$cell" in',
                         '  skip:la57) echo "not built: stand-in" >"$out/reason"; exit 3 ;;',
                         '  fail:la57) exit 1 ;;',
                         'esac',
                         'exit 0')

    def matrix(name: str, outcome: str, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, MATRIX_CELL_SCRIPT=stub, STUB_OUTCOME=outcome)
        return subprocess.run(["bash", os.path.join(root, "ci", "run-matrix.sh"), "--no-install",
                               "--engine", "host", "--out", os.path.join(tmp, name), *args],
                              capture_output=True, text=True, env=env, cwd=root)

    cells = ["--arch", "x86_64", "--cells", "la57,lint"]
    for outcome, want, text in (("pass", 0, "MATRIX PASS: 2 cells"),
                                ("skip", 1, "x86_64/la57 skipped (required in profile default): not built: stand-in"),
                                ("fail", 1, "x86_64/la57 fail: exit status 1")):
        done = matrix(f"matrix-{outcome}", outcome, *cells)
        output = done.stdout + done.stderr
        if done.returncode != want or text not in output:
            FAILURES.append(f"run-matrix.sh with a {outcome} cell: exit {done.returncode} (want {want}), "
                            f"want {text!r} in:\n{output[-1500:]}")
        else:
            print(f"ok   run-matrix.sh exits {want} when a cell is {outcome}")
        env = open(os.path.join(tmp, f"matrix-{outcome}", "run.env")).read()
        if "command=ci/run-matrix.sh --no-install --engine host --out" not in env:
            FAILURES.append(f"run.env does not record the command line:\n{env}")
    check("the gate fails the run whose required cell skipped", os.path.join(tmp, "matrix-skip"), 1,
          "x86_64/la57: skipped — not built: stand-in (required", regenerate=False)
    scheduler_self_test(tmp, root)
    for args, text in ((["--cells", "la57,no-such-cell"], "unknown cell 'no-such-cell'"),
                       (["--arch", "riscv64"], "unknown arch riscv64")):
        done = matrix("matrix-usage", "pass", *args)
        if done.returncode != 2 or text not in done.stderr:
            FAILURES.append(f"run-matrix.sh {args}: exit {done.returncode} (want 2), want {text!r} in:\n{done.stderr}")
        else:
            print(f"ok   run-matrix.sh {' '.join(args)} is a usage error")


def scheduler_self_test(tmp: str, root: str) -> None:
    """The matrix's scheduler, with a stand-in cell that logs when it starts and ends: at most
    --jobs cells at once, every cell after the cells it uses (the aarch64 cells that run the plain
    cross build after it, the checker cells without waiting for it, defects after valgrind/asan/
    tsan), the native bench alone and last. The x86-64 TSan
    stand-in runs longest, so defects would start beside it if it did not wait for it."""
    log = os.path.join(tmp, "schedule.log")
    stub = stand_in_cell(os.path.join(tmp, "timed-cell.sh"),
                         'mkdir -p "$3"',
                         'echo "$(date +%s.%N) start $1/$2" >>"$STUB_LOG"',
                         'case "$1/$2" in x86_64/tsan) sleep 8 ;; aarch64/build) sleep 2 ;; *) sleep 0.3 ;; esac',
                         'echo "$(date +%s.%N) end $1/$2" >>"$STUB_LOG"')
    cells = "aarch64/build,aarch64/tsan,aarch64/defects,aarch64/bench,x86_64/valgrind,x86_64/asan,x86_64/tsan," \
            "x86_64/defects,x86_64/bench,x86_64/lint"
    done = subprocess.run(["bash", os.path.join(root, "ci", "run-matrix.sh"), "--no-install", "--engine",
                           "host", "--jobs", "2", "--cells", cells, "--out", os.path.join(tmp, "schedule")],
                          capture_output=True, text=True, cwd=root,
                          env=dict(os.environ, MATRIX_CELL_SCRIPT=stub, STUB_LOG=log))
    events = sorted((float(t), kind, item) for t, kind, item in
                    (line.split() for line in open(log).read().splitlines()))
    start = {item: t for t, kind, item in events if kind == "start"}
    end = {item: t for t, kind, item in events if kind == "end"}
    problems = [] if done.returncode == 0 else [f"exit {done.returncode}: {done.stderr[-600:]}"]
    if set(start) != set(cells.split(",")) or set(end) != set(start):
        problems.append(f"cells run: {sorted(start)}")
    # --jobs 2 lanes, plus at most one light cell (LIGHT_CELLS: lint here) beside them.
    light = {"x86_64/lint"}
    running = peak = heavy = heavy_peak = 0
    for _, kind, item in events:
        step = 1 if kind == "start" else -1
        running += step
        if item not in light:
            heavy += step
        peak, heavy_peak = max(peak, running), max(heavy_peak, heavy)
    if heavy_peak > 2 or peak > 3:
        problems.append(f"{peak} cells ({heavy_peak} not light) ran at once with --jobs 2")
    for item, deps in (("aarch64/bench", ["aarch64/build"]), ("aarch64/defects", ["aarch64/tsan"]),
                       ("x86_64/defects", ["x86_64/valgrind", "x86_64/asan", "x86_64/tsan"])):
        for dep in deps:
            if item in start and dep in end and start[item] < end[dep]:
                problems.append(f"{item} started before {dep} ended")
    # The checker cells build their own aarch64 variant: they do not wait for the plain build.
    if "aarch64/tsan" in start and "aarch64/build" in end and start["aarch64/tsan"] >= end["aarch64/build"]:
        problems.append("aarch64/tsan waited for aarch64/build (it builds its own variant)")
    if "x86_64/bench" in start and any(t > start["x86_64/bench"] for i, t in end.items() if i != "x86_64/bench"):
        problems.append("x86_64/bench did not run alone and last")
    if problems:
        FAILURES.append("run-matrix.sh scheduling: " + "; ".join(problems))
    else:
        print(f"ok   run-matrix.sh runs cells after what they use, at most --jobs at once (+1 light), the bench "
              f"alone ({len(start)} cells, peak {peak}, {heavy_peak} not light)")


def history_self_test(tmp: str) -> None:
    """Two runs of main one after the other: the second report compares its gated ratios and
    its time with the first (reports/history/), and charts the trend; the published copy
    links no cell logs; axis ticks are round."""
    env = dict(os.environ, OFFHEAP_HISTORY="1", OFFHEAP_HISTORY_DIR=os.path.join(tmp, "history"))
    runs = []
    for index, (day, ours) in enumerate((("01", 8e6), ("02", 6e6)), start=1):
        run = os.path.join(tmp, f"history-{index}")
        healthy_run(run)
        with open(os.path.join(run, "run.env"), "w") as handle:
            handle.write(f"run_id=run-{index}\nprofile=quick\nengine=host\nstarted=2026-02-{day}T00:00:00Z\n"
                         f"finished=2026-02-{day}T00:05:00Z\nwall_seconds={300 + index}\nrace_repetitions=50\n")
        cell(run, "x86_64", "bench", files={"bench.json": run_doc("bench", [
            result("larson", "sharded", ours), result("larson", "glibc", 4e6),
            result("rag", "heap", 2e6), result("rag", "glibc", 1e6)])})
        subprocess.run([sys.executable, os.path.join(LIB, "report.py"), run], check=True,
                       capture_output=True, text=True, env=env)
        runs.append(run)
    kept = sorted(os.listdir(os.path.join(tmp, "history")))
    if len(kept) != 2:
        FAILURES.append(f"history: want 2 documents, got {kept}")
    report = open(os.path.join(runs[1], "REPORT.md")).read()
    wants = ("Previous run of main: run-1", "| x86_64/larson/2/sharded:glibc |", "1.50", "2.00 (-25 %)",
             "previous 301 s", "## Ours against the best peer", "| x86_64 | larson ×2 | sharded")
    for want in wants:
        if want not in report:
            FAILURES.append(f"history: the second report lacks {want!r}")
    first = open(os.path.join(runs[0], "REPORT.md")).read()
    if "No earlier run of main" not in first:
        FAILURES.append("history: the first report claims a previous run")
    trend = os.path.join(runs[1], "charts", "trend-x86_64.svg")
    if not os.path.exists(trend) or "polyline" not in open(trend).read():
        FAILURES.append("history: no trend chart with a line after two runs")
    copy = os.path.join(tmp, "published")
    subprocess.run([sys.executable, os.path.join(LIB, "report.py"), runs[1], "--copy-to", copy],
                   check=True, capture_output=True, text=True, env=env)
    published = open(os.path.join(copy, "REPORT.md")).read()
    if os.path.exists(os.path.join(copy, "cells")) or "](cells/" in published:
        FAILURES.append("history: the published copy carries or links cell logs")
    sys.path.insert(0, LIB)
    import report as report_module  # noqa: E402
    clean_main = {"branch": "main", "dirty": False}
    for command, git, wanted, want in (("ci/run-matrix.sh --quick", clean_main, None, True),
                                       ("ci/run-matrix.sh --quick --cells bench", clean_main, None, False),
                                       ("ci/run-matrix.sh --arch x86_64", clean_main, None, False),
                                       ("ci/run-matrix.sh --quick", {"branch": "topic", "dirty": False}, None, False),
                                       ("ci/run-matrix.sh --quick", dict(clean_main, dirty=True), None, False),
                                       ("ci/run-matrix.sh --cells bench", {}, "1", True),
                                       ("ci/run-matrix.sh --quick", clean_main, "0", False)):
        got = report_module.keeps_history({"command": command, "git": git}, wanted)
        if got != want:
            FAILURES.append(f"keeps_history({command!r}, {git}, OFFHEAP_HISTORY={wanted}) = {got}, want {want}")
    for high, want in ((0.93, [0, 0.25, 0.5, 0.75, 1.0]), (2.3, [0, 1, 2, 3]),
                       (7.1e7, [0, 2e7, 4e7, 6e7, 8e7])):
        got = report_module.nice_ticks(high)
        if [round(t, 6) for t in got] != [round(t, 6) for t in want]:
            FAILURES.append(f"nice_ticks({high}) = {got}, want {want}")
    if not FAILURES:
        print("ok   history: deltas against the previous run of main, trend chart, lean copy, round ticks")


def defects_self_test(tmp: str) -> None:
    """ci/lib/defects.sh with stand-in runners: a TSan row reported only in its second run is
    caught ("run 2 of 3"); a TSan row never reported is missed after exactly 3 runs and fails
    the verdict; a memcheck row gets one run; a control that reports is not clean (no retry)."""
    root = os.path.dirname(os.path.dirname(LIB))
    catalogue = os.path.join(tmp, "defects-catalogue.tsv")
    with open(catalogue, "w") as handle:
        handle.write("# test catalogue\nlate-race\ttsan\tWARNING: ThreadSanitizer: data race\n"
                     "silent-race\ttsan\tWARNING: ThreadSanitizer: data race\n"
                     "silent-leak\tmemcheck\tdefinitely lost\n")
    # The runner counts its calls per row in OUT/calls-<defect>-<checker>; `late-race` reports
    # from its second run on; `noisy` makes the tsan control report.
    script = "\n".join([
        'set -euo pipefail',
        'step() { echo "==> $*"; }; fail() { echo "FAILED: $*"; exit 1; }',
        f'source {root}/ci/lib/defects.sh',
        'run() {',
        '    local checker="$1" defect="$2" log="$3" count',
        '    count=$(( $(cat "$OUT/calls-$defect-$checker" 2>/dev/null || echo 0) + 1 ))',
        '    echo "$count" >"$OUT/calls-$defect-$checker"; echo "instrumentation: on" >"$log"',
        '    case "$checker:$defect:$count:${NOISY:-0}" in',
        '        tsan:late-race:[2-9]:*|tsan:clean:*:1) echo "WARNING: ThreadSanitizer: data race" >>"$log"; return 66 ;;',
        '    esac',
        '    return 0',
        '}',
        f'defects_evaluate {catalogue} run "tsan memcheck"',
        f'defects_verdict {catalogue}'])
    for name, noisy in (("defects-run", "0"), ("defects-noisy", "1")):
        out = os.path.join(tmp, name)
        os.makedirs(out)
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              env=dict(os.environ, OUT=out, NOISY=noisy))
        output = done.stdout + done.stderr
        calls = {f: open(os.path.join(out, f)).read().strip() for f in os.listdir(out) if f.startswith("calls-")}
        table = open(os.path.join(out, "defects.tsv")).read()
        want_calls = {"calls-clean-tsan": "1", "calls-clean-memcheck": "1", "calls-late-race-tsan": "2",
                      "calls-silent-race-tsan": "3", "calls-silent-leak-memcheck": "1"}
        problems = []
        if calls != want_calls:
            problems.append(f"runs per row {calls}, want {want_calls}")
        if done.returncode != 1 or "planted 3, caught 1" not in output:
            problems.append(f"exit {done.returncode}, want 1 with 'planted 3, caught 1'")
        if "late-race\ttsan\tyes\tWARNING: ThreadSanitizer: data race (exit 66, run 2 of 3)" not in table:
            problems.append("late-race not caught in run 2 of 3")
        if "silent-race\ttsan\tno\texit 0, no /WARNING: ThreadSanitizer: data race/ in 3 run(s)" not in table:
            problems.append("silent-race not missed after 3 runs")
        controls = open(os.path.join(out, "defects.env")).read()
        if ("controls_bad=1" in controls) != (noisy == "1"):
            problems.append(f"controls with NOISY={noisy}: {controls!r}")
        if problems:
            FAILURES.append(f"defects.sh ({name}): " + "; ".join(problems) + f"\n{output[-2000:]}\n{table}")
    if not any(f.startswith("defects.sh") for f in FAILURES):
        print("ok   defects: a TSan row gets 3 runs to be reported, other rows and controls one")


def programs_self_test(tmp: str) -> None:
    """The bench cell's real programs (bench-programs.sh's medians.json) become ratio entries
    that the gate holds: the median over the real programs of mimalloc ÷ ours."""
    baseline = os.path.join(tmp, "programs-baseline.json")
    with open(baseline, "w") as handle:
        json.dump({"schema": "offheap.baseline/1", "threshold": 0.25, "ratios": {
            "x86_64/real-programs-time/all/offheap-malloc-unchecked:mimalloc": 1.0,
            "x86_64/real-programs-rss/all/offheap-malloc-unchecked:mimalloc": 0.91}}, handle)

    def medians(times: dict[str, tuple[float, float]]) -> str:
        """program → (ours, mimalloc) seconds; peak RSS ours 1100 KiB, mimalloc 1000 KiB;
        a classic benchmark that must not count."""
        table = {p: {"offheap-unchecked": {"seconds": ours, "peakKiB": 1100, "runs": 5},
                     "mimalloc": {"seconds": peer, "peakKiB": 1000, "runs": 5}}
                 for p, (ours, peer) in times.items()}
        table["larson"] = {"offheap-unchecked": {"seconds": 9.0, "peakKiB": 1, "runs": 5},
                           "mimalloc": {"seconds": 1.0, "peakKiB": 1, "runs": 5}}
        return json.dumps({"schema": "offheap.programs/1", "realPrograms": list(times), "medians": table})

    run = os.path.join(tmp, "programs-held")
    healthy_run(run)
    cell(run, "x86_64", "bench", files={"programs-medians.json": medians(
        {"sqlite3": (1.0, 1.1), "python3": (2.0, 2.0), "gcc": (0.5, 0.45)})})
    check("real programs at parity with mimalloc pass", run, 0, "2 benchmark ratios checked",
          "--baseline", baseline)
    summary = json.load(open(os.path.join(run, "summary.json")))
    got = {r["workload"]: r for r in summary["ratios"] if r["threads"] == "all" and r["peer"] == "mimalloc"}
    time, rss = got.get("real-programs-time"), got.get("real-programs-rss")
    if not time or time["ratio"] != 1.0 or time["samples"] != [1.1, 1.0, 0.9]:
        FAILURES.append(f"real-programs-time entry wrong (larson must not count): {time}")
    if not rss or rss["ratio"] != round(1000 / 1100, 4):
        FAILURES.append(f"real-programs-rss entry wrong: {rss}")

    run = os.path.join(tmp, "programs-slow")
    healthy_run(run)
    cell(run, "x86_64", "bench", files={"programs-medians.json": medians(
        {"sqlite3": (1.0, 0.6), "python3": (1.0, 0.7), "gcc": (1.0, 0.8)})})
    check("real programs 30 % slower than mimalloc fail the gate", run, 1,
          "benchmark x86_64/real-programs-time/all/offheap-malloc-unchecked:mimalloc: ratio 0.70 median of 3",
          "--baseline", baseline)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        baseline = os.path.join(tmp, "baseline.json")
        with open(baseline, "w") as handle:
            json.dump({"schema": "offheap.baseline/1", "threshold": 0.25, "ratios": {
                "x86_64/larson/2/sharded:glibc": 1.9, "x86_64/rag/2/heap:glibc": 1.8}}, handle)

        def fresh(name: str) -> str:
            run = os.path.join(tmp, name)
            healthy_run(run)
            return run

        run = fresh("healthy")
        check("healthy run passes, skipped cell listed", run, 0, "not built", "--baseline", baseline)
        summary = json.load(open(os.path.join(run, "summary.json")))
        ratios = {(r["workload"], r["peer"]): r["ratio"] for r in summary["ratios"]}
        if ratios.get(("larson", "glibc")) != 2.0 or ratios.get(("larson", "jemalloc")) != round(8 / 6, 4):
            FAILURES.append(f"ratios wrong: {ratios}")
        tests = summary["cells"][0]["figures"]
        if tests.get("swiftTestingTests") != 42 or tests.get("xctestTests") != 5:
            FAILURES.append(f"test counts wrong: {tests}")
        for chart in ("bench-x86_64.svg", "stress-x86_64.svg", "scaling-x86_64.svg", "sizes-x86_64.svg"):
            path = os.path.join(run, "charts", chart)
            if not os.path.exists(path) or "<svg" not in open(path).read():
                FAILURES.append(f"missing chart {chart}")
        report = open(os.path.join(run, "REPORT.md")).read()
        for text in ("| TSan + race loop |", "⏭️ skipped", "2.00", "![benchmarks x86_64]",
                     # Resident memory next to throughput; the thread sweep's section and rows.
                     "| +3.0 MiB | +2.0 MiB |", "+3.0 / +5.0 MiB", "### Scaling with threads",
                     "![scaling x86_64](charts/scaling-x86_64.svg)",
                     "| x86_64 | larson | 4 | heap-unchecked 20.00 Mops/s | mimalloc 16.00 Mops/s | ✅ 1.25 |",
                     "### Throughput by request size", "| x86_64 | random-mixed | 256 | sharded 3.52 Mops/s | "):
            if text not in report:
                FAILURES.append(f"REPORT.md lacks {text!r}")
        # "Can I merge?" in the first three lines, and no Python or raw JSON in the Markdown.
        head = report.splitlines()[:3]
        if not any(line.startswith("**Merge: ") for line in head):
            FAILURES.append(f"REPORT.md does not lead with the merge verdict: {head}")
        for raw in ("| True |", "| False |", "ok: True", "`{"):
            if raw in report:
                FAILURES.append(f"REPORT.md shows raw Python/JSON {raw!r}")

        check("skipped cell required to pass fails", fresh("required"), 1, "required to pass",
              "--baseline", baseline, "--require-pass", "aarch64/smoke")

        run = fresh("skipped-not-optional")
        cell(run, "aarch64", "race", "skipped", "not built: offheap-smoke missing")
        check("a skipped cell the profile does not declare optional fails", run, 1,
              "aarch64/race: skipped — not built: offheap-smoke missing (required", "--baseline", baseline)
        head = open(os.path.join(run, "REPORT.md")).read().splitlines()[:6]
        if not (head[2].startswith("**Merge: ❌ BLOCKED**")
                and any("aarch64/race: skipped" in line for line in head)):
            FAILURES.append(f"REPORT.md of a blocked run does not say so and why first: {head}")
        else:
            print("ok   REPORT.md leads with the gate's verdict and its reasons")
        report = open(os.path.join(run, "REPORT.md")).read()
        if "optional in this profile: self-test profile lets it skip" not in report:
            FAILURES.append("REPORT.md does not show why an optional cell may skip")

        matrix_self_test(tmp)
        programs_self_test(tmp)
        history_self_test(tmp)
        defects_self_test(tmp)

        run = fresh("failed-cell")
        cell(run, "x86_64", "asan", "fail", "ASan test run exited non-zero")
        check("failed cell fails the gate", run, 1, "x86_64/asan: FAILED", "--baseline", baseline)

        run = fresh("tsan-finding")
        cell(run, "x86_64", "tsan", files={"repetitions": "50\n", "tsan-race.log":
             "WARNING: ThreadSanitizer: data race (pid=1)\nSUMMARY: ThreadSanitizer: data race x.swift:3\n"})
        check("TSan warning fails even if the cell passed", run, 1, "sanitizer/valgrind finding",
              "--baseline", baseline)

        run = fresh("valgrind-leak")
        cell(run, "x86_64", "valgrind", files={"valgrind-stress.log":
             "==2==    definitely lost: 64 bytes in 1 blocks\n==2== ERROR SUMMARY: 1 errors from 1 contexts\n"})
        check("valgrind definite leak fails", run, 1, "x86_64/valgrind: 1 sanitizer", "--baseline", baseline)

        run = fresh("defect-missed")
        cell(run, "x86_64", "defects", files={
            "defects.env": "planted=6\ncaught=5\ncontrols_bad=0\n",
            "defects.tsv": "defect\tchecker\tcaught\tevidence\nracy-slot\ttsan\tno\texit 0\n"})
        check("a defects cell that missed a planted defect fails even if it passed", run, 1,
              "defects planted 6, caught 5", "--baseline", baseline)

        run = fresh("defect-missed-aarch64")
        cell(run, "aarch64", "defects", files={
            "defects.env": "planted=6\ncaught=5\ncontrols_bad=0\n",
            "defects.tsv": "defect\tchecker\tcaught\tevidence\nracy-slot\ttsan\tno\texit 0\n"})
        check("an aarch64 defects cell that missed a planted defect fails the gate", run, 1,
              "aarch64/defects: defects planted 6, caught 5", "--baseline", baseline)

        run = fresh("defects-none")
        cell(run, "x86_64", "defects", files={"defects.env": "planted=0\ncaught=0\n"})
        check("a defects cell that planted nothing fails", run, 1, "defects planted", "--baseline", baseline)

        # Fuzzing: figures per fuzzer in REPORT.md; a finding fails the gate even when the
        # cell says pass, and so does a fuzzer that ran nothing or a planted defect not found.
        header = "fuzzer\tseconds\truns\tcov\tft\tcorpus\tfindings\tartifact\texit\n"
        clean = header + "freelist\t3\t10234\t856\t4370\t213\t0\t\t0\narena\t3\t11994\t624\t2820\t168\t0\t\t0\n"
        run = fresh("fuzz-clean")
        cell(run, "x86_64", "fuzz", files={"fuzz.tsv": clean,
             "fuzz-selfcheck.env": "planted=1\nfound=1\nevidence=fuzz divergence: deallocate(offset 0)\n"})
        check("a clean fuzz cell passes", run, 0, "GATE PASS", "--baseline", baseline)
        report = open(os.path.join(run, "REPORT.md")).read()
        for text in ("| freelist | 3 | 10234 | 856 | 4370 | 213 | 0 |", "planted Arena off-by-one found"):
            if text not in report:
                FAILURES.append(f"REPORT.md fuzzing section lacks {text!r}")
        run = fresh("fuzz-finding")
        cell(run, "x86_64", "fuzz", files={"fuzz.tsv": header
             + "slabpool\t3\t812\t1076\t4867\t222\t1\tartifacts/slabpool/crash-1f2e\t1\n"})
        check("a fuzz finding fails the gate even if the cell passed", run, 1,
              "fuzzer slabpool found a divergence or crash (input: artifacts/slabpool/crash-1f2e",
              "--baseline", baseline)
        run = fresh("fuzz-idle")
        cell(run, "x86_64", "fuzz", files={"fuzz.tsv": header + "arena\t3\t0\t0\t0\t2\t0\t\t0\n"})
        check("a fuzzer that executed nothing fails", run, 1, "fuzzer arena executed no input",
              "--baseline", baseline)
        run = fresh("fuzz-planted-missed")
        cell(run, "x86_64", "fuzz", "fail", "self-check: the planted Arena off-by-one was not found",
             files={"fuzz.tsv": clean, "fuzz-selfcheck.env": "planted=1\nfound=0\nevidence=\n"})
        check("a planted defect the fuzzer missed fails", run, 1, "the planted defect was not found",
              "--baseline", baseline)

        run = fresh("corruption")
        cell(run, "x86_64", "stress", files={"stress.json": run_doc(
            "stress", [result("stress", "sharded", 5e6)], corruption=3, ok=False)})
        check("corruption fails", run, 1, "corruption detected (3)", "--baseline", baseline)

        # Stress coverage: every role on freelist, sharded and heap, cross-thread frees, and
        # the PI controller on x86-64; a run that skipped any of them fails the gate.
        run = fresh("stress-covered")
        check("stress covering every role, allocator and the controller passes", run, 0, "GATE PASS",
              "--baseline", baseline)
        report = open(os.path.join(run, "REPORT.md")).read()
        for text in ("| x86_64 | heap | reader | 1 | 0 | 90000 | 4000 | 0 | 0 |",
                     "x86_64 sharded Hyaline: peak unreclaimed 736",
                     "PI controller on: 2000 ticks"):
            if text not in report:
                FAILURES.append(f"REPORT.md stress section lacks {text!r}")
        for name, doc, text in (
                ("stress-no-heap", stress_doc(drop_allocator="heap"), "allocator heap was not stressed"),
                ("stress-no-burst", stress_doc(drop_role="burst"), "freelist: role burst did not run"),
                ("stress-same-thread", stress_doc(cross=0), "sharded: no cross-thread frees"),
                ("stress-no-controller", stress_doc(controller=False),
                 "heap: the Hyaline PI controller was off"),
                ("stress-idle-controller", stress_doc(ticks=0), "heap: the Hyaline PI controller never ticked")):
            run = fresh(name)
            cell(run, "x86_64", "stress", files={"stress.json": doc})
            check(f"stress coverage: {text}", run, 1, f"x86_64/stress: {text}", "--baseline", baseline)
        # aarch64 need not run the controller (x86-64 does), but everything else holds there too.
        run = fresh("stress-a64")
        cell(run, "aarch64", "stress", files={"stress.json": stress_doc(controller=False)})
        check("aarch64 stress without the controller passes", run, 0, "GATE PASS", "--baseline", baseline)
        run = fresh("stress-a64-corrupt")
        corrupted = json.loads(stress_doc(controller=False))
        corrupted["results"][2]["roles"][2]["corruption"] = 5
        corrupted["results"][2]["corruption"] = 5
        corrupted["totals"]["corruption"] = 5
        corrupted["ok"] = False
        cell(run, "aarch64", "stress", files={"stress.json": json.dumps(corrupted)})
        check("corruption in any stress run fails (aarch64 heap reader)", run, 1,
              "aarch64/stress: corruption detected (5)", "--baseline", baseline)

        run = fresh("regression")
        cell(run, "x86_64", "bench", files={"bench.json": run_doc("bench", [
            result("larson", "sharded", 4.4e6), result("larson", "glibc", 4e6),
            result("rag", "heap", 2e6), result("rag", "glibc", 1e6)])})
        check("benchmark ratio below baseline floor fails", run, 1, "larson/2/sharded:glibc: ratio 1.10",
              "--baseline", baseline)
        check("a looser threshold lets it pass", run, 0, "GATE PASS", "--baseline", baseline,
              "--threshold", "0.5")

        run = fresh("emulated")
        cell(run, "aarch64", "bench", files={"bench.json": run_doc(
            "bench", [result("larson", "sharded", 1e5), result("larson", "glibc", 1e6)], emulated=True)})
        check("emulated ratios are never gated", run, 0, "GATE PASS", "--baseline", baseline)

        # Repeats: the gate holds the median of the main run and the repeats, paired per run.
        run = fresh("median")
        with_repeats(run, [(8e6, 4e6), (3e6, 4e6), (9e6, 4e6), (7.6e6, 4e6)], main=(8.8e6, 4e6))
        check("one low outlier among 5 samples passes on the median", run, 0,
              "ratio 2.00 median of 5 (min 0.75, max 2.25)", "--baseline", baseline,
              absent="single")
        summary = json.load(open(os.path.join(run, "summary.json")))
        larson = next(r for r in summary["ratios"] if (r["workload"], r["peer"]) == ("larson", "glibc"))
        if (larson["samples"] != [2.2, 2.0, 0.75, 2.25, 1.9] or larson["ratio"] != 2.0
                or (larson["min"], larson["max"]) != (0.75, 2.25)):
            FAILURES.append(f"median/samples wrong: {larson}")
        if len(summary.get("benchmarkRepeats") or []) != 16 or summary["cells"][-2]["figures"].get("repeats") != 4:
            FAILURES.append(f"repeat rows or figures wrong: {summary.get('benchmarkRepeats')}")
        report = open(os.path.join(run, "REPORT.md")).read()
        for text in ("| x86_64 | larson | 2 | sharded | glibc | **2.00** | 5 | 0.75 – 2.25 | 2.20 2.00 0.75 2.25 1.90 |",
                     "4 repeats took 12 s; the gate holds the median", "| x86_64 | larson | 2 | sharded | glibc | 2.00 | 5 | 0.75 – 2.25 |"):
            if text not in report:
                FAILURES.append(f"REPORT.md lacks {text!r}")

        run = fresh("median-even")
        with_repeats(run, [(8e6, 4e6), (4e6, 4e6), (6e6, 4e6)], main=(9.6e6, 4e6))
        check("an even sample count gates on the mean of the middle two", run, 0,
              "ratio 1.75 median of 4", "--baseline", baseline)

        run = fresh("consistently-low")
        with_repeats(run, [(5e6, 4e6), (9e6, 4e6), (5.2e6, 4e6), (4.8e6, 4e6)], main=(8.8e6, 4e6))
        check("a consistently low set fails on the median", run, 1,
              "larson/2/sharded:glibc: ratio 1.30 median of 5 (min 1.20, max 2.25)", "--baseline", baseline)

        run = fresh("repeat-corruption")
        with_repeats(run, [(8e6, 4e6), (8e6, 4e6)], main=(8e6, 4e6), corruption=2)
        check("corruption in a repeat document fails", run, 1, "corruption detected (2)", "--baseline", baseline)

        run = fresh("old-format")
        with_repeats(run, [(8e6, 4e6), (3e6, 4e6)], main=(8e6, 4e6))
        subprocess.run([sys.executable, os.path.join(LIB, "report.py"), run], check=True, capture_output=True)
        strip_samples(run)
        check("an old report without samples is gated on its ratio, with a warning", run, 0,
              "no repeat set in this report, gated on a single ratio 2.00", "--baseline", baseline,
              regenerate=False)
        summary = json.load(open(os.path.join(run, "summary.json")))
        for r in summary["ratios"]:
            if (r["workload"], r["peer"]) == ("larson", "glibc"):
                r["ratio"] = 1.0
        with open(os.path.join(run, "summary.json"), "w") as handle:
            json.dump(summary, handle)
        check("an old report with a low single ratio fails", run, 1,
              "larson/2/sharded:glibc: ratio 1.00 (single sample)", "--baseline", baseline, regenerate=False)

        # A doctored `ratio` cannot hide low samples: the gate recomputes the median.
        run = fresh("doctored")
        with_repeats(run, [(4e6, 4e6), (4e6, 4e6)], main=(4e6, 4e6))
        subprocess.run([sys.executable, os.path.join(LIB, "report.py"), run], check=True, capture_output=True)
        summary = json.load(open(os.path.join(run, "summary.json")))
        for r in summary["ratios"]:
            r["ratio"] = 9.0
        with open(os.path.join(run, "summary.json"), "w") as handle:
            json.dump(summary, handle)
        check("the gate recomputes the median from the samples", run, 1, "ratio 1.00 median of 3",
              "--baseline", baseline, regenerate=False)

        check("missing report fails", os.path.join(tmp, "nothing-here"), 1, "cannot read the report")
    for failure in FAILURES:
        print(f"FAIL {failure}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
