#!/usr/bin/env bash
# (The case_* functions are called through run_case's "$function".)
# shellcheck disable=SC2317,SC2030,SC2031
# Real programs under liboffheap-malloc.so, each compared with the same run on glibc's malloc.
#
#   ci/malloc/real-programs.sh --so .build-malloc/x86_64/liboffheap-malloc.so [--out DIR] [--full]
#                              [--only NAME]... [--arch aarch64] [--under-qemu] [--stress-ng]
#
# Every case runs twice in a fresh work directory: on glibc, then with LD_PRELOAD of the
# library (OFFHEAP_CHECKED=1; OFFHEAP_VERBOSE_FILE collects every process's exit statistics).
# A case passes when both runs exit 0 with the same output, the preloaded run's stderr has no
# "offheap-malloc:" complaint, and the statistics show the heap served allocations (so a
# library that silently fell back to glibc fails). The misuse cases must instead be stopped by checked mode.
#
# Cases: the ABI's promises (ci/malloc/abi.c), cross-thread frees + thread churn + fork
# (threads.c), sqlite3 with PRAGMA integrity_check, a Python workload, git on a generated
# repository with fsck, gcc compiling C (the object files must match byte for byte); --full
# adds the classic allocator benchmarks of classic.c (larson, xmalloc, cache-scratch,
# mstress: every block's pattern checked), a slice of CPython's own test suite and swiftc
# compiling a Swift program.
# --arch aarch64 (an aarch64 library on an x86-64 host): the C programs only (abi, threads —
# a quarter of the work and no fork storm, which QEMU user mode itself cannot run — and the
# misuse cases), cross-compiled and run under `qemu-aarch64-static -L /`; Debian's programs
# are x86-64 binaries here.
# --under-qemu: this whole run is an emulated arm64 userland (the aarch64/malloc cell: the arm64
# matrix image through binfmt + qemu-user-static, where Debian's arm64 sqlite3, python3, git
# and gcc are the programs): the thread program gets QEMU's reduced load (no fork storm).
# --stress-ng: adds `stress-ng --malloc` with pthreads and --verify (exit status, "successful
# run" and zero failures compared with glibc's run; a run that does not finish in
# STRESS_NG_TIMEOUT seconds, default 60, fails).
# Writes DIR/results.tsv (case, status, detail) and one log per run; exit 1 if any case fails.
set -uo pipefail

so="" out="${TMPDIR:-/tmp}/offheap-real-programs" full=0 only=" " arch="$(uname -m)" under_qemu=0 stress_ng=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    --so) so="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --full) full=1; shift ;;
    --only) only+="$2 "; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --under-qemu) under_qemu=1; shift ;;
    --stress-ng) stress_ng=1; shift ;;
    *) echo "real-programs: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ -n "$so" && -f "$so" ]] || { echo "real-programs: --so PATH to liboffheap-malloc.so is required" >&2; exit 2; }
so="$(cd "$(dirname "$so")" && pwd)/$(basename "$so")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
: >"$out/results.tsv"
failed=0

# The test programs, built once (on glibc; the library is only preloaded at run time).
# (-Wno-alloc-size-larger-than / -Wno-free-nonheap-object: the impossible sizes and the
# interior free are the point.)
cc=gcc emulated=0 threads_args=()
if [[ "$arch" != "$(uname -m)" ]]; then
    [[ "$arch" == aarch64 ]] || { echo "real-programs: cannot run $arch programs here" >&2; exit 2; }
    cc=aarch64-linux-gnu-gcc emulated=1 threads_args=(4 qemu)
fi
[[ $under_qemu -eq 0 ]] || threads_args=(4 qemu)
for program in abi threads misuse classic exitrelease; do
    "$cc" -O2 -pthread -Wno-alloc-size-larger-than -Wno-free-nonheap-object -o "$out/$program" "$here/$program.c" ||
        { echo "real-programs: cannot build $here/$program.c" >&2; exit 1; }
done

# Deterministic git: fixed identities and dates, no user or system config.
export GIT_AUTHOR_NAME=offheap GIT_AUTHOR_EMAIL=offheap@example.invalid GIT_COMMITTER_NAME=offheap \
    GIT_COMMITTER_EMAIL=offheap@example.invalid GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" \
    GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

# guest PROGRAM ARGS: runs a test program natively, or under QEMU with the library given to the
# guest only (-E: an aarch64 LD_PRELOAD in QEMU's own environment would be refused by the
# host's loader).
guest() {
    if [[ $emulated -eq 0 ]]; then "$@"; return; fi
    local envs=()
    if [[ -n "${OFFHEAP_GUEST_PRELOAD:-}" ]]; then
        envs=(-E "LD_PRELOAD=$OFFHEAP_GUEST_PRELOAD" -E "OFFHEAP_CHECKED=${OFFHEAP_CHECKED:-1}")
        [[ -z "${OFFHEAP_VERBOSE_FILE:-}" ]] || envs+=(-E "OFFHEAP_VERBOSE_FILE=$OFFHEAP_VERBOSE_FILE")
        [[ -z "${OFFHEAP_DISABLE:-}" ]] || envs+=(-E "OFFHEAP_DISABLE=$OFFHEAP_DISABLE")
        [[ -z "${OFFHEAP_SEGMENT_CACHE:-}" ]] || envs+=(-E "OFFHEAP_SEGMENT_CACHE=$OFFHEAP_SEGMENT_CACHE")
    fi
    qemu-aarch64-static -L / "${envs[@]}" "$@"
}
# The variable that hands the library to a run: LD_PRELOAD natively, the guest's under QEMU.
preload_var=LD_PRELOAD
[[ $emulated -eq 0 ]] || preload_var=OFFHEAP_GUEST_PRELOAD

case_program() {
    local dir="$1" program="$2"
    shift 2
    cd "$dir" && guest "$out/$program" "$@"
}

# Pages released at thread exit with no segment cache (exitrelease.c): the exit processing's
# own allocations must not come back into the heap (they deadlocked it; the program's alarm
# ends a hang in 60 s).
case_exit_release() {
    cd "$1" && OFFHEAP_SEGMENT_CACHE=0 guest "$out/exitrelease"
}

case_sqlite() {
    sqlite3 "$1/db.sqlite" <<'SQL'
PRAGMA journal_mode=WAL;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60000)
INSERT INTO t(k, v) SELECT printf('key-%08d', (x * 7919) % 60000), zeroblob(x % 700) FROM c;
CREATE INDEX t_k ON t(k);
UPDATE t SET v = zeroblob(1200) WHERE id % 7 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM;
PRAGMA integrity_check;
SELECT count(*), sum(length(v)), min(k), max(k) FROM t;
SELECT k, count(*) FROM t GROUP BY substr(k, 1, 6) ORDER BY 1 LIMIT 3;
SQL
}

case_python() {
    python3 - <<'PY'
import hashlib, json, random, threading
random.seed(7)
data = {f"k{i}": [random.random() for _ in range(i % 40)] for i in range(60000)}
text = json.dumps(data, sort_keys=True)
back = json.loads(text)
assert back == data
words = sorted({"".join(random.choice("abcdef") for _ in range(n % 12 + 1)) for n in range(80000)})
results = []
def work(seed):
    r = random.Random(seed)
    chunks = [bytes(r.getrandbits(8) for _ in range(r.randrange(1, 3000))) for _ in range(400)]
    results.append(hashlib.sha256(b"".join(sorted(chunks))).hexdigest())
threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(len(text), hashlib.sha256(text.encode()).hexdigest()[:16], len(words), sorted(results)[0][:16])
PY
}

case_git() {
    cd "$1" || return 1
    git init -q -b main repo && cd repo || return 1
    for d in $(seq 1 20); do
        mkdir -p "dir$d"
        for f in $(seq 1 25); do seq "$((d * f))" "$((d * f + 200))" >"dir$d/file$f.txt"; done
    done
    git add -A && git commit -q -m initial
    git checkout -q -b feature
    for d in $(seq 1 20 | sed -n '1~3p'); do sed -i 's/^1/one/' "dir$d"/file*.txt; done
    git commit -q -am "feature edits"
    git checkout -q main
    for d in 2 4 6; do echo "main line" >>"dir$d/file1.txt"; done
    git commit -q -am "main edits"
    git merge -q --no-edit feature
    git gc -q --aggressive
    git fsck --full --strict
    git log --format='%H %s' | head -n 5
    git diff --stat HEAD~2 HEAD | tail -n 1
    git count-objects -v | grep -E '^(count|in-pack|packs)'
}

case_gcc() {
    cd "$1" || return 1
    cp "$here/threads.c" "$here/abi.c" .
    gcc -O2 -g -ffile-prefix-map="$PWD"=. -c threads.c -o threads.o
    gcc -O2 -c abi.c -o abi.o
    gcc -O2 -fsyntax-only -Wall -Wextra "$here/misuse.c"
    sha256sum threads.o abi.o
}

case_python_tests() {
    python3 -m test -q test_json test_dict test_set test_list test_collections test_re test_heapq test_bisect 2>&1 \
        | grep -E '^(SUCCESS|FAILURE|Result|Tests result)|tests? OK' | sed 's/ in [0-9.]* sec//; s/Total duration.*//'
}

case_swiftc() {
    cd "$1" || return 1
    printf 'struct P: Hashable { var a: Int; var b: String }\nvar s = Set<P>()\nfor i in 0..<20000 { s.insert(P(a: i %% 977, b: String(i %% 13))) }\nprint(s.count)\n' >main.swift
    swiftc -O main.swift -o main
    ./main
}

# stress-ng's malloc stressor: 2 worker processes x 2 pthreads, random sizes up to 64 KiB,
# realloc, --verify (every block's contents checked). Its output has timings in it: what is
# compared is the verdict (the summary without figures and PIDs). Its workers leave with
# _exit, so their heap statistics (written by atexit) are missing from the count shown.
case_stress_ng() {
    cd "$1" || return 1
    local rc=0
    timeout -k 5 "${STRESS_NG_TIMEOUT:-60}" stress-ng --malloc 2 --malloc-ops 200000 --malloc-pthreads 2 \
        --malloc-bytes 64K --verify --metrics-brief >log.txt 2>&1 || rc=$?
    [[ $rc -ne 124 && $rc -ne 137 ]] || { echo "stress-ng: timed out after ${STRESS_NG_TIMEOUT:-60} s" >&2; return "$rc"; }
    grep -E -o 'successful run completed|(passed|failed|skipped|untrustworthy)[^:]*: [0-9]+' log.txt | sed -E 's/: [0-9]+ *$//'
    grep -q 'successful run completed' log.txt || { tail -n 3 log.txt >&2; return 1; }
    return "$rc"
}

# run_case NAME FUNCTION [ARGS...]: FUNCTION WORKDIR ARGS on glibc and preloaded; compares.
run_case() {
    local name="$1" function="$2" status detail
    shift 2
    [[ "$only" == " " || "$only" == *" $name "* ]] || return 0
    local base="$out/$name" rc_glibc=0 rc_ours=0
    rm -rf "$base.glibc.d" "$base.ours.d"
    mkdir -p "$base.glibc.d" "$base.ours.d"
    ( "$function" "$base.glibc.d" "$@" ) >"$base.glibc.out" 2>"$base.glibc.err" || rc_glibc=$?
    rm -f "$base.stats"
    ( export "$preload_var=$so" OFFHEAP_CHECKED=1 OFFHEAP_VERBOSE_FILE="$base.stats"; "$function" "$base.ours.d" "$@" ) \
        >"$base.ours.out" 2>"$base.ours.err" || rc_ours=$?
    local served processes
    served="$(grep -o 'allocations [0-9]*' "$base.stats" 2>/dev/null | awk '{ s += $2 } END { print s + 0 }')"
    processes="$(grep -c 'allocations' "$base.stats" 2>/dev/null)"
    if [[ $rc_glibc -ne 0 ]]; then
        status=fail detail="failed on glibc too (exit $rc_glibc): $(tail -n 1 "$base.glibc.err")"
    elif [[ $rc_ours -ne 0 ]]; then
        status=fail detail="exit $rc_ours under offheap-malloc: $(tail -n 1 "$base.ours.err")"
    elif grep -q 'offheap-malloc:' "$base.ours.err"; then
        status=fail detail="$(grep -m1 'offheap-malloc:' "$base.ours.err")"
    elif ! cmp -s "$base.glibc.out" "$base.ours.out"; then
        status=fail detail="output differs from glibc's: $({ diff "$base.glibc.out" "$base.ours.out" || true; } | sed -n '1,3p' | paste -sd' ' -)"
    elif [[ "$served" -eq 0 ]]; then
        status=fail detail="the heap served no allocation (LD_PRELOAD not effective?)"
    else
        status=pass detail="same output as glibc; $served heap allocations in ${processes:-0} process(es)"
    fi
    [[ $status == pass ]] || failed=1
    printf '%s\t%s\t%s\n' "$name" "$status" "$detail" | tee -a "$out/results.tsv"
}

# misuse_case NAME KIND PATTERN: checked mode must abort with PATTERN on stderr.
misuse_case() {
    local name="$1" kind="$2" pattern="$3" rc=0 status detail
    [[ "$only" == " " || "$only" == *" $name "* ]] || return 0
    ( export "$preload_var=$so" OFFHEAP_CHECKED=1; guest "$out/misuse" "$kind" ) >"$out/$name.out" 2>"$out/$name.err" || rc=$?
    if [[ $rc -eq 134 ]] && grep -q "$pattern" "$out/$name.err"; then
        status=pass detail="stopped: $(grep -m1 'offheap-malloc:' "$out/$name.err")"
    else
        status=fail detail="exit $rc, want 134 (abort) with '$pattern': $(tail -n 1 "$out/$name.err")"
        failed=1
    fi
    printf '%s\t%s\t%s\n' "$name" "$status" "$detail" | tee -a "$out/results.tsv"
}

run_case abi case_program abi
run_case threads case_program threads ${threads_args[@]+"${threads_args[@]}"}
run_case exit-release case_exit_release
misuse_case double-free double "free(): double free"
misuse_case interior-free interior "free(): invalid pointer"
if [[ $emulated -eq 1 ]]; then
    echo "real programs ($arch, QEMU): $(grep -c $'\tpass\t' "$out/results.tsv") of $(wc -l <"$out/results.tsv") pass"
    exit "$failed"
fi
run_case sqlite3 case_sqlite
run_case python3 case_python
run_case git case_git
run_case gcc case_gcc
[[ $stress_ng -eq 0 ]] || run_case stress-ng case_stress_ng
if [[ $under_qemu -eq 1 ]]; then
    # Emulated: the CPython slice (what Debian's arm64 python3 is checked by), not classic.c's
    # timed loops nor swiftc (no arm64 Swift toolchain).
    [[ $full -eq 0 ]] || run_case python3-test-suite case_python_tests
elif [[ $full -eq 1 ]]; then
    for classic in larson xmalloc cache-scratch mstress rptest; do run_case "$classic" case_program classic "$classic"; done
    run_case python3-test-suite case_python_tests
    run_case swiftc case_swiftc
fi
echo "real programs: $(grep -c $'\tpass\t' "$out/results.tsv") of $(wc -l <"$out/results.tsv") pass"
exit "$failed"
