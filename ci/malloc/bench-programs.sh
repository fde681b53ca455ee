#!/usr/bin/env bash
# Real programs timed under each allocator in one run: glibc, jemalloc, mimalloc, tcmalloc
# (Debian's, by LD_PRELOAD) and liboffheap-malloc (checked and unchecked): sqlite3, Python,
# gcc, the thread program, and the classic allocator benchmarks of ci/malloc/classic.c
# (larson, xmalloc, cache-scratch, cache-thrash, mstress, rptest).
#
#   ci/malloc/bench-programs.sh --so .build-malloc/x86_64/liboffheap-malloc.so [--repeats N] [--out DIR]
#
# Each program runs N times per allocator (default 5), allocators interleaved within every
# repeat (a different rotation each time, so drift on a shared machine spreads evenly), each
# run in a fresh work directory. Wall time (bash's EPOCHREALTIME around the run: microseconds,
# where GNU time's %e has 10 ms steps) and peak RSS (GNU time's %M) per run, and for
# classic.c's programs the RSS after they freed everything (their "rss-after-free-kib" line:
# VmRSS once every block is freed, as mimalloc-bench reports it); the summary gives per program
# and allocator the medians, and ours against mimalloc as ratios (time: mimalloc ÷ ours, > 1
# is faster; RSS: ours ÷ mimalloc), with their medians over the real programs (issue 15's
# target) and over the classic benchmarks, separately. The classic programs run with a work
# multiplier (classic.c's SCALE) so that each lasts a few tenths of a second.
# Writes DIR/runs.tsv, DIR/summary.md and DIR/medians.json (per program and allocator: median
# seconds and peak RSS; the matrix report gates the real programs' ratios); exit 1 if any run fails.
# (The case_* functions are called through "$function".)
# shellcheck disable=SC2317
set -uo pipefail

so="" out="${TMPDIR:-/tmp}/offheap-bench-programs" repeats=5
while [[ $# -gt 0 ]]; do
    case "$1" in
    --so) so="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    *) echo "bench-programs: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ -n "$so" && -f "$so" ]] || { echo "bench-programs: --so PATH is required" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "bench-programs: GNU time (/usr/bin/time) is required" >&2; exit 3; }
so="$(cd "$(dirname "$so")" && pwd)/$(basename "$so")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
multiarch="$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"

# name → LD_PRELOAD (empty: glibc); the peers only when installed.
declare -A preload=([glibc]="" [offheap]="$so" [offheap-unchecked]="$so")
allocators=(glibc)
for peer in jemalloc:libjemalloc.so.2 mimalloc:libmimalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4; do
    path="/usr/lib/$multiarch/${peer#*:}"
    [[ -f "$path" ]] && { preload[${peer%%:*}]="$path"; allocators+=("${peer%%:*}"); }
done
allocators+=(offheap offheap-unchecked)

gcc -O2 -pthread -o "$out/threads" "$here/threads.c" || exit 1
gcc -O2 -pthread -o "$out/classic" "$here/classic.c" || exit 1
export here out   # the cases run in `bash -c`

# The sqlite3 workload, after the statements in $1 (exported: the cases run in `bash -c`).
sqlite_workload() {
    printf '%s\n' "$1"
    cat <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 150000)
INSERT INTO t(k, v) SELECT printf('key-%08d', (x * 7919) % 150000), zeroblob(x % 700) FROM c;
CREATE INDEX t_k ON t(k);
UPDATE t SET v = zeroblob(1200) WHERE id % 7 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(v)) FROM t;
SQL
}
export -f sqlite_workload
case_sqlite() { sqlite_workload "" | sqlite3 "$1/db.sqlite" >/dev/null; }
case_python() {
    python3 -c '
import json, random
random.seed(7)
data = {f"k{i}": [random.random() for _ in range(i % 40)] for i in range(150000)}
text = json.dumps(data)
assert json.loads(text) == data
print(len(sorted({str(x)[:6] for v in data.values() for x in v})))' >/dev/null
}
# The same kind of work on an in-memory database with a 200 MB page cache: no file I/O, so
# the allocator's share of the time is not hidden behind the kernel's.
case_sqlite_memory() { sqlite_workload "PRAGMA cache_size = -200000;" | sqlite3 :memory: >/dev/null; }
case_gcc() { gcc -O2 -c "$here/threads.c" -o "$1/threads.o" && gcc -O2 -c "$here/abi.c" -o "$1/abi.o" -Wno-alloc-size-larger-than; }
case_threads() { "$out/threads" >/dev/null; }
# The classic allocator benchmarks (ci/malloc/classic.c), fixed work each (its SCALE: 8× the
# malloc cell's correctness runs; rptest's 1× already lasts ~0.4 s).
case_larson() { "$out/classic" larson 8 >/dev/null; }
case_xmalloc() { "$out/classic" xmalloc 8 >/dev/null; }
case_cache_scratch() { "$out/classic" cache-scratch 8 >/dev/null; }
case_cache_thrash() { "$out/classic" cache-thrash 8 >/dev/null; }
case_mstress() { "$out/classic" mstress 8 >/dev/null; }
case_rptest() { "$out/classic" rptest >/dev/null; }

# The real programs come first; the summary's "real programs" median covers these.
real_programs="sqlite3 sqlite3-memory python3 gcc threads"
programs=(sqlite3:case_sqlite sqlite3-memory:case_sqlite_memory python3:case_python gcc:case_gcc threads:case_threads larson:case_larson
    xmalloc:case_xmalloc cache-scratch:case_cache_scratch cache-thrash:case_cache_thrash mstress:case_mstress
    rptest:case_rptest)
printf 'program\tallocator\trepeat\tseconds\tpeak_kib\tafter_free_kib\n' >"$out/runs.tsv"
failed=0
for repeat in $(seq 1 "$repeats"); do
    for entry in "${programs[@]}"; do
        name="${entry%%:*}" function="${entry#*:}"
        count=${#allocators[@]}
        for index in $(seq 0 $((count - 1))); do
            allocator="${allocators[$(((index + repeat) % count))]}"
            work="$out/work"
            rm -rf "$work" && mkdir -p "$work"
            checked=1
            [[ "$allocator" != offheap-unchecked ]] || checked=0
            started=$EPOCHREALTIME
            if ! LD_PRELOAD="${preload[$allocator]}" OFFHEAP_CHECKED=$checked /usr/bin/time -f '%M' -o "$out/time.txt" \
                bash -c "$(declare -f "$function"); $function \"\$1\"" _ "$work" 2>"$out/stderr.txt"; then
                echo "bench-programs: $name under $allocator failed: $(tail -n 2 "$out/stderr.txt" | paste -sd' ' -)" >&2
                failed=1
                continue
            fi
            ended=$EPOCHREALTIME
            seconds="$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.4f", b - a }')"
            read -r peak <"$out/time.txt"
            after="$(sed -n 's/^rss-after-free-kib \([0-9]*\)$/\1/p' "$out/stderr.txt" | tail -n 1)"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$allocator" "$repeat" "$seconds" "$peak" "${after:--}" >>"$out/runs.tsv"
        done
    done
done
rm -rf "$out/work"

python3 - "$out/runs.tsv" "$out/summary.md" "$real_programs" "$out/medians.json" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])][1:]
real = set(sys.argv[3].split())
runs = {}
after = {}
for program, allocator, _, seconds, peak, after_free in rows:
    runs.setdefault((program, allocator), []).append((float(seconds), int(peak)))
    if after_free != "-":
        after.setdefault((program, allocator), []).append(int(after_free))
after = {k: statistics.median(v) for k, v in after.items()}
programs = list(dict.fromkeys(r[0] for r in rows))
allocators = list(dict.fromkeys(r[1] for r in rows))
med = {k: (statistics.median(s for s, _ in v), statistics.median(p for _, p in v), len(v)) for k, v in runs.items()}
lines = ["| program | " + " | ".join(allocators) + " | offheap vs mimalloc: time, peak RSS, RSS after free |",
         "|---|" + "---|" * (len(allocators) + 1)]
time_ratios, rss_ratios, after_ratios = [], [], []
group = {True: ([], []), False: ([], [])}  # real program? → (time ratios, peak RSS ratios)
for program in programs:
    cells = []
    for a in allocators:
        m = med.get((program, a))
        freed = after.get((program, a))
        cells.append((f"{m[0]:.3f} s, {m[1] / 1024:.0f} MiB" + (f" → {freed / 1024:.1f} MiB" if freed is not None else "")) if m else "—")
    ours, peer = med.get((program, "offheap-unchecked")), med.get((program, "mimalloc"))
    ratio = "—"
    if ours and peer and ours[0] > 0:
        time_ratios.append(peer[0] / ours[0]); rss_ratios.append(ours[1] / peer[1])
        group[program in real][0].append(peer[0] / ours[0]); group[program in real][1].append(ours[1] / peer[1])
        ratio = f"{peer[0] / ours[0]:.2f}×, {ours[1] / peer[1]:.2f}×"
        ours_after, peer_after = after.get((program, "offheap-unchecked")), after.get((program, "mimalloc"))
        if ours_after is not None and peer_after:
            ratio += f", {ours_after / peer_after:.2f}×"
            after_ratios.append(ours_after / peer_after)
    lines.append(f"| {program} | " + " | ".join(cells) + f" | {ratio} |")
n = max((m[2] for m in med.values()), default=0)
lines += ["", f"Medians of {n} runs per cell (wall seconds, peak RSS → RSS after the program freed everything, "
          "classic.c's programs only). offheap vs mimalloc compares the "
          "unchecked mode: time = mimalloc ÷ ours (> 1 faster), RSS = ours ÷ mimalloc (< 1 smaller)."]
for is_real, label in ((True, "the real programs (" + ", ".join(p for p in programs if p in real) + ")"),
                       (False, "the classic benchmarks")):
    times, peaks = group[is_real]
    if times:
        lines.append(f"Median over {label}: time {statistics.median(times):.3f}×, "
                     f"peak RSS {statistics.median(peaks):.3f}×.")
if time_ratios:
    lines.append(f"Median over all the programs: time {statistics.median(time_ratios):.2f}×, "
                 f"peak RSS {statistics.median(rss_ratios):.2f}×"
                 + (f", RSS after free {statistics.median(after_ratios):.2f}× (classic.c's programs)" if after_ratios else "") + ".")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
# The medians for the matrix report (report.py turns the real programs' into gated ratios).
import json
json.dump({"schema": "offheap.programs/1", "realPrograms": [p for p in programs if p in real],
           "medians": {p: {a: {"seconds": med[(p, a)][0], "peakKiB": med[(p, a)][1], "runs": med[(p, a)][2]}
                           for a in allocators if (p, a) in med} for p in programs}},
          open(sys.argv[4], "w"), indent=1)
PY
exit "$failed"
