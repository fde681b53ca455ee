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
FAILURES: list[str] = []


def cell(run: str, arch: str, name: str, status: str = "pass", reason: str = "", log: str = "",
         files: dict[str, str] | None = None) -> None:
    folder = os.path.join(run, "cells", f"{arch}-{name}")
    os.makedirs(folder, exist_ok=True)
    exit_code = {"pass": 0, "fail": 1, "skipped": 3}[status]
    with open(os.path.join(folder, "result"), "w") as handle:
        handle.write(f"arch={arch}\ncell={name}\nstatus={status}\nexit={exit_code}\nwhere=host\n"
                     f"start=100.0\nend=112.5\ntimeout=900\nreason={reason}\n")
    with open(os.path.join(folder, "log.txt"), "w") as handle:
        handle.write(log)
    for file_name, text in (files or {}).items():
        with open(os.path.join(folder, file_name), "w") as handle:
            handle.write(text)


def run_doc(command: str, results: list[dict], corruption: int = 0, ok: bool = True,
            timeline: list[dict] | None = None, emulated: bool = False) -> str:
    doc = {"schema": "offheap.run/1", "command": command, "arch": "x86_64", "emulated": emulated,
           "machine": {}, "config": {}, "results": results,
           "totals": {"errors": 0, "corruption": corruption, "failedRecoveries": 0}, "ok": ok}
    if timeline is not None:
        doc["timeline"] = timeline
    return json.dumps(doc)


def result(workload: str, allocator: str, ops: float, threads: int = 2) -> dict:
    return {"workload": workload, "allocator": allocator, "threads": threads, "operations": int(ops),
            "seconds": 1.0, "opsPerSecond": ops, "nsPerOp": 1e9 / ops, "p50Ns": 100, "p99Ns": 900,
            "errors": 0, "corruption": 0, "recovered": True}


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
    cell(run, "x86_64", "stress", files={"stress.json": run_doc(
        "stress", [result("stress", "sharded", 5e6)],
        timeline=[{"t": t, "opsPerSecond": 4e6 + 1e5 * t} for t in range(11)])})
    cell(run, "x86_64", "bench", files={"bench.json": run_doc("bench", [
        result("larson", "sharded", 8e6), result("larson", "glibc", 4e6),
        result("larson", "jemalloc", 6e6), result("rag", "heap", 2e6), result("rag", "glibc", 1e6)])})
    cell(run, "aarch64", "smoke", "skipped", "not built: .build-aarch64/bin/offheap-smoke missing")


def check(name: str, run: str, expect_exit: int, expect_text: str, *gate_args: str) -> None:
    if os.path.isdir(run):
        subprocess.run([sys.executable, os.path.join(LIB, "report.py"), run], check=True,
                       capture_output=True, text=True)
    gate = subprocess.run([sys.executable, os.path.join(LIB, "gate.py"), run, *gate_args],
                          capture_output=True, text=True)
    output = gate.stdout + gate.stderr
    if gate.returncode != expect_exit or expect_text not in output:
        FAILURES.append(f"{name}: exit {gate.returncode} (want {expect_exit}), "
                        f"want {expect_text!r} in:\n{output}")
    else:
        print(f"ok   {name}")


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
        for chart in ("bench-x86_64.svg", "stress-x86_64.svg"):
            path = os.path.join(run, "charts", chart)
            if not os.path.exists(path) or "<svg" not in open(path).read():
                FAILURES.append(f"missing chart {chart}")
        report = open(os.path.join(run, "REPORT.md")).read()
        for text in ("| TSan + race loop |", "⏭️ skipped", "2.00", "![benchmarks x86_64]"):
            if text not in report:
                FAILURES.append(f"REPORT.md lacks {text!r}")

        check("skipped cell required to pass fails", fresh("required"), 1, "required to pass",
              "--baseline", baseline, "--require-pass", "aarch64/smoke")

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

        run = fresh("corruption")
        cell(run, "x86_64", "stress", files={"stress.json": run_doc(
            "stress", [result("stress", "sharded", 5e6)], corruption=3, ok=False)})
        check("corruption fails", run, 1, "corruption detected (3)", "--baseline", baseline)

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

        check("missing report fails", os.path.join(tmp, "nothing-here"), 1, "cannot read the report")
    for failure in FAILURES:
        print(f"FAIL {failure}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
