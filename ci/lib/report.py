#!/usr/bin/env python3
"""Builds a matrix run's summary.json, REPORT.md and SVG charts from its cell directories.

    python3 ci/lib/report.py RUN_DIR [--engine ENGINE]      # write the report
    python3 ci/lib/report.py RUN_DIR --copy-to reports/sample  # publish a copy (log excerpts)

Cells (ci/lib/cell.sh) leave raw artifacts: log.txt, result (key=value), reason, and JSON from
the `offheap` CLI (offheap.run/1). Every figure is derived here, on the host, from those
artifacts; nothing is hard-coded. The schema is documented in reports/SCHEMA.md.
Standard library only (python3 >= 3.9).
"""
from __future__ import annotations

import argparse
import glob
import html
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

SCHEMA = "offheap.matrix/1"
PEERS = ("glibc", "jemalloc", "mimalloc", "tcmalloc")
# Results that are not ours: the peers, and the engine's pass-through to malloc ("system").
NOT_OURS = PEERS + ("system",)
CELL_ORDER = {
    "x86_64": ["fresh", "debug-tests", "release-tests", "tsan", "asan", "valgrind", "defects", "fuzz", "malloc",
               "stress",
               "la57",
               "embedded", "bench", "lint"],
    "aarch64": ["build", "smoke", "stress", "race", "tsan", "asan", "valgrind", "defects", "checkers",
                "la57", "bench"],
}
# Rows of the arch x cell table: the same concept on both arches shares a row.
ROWS = ["fresh", "debug-tests", "release-tests", "tsan", "asan", "valgrind", "defects", "fuzz", "malloc", "checkers",
        "build",
        "smoke", "race",
        "stress", "la57", "embedded", "bench", "lint"]
PLACEMENT_TEXT = {
    "all": " (every cell in its arch's image but lint, fresh and the aarch64 build)",
    "sample": " (one cell per image in a container, the rest on the host)",
    "none": "",
}
ROW_TITLES = {
    "fresh": "fresh machine (installer on a pristine root)",
    "debug-tests": "tests (debug)", "release-tests": "tests (release)",
    "tsan": "TSan + race loop", "asan": "ASan (+ LSan on x86-64)", "valgrind": "valgrind memcheck",
    "checkers": "checkers self-test (planted defects)", "defects": "seeded defects caught",
    "fuzz": "op-sequence fuzzing (libFuzzer + shadow models)",
    "malloc": "real programs on liboffheap-malloc (vs glibc)",
    "build": "Embedded cross build", "smoke": "smoke (QEMU)", "race": "race loop (QEMU)",
    "stress": "stress hammer", "la57": "LA57 probe", "embedded": "Embedded check",
    "bench": "benchmarks vs peers", "lint": "lint",
}
# What every stress cell must have exercised (issue 11 item 5): each role against each of
# these allocators, with cross-thread frees; on x86-64 also the Hyaline PI controller.
STRESS_ALLOCATORS = ("freelist", "sharded", "heap")
STRESS_ROLES = ("bounce", "publisher", "reader", "burst", "retire")
STRESS_CONTROLLER_ARCHES = ("x86_64",)
STATUS_ICON = {"pass": "✅ pass", "fail": "❌ FAIL", "skipped": "⏭️ skipped"}
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf"]

# The checkout (ci/lib/report.py → two levels up): its reports/baseline.json is the gate's.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# One small document per run of a clean checkout of main (offheap.history/1): the trend of the
# gated ratios and of the matrix's time over commits (reports/SCHEMA.md, "History").
HISTORY_DIR = os.environ.get("OFFHEAP_HISTORY_DIR") or os.path.join(ROOT, "reports", "history")
HISTORY_SCHEMA = "offheap.history/1"
# Ours in blues and greens, the peers in greys and browns: told apart at a glance.
OUR_COLORS = ["#1f5fa8", "#2a9d8f", "#4c9be8", "#1b7f3b", "#7fb3e6", "#57c785", "#0b3d75"]
PEER_COLORS = {"glibc": "#8c8c8c", "jemalloc": "#b5651d", "mimalloc": "#d4a017", "tcmalloc": "#6b4f3a",
               "system": "#bbbbbb"}


# --------------------------------------------------------------------------- reading

def read_env(path: str) -> dict[str, str]:
    values: dict[str, str] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    values[key] = value
    return values


def read_text(path: str, limit: int = 50_000_000) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(limit)
    except OSError:
        return ""


def read_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        return {"_unreadable": f"{os.path.basename(path)}: {error}"} if os.path.exists(path) else None


def run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# --------------------------------------------------------------------------- figures

def test_counts(text: str) -> dict:
    figures: dict = {}
    runs = re.findall(r"Test run with (\d+) tests?(?: in \d+ suites?)? (passed|failed)"
                      r"(?: after [\d.]+ seconds)?(?: with (\d+) issues?)?", text)
    if runs:
        figures["swiftTestingTests"] = sum(int(count) for count, _, _ in runs)
        figures["swiftTestingIssues"] = sum(int(issues or 0) for _, _, issues in runs)
    executed = re.findall(r"Executed (\d+) tests?, with (\d+) failures?", text)
    if executed:
        # XCTest prints one line per suite level; the last one is the whole run.
        figures["xctestTests"] = int(executed[-1][0])
        figures["xctestFailures"] = int(executed[-1][1])
    return figures


def cli_document_figures(doc: dict) -> dict:
    """Corruption/error totals of an offheap.run/1 document."""
    if not isinstance(doc, dict):
        return {}
    if "_unreadable" in doc:
        return {"documentError": doc["_unreadable"], "corruption": 0}
    totals = doc.get("totals") or {}
    figures = {
        "ok": bool(doc.get("ok", False)),
        "errors": int(totals.get("errors", 0) or 0),
        "corruption": int(totals.get("corruption", 0) or 0),
        "failedRecoveries": int(totals.get("failedRecoveries", 0) or 0),
        "emulated": bool(doc.get("emulated", False)),
    }
    if doc.get("schema") != "offheap.run/1":
        figures["schemaWarning"] = f"unexpected schema {doc.get('schema')!r}"
    return figures


def sanitizer_findings(text: str, pattern: str, summary: str) -> tuple[int, list[str]]:
    count = len(re.findall(pattern, text))
    summaries = sorted(set(re.findall(summary, text)))[:20]
    return count, summaries


def valgrind_figures(cell_dir: str) -> dict:
    runs = []
    for path in sorted(glob.glob(os.path.join(cell_dir, "valgrind-*.log"))):
        text = read_text(path)
        errors = re.findall(r"ERROR SUMMARY: ([\d,]+) errors?", text)
        definite = re.findall(r"definitely lost: ([\d,]+) bytes", text)
        possible = re.findall(r"possibly lost: ([\d,]+) bytes", text)
        runs.append({
            "log": os.path.basename(path),
            "errors": int(errors[-1].replace(",", "")) if errors else None,
            "definitelyLostBytes": int(definite[-1].replace(",", "")) if definite else 0,
            "possiblyLostBytes": int(possible[-1].replace(",", "")) if possible else 0,
        })
    findings = sum((r["errors"] or 0) for r in runs)
    findings += sum(1 for r in runs if r["errors"] is None)  # a run that died has no summary
    return {"runs": runs, "findings": findings}


def defects_figures(cell_dir: str) -> dict:
    """The seeded-defect cell: planted/caught counts and the catching checker per defect."""
    env = read_env(os.path.join(cell_dir, "defects.env"))
    rows = []
    table = read_text(os.path.join(cell_dir, "defects.tsv")).splitlines()
    for line in table[1:]:
        parts = line.split("\t")
        if len(parts) >= 4:
            rows.append({"defect": parts[0], "checker": parts[1], "caught": parts[2] == "yes",
                         "evidence": parts[3]})
    def number(key: str):
        return int(env[key]) if env.get(key, "").isdigit() else None
    return {"planted": number("planted"), "caught": number("caught"),
            "controlsNotClean": number("controls_bad"), "defects": rows}


def fuzz_figures(cell_dir: str) -> dict:
    """The fuzz cell (ci/fuzz.sh): per fuzzer runs, coverage, corpus size and findings; the
    planted-defect self-check's verdict when it ran. Any finding counts as a finding."""
    fuzzers = []
    for line in read_text(os.path.join(cell_dir, "fuzz.tsv")).splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) < 9:
            continue
        def number(text: str) -> int:
            return int(text) if text.isdigit() else 0
        fuzzers.append({"fuzzer": parts[0], "seconds": number(parts[1]), "runs": number(parts[2]),
                        "cov": number(parts[3]), "ft": number(parts[4]), "corpus": number(parts[5]),
                        "findings": number(parts[6]), "artifact": parts[7], "exit": parts[8]})
    figures: dict = {"fuzzers": fuzzers, "findings": sum(f["findings"] for f in fuzzers)}
    selfcheck = read_env(os.path.join(cell_dir, "fuzz-selfcheck.env"))
    if selfcheck:
        figures["selfcheck"] = {"planted": int(selfcheck.get("planted") or 0),
                                "found": int(selfcheck.get("found") or 0),
                                "evidence": selfcheck.get("evidence", "")}
    return figures


def cell_figures(arch: str, cell: str, cell_dir: str, log: str) -> dict:
    figures: dict = {}
    if cell in ("debug-tests", "release-tests"):
        figures.update(test_counts(log))
    elif cell == "tsan":
        text = "".join(read_text(p) for p in glob.glob(os.path.join(cell_dir, "tsan-*.log")))
        count, summaries = sanitizer_findings(
            text, r"WARNING: ThreadSanitizer", r"SUMMARY: ThreadSanitizer: [^\n]+")
        figures.update(findings=count, summaries=summaries,
                       repetitions=int(read_text(os.path.join(cell_dir, "repetitions")) or 0),
                       **test_counts(read_text(os.path.join(cell_dir, "tsan-race.log"))))
        if arch == "aarch64":
            # Two processes, each repeating in-process: the smoke checks and the engine
            # selfcheck (ci/lib/cell.sh cell_a64_tsan).
            figures["command"] = read_text(os.path.join(cell_dir, "race-command")).strip()
            figures["smokeRepetitions"] = len(re.findall(r"offheap-smoke: repetition \d+/", text))
            figures["engineRepetitions"] = len(re.findall(r"selfcheck: repetition \d+/\d+ ok", text))
    elif cell == "asan":
        text = "".join(read_text(p) for p in glob.glob(os.path.join(cell_dir, "asan-*.log")))
        count, summaries = sanitizer_findings(
            text, r"ERROR: (?:AddressSanitizer|LeakSanitizer)",
            r"SUMMARY: (?:AddressSanitizer|LeakSanitizer): [^\n]+")
        figures.update(findings=count, summaries=summaries, **test_counts(text))
    elif cell == "valgrind":
        figures.update(valgrind_figures(cell_dir))
        if os.path.exists(os.path.join(cell_dir, "partial")):
            figures["partial"] = read_text(os.path.join(cell_dir, "partial")).strip()
    elif cell == "checkers":
        # ci/selftest-aarch64-checkers.sh: one row per planted defect. Planted findings are
        # the point of this cell and never count as findings.
        rows = []
        for line in read_text(os.path.join(cell_dir, "checkers.tsv")).splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) >= 4:
                rows.append({"kind": parts[0], "checker": parts[1], "exit": parts[2],
                             "caught": parts[3] == "yes",
                             "summary": parts[4] if len(parts) > 4 else ""})
        figures.update(planted=len(rows), caught=sum(1 for r in rows if r["caught"]), defects=rows)
    elif cell == "defects":
        figures.update(defects_figures(cell_dir))
    elif cell == "fuzz":
        figures.update(fuzz_figures(cell_dir))
    elif cell == "malloc":
        programs = []
        for line in read_text(os.path.join(cell_dir, "malloc-results.tsv")).splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                programs.append({"program": parts[0], "passed": parts[1] == "pass", "detail": parts[2]})
        figures.update(programs=programs, passed=sum(p["passed"] for p in programs), total=len(programs))
    elif cell == "race":
        figures["repetitions"] = int(read_text(os.path.join(cell_dir, "repetitions")) or 0)
        failures = read_text(os.path.join(cell_dir, "failures")).strip()
        figures["failures"] = int(failures) if failures else None
        figures["command"] = read_text(os.path.join(cell_dir, "race-command")).strip()
    elif cell == "la57":
        host = read_env(os.path.join(cell_dir, "host-va.txt"))
        if host:
            figures["host"] = host
        probe = read_json(os.path.join(cell_dir, "probe.json"))
        if isinstance(probe, dict):
            # offheap.run/1 probe documents carry the facts in machine.probe.
            facts = (probe.get("machine") or {}).get("probe") or probe.get("probe")
            figures["probe"] = facts if isinstance(facts, dict) else probe
    elif cell == "bench":
        repeats = read_env(os.path.join(cell_dir, "bench-repeats.env"))
        if repeats:
            figures["repeats"] = int(repeats.get("repeats") or 0)
            try:
                figures["repeatSeconds"] = float(repeats["seconds"])
            except (KeyError, ValueError):
                figures["repeatSeconds"] = None  # the repeats did not finish
    # Every CLI document a cell left behind is checked for corruption.
    names = ["stress.json", "bench.json", "probe.json", "valgrind-stress.json", "asan-stress.json"]
    names += [os.path.basename(p) for p in repeat_documents(cell_dir)]
    for name in names:
        doc = read_json(os.path.join(cell_dir, name))
        if doc is not None:
            figures.setdefault("documents", {})[name] = cli_document_figures(doc)
    if arch == "aarch64":
        figures["emulated"] = platform.machine() != "aarch64"
    return figures


def stress_coverage(doc: dict, arch: str) -> list[str]:
    """What a stress document failed to exercise (empty when it covered everything): an
    allocator of STRESS_ALLOCATORS that did not run, a role without lanes or operations, no
    in-place Hyaline reads, no cross-thread frees, or (x86-64) no PI controller ticks."""
    if not isinstance(doc, dict) or "_unreadable" in doc:
        return []
    problems = []
    config = doc.get("config") or {}
    interrupted = bool(doc.get("interrupted"))
    results = {r.get("allocator"): r for r in doc.get("results") or []
               if isinstance(r, dict) and r.get("workload") == "stress"}
    for name in STRESS_ALLOCATORS:
        r = results.get(name)
        if r is None:
            problems.append(f"allocator {name} was not stressed")
            continue
        roles = {row.get("role"): row for row in r.get("roles") or [] if isinstance(row, dict)}
        facts = r.get("facts") or {}
        for role in STRESS_ROLES:
            row = roles.get(role)
            if not row or int(row.get("lanes") or 0) < 1:
                problems.append(f"{name}: role {role} did not run")
            elif role != "reader" and int(row.get("operations") or 0) == 0 and not interrupted:
                problems.append(f"{name}: role {role} did no operations")
        reader = roles.get("reader") or {}
        if config.get("hyaline") and reader and int(reader.get("validations") or 0) == 0:
            problems.append(f"{name}: readers validated no slot in place under Hyaline")
        if float(facts.get("crossThreadFrees") or 0) <= 0:
            problems.append(f"{name}: no cross-thread frees")
        if arch in STRESS_CONTROLLER_ARCHES:
            if not config.get("hyalineController"):
                problems.append(f"{name}: the Hyaline PI controller was off")
            elif float(facts.get("hyalineControllerTicks") or 0) <= 0:
                problems.append(f"{name}: the Hyaline PI controller never ticked")
    return problems


def stalled_rows(doc) -> list[dict]:
    """The stalled-reader run of a stress cell (stress-stalled.json): per allocator, the peak
    of nodes a reader holding one guard for the whole run kept unreclaimed, and its bound."""
    rows = []
    if not isinstance(doc, dict):
        return rows
    for result in doc.get("results") or []:
        facts = result.get("facts") if isinstance(result, dict) else None
        if isinstance(facts, dict) and "hyalineStalledPeak" in facts:
            rows.append({"allocator": result.get("allocator"),
                         "peak": facts.get("hyalineStalledPeak"),
                         "bound": facts.get("hyalineStalledBound"),
                         "retired": facts.get("hyalineRetired")})
    return rows


def stress_rows(doc: dict) -> list[dict]:
    """Per allocator and role: what ran (the roles rows), plus each allocator's Hyaline facts."""
    rows = []
    for r in (doc.get("results") or []) if isinstance(doc, dict) else []:
        if not isinstance(r, dict):
            continue
        facts = r.get("facts") or {}
        hyaline = {key: facts[key] for key in (
            "hyalineReads", "hyalinePeakUnreclaimed", "hyalineUnreclaimed", "hyalineRetired",
            "hyalineReclaimed", "hyalineReclaimCrossThread", "hyalineReclaimCorruption",
            "hyalineController", "hyalineControllerTicks", "hyalineControllerFlushes",
            "hyalineControllerLowestThreshold") if key in facts}
        rows.append({"allocator": r.get("allocator"), "crossThreadFrees": facts.get("crossThreadFrees"),
                     "recovered": r.get("recovered"), "corruption": r.get("corruption"),
                     "hyaline": hyaline or None,
                     "roles": [row for row in r.get("roles") or [] if isinstance(row, dict)],
                     "timeline": [t for t in r.get("timeline") or [] if isinstance(t, dict)]})
    return rows


def results_of(doc, arch: str, source: str) -> list[dict]:
    rows = []
    if not isinstance(doc, dict):
        return rows
    for result in doc.get("results") or []:
        if not isinstance(result, dict):
            continue
        row = {key: result.get(key) for key in (
            "workload", "allocator", "threads", "operations", "seconds", "opsPerSecond",
            "nsPerOp", "p50Ns", "p99Ns", "errors", "corruption", "recovered")}
        row.update(arch=arch, source=source, emulated=bool(doc.get("emulated", arch == "aarch64")))
        # Resident memory above the row's start (ResidentMemory in the engine), in bytes.
        facts = result.get("facts") if isinstance(result.get("facts"), dict) else {}
        base = facts.get("rssBaseBytes")
        for key, name in (("rssPeakBytes", "rssPeakAboveStart"), ("rssAfterFreeBytes", "rssAfterFreeAboveStart")):
            row[name] = facts[key] - base if base is not None and facts.get(key) is not None else None
        rows.append(row)
    return rows


def repeat_documents(cell_dir: str) -> list[str]:
    """The bench cell's repeats of the gated set (cell.sh bench_repeats), in run order."""
    return sorted(glob.glob(os.path.join(cell_dir, "bench-repeat-*.json")))


def paired_ratios(rows: list[dict]) -> list[dict]:
    """ours.opsPerSecond / peer.opsPerSecond per (arch, workload, threads) within one
    document (one `offheap bench` invocation): > 1 is faster."""
    ratios = []
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["arch"], row.get("workload"), row.get("threads")), []).append(row)
    for (arch, workload, threads), group in sorted(groups.items(), key=lambda kv: str(kv[0])):
        peers = [r for r in group if r.get("allocator") in PEERS and (r.get("opsPerSecond") or 0) > 0]
        ours = [r for r in group if r.get("allocator") not in NOT_OURS and (r.get("opsPerSecond") or 0) > 0]
        for mine in ours:
            for peer in peers:
                ratios.append({
                    "arch": arch, "workload": workload, "threads": threads,
                    "allocator": mine["allocator"], "peer": peer["allocator"],
                    "ratio": mine["opsPerSecond"] / peer["opsPerSecond"],
                    "emulated": mine.get("emulated", False),
                })
    return ratios


def ratio_key(r: dict) -> tuple:
    return (r["arch"], r["workload"], r["threads"], r["allocator"], r["peer"])


def benchmark_ratios(rows: list[dict], repeats: list[list[dict]] = ()) -> list[dict]:
    """One entry per (arch, workload, threads, allocator, peer). Every document contributes one
    sample per key, ours and the peer paired within that document: the main bench run first,
    then each repeat. `ratio` is the median of the samples; `samples`, `min`, `max` show the
    spread."""
    entries: dict[tuple, dict] = {}
    samples: dict[tuple, list[float]] = {}
    for document_rows in [rows, *repeats]:
        for r in paired_ratios(document_rows):
            key = ratio_key(r)
            entries.setdefault(key, r)
            samples.setdefault(key, []).append(r["ratio"])
    ratios = []
    for key, entry in entries.items():
        values = samples[key]
        ratios.append({**entry,
                       "ratio": round(statistics.median(values), 4),
                       "samples": [round(v, 4) for v in values],
                       "min": round(min(values), 4), "max": round(max(values), 4)})
    return ratios


def program_ratios(doc, arch: str) -> list[dict]:
    """The bench cell's real programs under liboffheap-malloc (ci/malloc/bench-programs.sh's
    medians.json) as ratio entries, one per peer and figure, in the ours ÷ peer sense (> 1 is
    better): workload `real-programs-time` is peer seconds ÷ ours, `real-programs-rss` peer
    peak RSS ÷ ours, for the unchecked library (`offheap-malloc-unchecked`). `samples` holds
    one ratio per real program (each already the median of its repeats), and `ratio` their
    median: issue 15's "median over the real programs". `threads` is `all` (each program
    runs its own threads), so the bench cell never re-runs these keys as `offheap bench`."""
    if not isinstance(doc, dict) or doc.get("schema") != "offheap.programs/1":
        return []
    medians = doc.get("medians") or {}
    entries = []
    for peer in PEERS:
        for workload, field in (("real-programs-time", "seconds"), ("real-programs-rss", "peakKiB")):
            values = []
            for program in doc.get("realPrograms") or []:
                ours = (medians.get(program) or {}).get("offheap-unchecked") or {}
                theirs = (medians.get(program) or {}).get(peer) or {}
                if (ours.get(field) or 0) > 0 and (theirs.get(field) or 0) > 0:
                    values.append(theirs[field] / ours[field])
            if values:
                entries.append({"arch": arch, "workload": workload, "threads": "all",
                                "allocator": "offheap-malloc-unchecked", "peer": peer,
                                "ratio": round(statistics.median(values), 4),
                                "samples": [round(v, 4) for v in values],
                                "min": round(min(values), 4), "max": round(max(values), 4),
                                "emulated": arch == "aarch64" and platform.machine() != "aarch64"})
    return entries


def machine_info(engine: str) -> dict:
    cpuinfo = read_text("/proc/cpuinfo")
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    flags = re.search(r"flags\s*:\s*(.+)", cpuinfo)
    mem = re.search(r"MemTotal:\s*(\d+) kB", read_text("/proc/meminfo"))
    # MATRIX_SWIFT_VERSION spares the self-test a slow `swift --version` per report.
    swift = (os.environ.get("MATRIX_SWIFT_VERSION") or run(["swift", "--version"])).splitlines()
    os_name = read_env("/etc/os-release").get("PRETTY_NAME", "").strip('"')
    return {
        "arch": platform.machine(),
        "kernel": platform.release(),
        "os": os_name,
        "cpuModel": model.group(1).strip() if model else None,
        "cores": os.cpu_count(),
        "memoryBytes": int(mem.group(1)) * 1024 if mem else None,
        "la57": bool(flags and "la57" in flags.group(1).split()),
        "swiftVersion": next((line for line in swift if "Swift version" in line), None),
        "engine": engine,
    }


def git_info(root: str) -> dict:
    revision = run(["git", "-C", root, "rev-parse", "HEAD"])
    return {
        "revision": revision or None,
        "short": revision[:12] if revision else None,
        "branch": run(["git", "-C", root, "rev-parse", "--abbrev-ref", "HEAD"]) or None,
        "dirty": bool(run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"])),
    }


def build_summary(run_dir: str, engine: str | None) -> dict:
    meta = read_env(os.path.join(run_dir, "run.env"))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cells = []
    bench_rows: list[dict] = []
    scaling_rows: list[dict] = []
    size_rows: list[dict] = []
    repeat_rows: list[list[dict]] = []
    program_rows: list[dict] = []
    stress_runs: list[dict] = []
    la57: dict = {}
    for result_path in sorted(glob.glob(os.path.join(run_dir, "cells", "*", "result"))):
        cell_dir = os.path.dirname(result_path)
        result = read_env(result_path)
        arch, cell = result.get("arch", "?"), result.get("cell", "?")
        log_rel = os.path.relpath(os.path.join(cell_dir, "log.txt"), run_dir)
        log = read_text(os.path.join(cell_dir, "log.txt"))
        try:
            seconds = round(float(result["end"]) - float(result["start"]), 1)
        except (KeyError, ValueError):
            seconds = None
        try:
            cpu_seconds = float(result["cpu"])
        except (KeyError, ValueError):
            cpu_seconds = None
        figures = cell_figures(arch, cell, cell_dir, log)
        documents = figures.get("documents", {})
        corruption = sum(d.get("corruption", 0) for d in documents.values())
        failed_recoveries = sum(d.get("failedRecoveries", 0) for d in documents.values())
        entry = {
            "id": f"{arch}/{cell}", "arch": arch, "cell": cell,
            "status": result.get("status", "fail"),
            "reason": result.get("reason") or None,
            # A skip the profile declares optional (with why); any other skip fails the gate.
            "optional": result.get("optional") or None,
            "exitStatus": int(result.get("exit", "1") or 1),
            "seconds": seconds,
            # User + system CPU seconds of the cell's host processes (None in a container).
            "cpuSeconds": cpu_seconds if result.get("where", "host") == "host" else None,
            "where": result.get("where", "host"),
            "log": log_rel,
            "artifacts": sorted(os.path.relpath(p, run_dir) for p in glob.glob(os.path.join(cell_dir, "*"))
                                if os.path.basename(p) not in ("result", "pid")),
            "findings": int(figures.get("findings", 0) or 0),
            "corruption": corruption,
            "failedRecoveries": failed_recoveries,
            "emulated": arch == "aarch64" and platform.machine() != "aarch64",
            "figures": figures,
        }
        cells.append(entry)
        if cell == "bench":
            bench_rows += results_of(read_json(os.path.join(cell_dir, "bench.json")), arch, entry["id"])
            scaling_rows += results_of(read_json(os.path.join(cell_dir, "bench-scaling.json")), arch, entry["id"])
            size_rows += results_of(read_json(os.path.join(cell_dir, "bench-sizes.json")), arch, entry["id"])
            program_rows += program_ratios(read_json(os.path.join(cell_dir, "programs-medians.json")), arch)
            for index, path in enumerate(repeat_documents(cell_dir), start=1):
                rows = results_of(read_json(path), arch, entry["id"])
                for row in rows:
                    row["repeat"] = index
                    row["document"] = os.path.basename(path)
                repeat_rows.append(rows)
        if cell == "stress":
            doc = read_json(os.path.join(cell_dir, "stress.json"))
            if isinstance(doc, dict) and "_unreadable" not in doc:
                stress_runs.append({
                    "arch": arch, "emulated": entry["emulated"],
                    "config": doc.get("config"), "totals": doc.get("totals"), "ok": doc.get("ok"),
                    "results": results_of(doc, arch, entry["id"]),
                    "allocators": stress_rows(doc),
                    "coverage": stress_coverage(doc, arch),
                    "timeline": [t for t in (doc.get("timeline") or []) if isinstance(t, dict)],
                    "stalled": stalled_rows(read_json(os.path.join(cell_dir, "stress-stalled.json"))),
                })
        if cell == "la57":
            la57[arch] = {"status": entry["status"], "reason": entry["reason"],
                          "host": figures.get("host"), "probe": figures.get("probe")}
    order = {(arch, cell): i for arch, names in CELL_ORDER.items() for i, cell in enumerate(names)}
    cells.sort(key=lambda c: (c["arch"] != "x86_64", order.get((c["arch"], c["cell"]), 99), c["cell"]))
    totals = {status: sum(1 for c in cells if c["status"] == status) for status in ("pass", "fail", "skipped")}
    totals["cells"] = len(cells)
    return {
        "schema": SCHEMA,
        "runId": meta.get("run_id", os.path.basename(run_dir.rstrip("/"))),
        "profile": meta.get("profile"),
        "command": meta.get("command"),
        "engine": engine or meta.get("engine"),
        "placement": meta.get("placement") or None,
        "engineNote": meta.get("engine_note") or None,
        "started": meta.get("started"),
        "finished": meta.get("finished"),
        "wallSeconds": int(meta["wall_seconds"]) if meta.get("wall_seconds", "").isdigit() else None,
        "raceRepetitions": int(meta.get("race_repetitions") or 0) or None,
        "git": git_info(root),
        "machine": machine_info(engine or meta.get("engine", "host")),
        "totals": totals,
        "cells": cells,
        "benchmarks": bench_rows,
        "scaling": scaling_rows,
        "sizes": size_rows,
        "benchmarkRepeats": [row for rows in repeat_rows for row in rows],
        "ratios": benchmark_ratios(bench_rows, repeat_rows) + program_rows,
        "stress": stress_runs,
        "la57": la57,
    }


# --------------------------------------------------------------------------- history

def gated_keys() -> dict[str, float]:
    """The baseline's gated ratios (key "arch/workload/threads/ours:peer" → expected)."""
    try:
        return dict(read_json(os.path.join(ROOT, "reports", "baseline.json")).get("ratios") or {})
    except (OSError, ValueError, AttributeError):
        return {}


def baseline_threshold() -> float:
    try:
        return float(read_json(os.path.join(ROOT, "reports", "baseline.json")).get("threshold", 0.25))
    except (OSError, ValueError, AttributeError, TypeError):
        return 0.25


def ratio_name(r: dict) -> str:
    return f"{r['arch']}/{r['workload']}/{r['threads']}/{r['allocator']}:{r['peer']}"


def history_entry(summary: dict) -> dict:
    """This run as one history document: when, which commit, how long, the gated ratios."""
    keys = gated_keys()
    cpu = [c.get("cpuSeconds") for c in summary["cells"] if c.get("cpuSeconds") is not None]
    return {
        "schema": HISTORY_SCHEMA,
        "runId": summary["runId"], "profile": summary["profile"], "started": summary["started"],
        "raceRepetitions": summary.get("raceRepetitions"),
        "git": {k: summary["git"].get(k) for k in ("revision", "short", "branch")},
        "wallSeconds": summary["wallSeconds"],
        "cpuSeconds": round(sum(cpu), 1) if cpu else None,
        "totals": summary["totals"],
        "ratios": {ratio_name(r): {"median": r["ratio"], "min": r.get("min", r["ratio"]),
                                   "max": r.get("max", r["ratio"]),
                                   "n": len(r.get("samples") or [r["ratio"]])}
                   for r in summary["ratios"] if ratio_name(r) in keys},
    }


def load_history(exclude_run: str | None = None) -> list[dict]:
    """Every history document, oldest first (by start time)."""
    entries = []
    for path in glob.glob(os.path.join(HISTORY_DIR, "*.json")):
        try:
            doc = read_json(path)
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("schema") == HISTORY_SCHEMA and doc.get("runId") != exclude_run:
            entries.append(doc)
    return sorted(entries, key=lambda d: str(d.get("started")))


def previous_main_run(summary: dict) -> dict | None:
    """The latest history entry of the same profile that started before this run."""
    earlier = [d for d in load_history(summary["runId"])
               if d.get("profile") == summary["profile"] and str(d.get("started")) < str(summary["started"])]
    return earlier[-1] if earlier else None


def keeps_history(summary: dict, wanted: str | None) -> bool:
    """Whether a run joins reports/history/: OFFHEAP_HISTORY=0 never, =1 always; otherwise a
    whole profile (no --cells or --arch) on a clean checkout of main, so a one-cell run never
    becomes the "previous run of main" that the next report compares with."""
    if wanted in ("0", "1"):
        return wanted == "1"
    git = summary.get("git") or {}
    command = str(summary.get("command") or "").split()
    partial = any(word.startswith(("--cells", "--arch")) for word in command)
    return git.get("branch") == "main" and not git.get("dirty") and not partial


def record_history(summary: dict) -> str | None:
    """Keeps this run's history document when ``keeps_history``; returns its path."""
    if not keeps_history(summary, os.environ.get("OFFHEAP_HISTORY")):
        return None
    git = summary["git"]
    os.makedirs(HISTORY_DIR, exist_ok=True)
    stamp = re.sub(r"[^0-9TZ]", "", str(summary["started"]))
    path = os.path.join(HISTORY_DIR, f"{stamp}-{summary['profile']}-{git.get('short') or 'nogit'}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(history_entry(summary), handle, indent=1, sort_keys=False)
        handle.write("\n")
    return path


# --------------------------------------------------------------------------- SVG

def nice_ticks(high: float, count: int = 5, low: float = 0.0) -> list[float]:
    """Round axis ticks (1, 2, 2.5 or 5 × 10^k apart) from low up to at least high."""
    import math
    span = max(high - low, 1e-12)
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def allocator_colors(names) -> dict[str, str]:
    """Ours in the blue/green family, each peer in its own grey/brown."""
    ours = [n for n in sorted(names) if n not in NOT_OURS]
    colors = {n: OUR_COLORS[i % len(OUR_COLORS)] for i, n in enumerate(ours)}
    colors.update({n: PEER_COLORS.get(n, "#999999") for n in names if n in NOT_OURS})
    return colors

def svg_text(x, y, text, size=12, anchor="start", weight="normal", fill="#222"):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-family="DejaVu Sans, Arial, sans-serif" '
            f'font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" fill="{fill}">'
            f'{html.escape(str(text))}</text>')


def fmt_ops(value: float) -> str:
    if value >= 1e9:
        return f"{value / 1e9:.2f} G"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


def fmt_num(value) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def fmt_count(value) -> str:
    """A count from a document (JSON numbers may arrive as floats); '-' when absent."""
    if value is None:
        return "-"
    return str(int(value)) if isinstance(value, (int, float)) and float(value).is_integer() else str(value)


def bench_svg(rows: list[dict], title: str) -> str:
    """Grouped horizontal bars: one group per workload/threads, one bar per allocator."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if (row.get("opsPerSecond") or 0) > 0:
            groups.setdefault(f"{row.get('workload')} ×{row.get('threads')}", []).append(row)
    allocators = {r["allocator"] for g in groups.values() for r in g}
    color = allocator_colors(allocators)
    bar, gap, left, width = 16, 14, 190, 520
    height = 90 + sum(len(g) * bar + gap for g in groups.values()) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 200}" height="{height}">',
             '<rect width="100%" height="100%" fill="white"/>',
             svg_text(12, 24, title, 15, weight="bold"),
             svg_text(12, 42, "operations per second (longer is better); bars scaled per workload; "
                      "swift-offheap in blue/green, peers in grey/brown", 11, fill="#555")]
    legend_x = 12
    for name in sorted(allocators, key=lambda a: (a in NOT_OURS, a)):
        parts.append(f'<rect x="{legend_x}" y="52" width="10" height="10" fill="{color[name]}"/>')
        parts.append(svg_text(legend_x + 14, 61, name, 11, weight="bold" if name not in NOT_OURS else "normal"))
        legend_x += 24 + 7 * len(name)
    y = 80
    for name, group in groups.items():
        top = max(r["opsPerSecond"] for r in group)
        parts.append(svg_text(left - 8, y + len(group) * bar / 2 + 4, name, 12, "end", "bold"))
        for row in sorted(group, key=lambda r: (r["allocator"] in NOT_OURS, r["allocator"])):
            length = max(1.0, width * row["opsPerSecond"] / top)
            parts.append(f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar - 3}" '
                         f'fill="{color[row["allocator"]]}"/>')
            parts.append(svg_text(left + length + 4, y + bar - 5,
                                  f'{row["allocator"]}  {fmt_ops(row["opsPerSecond"])}ops/s', 11))
            y += bar
        y += gap
    parts.append("</svg>")
    return "\n".join(parts)


def sized_workload(row: dict) -> tuple[str, int | None]:
    """`random-mixed@64B` → ("random-mixed", 64); a row without a size → (name, None)."""
    name = str(row.get("workload"))
    base, at, size = name.rpartition("@")
    if at and size.endswith("B") and size[:-1].isdigit():
        return base, int(size[:-1])
    return name, None


def sweep_svg(rows: list[dict], title: str, axis: str) -> str | None:
    """A sweep of `offheap bench`: one panel per workload, ops/s against `axis` ("threads":
    `--threads 1,2,4`; "bytes": `--sizes 16,…`, rows `WORKLOAD@SIZEB`), one line per allocator."""
    def x_of(row: dict) -> int | None:
        return int(row["threads"]) if axis == "threads" else sized_workload(row)[1]
    rows = [r for r in rows if (r.get("opsPerSecond") or 0) > 0 and x_of(r) is not None]
    workloads = sorted({sized_workload(r)[0] for r in rows})
    xs = sorted({x_of(r) for r in rows})
    if not workloads or len(xs) < 2:
        return None
    allocators = {r["allocator"] for r in rows}
    color = allocator_colors(allocators)
    panel_w, panel_h, left, top, gap = 260, 170, 60, 92, 70
    width = left + len(workloads) * (panel_w + gap) + 120
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + panel_h + 60}">',
             '<rect width="100%" height="100%" fill="white"/>',
             svg_text(12, 24, title, 15, weight="bold"),
             svg_text(12, 42, f"operations per second against {'worker threads' if axis == 'threads' else 'request size'} "
                      "(higher is better); swift-offheap solid, peers dashed", 11, fill="#555")]
    legend_x = 12
    for name in sorted(allocators, key=lambda a: (a in NOT_OURS, a)):
        parts.append(f'<rect x="{legend_x}" y="52" width="10" height="10" fill="{color[name]}"/>')
        parts.append(svg_text(legend_x + 14, 61, name, 11, weight="bold" if name not in NOT_OURS else "normal"))
        legend_x += 24 + 7 * len(name)
    for index, workload in enumerate(workloads):
        x0 = left + index * (panel_w + gap)
        group = [r for r in rows if sized_workload(r)[0] == workload]
        ticks = nice_ticks(max(r["opsPerSecond"] for r in group) * 1.05)
        ymax = ticks[-1] or 1.0
        parts.append(svg_text(x0 + panel_w / 2, top - 4, workload, 12, "middle", "bold"))
        for value in ticks:
            y = top + panel_h - panel_h * value / ymax
            parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + panel_w}" y2="{y:.1f}" stroke="#ddd"/>')
            parts.append(svg_text(x0 - 4, y + 4, fmt_ops(value), 9, "end"))
        step = panel_w / (len(xs) - 1)
        for i, x in enumerate(xs):
            parts.append(svg_text(x0 + step * i, top + panel_h + 14, str(x), 10, "middle"))
        for name in sorted({r["allocator"] for r in group}):
            points = sorted((x_of(r), r["opsPerSecond"]) for r in group if r["allocator"] == name)
            xy = [(x0 + step * xs.index(x), top + panel_h - panel_h * ops / ymax) for x, ops in points]
            if len(xy) > 1:
                dash = ' stroke-dasharray="5,3"' if name in NOT_OURS else ""
                parts.append(f'<polyline fill="none" stroke="{color[name]}" stroke-width="2"{dash} points="'
                             + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy) + '"/>')
            for x, y in xy:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color[name]}"/>')
        parts.append(svg_text(x0 + panel_w / 2, top + panel_h + 32, "threads" if axis == "threads" else "bytes per request",
                              10, "middle", fill="#555"))
    parts.append("</svg>")
    return "\n".join(parts)


def stress_svg(runs: list[dict], title: str) -> str:
    """Throughput over time, one line per allocator of each stress run (the document's own
    timeline, which is its first allocator's, when the results carry none)."""
    def label(run: dict, allocators: str) -> str:
        config = run.get("config") or {}
        return f'{run["arch"]} {allocators} ×{config.get("threads", "?")}'

    def points(timeline: list[dict]) -> list[tuple[float, float]]:
        return [(float(p.get("t", 0)), float(p.get("opsPerSecond", 0))) for p in timeline]

    series = []
    for r in runs:
        own = [a for a in r.get("allocators") or [] if a.get("timeline")]
        if own:
            series += [(label(r, str(a.get("allocator"))), points(a["timeline"])) for a in own]
        elif r["timeline"]:
            first = ((r.get("config") or {}).get("allocators") or ["?"])[0]
            series.append((label(r, first), points(r["timeline"])))
    left, top, width, height = 80, 50, 640, 260
    xticks = nice_ticks(max((x for _, pts in series for x, _ in pts), default=1.0) or 1.0)
    yticks = nice_ticks(max((y for _, pts in series for _, y in pts), default=1.0) or 1.0)
    xmax, ymax = xticks[-1] or 1.0, yticks[-1] or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" height="{top + height + 60}">',
             '<rect width="100%" height="100%" fill="white"/>',
             svg_text(12, 24, title, 15, weight="bold"),
             f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + height}" stroke="#333"/>']
    for value in yticks:
        y = top + height - height * value / ymax
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(svg_text(left - 6, y + 4, fmt_ops(value), 10, "end"))
    for t in xticks:
        x = left + width * t / xmax
        parts.append(svg_text(x, top + height + 16, f"{t:g}s", 10, "middle"))
    parts.append(svg_text(left + width / 2, top + height + 36, "time since start (s)", 11, "middle"))
    parts.append(svg_text(14, top - 10, "ops/s", 11))
    for index, (name, points) in enumerate(series):
        coords = " ".join(f"{left + width * x / xmax:.1f},{top + height - height * y / ymax:.1f}"
                          for x, y in points)
        parts.append(f'<polyline fill="none" stroke="{COLORS[index % len(COLORS)]}" '
                     f'stroke-width="2" points="{coords}"/>')
        parts.append(svg_text(left + width - 4, top + 14 + 14 * index, name, 11, "end",
                              fill=COLORS[index % len(COLORS)]))
    parts.append("</svg>")
    return "\n".join(parts)


def ratios_svg(ratios: list[dict], floors: dict[str, float], title: str) -> str:
    """The gated ratios of one arch: the median as a dot, the spread of the repeats (min–max)
    as a whisker, the gate's floor as a red tick and parity (1.0) as a dashed line."""
    rows = sorted(ratios, key=ratio_name)
    left, top, width, row_height = 300, 64, 460, 22
    high = max([r.get("max", r["ratio"]) for r in rows] + [floors.get(ratio_name(r), 0) for r in rows] + [1.2])
    ticks = nice_ticks(high)
    scale = width / ticks[-1]
    height = top + row_height * len(rows) + 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" height="{height}">',
             '<rect width="100%" height="100%" fill="white"/>',
             svg_text(12, 24, title, 15, weight="bold"),
             svg_text(12, 42, "ours ÷ peer, ops/s (> 1: faster than the peer): dot = median, "
                      "whisker = min–max of the repeats, red tick = the gate's floor", 11, fill="#555")]
    bottom = top + row_height * len(rows)
    for value in ticks:
        x = left + value * scale
        dash = ' stroke-dasharray="4,3"' if value == 1 else ""
        stroke = "#555" if value == 1 else "#ddd"
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{bottom}" stroke="{stroke}"{dash}/>')
        parts.append(svg_text(x, bottom + 16, f"{value:g}", 10, "middle"))
    for index, r in enumerate(rows):
        y = top + row_height * index + row_height / 2
        name = ratio_name(r)
        parts.append(svg_text(left - 8, y + 4, name.split("/", 1)[1].replace("/", " ×", 1), 11, "end"))
        lo, hi = r.get("min", r["ratio"]), r.get("max", r["ratio"])
        parts.append(f'<line x1="{left + lo * scale:.1f}" y1="{y:.1f}" x2="{left + hi * scale:.1f}" '
                     f'y2="{y:.1f}" stroke="#1f5fa8" stroke-width="2"/>')
        floor = floors.get(name)
        if floor is not None:
            parts.append(f'<line x1="{left + floor * scale:.1f}" y1="{y - 7:.1f}" x2="{left + floor * scale:.1f}" '
                         f'y2="{y + 7:.1f}" stroke="#d62728" stroke-width="2"/>')
        parts.append(f'<circle cx="{left + r["ratio"] * scale:.1f}" cy="{y:.1f}" r="4" fill="#1f5fa8"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def trend_svg(history: list[dict], arch: str, title: str) -> str | None:
    """The gated ratios of one arch over the history's runs (oldest left), one line each."""
    runs = [h for h in history if any(k.startswith(arch + "/") for k in h.get("ratios") or {})]
    if len(runs) < 2:
        return None
    keys = sorted({k for h in runs for k in h["ratios"] if k.startswith(arch + "/")})
    left, top, width, height = 70, 50, 560, 240
    ticks = nice_ticks(max(v["median"] for h in runs for k, v in h["ratios"].items() if k in keys) * 1.05)
    ymax = ticks[-1] or 1.0
    step = width / (len(runs) - 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 260}" height="{top + height + 70}">',
             '<rect width="100%" height="100%" fill="white"/>',
             svg_text(12, 24, title, 15, weight="bold"),
             svg_text(12, 40, "median ratio per run of main (ours ÷ peer, > 1 faster), oldest left", 11, fill="#555")]
    for value in ticks:
        y = top + height - height * value / ymax
        dash = ' stroke-dasharray="4,3"' if value == 1 else ""
        stroke = "#555" if value == 1 else "#ddd"
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="{stroke}"{dash}/>')
        parts.append(svg_text(left - 6, y + 4, f"{value:g}", 10, "end"))
    for index, h in enumerate(runs):
        x = left + step * index
        parts.append(svg_text(x, top + height + 16, (h.get("git") or {}).get("short", "?")[:7], 9, "middle"))
    for index, key in enumerate(keys):
        color = COLORS[index % len(COLORS)]
        points = [(left + step * i, top + height - height * h["ratios"][key]["median"] / ymax)
                  for i, h in enumerate(runs) if key in h["ratios"]]
        if len(points) > 1:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
        for x, y in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
        parts.append(svg_text(left + width + 12, top + 12 + 14 * index, key.split("/", 1)[1], 11, fill=color))
    parts.append(svg_text(left + width / 2, top + height + 36, "commit (history of main)", 11, "middle"))
    parts.append("</svg>")
    return "\n".join(parts)


# --------------------------------------------------------------------------- REPORT.md

def md_cell(entry: dict | None) -> str:
    if entry is None:
        return "—"
    text = STATUS_ICON.get(entry["status"], entry["status"])
    if entry["seconds"] is not None:
        text += f" {entry['seconds']:.0f}s"
    if entry["cell"] in ("tsan", "asan", "valgrind") and entry["status"] != "skipped":
        text += f", {entry['findings']} findings"
    if entry["cell"] == "malloc" and (entry.get("figures") or {}).get("total"):
        text += f", {entry['figures']['passed']}/{entry['figures']['total']} programs"
    if entry["cell"] in ("checkers", "defects") and entry["status"] != "skipped":
        f = entry.get("figures") or {}
        text += f", caught {f.get('caught', 0)}/{f.get('planted', 0)}"
    where = entry.get("where") or "host"
    # Where the cell ran: the host, or the engine (the image tag is in summary.json).
    text += " · host" if where == "host" else f" · {where.split(':', 1)[0]}"
    return f"[{text}]({entry['log']})"


def yes_no(value) -> str:
    return "—" if value is None else ("yes" if value else "**no**")


def verdict_lines(run_dir: str, summary: dict) -> list[str]:
    """The first lines of REPORT.md: can this merge? The same verdict ci/gate.sh prints
    (gate.evaluate with the checkout's reports/baseline.json), then why."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gate  # noqa: E402  (the sibling module; imported here so report.py runs alone)
    verdict = gate.evaluate(summary, run_dir, os.path.join(ROOT, "reports", "baseline.json"))
    totals = summary["totals"]
    findings = sum(int(c.get("findings") or 0) for c in summary["cells"])
    figures = (f"{totals['pass']}/{totals['cells']} cells pass · {findings} sanitizer/valgrind findings · "
               f"{len(verdict.passed)}/{verdict.checked} benchmark ratios at or above their floors")
    if verdict.ok:
        return [f"**Merge: ✅ PASS** — {figures}", ""]
    lines = [f"**Merge: ❌ BLOCKED** by {len(verdict.problems)} problem(s) — {figures}", ""]
    lines += [f"- ✗ {p.replace(run_dir + os.sep, '')}" for p in verdict.problems[:10]]
    if len(verdict.problems) > 10:
        lines.append(f"- … and {len(verdict.problems) - 10} more (`ci/gate.sh` on this run lists them)")
    return lines + [""]


def details(title: str, body: list[str]) -> list[str]:
    """A folded block (GitHub renders Markdown inside it after a blank line)."""
    return [f"<details><summary>{html.escape(title)}</summary>", "", *body, "", "</details>", ""]


def md_value(value) -> str:
    """A probe value for Markdown: yes/no for booleans, never Python's True/False."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def percent(value: float, reference: float) -> str:
    if not reference:
        return "—"
    change = (value / reference - 1) * 100
    return f"{change:+.0f} %" if abs(change) >= 0.5 else "±0 %"


def delta_lines(summary: dict) -> list[str]:
    """Each gated ratio against the baseline (its floor) and against the previous run of main
    (reports/history/), then the matrix's time against that run."""
    gated = gated_keys()
    threshold = baseline_threshold()
    previous = previous_main_run(summary)
    prev_name = f"`{(previous.get('git') or {}).get('short', '?')[:7]}`" if previous else "—"
    lines = ["## Against the baseline and the previous run of main", ""]
    if previous:
        lines.append(f"Previous run of main: {previous['runId']} ({previous.get('started')}); "
                     "history in `reports/history/`.")
    else:
        lines.append("No earlier run of main with this profile in `reports/history/`.")
    lines.append("")
    by_name = {ratio_name(r): r for r in summary["ratios"]}
    rows = []
    for key in sorted(gated):
        r = by_name.get(key)
        if r is None:
            continue
        expected = gated[key]
        n = len(r.get("samples") or [r["ratio"]])
        spread = f" ({r['min']:.2f}–{r['max']:.2f}, n={n})" if n > 1 else ""
        prev = ((previous or {}).get("ratios") or {}).get(key)
        held = "✅" if r["ratio"] >= expected * (1 - threshold) else "❌"
        rows.append(f"| {key} | {held} **{r['ratio']:.2f}**{spread} | {expected * (1 - threshold):.2f} | "
                    f"{expected:.2f} ({percent(r['ratio'], expected)}) | "
                    f"{'%.2f (%s)' % (prev['median'], percent(r['ratio'], prev['median'])) if prev else '—'} |")
    if rows:
        lines += [f"| gated ratio (ours ÷ peer) | this run: median | floor | baseline (change) | "
                  f"previous {prev_name} (change) |", "|---|---|---|---|---|", *rows, ""]
    else:
        lines += ["No gated ratio in this run (no native bench cell, or no baseline).", ""]
    cpu = [c.get("cpuSeconds") for c in summary["cells"] if c.get("cpuSeconds") is not None]
    cpu_total = round(sum(cpu), 1) if cpu else None
    time_line = f"Time: wall **{summary['wallSeconds']} s**"
    if previous and previous.get("wallSeconds"):
        time_line += f" (previous {previous['wallSeconds']} s, {percent(summary['wallSeconds'], previous['wallSeconds'])})"
    if cpu_total is not None:
        time_line += f", CPU {cpu_total:.0f} s"
        if previous and previous.get("cpuSeconds"):
            time_line += f" (previous {previous['cpuSeconds']:.0f} s, {percent(cpu_total, previous['cpuSeconds'])})"
    return lines + [time_line + ".", ""]


def best_peer_lines(summary: dict) -> list[str]:
    """Per arch, workload and thread count: our fastest allocator against the fastest peer
    of the bench cell's main run (the median of the repeats where that pair was repeated)."""
    groups: dict[tuple, list[dict]] = {}
    for r in summary["benchmarks"]:
        if (r.get("opsPerSecond") or 0) > 0:
            groups.setdefault((r["arch"], r["workload"], r["threads"]), []).append(r)
    medians = {ratio_key(r): r for r in summary["ratios"]}
    rows = []
    for (arch, workload, threads), group in sorted(groups.items(), key=lambda kv: (kv[0][0] != "x86_64", str(kv[0]))):
        ours = [r for r in group if r["allocator"] not in NOT_OURS]
        peers = [r for r in group if r["allocator"] in PEERS]
        if not ours or not peers:
            continue
        mine = max(ours, key=lambda r: r["opsPerSecond"])
        peer = max(peers, key=lambda r: r["opsPerSecond"])
        ratio = mine["opsPerSecond"] / peer["opsPerSecond"]
        repeated = medians.get((arch, workload, threads, mine["allocator"], peer["allocator"]))
        figure = f"{ratio:.2f}"
        if repeated and len(repeated.get("samples") or []) > 1:
            figure = f"{repeated['ratio']:.2f} (median of {len(repeated['samples'])})"
        mark = "✅" if (repeated["ratio"] if repeated else ratio) >= 1 else "▼"
        rows.append(f"| {arch}{' (emulated)' if mine.get('emulated') else ''} | {workload} ×{threads} | "
                    f"{mine['allocator']} {fmt_ops(mine['opsPerSecond'])}ops/s | "
                    f"{peer['allocator']} {fmt_ops(peer['opsPerSecond'])}ops/s | {mark} {figure} | "
                    f"{rss_pair(mine, peer)} |")
    if not rows:
        return []
    lines = ["## Ours against the best peer", "",
             "Our fastest allocator against the fastest peer per workload (bench cell, main run; "
             "> 1 is faster; emulated rows only compare with each other); peak resident memory "
             "above each row's start, ours / the peer's:", "",
             "| arch | workload × threads | ours (best) | best peer | ratio | peak RSS |", "|---|---|---|---|---|---|",
             *rows, ""]
    return lines + scaling_lines(summary)


def rss_pair(mine: dict, peer: dict) -> str:
    """`+a / +b MiB` peak resident memory of two rows, or – when either lacks it."""
    a, b = mine.get("rssPeakAboveStart"), peer.get("rssPeakAboveStart")
    if a is None or b is None:
        return "–"
    return f"{a / 1048576:+.1f} / {b / 1048576:+.1f} MiB"


def scaling_lines(summary: dict) -> list[str]:
    """The bench cell's sweeps (outside quick): threads (bench-scaling.json) and request
    sizes (bench-sizes.json); per workload and point, our fastest allocator against the
    fastest peer, and the charts."""
    lines: list[str] = []
    for key, title, chart, column in (("scaling", "Scaling with threads", "scaling", "threads"),
                                      ("sizes", "Throughput by request size", "sizes", "bytes")):
        sweep = summary.get(key) or []
        if not sweep:
            continue
        lines += [f"### {title}", ""]
        for arch in ("x86_64", "aarch64"):
            if any(r["arch"] == arch for r in sweep):
                lines += [f"![{chart} {arch}](charts/{chart}-{arch}.svg)", ""]
        groups: dict[tuple, list[dict]] = {}
        for r in sweep:
            if (r.get("opsPerSecond") or 0) > 0:
                workload, size = sized_workload(r)
                point = int(r["threads"]) if column == "threads" else size
                groups.setdefault((r["arch"], workload, point if point is not None else -1, int(r["threads"])), []).append(r)
        table = [f"| arch | workload | {column} | ours (best) | best peer | ratio | peak RSS |",
                 "|---|---|---|---|---|---|---|"]
        for (arch, workload, point, _), group in sorted(groups.items()):
            ours = [r for r in group if r["allocator"] not in NOT_OURS]
            peers = [r for r in group if r["allocator"] in PEERS]
            if not ours or not peers:
                continue
            mine = max(ours, key=lambda r: r["opsPerSecond"])
            peer = max(peers, key=lambda r: r["opsPerSecond"])
            ratio = mine["opsPerSecond"] / peer["opsPerSecond"]
            table.append(f"| {arch} | {workload} | {point if point >= 0 else '–'} | "
                         f"{mine['allocator']} {fmt_ops(mine['opsPerSecond'])}ops/s | "
                         f"{peer['allocator']} {fmt_ops(peer['opsPerSecond'])}ops/s | "
                         f"{'✅' if ratio >= 1 else '▼'} {ratio:.2f} | {rss_pair(mine, peer)} |")
        lines += details(f"{title}, one run each ({len(sweep)} rows)", table)
    return lines


def write_report(run_dir: str, summary: dict) -> None:
    by_id = {c["id"]: c for c in summary["cells"]}
    arches = [a for a in ("x86_64", "aarch64") if any(c["arch"] == a for c in summary["cells"])]
    machine, git = summary["machine"], summary["git"]
    totals = summary["totals"]
    lines = [
        f"# swift-offheap matrix — {summary['runId']}",
        "",
        *verdict_lines(run_dir, summary),
        f"- profile **{summary['profile']}**, engine **{summary['engine']}**"
        f"{PLACEMENT_TEXT.get(summary.get('placement') or 'none', '')}"
        f"{', ' + summary['engineNote'] if summary.get('engineNote') else ''}, "
        f"wall time **{summary['wallSeconds']} s**, started {summary['started']}",
        f"- git {git['short']} ({git['branch']}{', dirty' if git['dirty'] else ''})",
        f"- machine: {machine['cpuModel']}, {machine['cores']} cores, "
        f"{(machine['memoryBytes'] or 0) / 2**30:.0f} GiB, {machine['os']}, kernel {machine['kernel']}, "
        f"{machine['swiftVersion']}",
        f"- cells: **{totals['pass']} pass, {totals['fail']} fail, {totals['skipped']} skipped** "
        f"of {totals['cells']}; gate: `ci/gate.sh <this directory>`",
        "",
        *delta_lines(summary),
        *best_peer_lines(summary),
        "## Matrix",
        "",
        "| cell | " + " | ".join(arches) + " |",
        "|---|" + "---|" * len(arches),
    ]
    for row in ROWS:
        entries = [by_id.get(f"{arch}/{row}") for arch in arches]
        if any(entries):
            lines.append(f"| {ROW_TITLES.get(row, row)} | " + " | ".join(md_cell(e) for e in entries) + " |")
    lines += ["", "aarch64 cells run under QEMU user mode (emulated): their figures are never "
              "compared with native ones, and QEMU does not reproduce Arm's weak memory ordering.", ""]

    notes = [c for c in summary["cells"] if c["status"] != "pass"]
    if notes:
        lines += ["## Failures and skips", ""]
        for c in notes:
            optional = (f" — optional in this profile: {c['optional']}" if c.get("optional")
                        and c["status"] == "skipped" else "")
            lines.append(f"- **{c['id']}** {c['status']}: {c['reason'] or 'no reason recorded'}"
                         f"{optional} ([log]({c['log']}))")
        lines.append("")

    lines += ["## Sanitizers and valgrind", ""]
    for c in summary["cells"]:
        if c["cell"] not in ("tsan", "asan", "valgrind", "race", "checkers"):
            continue
        f = c["figures"]
        if c["status"] == "skipped":
            lines.append(f"- {c['id']}: skipped — {c['reason']}")
            continue
        if c["cell"] == "tsan" and c["arch"] == "aarch64":
            lines.append(f"- {c['id']}: {f.get('findings', 0)} ThreadSanitizer warnings; race loop "
                         f"×{f.get('repetitions')} in one process each: offheap-smoke --concurrent "
                         f"{f.get('smokeRepetitions', 0)} repetitions, offheap-engine selfcheck "
                         f"{f.get('engineRepetitions', 0)} repetitions ([log]({c['log']}))")
        elif c["cell"] == "checkers":
            lines.append(f"- {c['id']}: planted defects caught {f.get('caught', 0)} of "
                         f"{f.get('planted', 0)} ([log]({c['log']}))")
            for d in f.get("defects", []):
                lines.append(f"  - {d['kind']} → {d['checker']}: {'caught' if d['caught'] else 'NOT caught'} "
                             f"(exit {d['exit']}) `{d['summary']}`")
        elif c["cell"] == "tsan":
            lines.append(f"- {c['id']}: {f.get('findings', 0)} ThreadSanitizer warnings; race loop "
                         f"{f.get('swiftTestingTests', 0)} test runs (×{f.get('repetitions')}) "
                         f"([log]({c['log']}))")
        elif c["cell"] == "asan" and c["arch"] == "aarch64":
            lines.append(f"- {c['id']}: {f.get('findings', 0)} ASan errors over offheap-smoke and "
                         f"offheap-engine stress (every allocator and role; LSan cannot run under "
                         f"QEMU) ([log]({c['log']}))")
        elif c["cell"] == "asan":
            lines.append(f"- {c['id']}: {f.get('findings', 0)} ASan/LSan errors over "
                         f"{f.get('swiftTestingTests', 0)} Swift Testing + {f.get('xctestTests', 0)} "
                         f"XCTest tests ([log]({c['log']}))")
        elif c["cell"] == "valgrind":
            lines.append(f"- {c['id']}: {f.get('findings', 0)} memcheck errors (definite leaks count)")
            for r in f.get("runs", []):
                link = os.path.join(os.path.dirname(c["log"]), r["log"])
                lines.append(f"  - [{r['log']}]({link}): errors {r['errors']}, definitely lost "
                             f"{r['definitelyLostBytes']} B, possibly lost {r['possiblyLostBytes']} B")
            if f.get("partial"):
                lines.append(f"  - partial: {f['partial']}")
        elif c["cell"] == "race":
            lines.append(f"- {c['id']}: `{f.get('command')}` ×{f.get('repetitions')}: "
                         f"{f.get('failures')} failed ([log]({c['log']}))")
        for s in f.get("summaries", []):
            lines.append(f"  - `{s}`")
    lines.append("")

    defect_cells = [c for c in summary["cells"] if c["cell"] == "defects"]
    if defect_cells:
        lines += ["## Seeded defects", ""]
        per_arch = [f"{c['arch']}: planted {c['figures'].get('planted')}, caught {c['figures'].get('caught')}"
                    for c in defect_cells if c["figures"].get("planted") is not None]
        if per_arch:
            lines += ["Per arch — " + "; ".join(per_arch) + ".", ""]
        for c in defect_cells:
            f = c["figures"]
            if c["status"] == "skipped" or f.get("planted") is None:
                lines.append(f"- {c['id']}: {c['status']} — {c['reason'] or 'no figures'}")
                continue
            lines.append(f"- {c['id']}: defects planted {f['planted']}, caught {f['caught']}; "
                         f"clean controls that reported: {f.get('controlsNotClean')} "
                         f"([log]({c['log']}))")
            table = ["| defect | checker | caught | evidence |", "|---|---|---|---|"]
            for r in f.get("defects", []):
                table.append(f"| {r['defect']} | {r['checker']} | "
                             f"{'✅ yes' if r['caught'] else '❌ NO'} | `{r['evidence']}` |")
            missed = [r["defect"] for r in f.get("defects", []) if not r["caught"]]
            lines += ([""] + table + [""] if missed else
                      [""] + details(f"{c['id']}: every defect and its evidence", table))
        lines.append("")

    fuzz_cells = [c for c in summary["cells"] if c["cell"] == "fuzz"]
    if fuzz_cells:
        lines += ["## Fuzzing", ""]
        for c in fuzz_cells:
            f = c["figures"]
            if not f.get("fuzzers"):
                lines.append(f"- {c['id']}: {c['status']} — {c['reason'] or 'no figures'}")
                continue
            lines.append(f"- {c['id']}: {len(f['fuzzers'])} fuzzers, {f.get('findings', 0)} "
                         f"finding(s) ([log]({c['log']}))")
            table = ["| fuzzer | seconds | runs | cov | ft | corpus | findings |",
                     "|---|---|---|---|---|---|---|"]
            for z in f["fuzzers"]:
                finding = f"❌ {z['findings']} (`{z['artifact']}`)" if z["findings"] else "0"
                table.append(f"| {z['fuzzer']} | {z['seconds']} | {z['runs']} | {z['cov']} | "
                             f"{z['ft']} | {z['corpus']} | {finding} |")
            lines += [""] + (table if f.get("findings") else details(f"{c['id']}: per fuzzer", table))
            sc = f.get("selfcheck")
            if sc:
                verdict = "found ✅" if sc.get("found") else "NOT found ❌"
                lines += ["", f"Self-check: planted Arena off-by-one {verdict}"
                          + (f": `{sc['evidence']}`" if sc.get("evidence") else "")]
            lines.append("")
        lines.append("")

    malloc_cells = [c for c in summary["cells"] if c["cell"] == "malloc" and c["figures"].get("programs")]
    if malloc_cells:
        lines += ["## Real programs on liboffheap-malloc", ""]
        for c in malloc_cells:
            f = c["figures"]
            lines.append(f"- {c['id']}: {f['passed']} of {f['total']} pass: each program's output, exit "
                         f"status and stderr under `LD_PRELOAD=liboffheap-malloc.so` (checked mode) against "
                         f"the same run on glibc ([log]({c['log']}))")
            table = ["| program | result | detail |", "|---|---|---|"]
            for p in f["programs"]:
                table.append(f"| {p['program']} | {'✅ pass' if p['passed'] else '❌ FAIL'} | {p['detail']} |")
            lines += [""] + (table + [""] if f["passed"] < f["total"] else details(f"{c['id']}: per program", table))
        lines.append("")

    lines += ["## Stress", ""]
    if summary["stress"]:
        folded = ["| arch | allocator | threads | seconds | operations | ops/s | errors | corruption | recovered |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for s in summary["stress"]:
            for r in s["results"]:
                folded.append(f"| {s['arch']}{' (emulated)' if s['emulated'] else ''} | {r['allocator']} | "
                             f"{r['threads']} | {fmt_num(r['seconds'])} | {r['operations']} | "
                             f"{fmt_ops(r['opsPerSecond'] or 0)} | {r['errors']} | {r['corruption']} | "
                             f"{yes_no(r['recovered'])} |")
        folded.append("")
        if any(a.get("roles") for s in summary["stress"] for a in s.get("allocators") or []):
            folded += ["Per role (readers count no operations: they validate in place and free "
                      "what they take; cross-thread frees are slots freed by a thread that did "
                      "not allocate them):", "",
                      "| arch | allocator | role | threads | operations | in-place reads | "
                      "cross-thread frees | corruption | errors |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for s in summary["stress"]:
                for a in s.get("allocators") or []:
                    for row in a.get("roles") or []:
                        folded.append(f"| {s['arch']} | {a['allocator']} | {row.get('role')} | "
                                     f"{row.get('lanes')} | {row.get('operations')} | "
                                     f"{row.get('validations')} | {row.get('crossThreadFrees')} | "
                                     f"{row.get('corruption')} | {row.get('errors')} |")
            folded.append("")
            for s in summary["stress"]:
                for a in s.get("allocators") or []:
                    h = a.get("hyaline") or {}
                    if not h:
                        continue
                    controller = ("PI controller on: "
                                  f"{fmt_count(h.get('hyalineControllerTicks'))} ticks, "
                                  f"{fmt_count(h.get('hyalineControllerFlushes'))} forced flushes, "
                                  f"lowest threshold {fmt_count(h.get('hyalineControllerLowestThreshold'))}"
                                  if h.get("hyalineController") else "PI controller off")
                    folded.append(f"- {s['arch']} {a['allocator']} Hyaline: peak unreclaimed "
                                 f"{fmt_count(h.get('hyalinePeakUnreclaimed'))}, retired "
                                 f"{fmt_count(h.get('hyalineRetired'))}, reclaimed "
                                 f"{fmt_count(h.get('hyalineReclaimed'))} "
                                 f"({fmt_count(h.get('hyalineReclaimCrossThread'))} on another thread), "
                                 f"left {fmt_count(h.get('hyalineUnreclaimed'))}; "
                                 f"all cross-thread frees {fmt_count(a.get('crossThreadFrees'))}; {controller}")
        for s in summary["stress"]:
            for row in s.get("stalled") or []:
                folded.append(f"- {s['arch']} {row['allocator']} stalled Hyaline reader: peak unreclaimed "
                             f"{fmt_count(row['peak'])} of bound {fmt_count(row['bound'])} while "
                             f"{fmt_count(row['retired'])} nodes were retired")
        lines += details("Stress per allocator and role, Hyaline reclamation, stalled readers", folded)
        for s in summary["stress"]:
            t = s["totals"] or {}
            lines.append(f"- {s['arch']} totals: {t.get('errors', 0)} errors, {t.get('corruption', 0)} corrupted, "
                         f"{t.get('failedRecoveries', 0)} failed recoveries — "
                         f"{'ok' if s['ok'] else '**not ok**'}")
            for problem in s.get("coverage") or []:
                lines.append(f"- {s['arch']} coverage: **{problem}**")
        for arch in arches:
            if os.path.exists(os.path.join(run_dir, "charts", f"stress-{arch}.svg")):
                lines.append(f"\n![stress throughput {arch}](charts/stress-{arch}.svg)")
    else:
        lines.append("No stress figures (cells skipped or failed before producing JSON).")
    lines.append("")

    lines += ["## LA57 / virtual address width", ""]
    for arch in arches:
        info = summary["la57"].get(arch)
        if not info:
            continue
        host = info.get("host") or {}
        lines.append(f"- **{arch}**: {info['status']}{' — ' + info['reason'] if info.get('reason') else ''}; "
                     f"host cpu la57={host.get('cpu_la57', '?')}, {host.get('address_sizes', '')}")
        probe = info.get("probe")
        if isinstance(probe, dict):
            keys = ("la57", "la57Flag", "virtualAddressBits", "userAddressBits", "cpuVirtualAddressBits",
                    "highAddressesGranted", "pageSize", "hugePageSize", "transparentHugePages")
            shown = ", ".join(f"{k}={md_value(probe[k])}" for k in keys if k in probe)
            lines.append(f"  - probe: {shown or 'no known fields'}")
    lines.append("")

    lines += ["## Benchmarks against peers", ""]
    if summary["benchmarks"]:
        for arch in arches:
            for chart, what in (("ratios", "gated ratios"), ("trend", "gated ratios over the runs of main"),
                                ("bench", "benchmarks")):
                if os.path.exists(os.path.join(run_dir, "charts", f"{chart}-{arch}.svg")):
                    lines += [f"![{what} {arch}](charts/{chart}-{arch}.svg)", ""]
        table = ["| arch | workload | threads | allocator | ops/s | ns/op | p50 ns | p99 ns | peak RSS | RSS after free |",
                 "|---|---|---|---|---|---|---|---|---|---|"]

        def mib(value) -> str:
            return "–" if value is None else f"{value / 1048576:+.1f} MiB"
        for r in summary["benchmarks"]:
            table.append(f"| {r['arch']}{' (emulated)' if r['emulated'] else ''} | {r['workload']} | "
                         f"{r['threads']} | {r['allocator']} | {fmt_ops(r['opsPerSecond'] or 0)} | "
                         f"{fmt_num(r['nsPerOp'])} | {r['p50Ns']} | {r['p99Ns']} | "
                         f"{mib(r.get('rssPeakAboveStart'))} | {mib(r.get('rssAfterFreeAboveStart'))} |")
        table += ["", "Resident memory is the process's, above its figure when the row started: the "
                  "peak while the workload ran and what stayed resident once it freed every block "
                  "(the allocator still alive)."]
        lines += details(f"Every result of the bench cells ({len(summary['benchmarks'])} rows)", table)
        repeated = [r for r in summary["ratios"] if len(r.get("samples") or []) > 1 and r["threads"] != "all"]
        if repeated:
            bench = next((c for c in summary["cells"] if c["cell"] == "bench" and "repeats" in c["figures"]), None)
            took = ""
            if bench and bench["figures"].get("repeatSeconds") is not None:
                took = f", {bench['figures']['repeats']} repeats took {bench['figures']['repeatSeconds']:.0f} s"
            table = [f"The baseline's gated set, ours ÷ peer paired within each `offheap bench` run{took}; "
                     "the gate holds the median:", "",
                     "| arch | workload | threads | allocator | peer | median | n | min – max | samples (main run first) |",
                     "|---|---|---|---|---|---|---|---|---|"]
            for r in repeated:
                table.append(f"| {r['arch']} | {r['workload']} | {r['threads']} | {r['allocator']} | "
                             f"{r['peer']} | **{r['ratio']:.2f}** | {len(r['samples'])} | "
                             f"{r['min']:.2f} – {r['max']:.2f} | "
                             f"{' '.join(f'{v:.2f}' for v in r['samples'])} |")
            lines += details(f"Repeated ratios: every sample ({len(repeated)} gated pairs)", table)
        if summary["ratios"]:
            table = ["Ours ÷ peer, ops/s; > 1 means faster than the peer; median and spread where the "
                     "set was repeated. `real-programs-time` / `real-programs-rss`: peer ÷ ours in wall "
                     "seconds / peak RSS, the median over the real programs (spread: per program):", "",
                     "| arch | workload | threads | allocator | peer | ratio | n | min – max |",
                     "|---|---|---|---|---|---|---|---|"]
            for r in summary["ratios"]:
                n = len(r.get("samples") or [r["ratio"]])
                spread = f"{r['min']:.2f} – {r['max']:.2f}" if n > 1 else "—"
                table.append(f"| {r['arch']} | {r['workload']} | {r['threads']} | {r['allocator']} | "
                             f"{r['peer']} | {r['ratio']:.2f} | {n} | {spread} |")
            lines += details(f"Every ratio against every peer ({len(summary['ratios'])})", table)
    else:
        lines.append("No benchmark figures (cells skipped or failed before producing JSON).")
    for c in summary["cells"]:
        programs = read_text(os.path.join(run_dir, "cells", f"{c['arch']}-{c['cell']}", "programs-summary.md"))
        if c["cell"] == "bench" and programs.strip():
            lines += ["", f"### Real programs per allocator ({c['arch']}, ci/malloc/bench-programs.sh)", "",
                      programs.strip(), ""]
    lines += ["", f"Schema: `{SCHEMA}` (reports/SCHEMA.md). Raw data: [summary.json](summary.json).", ""]
    with open(os.path.join(run_dir, "REPORT.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


def write_charts(run_dir: str, summary: dict) -> None:
    charts = os.path.join(run_dir, "charts")
    os.makedirs(charts, exist_ok=True)
    for arch in ("x86_64", "aarch64"):
        rows = [r for r in summary["benchmarks"] if r["arch"] == arch]
        if rows:
            note = " (QEMU, emulated)" if any(r["emulated"] for r in rows) else ""
            with open(os.path.join(charts, f"bench-{arch}.svg"), "w", encoding="utf-8") as handle:
                handle.write(bench_svg(rows, f"{arch}{note}: swift-offheap vs peers"))
        for key, axis, chart, what in (("scaling", "threads", "scaling", "scaling with threads"),
                                       ("sizes", "bytes", "sizes", "throughput by request size")):
            svg = sweep_svg([r for r in summary.get(key) or [] if r["arch"] == arch], f"{arch}: {what}", axis)
            if svg:
                with open(os.path.join(charts, f"{chart}-{arch}.svg"), "w", encoding="utf-8") as handle:
                    handle.write(svg)
        gated = gated_keys()
        ratios = [r for r in summary["ratios"] if r["arch"] == arch and ratio_name(r) in gated]
        if ratios:
            threshold = baseline_threshold()
            floors = {k: v * (1 - threshold) for k, v in gated.items()}
            with open(os.path.join(charts, f"ratios-{arch}.svg"), "w", encoding="utf-8") as handle:
                handle.write(ratios_svg(ratios, floors, f"{arch}: gated ratios against peers"))
        trend = trend_svg(load_history(summary["runId"]) + [history_entry(summary)], arch,
                          f"{arch}: gated ratios over the runs of main")
        if trend:
            with open(os.path.join(charts, f"trend-{arch}.svg"), "w", encoding="utf-8") as handle:
                handle.write(trend)
        runs = [s for s in summary["stress"] if s["arch"] == arch and s["timeline"]]
        if runs:
            note = " (QEMU, emulated)" if any(s["emulated"] for s in runs) else ""
            with open(os.path.join(charts, f"stress-{arch}.svg"), "w", encoding="utf-8") as handle:
                handle.write(stress_svg(runs, f"{arch}{note}: stress throughput over time"))


def copy_trimmed(run_dir: str, dest: str) -> None:
    """Copies a run for committing: REPORT.md, summary.json, run.env and the charts. Cell logs
    and raw checker output stay in the run's directory (CI keeps them as artifacts): the copy's
    REPORT.md names each log instead of linking to it."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    for name in ("summary.json", "run.env"):
        if os.path.exists(os.path.join(run_dir, name)):
            shutil.copy2(os.path.join(run_dir, name), os.path.join(dest, name))
    if os.path.isdir(os.path.join(run_dir, "charts")):
        shutil.copytree(os.path.join(run_dir, "charts"), os.path.join(dest, "charts"))
    report = read_text(os.path.join(run_dir, "REPORT.md"))
    report = re.sub(r"\[([^\]]*)\]\((cells/[^)]*)\)", r"\1 (`\2`)", report)
    with open(os.path.join(dest, "REPORT.md"), "w", encoding="utf-8") as handle:
        handle.write(report)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--engine")
    parser.add_argument("--copy-to")
    args = parser.parse_args()
    run_dir = os.path.abspath(args.run_dir)
    if args.copy_to:
        copy_trimmed(run_dir, os.path.abspath(args.copy_to))
        print(f"copied {run_dir} → {args.copy_to}")
        return 0
    summary = build_summary(run_dir, args.engine)
    write_charts(run_dir, summary)
    with open(os.path.join(run_dir, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2, sort_keys=False)
        handle.write("\n")
    write_report(run_dir, summary)
    kept = record_history(summary)
    if kept:
        print(f"history: {os.path.relpath(kept, ROOT)}")
    t = summary["totals"]
    print(f"{summary['runId']}: {t['pass']} pass, {t['fail']} fail, {t['skipped']} skipped "
          f"→ {os.path.join(run_dir, 'REPORT.md')}")
    for c in summary["cells"]:
        cpu = f"{c['cpuSeconds']:>7.1f} cpu-s" if c.get("cpuSeconds") is not None else " " * 13
        print(f"  {c['id']:<24} {c['status']:<8} {c['seconds'] or 0:>7.1f}s {cpu}  {c['reason'] or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
