#!/usr/bin/env python3
"""The merge gate: reads a matrix report and exits non-zero when it must block a merge.

    python3 ci/lib/gate.py [REPORT] [--baseline reports/baseline.json] [--threshold 0.25]
                           [--require-pass CELL,...]

REPORT is a run directory, its summary.json, or a run id under reports/runs/ (default:
reports/latest). It fails on: a failed cell, a sanitizer or valgrind finding, corruption, a
failed recovery, a CLI document with ok=false, a stress run that did not cover every role on
freelist, sharded and heap with cross-thread frees (and the PI controller on x86-64), a missing/invalid summary, a skipped cell that
the profile does not declare optional, or a native benchmark ratio worse than
reports/baseline.json beyond the threshold. A ratio is gated on the median
of its samples (the bench cell's main run and its repeats of the gated set); a report without
samples (older report.py) is gated on its single ratio, with a warning. A skipped cell fails
unless its profile declares it optional (the reason is shown); --require-pass makes even an
optional one required. Emulated (QEMU) figures are never gated.
The output fits one screen: the verdict, then one line per reason.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def locate(report: str | None) -> str:
    candidates = []
    if report is None:
        candidates.append(os.path.join(ROOT, "reports", "latest", "summary.json"))
    else:
        candidates += [report, os.path.join(report, "summary.json"),
                       os.path.join(ROOT, "reports", "runs", report, "summary.json")]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"no summary.json at {report or 'reports/latest'}")


def gated_value(entry: dict) -> tuple[float, str]:
    """The figure the gate holds for one ratio entry, and how to say it: the median of its
    samples (recomputed here, not trusted from `ratio`), or the single ratio of a report that
    has no samples."""
    samples = [float(v) for v in entry.get("samples") or []]
    if len(samples) < 2:
        value = float(samples[0] if samples else entry["ratio"])
        return value, f"ratio {value:.2f} (single sample)"
    value = statistics.median(samples)
    return value, (f"ratio {value:.2f} median of {len(samples)} "
                   f"(min {min(samples):.2f}, max {max(samples):.2f})")


class Verdict:
    """What the gate concludes about one report: problems block the merge; passed lists the
    benchmark ratios that held; warnings never block."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.passed: list[str] = []
        self.checked = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def evaluate(summary: dict, report_dir: str, baseline_path: str, threshold: float | None = None,
             required: set[str] | None = None) -> Verdict:
    """The gate's verdict on a summary.json already loaded (report.py calls it too, so
    REPORT.md leads with the same verdict that ci/gate.sh prints)."""
    verdict = Verdict()
    problems, warnings = verdict.problems, verdict.warnings
    required = required or set()
    if summary.get("schema") != "offheap.matrix/1":
        problems.append(f"report schema {summary.get('schema')!r} is not offheap.matrix/1")
    cells = summary.get("cells") or []
    if not cells:
        problems.append("the report has no cells")
    for cell in cells:
        cid = cell.get("id", "?")
        log = os.path.join(report_dir, cell.get("log", ""))
        if cell.get("status") == "fail":
            problems.append(f"{cid}: FAILED — {cell.get('reason') or 'no reason'} (log: {log})")
        elif cell.get("status") == "skipped":
            msg = f"{cid}: skipped — {cell.get('reason') or 'no reason recorded'}"
            if cid in required or cell.get("cell") in required:
                problems.append(msg + " (required to pass)")
            elif cell.get("optional"):
                warnings.append(f"{msg} (optional in this profile: {cell['optional']})")
            else:
                problems.append(msg + " (required: the profile does not declare it optional)")
        elif cell.get("status") != "pass":
            problems.append(f"{cid}: unknown status {cell.get('status')!r}")
        if int(cell.get("findings") or 0) > 0:
            problems.append(f"{cid}: {cell['findings']} sanitizer/valgrind finding(s) (log: {log})")
        if int(cell.get("corruption") or 0) > 0:
            problems.append(f"{cid}: corruption detected ({cell['corruption']})")
        if cell.get("cell") == "defects" and cell.get("status") == "pass":
            # Seeded defects: a pass must have caught every planted defect, not zero of zero.
            figures = cell.get("figures") or {}
            planted, caught = figures.get("planted"), figures.get("caught")
            if not planted or caught != planted:
                problems.append(f"{cid}: defects planted {planted}, caught {caught} (log: {log})")
        if cell.get("cell") == "fuzz":
            # Fuzzing: a finding fails (also counted in `findings` above, with its input
            # named here); a pass must have run every fuzzer, and a self-check that ran must
            # have found its planted defect.
            figures = cell.get("figures") or {}
            for fz in figures.get("fuzzers") or []:
                if fz.get("findings"):
                    problems.append(f"{cid}: fuzzer {fz.get('fuzzer')} found a divergence or crash "
                                    f"(input: {fz.get('artifact') or 'see log'}; log: {log})")
                elif cell.get("status") == "pass" and not fz.get("runs"):
                    problems.append(f"{cid}: fuzzer {fz.get('fuzzer')} executed no input (log: {log})")
            if cell.get("status") == "pass" and not figures.get("fuzzers"):
                problems.append(f"{cid}: passed without any fuzzer figures (log: {log})")
            selfcheck = figures.get("selfcheck")
            if selfcheck and not selfcheck.get("found"):
                problems.append(f"{cid}: the planted defect was not found by the fuzzer (log: {log})")
        if int(cell.get("failedRecoveries") or 0) > 0:
            problems.append(f"{cid}: {cell['failedRecoveries']} failed recovery(ies)")
        for name, doc in ((cell.get("figures") or {}).get("documents") or {}).items():
            if doc.get("documentError"):
                problems.append(f"{cid}: unreadable {name}: {doc['documentError']}")
            elif not doc.get("ok", False) and cell.get("status") == "pass":
                problems.append(f"{cid}: {name} says ok=false (errors {doc.get('errors')})")
    # Stress coverage: every role on every stressed allocator, cross-thread frees, the PI
    # controller (report.py's stress_coverage) — a stress run that skipped any is no proof.
    for run in summary.get("stress") or []:
        for problem in run.get("coverage") or []:
            problems.append(f"{run.get('arch')}/stress: {problem}")
    for arch in required:
        if "/" in arch and not any(c.get("id") == arch for c in cells):
            problems.append(f"{arch}: required but not in the report")

    # Benchmark ratios against the baseline (native figures only).
    baseline = {}
    if os.path.exists(baseline_path):
        with open(baseline_path, encoding="utf-8") as handle:
            baseline = json.load(handle)
    if threshold is None:
        threshold = float(baseline.get("threshold", 0.25))
    measured: dict[str, dict] = {}
    for r in summary.get("ratios") or []:
        if not r.get("emulated"):
            measured[f"{r['arch']}/{r['workload']}/{r['threads']}/{r['allocator']}:{r['peer']}"] = r
    for key, expected in sorted((baseline.get("ratios") or {}).items()):
        if key not in measured:
            if measured and "/real-programs-" in key and summary.get("profile") == "quick":
                pass  # the real programs are timed outside the quick profile only
            elif measured:
                warnings.append(f"baseline ratio {key} not measured in this run")
            continue
        verdict.checked += 1
        floor = expected * (1 - threshold)
        value, what = gated_value(measured[key])
        if len(measured[key].get("samples") or []) < 2:
            warnings.append(f"benchmark {key}: no repeat set in this report, gated on a single "
                            f"ratio {value:.2f} (noisy; re-run the bench cell with repeats)")
        line = f"benchmark {key}: {what} vs baseline {expected:.2f} -{threshold:.0%} (floor {floor:.2f})"
        if value < floor:
            problems.append(line)
        else:
            verdict.passed.append(line)
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description="swift-offheap merge gate")
    parser.add_argument("report", nargs="?")
    parser.add_argument("--baseline", default=os.path.join(ROOT, "reports", "baseline.json"))
    parser.add_argument("--threshold", type=float, help="override the baseline's threshold")
    parser.add_argument("--require-pass", default="", help="cells (arch/cell or cell) that must pass")
    args = parser.parse_args()

    try:
        path = locate(args.report)
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
    except (OSError, ValueError) as error:
        print(f"GATE FAIL: cannot read the report: {error}")
        return 1
    required = {r.strip() for r in args.require_pass.split(",") if r.strip()}
    verdict = evaluate(summary, os.path.dirname(path), args.baseline, args.threshold, required)
    problems, warnings = verdict.problems, verdict.warnings

    totals = summary.get("totals") or {}
    head = (f"{summary.get('runId')} ({summary.get('profile')}, git {((summary.get('git') or {}).get('short'))}): "
            f"{totals.get('pass', 0)} pass, {totals.get('fail', 0)} fail, {totals.get('skipped', 0)} skipped; "
            f"{verdict.checked} benchmark ratios checked against the baseline")
    if problems:
        print(f"GATE FAIL — {head}")
        for p in problems[:25]:
            print(f"  ✗ {p}")
        if len(problems) > 25:
            print(f"  … and {len(problems) - 25} more (see {path})")
    else:
        print(f"GATE PASS — {head}")
    for line in verdict.passed:
        print(f"  ✓ {line}")
    for w in warnings[:15]:
        print(f"  · {w}")
    if len(warnings) > 15:
        print(f"  · … and {len(warnings) - 15} more")
    github_annotations(path, problems)
    return 1 if problems else 0


def github_annotations(summary_path: str, problems: list[str]) -> None:
    """In GitHub Actions: each problem as an ::error annotation, and the run's REPORT.md
    (which leads with the same verdict) as the job summary."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for p in problems:
        print("::error title=merge gate::" + p.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    report = os.path.join(os.path.dirname(summary_path), "REPORT.md")
    if step_summary and os.path.exists(report):
        with open(report, encoding="utf-8") as source, open(step_summary, "a", encoding="utf-8") as target:
            target.write(source.read())


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `ci/gate.sh | head` is fine
    sys.exit(main())
