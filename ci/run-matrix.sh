#!/usr/bin/env bash
# The swift-offheap verification matrix.
#
#   ci/run-matrix.sh [--quick | --soak DURATION] [--cells LIST] [--arch LIST]
#                    [--engine docker|podman|host] [--start-engine] [--install | --no-install]
#                    [--install-only | --images-only]
#                    [--out DIR] [--jobs N] [--race-repetitions N] [--bench-repeats N] [--sample] [--list]
#
# --race-repetitions: TSan / aarch64 race loop repetitions (default 50; quick 10; soak 200).
# --bench-repeats: extra runs of the gated benchmarks (reports/baseline.json; default 12, quick 10).
#
# Profiles: --quick (every cell briefly, <= 10 min on 2 cores; what .ci/run uses), default
# (<= 45 min), --soak 1h (long stress hammer). --cells picks cells by name (tsan,stress or
# x86_64/tsan), --arch picks x86_64 and/or aarch64. Each cell gets a status (pass, fail,
# skipped + reason), a duration, a log and figures; a cell whose subject does not exist yet
# is "skipped: not built", never green.
#
# Containers: cells run in their arch's image (docker/: x86-64 cells in the x86-64 image,
# aarch64 cells in the arm64 image through binfmt + qemu-user-static). The engine is docker
# when a daemon answers; as root with none answering, a private dockerd is started (and
# stopped by PID at exit); --engine docker|podman picks one, --engine host opts out. The
# default and soak profiles run every cell in containers; quick runs on the host except
# SAMPLE_CONTAINER_CELLS (so every landing exercises both images). lint, fresh and the
# aarch64 build always run on the host. Images are built offline on first use and cached,
# tagged by a hash of what goes into them (docker/build-images.sh builds them ahead).
# The Swift toolchain is the one on PATH, bind-mounted read-only at the same path, with the
# checkout and run directory (so SwiftPM build products are shared with the host).
#
# Output: reports/runs/<run-id>/ (or --out DIR): summary.json, REPORT.md, charts/*.svg,
# cells/<arch>-<cell>/log.txt; reports/latest points at the newest run. --sample also copies
# the run's REPORT.md, summary.json and charts to reports/sample/. A run of a clean checkout
# of main also leaves reports/history/<started>-<profile>-<sha>.json (reports/SCHEMA.md).
#
# Dependencies: each cell declares the probes it needs (ci/lib/cell.sh `cell_needs`), and
# ci/deps.tsv names the package behind each probe. As root the missing ones are installed
# (--no-install only checks); --install-only installs what the selection needs and exits;
# --images-only builds the container images of the selection and exits.
#
# Exit status: 0 when every cell passed (or was skipped with a reason the profile declares
# optional), 1 when a cell failed or a required cell was skipped, 2 for bad options, 3 for
# missing dependencies. ci/gate.sh adds the benchmark ratios and findings on top.
set -euo pipefail
# The whole script is one brace group, parsed before it runs: editing this file during a run
# (bash reads scripts lazily) cannot derail the run.
{
# shellcheck source=ci/lib/matrix-common.sh
source "$(dirname "$0")/lib/matrix-common.sh"
# shellcheck source=ci/lib/engine.sh
source "$MATRIX_ROOT/ci/lib/engine.sh"
# shellcheck source=ci/lib/deps.sh
source "$MATRIX_ROOT/ci/lib/deps.sh"
cd "$MATRIX_ROOT"
# The command line as given, before option parsing shifts it away (run.env records it).
command_line="ci/run-matrix.sh$(printf ' %q' "$@")"

# Hosted cells need the Swift toolchain and run for the host's own arch (x86_64 here; aarch64
# on an arm64 CI runner). Embedded cells run the Embedded Swift cross build for aarch64 under
# QEMU user mode on an x86-64 host (natively on an arm64 host, where the hosted cells already
# cover stress, la57 and bench).
HOST_ARCH="$(uname -m)"
HOSTED_CELLS=(fresh debug-tests release-tests tsan asan valgrind defects fuzz malloc la57 embedded lint stress bench)
# tsan/valgrind/asan on aarch64: the checkers on the cross-built variants under QEMU
# (ci/build-aarch64.sh --variant), checkers: their planted-defect self-test.
if [ "$HOST_ARCH" = aarch64 ]; then EMBEDDED_CELLS=(build smoke race checkers)
else EMBEDDED_CELLS=(build smoke race la57 stress bench tsan valgrind asan defects checkers malloc); fi
TIMED_CELLS=" bench "   # native only: run alone, after everything else (the emulated aarch64 bench is never compared)
# Cells that mostly wait (package unpacking, QEMU thread start-up, the self-test's stand-in
# cells sleeping): the scheduler runs one of them beside the --jobs others instead of giving
# it a lane (the quick CI run of 4d7fc61: fresh 117 s of wall for 45 s of CPU, aarch64/race
# 55 s for 11, lint 32 s for 11).
LIGHT_CELLS=" x86_64/fresh aarch64/race x86_64/lint "
# Cells a profile may skip without failing the run or the gate, as "arch/cell=reason": the
# reason is shown in the report. Every other skip is a failure (a cell that cannot run is
# never green by accident).
declare -A OPTIONAL_CELLS=()
HOST_ONLY_CELLS=" lint build embedded fresh checkers "   # need host-side tools (linters, the cross toolchain)
# aarch64 cells that run the host's sanitizer runtimes and extracted valgrind under QEMU.
HOST_ONLY_A64_CELLS=" tsan valgrind asan defects "
# aarch64 cells that build the variant they run (ci/build-aarch64.sh --variant tsan|dynamic|
# asan, or the planted programs) instead of running aarch64/build's plain variant.
A64_OWN_BUILD_CELLS=" tsan valgrind asan checkers "
# The quick profile's container sample: one cell in each image, cheap once the host has built.
SAMPLE_CONTAINER_CELLS=" x86_64/la57 aarch64/smoke "

profile=default; soak=""; cells_arg=""; arch_arg="x86_64,aarch64"; engine=""; start_engine=0
install_mode=auto; install_only=0; images_only=0; out=""; jobs=2; race_reps=""; bench_repeats=""; sample=0; list_only=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) profile=quick; shift ;;
        --soak) profile=soak; soak="$2"; shift 2 ;;
        --cells) cells_arg="$2"; shift 2 ;;
        --arch) arch_arg="$2"; shift 2 ;;
        --engine) engine="$2"; shift 2 ;;
        --start-engine) start_engine=1; shift ;;
        --install) install_mode=install; shift ;;
        --no-install) install_mode=print; shift ;;
        --install-only) install_only=1; shift ;;
        --images-only) images_only=1; shift ;;
        --out) out="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        --race-repetitions) race_reps="$2"; shift 2 ;;
        --bench-repeats) bench_repeats="$2"; shift 2 ;;
        --sample) sample=1; shift ;;
        --list) list_only=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done
if [ "$install_mode" = auto ]; then
    if is_root; then install_mode=install; else install_mode=print; fi
fi
soak_seconds=""
[ "$profile" = soak ] && soak_seconds="$(duration_seconds "$soak")"
case "$engine" in ""|docker|podman|host) ;; *) die "--engine must be docker, podman or host" ;; esac
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive integer"
# Race loops: x50 by default; the quick profile repeats 10x to stay within its 10 minutes on
# 2 cores (every concurrent test runs each repetition under TSan); soak repeats 200x.
if [ -z "$race_reps" ]; then
    case "$profile" in quick) race_reps=10 ;; soak) race_reps=200 ;; *) race_reps=50 ;; esac
fi
[[ "$race_reps" =~ ^[1-9][0-9]*$ ]] || die "--race-repetitions must be a positive integer"
# Bench repeats: empty leaves the profile's default to cell.sh (MATRIX_BENCH_REPEATS also works).
bench_repeats="${bench_repeats:-${MATRIX_BENCH_REPEATS:-}}"
[ -z "$bench_repeats" ] || [[ "$bench_repeats" =~ ^[0-9]+$ ]] || die "--bench-repeats must be a non-negative integer"

# ------------------------------------------------------------------------ cell selection
IFS=, read -r -a arches <<<"$arch_arg"
IFS=, read -r -a wanted <<<"$cells_arg"
# Every name in --cells must name a cell (CELL or ARCH/CELL) that exists for some arch here.
known_cells=" ${HOSTED_CELLS[*]/#/$HOST_ARCH/} ${EMBEDDED_CELLS[*]/#/aarch64/} ${HOSTED_CELLS[*]} ${EMBEDDED_CELLS[*]} "
for w in "${wanted[@]}"; do
    [[ "$known_cells" == *" $w "* ]] || die "unknown cell '$w' in --cells (cells here: $(printf '%s\n' "${HOSTED_CELLS[@]/#/$HOST_ARCH/}" "${EMBEDDED_CELLS[@]/#/aarch64/}" | paste -sd, -))"
done
selected=()
for arch in "${arches[@]}"; do
    all=()
    case "$arch" in
        x86_64|aarch64) ;;
        *) die "unknown arch $arch (x86_64, aarch64)" ;;
    esac
    [ "$arch" = "$HOST_ARCH" ] && all+=("${HOSTED_CELLS[@]}")
    [ "$arch" = aarch64 ] && all+=("${EMBEDDED_CELLS[@]}")
    [ "${#all[@]}" -gt 0 ] || die "no $arch cells on a $HOST_ARCH host (x86_64 cells need an x86_64 host)"
    for cell in "${all[@]}"; do
        if [ -z "$cells_arg" ]; then selected+=("$arch/$cell"); continue; fi
        for w in "${wanted[@]}"; do
            if [ "$w" = "$cell" ] || [ "$w" = "$arch/$cell" ]; then selected+=("$arch/$cell"); break; fi
        done
    done
done
is_selected() { [[ " ${selected[*]} " == *" $1 "* ]]; }
[ "${#selected[@]}" -gt 0 ] || die "no cell matches --cells '$cells_arg' --arch '$arch_arg'"
if [ "$list_only" = 1 ]; then printf '%s\n' "${selected[@]}"; exit 0; fi

# ------------------------------------------------------------------------ prerequisites
# Where a cell runs: host, or <engine>:<image> (see Containers above).
where_for() {
    local arch="$1" cell="$2"
    if [ "$placement" = none ] || [[ "$HOST_ONLY_CELLS" == *" $cell "* ]] \
        || { [ "$arch" = aarch64 ] && [ "$HOST_ARCH" != aarch64 ] && [[ "$HOST_ONLY_A64_CELLS" == *" $cell "* ]]; }; then echo host
    elif [ "$placement" = sample ] && [[ "$SAMPLE_CONTAINER_CELLS" != *" $arch/$cell "* ]]; then echo host
    else echo "$engine:$(cell_image "$arch")"; fi
}
# The engine is settled before the dependencies, which depend on it: a daemon that answers;
# else, as root, a private dockerd (installed if missing) or podman; else the host.
engine_note=""
if [ -z "$engine" ]; then
    if command -v docker >/dev/null 2>&1 && docker_answers; then engine=docker
    elif is_root || [ "$start_engine" = 1 ]; then
        start_engine=1
        if command -v dockerd >/dev/null 2>&1 || [ "$install_mode" = install ]; then engine=docker
        elif command -v podman >/dev/null 2>&1; then engine=podman
        else engine=host; engine_note="no container engine installed (run as root to install docker.io)"; fi
    else
        engine=host; engine_note="no docker daemon answers and not root: every cell on the host"
    fi
fi
[ "$engine" = docker ] && [ "$start_engine" = 0 ] && ! docker_answers && start_engine=1
# Placement: all (every cell but the host-only ones in containers), sample (quick), none.
if [ "$engine" = host ]; then
    placement=none
    [ "$images_only" = 0 ] || die "--images-only needs a container engine (not --engine host)" 2
elif [ "$images_only" = 1 ]; then placement=all
elif [ "$profile" = quick ]; then placement=sample
else placement=all; fi
# aarch64/malloc runs Debian's arm64 programs: only in the arm64 image, outside quick.
[ "$profile" = quick ] && OPTIONAL_CELLS[aarch64/malloc]="not in the quick profile"
[ "$placement" = none ] && OPTIONAL_CELLS[aarch64/malloc]="needs the arm64 image (engine host)"
needed=(cmd:python3 py:statistics cmd:git)
for item in "${selected[@]}"; do
    mapfile -t -O "${#needed[@]}" needed < <(bash "${MATRIX_CELL_SCRIPT:-ci/lib/cell.sh}" --needs "${item%%/*}" "${item#*/}")
done
if [ "$engine" != host ]; then mapfile -t -O "${#needed[@]}" needed < <(engine_needs "$engine" "${arches[@]}"); fi
# What the image of ARCH must provide: the needs of every cell that can run in it (not only
# the selected ones: one image per arch, whatever the profile), as they run inside it,
# without the preconditions that are mounted (the toolchain).
image_needs() {
    local arch="$1" cell cells=()
    [ "$arch" = "$HOST_ARCH" ] && cells+=("${HOSTED_CELLS[@]}")
    [ "$arch" = aarch64 ] && cells+=("${EMBEDDED_CELLS[@]}")
    for cell in "${cells[@]}"; do
        [[ "$HOST_ONLY_CELLS" == *" $cell "* ]] && continue
        [ "$arch" = aarch64 ] && [ "$HOST_ARCH" != aarch64 ] && [[ "$HOST_ONLY_A64_CELLS" == *" $cell "* ]] && continue
        MATRIX_IN_CONTAINER=1 bash "${MATRIX_CELL_SCRIPT:-ci/lib/cell.sh}" --needs "$arch" "$cell"
    done | awk '!seen[$0]++' | while IFS= read -r probe; do
        [ "$(deps_package_of "$probe")" = - ] || printf '%s\n' "$probe"
    done
}
if [ "$install_mode" = install ]; then
    deps_install "${needed[@]}" || die "dependencies missing after install (above)" 3
else
    deps_check "${needed[@]}" || die "dependencies missing (above); run as root to install them" 3
fi
if [ "$install_only" = 1 ]; then
    say "dependencies of ${#selected[@]} cells (engine $engine) present"
    exit 0
fi

cleanup_done=0
run_dir=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    [ "$cleanup_done" = 1 ] && return 0
    cleanup_done=1
    local pid_file
    if [ -n "$run_dir" ]; then
        # Cells still running (interrupted run): stop their timeout wrappers by PID.
        for pid_file in "$run_dir"/cells/*/pid; do
            if [ -f "$pid_file" ]; then kill -TERM "$(cat "$pid_file")" 2>/dev/null || true; fi
        done
    fi
    stop_private_dockerd
    release_binfmt
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

if [ "$engine" = docker ]; then
    if ! docker_answers; then
        [ "$start_engine" = 1 ] || die "no docker daemon answers (DOCKER_HOST=${DOCKER_HOST:-unset}); pass --start-engine"
        start_private_dockerd
    fi
fi
TOOLCHAIN="$(toolchain_root)" || die "no swift on PATH (the Swift toolchain is the one precondition)" 3
container_arches=()
for arch in "${arches[@]}"; do
    for item in "${selected[@]}"; do
        if [ "${item%%/*}" = "$arch" ] && [ "$(where_for "$arch" "${item#*/}")" != host ]; then
            container_arches+=("$arch"); break
        fi
    done
done
if [ "${#container_arches[@]}" -gt 0 ]; then
    image_started="$(date +%s)"
    for arch in "${container_arches[@]}"; do
        image_needs "$arch" >"${TMPDIR:-/tmp}/offheap-image-needs.$$"
        build_cell_image "$engine" "$arch" "${TMPDIR:-/tmp}/offheap-image-needs.$$"
        rm -f "${TMPDIR:-/tmp}/offheap-image-needs.$$"
    done
    [[ " ${container_arches[*]} " == *" aarch64 "* ]] && ensure_binfmt
    say "images ready in $(( $(date +%s) - image_started ))s: $(for a in "${container_arches[@]}"; do cell_image "$a"; done | paste -sd' ' -)"
fi
if [ "$images_only" = 1 ]; then exit 0; fi

# ------------------------------------------------------------------------ run directory
git_rev="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
run_id="$(date -u +%Y%m%dT%H%M%SZ)-$profile-$git_rev"
if [ -n "$out" ]; then run_dir="$out"; else run_dir="$MATRIX_ROOT/reports/runs/$run_id"; fi
mkdir -p "$run_dir/cells"
run_dir="$(cd "$run_dir" && pwd)"
started="$(date -u +%FT%TZ)"; t0="$(date +%s)"
{
    echo "run_id=$run_id"; echo "profile=$profile"; echo "soak_seconds=$soak_seconds"
    echo "engine=$engine"; echo "placement=$placement"; echo "engine_note=$engine_note"
    echo "arches=${arches[*]}"; echo "cells=${selected[*]}"
    echo "jobs=$jobs"; echo "race_repetitions=$race_reps"; echo "bench_repeats=$bench_repeats"
    echo "started=$started"
    echo "command=$command_line"
} >"$run_dir/run.env"
say "run $run_id: ${#selected[@]} cells, profile $profile, engine $engine → $run_dir"
# Cells run from a snapshot of cell.sh taken now: editing the checkout during a run (bash
# reads scripts lazily) cannot change cells that have not started yet. MATRIX_CELL_SCRIPT
# replaces it (ci/lib/test_tools.py tests the run's verdict with a stand-in).
cp "${MATRIX_CELL_SCRIPT:-ci/lib/cell.sh}" "$run_dir/cell.sh"

# Cell timeouts (safety nets; a cell that hits one fails with "timeout").
case "$profile" in
    quick) cell_timeout=900 ;;
    soak) cell_timeout=$((soak_seconds + 1800)) ;;
    *) cell_timeout=2400 ;;
esac


# Runs one cell to completion and writes its result file; never fails the script.
run_cell() {
    local arch="$1" cell="$2" where dir rc=0 start end cmd=()
    where="$(where_for "$arch" "$cell")"
    dir="$run_dir/cells/$arch-$cell"
    mkdir -p "$dir"; rm -f "$dir/reason" "$dir/result"
    local env_args=(MATRIX_PROFILE="$profile" MATRIX_SOAK_SECONDS="$soak_seconds"
        MATRIX_RACE_REPETITIONS="$race_reps")
    [ -z "$bench_repeats" ] || env_args+=(MATRIX_BENCH_REPEATS="$bench_repeats")
    local name="offheap-matrix-$$-$arch-$cell"
    if [ "$where" = host ]; then
        cmd=(env "${env_args[@]}" MATRIX_IN_CONTAINER=0 "MATRIX_ROOT=$MATRIX_ROOT"
            bash "$run_dir/cell.sh" "$arch" "$cell" "$dir")
    else
        # The checkout and the run directory at the same paths as on the host, the toolchain
        # from PATH and the package mirrors read-only. SwiftPM builds into .build-ctr-<arch>*
        # scratch paths: the image's system headers are other files than the host's, so a
        # shared scratch path would rebuild everything on each side, each time.
        local cli=() run_args=(run --rm --name "$name" --network none --init
            --security-opt seccomp=unconfined --cap-add SYS_PTRACE
            -v "$MATRIX_ROOT:$MATRIX_ROOT" -w "$MATRIX_ROOT")
        [[ "$run_dir" == "$MATRIX_ROOT/"* ]] || run_args+=(-v "$run_dir:$run_dir")
        local e path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        if [ "$arch" = x86_64 ]; then
            run_args+=(-v "$TOOLCHAIN:$TOOLCHAIN:ro")
            path="$TOOLCHAIN/usr/bin:$path"
            while IFS= read -r e; do run_args+=(-v "$e:$e:ro"); done < <(git_mirror_dirs)
            while IFS= read -r e; do run_args+=(-e "$e"); done < <(git_mirror_env)
        fi
        read -r -a cli < <(engine_argv "$engine")
        [ "$engine" = podman ] && run_args+=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
        [ "$arch" = aarch64 ] && run_args+=(--platform linux/arm64)
        # The quick profile's sample cells run what the host built (a container build of the
        # x86-64 CLI alone is ~70 s); the default profile builds everything in the images.
        if [ "$placement" = sample ] && is_selected "$arch/stress"; then env_args+=(MATRIX_USE_HOST_BUILD=1); fi
        for e in "${env_args[@]}" MATRIX_IN_CONTAINER=1 "MATRIX_SCRATCH_SUFFIX=-ctr-$arch" \
            "MATRIX_ROOT=$MATRIX_ROOT" "PATH=$path" HOME=/root; do
            run_args+=(-e "$e")
        done
        cmd=("${cli[@]}" "${run_args[@]}" "$(cell_image "$arch")" bash "$run_dir/cell.sh" "$arch" "$cell" "$dir")
    fi
    say "start $arch/$cell ($where)"
    times >"$dir/times.before"
    start="$(date +%s.%N)"
    # timeout runs in its own process group and kills the whole cell on expiry; its PID is
    # kept so an interrupted run can stop exactly the cells it started.
    timeout -k 30 "$cell_timeout" "${cmd[@]}" >"$dir/log.txt" 2>&1 </dev/null &
    echo "$!" >"$dir/pid"
    wait "$!" || rc=$?
    rm -f "$dir/pid"
    end="$(date +%s.%N)"
    # CPU seconds of the cell's processes (user + system of every descendant that was waited
    # for; a container's processes belong to the engine and are not counted): where the 2
    # cores' time goes, next to the wall time.
    # (`times` redirected, not piped: a pipeline would report its own subshell; the
    # difference from before the cell, as the timed cells run in the main shell.)
    local cpu
    times >"$dir/times.after"
    cpu="$(cat "$dir/times.before" "$dir/times.after" | awk 'NR % 2 == 0 { t = 0
        for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] }
        c[NR / 2] = t } END { printf "%.1f", c[2] - c[1] }')"
    rm -f "$dir/times.before" "$dir/times.after"
    if [ "$where" != host ] && { [ "$rc" = 124 ] || [ "$rc" = 137 ]; }; then
        "$(engine_cli "$engine")" rm -f "$name" >/dev/null 2>&1 || true
    fi
    local status reason="" optional="${OPTIONAL_CELLS[$arch/$cell]:-}"
    [ -f "$dir/reason" ] && reason="$(head -n 1 "$dir/reason" | head -c 300)"
    case "$rc" in
        0) status=pass ;;
        3) status=skipped ;;
        124|137) status=fail; reason="timeout after ${cell_timeout}s" ;;
        *) status=fail ;;
    esac
    # Every failure and skip has a one-line reason: the cell's own, else the last line of its
    # log that says something, with the exit status.
    if [ "$status" != pass ] && { [ -z "$reason" ] || [[ "$reason" =~ :[[:space:]]*$ ]]; }; then
        local last
        last="$(grep -a -v -E '^[[:space:]]*$|^(FAILED|SKIPPED):' "$dir/log.txt" 2>/dev/null | tail -n 1 | cut -c1-240 || true)"
        reason="${reason:+$reason }exit status $rc${last:+: $last}"
    fi
    {
        echo "arch=$arch"; echo "cell=$cell"; echo "status=$status"; echo "exit=$rc"
        echo "where=$where"; echo "start=$start"; echo "end=$end"; echo "cpu=$cpu"
        echo "timeout=$cell_timeout"; echo "reason=${reason//$'\n'/ }"
        echo "optional=${optional//$'\n'/ }"
    } >"$dir/result"
    say "done  $arch/$cell: $status$([ -n "$reason" ] && echo " ($reason)") in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')s"
}

# Scheduling. Cells run $jobs at a time in priority order, each as soon as the cells it
# uses have finished (pass or not: a dependent then reports its own reason):
#   - aarch64 cells that run the plain cross build (emulated host) after aarch64/build; the
#     checker cells (A64_OWN_BUILD_CELLS) build their variant themselves and start at once;
#   - defects after the x86-64 valgrind, asan and tsan cells (it reuses their scratch paths);
#   - embedded after aarch64/build (it checks the plain variant that cell compiles);
#   - quick: release-tests after tsan (it runs the suite on that cell's optimised build);
#   - the quick profile's x86-64 container sample (la57) after stress, which builds the release
#     CLI on the host that the sample runs (SAMPLE_CONTAINER_CELLS);
#   - the timed cell (the native bench) alone at the end, with nothing else running.
# Priority: longest first (durations of the quick CI runs), so both lanes end together.
PRIORITY=" x86_64/tsan aarch64/tsan aarch64/build x86_64/asan x86_64/stress aarch64/valgrind
    aarch64/asan x86_64/release-tests x86_64/valgrind x86_64/fresh x86_64/fuzz x86_64/malloc aarch64/defects
    aarch64/checkers aarch64/malloc x86_64/embedded aarch64/race x86_64/defects x86_64/la57 aarch64/stress
    aarch64/bench x86_64/lint x86_64/debug-tests aarch64/smoke aarch64/la57 "
declare -A DEPS=()
for item in "${selected[@]}"; do
    arch="${item%%/*}"; cell="${item#*/}"; deps=()
    # (The checker cells build their own variants: see A64_OWN_BUILD_CELLS.)
    if [ "$arch" = aarch64 ] && [ "$HOST_ARCH" != aarch64 ] && [ "$cell" != build ] \
        && [[ "$A64_OWN_BUILD_CELLS" != *" $cell "* ]]; then deps+=(aarch64/build); fi
    [ "$cell" = defects ] && deps+=("$arch/valgrind" "$arch/asan" "$arch/tsan")
    # The Embedded check reuses the plain aarch64 variant (same target, same sources).
    [ "$cell" = embedded ] && deps+=(aarch64/build)
    # Quick: the release tests run on the tsan cell's optimised build (cell_release_tests).
    [ "$profile" = quick ] && [ "$cell" = release-tests ] && deps+=("$arch/tsan")
    if [ "$placement" = sample ] && [ "$cell" = la57 ] && [ "$(where_for "$arch" la57)" != host ]; then
        deps+=("$arch/stress")
    fi
    for dep in "${deps[@]}"; do is_selected "$dep" && DEPS[$item]+=" $dep"; done
done
ordered=()
for item in $PRIORITY; do is_selected "$item" && ordered+=("$item"); done
for item in "${selected[@]}"; do [[ "$PRIORITY" == *" $item "* ]] || ordered+=("$item"); done
parallel=(); timed=()
for item in "${ordered[@]}"; do
    if [[ "$TIMED_CELLS" == *" ${item#*/} "* ]] && [ "${item%%/*}" = "$HOST_ARCH" ]; then timed+=("$item")
    else parallel+=("$item"); fi
done

# Runs the items of "$@" ($jobs at a time, plus one of LIGHT_CELLS beside them, each once its
# DEPS have finished).
run_scheduled() {
    local pending=("$@") item dep ready next running=() active=() heavy light
    declare -A pid_of=() finished=()
    while [ "${#pending[@]}" -gt 0 ] || [ "${#running[@]}" -gt 0 ]; do
        # Reap: count only our cells (a private dockerd is a background job of this shell too).
        active=()
        for item in "${running[@]}"; do
            if kill -0 "${pid_of[$item]}" 2>/dev/null; then active+=("$item")
            else wait "${pid_of[$item]}" || true; finished[$item]=1; fi
        done
        running=("${active[@]}")
        heavy=0; light=0
        for item in "${running[@]}"; do
            if [[ "$LIGHT_CELLS" == *" $item "* ]]; then light=$((light + 1)); else heavy=$((heavy + 1)); fi
        done
        next=""
        if [ $((heavy + light)) -lt "$jobs" ] || [ "$light" = 0 ]; then
            for item in "${pending[@]}"; do
                # Beyond --jobs only one more, and only a light cell.
                if [ $((heavy + light)) -ge "$jobs" ] && [[ "$LIGHT_CELLS" != *" $item "* ]]; then continue; fi
                ready=1
                for dep in ${DEPS[$item]:-}; do [ -n "${finished[$dep]:-}" ] || { ready=0; break; }; done
                [ "$ready" = 1 ] && { next="$item"; break; }
            done
        fi
        if [ -z "$next" ]; then sleep 1; continue; fi
        run_cell "${next%%/*}" "${next#*/}" &
        pid_of[$next]=$!
        running+=("$next")
        local rest=()
        for item in "${pending[@]}"; do [ "$item" = "$next" ] || rest+=("$item"); done
        pending=("${rest[@]}")
    done
}
[ "${#parallel[@]}" -gt 0 ] && run_scheduled "${parallel[@]}"
for item in "${timed[@]}"; do run_cell "${item%%/*}" "${item#*/}"; done

{
    echo "finished=$(date -u +%FT%TZ)"; echo "wall_seconds=$(( $(date +%s) - t0 ))"
} >>"$run_dir/run.env"

# ------------------------------------------------------------------------ report
python3 ci/lib/report.py "$run_dir" --engine "$engine"
case "$run_dir" in
    "$MATRIX_ROOT/reports/"*) ln -sfn "$(realpath --relative-to="$MATRIX_ROOT/reports" "$run_dir")" "$MATRIX_ROOT/reports/latest" ;;
    *) ln -sfn "$run_dir" "$MATRIX_ROOT/reports/latest" ;;
esac
if [ "$sample" = 1 ]; then
    python3 ci/lib/report.py "$run_dir" --copy-to "$MATRIX_ROOT/reports/sample"
fi
say "report: $run_dir/REPORT.md (wall $(( $(date +%s) - t0 ))s); gate with: ci/gate.sh $run_dir"

# The run's verdict: a failed cell, or a skipped cell the profile does not declare optional.
bad=()
for result in "$run_dir"/cells/*/result; do
    [ -f "$result" ] || continue
    status="$(sed -n 's/^status=//p' "$result")"
    optional="$(sed -n 's/^optional=//p' "$result")"
    id="$(sed -n 's/^arch=//p' "$result")/$(sed -n 's/^cell=//p' "$result")"
    reason="$(sed -n 's/^reason=//p' "$result")"
    case "$status" in
        pass) ;;
        skipped) [ -n "$optional" ] || bad+=("$id skipped (required in profile $profile): $reason") ;;
        *) bad+=("$id $status: $reason") ;;
    esac
done
for item in "${selected[@]}"; do
    [ -f "$run_dir/cells/${item/\//-}/result" ] || bad+=("$item: no result")
done
if [ "${#bad[@]}" -gt 0 ]; then
    say "MATRIX FAIL: ${#bad[@]} of ${#selected[@]} cells did not pass:"
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
fi
say "MATRIX PASS: ${#selected[@]} cells"
exit 0
}
