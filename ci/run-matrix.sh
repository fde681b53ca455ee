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
# the run to reports/sample/.
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
HOSTED_CELLS=(fresh debug-tests release-tests tsan asan valgrind defects la57 embedded lint stress bench)
# tsan/valgrind/asan on aarch64: the checkers on the cross-built variants under QEMU
# (ci/build-aarch64.sh --variant), checkers: their planted-defect self-test.
if [ "$HOST_ARCH" = aarch64 ]; then EMBEDDED_CELLS=(build smoke race checkers)
else EMBEDDED_CELLS=(build smoke race la57 stress bench tsan valgrind asan defects checkers); fi
TIMED_CELLS=" stress bench "            # run alone, after everything else
# Cells a profile may skip without failing the run or the gate, as "arch/cell=reason": the
# reason is shown in the report. Every other skip is a failure (a cell that cannot run is
# never green by accident).
declare -A OPTIONAL_CELLS=()
HOST_ONLY_CELLS=" lint build fresh checkers "   # need host-side tools (linters, the cross toolchain)
# aarch64 cells that run the host's sanitizer runtimes and extracted valgrind under QEMU.
HOST_ONLY_A64_CELLS=" tsan valgrind asan "
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
        for e in "${env_args[@]}" MATRIX_IN_CONTAINER=1 "MATRIX_SCRATCH_SUFFIX=-ctr-$arch" \
            "MATRIX_ROOT=$MATRIX_ROOT" "PATH=$path" HOME=/root; do
            run_args+=(-e "$e")
        done
        cmd=("${cli[@]}" "${run_args[@]}" "$(cell_image "$arch")" bash "$run_dir/cell.sh" "$arch" "$cell" "$dir")
    fi
    say "start $arch/$cell ($where)"
    start="$(date +%s.%N)"
    # timeout runs in its own process group and kills the whole cell on expiry; its PID is
    # kept so an interrupted run can stop exactly the cells it started.
    timeout -k 30 "$cell_timeout" "${cmd[@]}" >"$dir/log.txt" 2>&1 </dev/null &
    echo "$!" >"$dir/pid"
    wait "$!" || rc=$?
    rm -f "$dir/pid"
    end="$(date +%s.%N)"
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
        echo "where=$where"; echo "start=$start"; echo "end=$end"
        echo "timeout=$cell_timeout"; echo "reason=${reason//$'\n'/ }"
        echo "optional=${optional//$'\n'/ }"
    } >"$dir/result"
    say "done  $arch/$cell: $status$([ -n "$reason" ] && echo " ($reason)") in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')s"
}

# Runs "$@" (arch/cell items) with at most $jobs at a time.
run_parallel() {
    local item running=() active pid
    for item in "$@"; do
        # Count only our cells (a private dockerd is a background job of this shell too).
        while :; do
            active=0
            for pid in "${running[@]}"; do kill -0 "$pid" 2>/dev/null && active=$((active + 1)); done
            [ "$active" -lt "$jobs" ] && break
            sleep 1
        done
        run_cell "${item%%/*}" "${item#*/}" &
        running+=("$!")
    done
    for pid in "${running[@]}"; do wait "$pid" || true; done
}

# Phase 1: untimed cells that need nothing built by another cell, in parallel.
# Phase 2: untimed cells that use another cell's build, in parallel: the aarch64 cells that
#          run the cross build, and `defects` (reuses the valgrind/asan/tsan scratch paths).
# Phase 3: timed cells (stress, bench), one at a time with nothing else running.
phase1=(); phase2=(); phase3=()
for item in "${selected[@]}"; do
    cell="${item#*/}"
    if [[ "$TIMED_CELLS" == *" $cell "* ]]; then phase3+=("$item")
    elif [[ " smoke race la57 tsan valgrind asan checkers " == *" $cell "* ]] && [ "${item%%/*}" = aarch64 ] \
        && [ "$HOST_ARCH" != aarch64 ]; then phase2+=("$item")
    elif [ "$cell" = defects ]; then phase2+=("$item")
    else phase1+=("$item"); fi
done
# Longest first (cells' durations from the quick CI runs), so the two lanes end together: the
# aarch64 cross build used to start last and hold phase 2 back by minutes.
PHASE1_ORDER=" x86_64/tsan aarch64/build x86_64/release-tests x86_64/valgrind x86_64/asan x86_64/fresh x86_64/la57 x86_64/embedded x86_64/lint x86_64/debug-tests "
ordered=()
for item in $PHASE1_ORDER; do [[ " ${phase1[*]} " == *" $item "* ]] && ordered+=("$item"); done
for item in "${phase1[@]}"; do [[ "$PHASE1_ORDER" == *" $item "* ]] || ordered+=("$item"); done
phase1=("${ordered[@]}")
[ "${#phase1[@]}" -gt 0 ] && run_parallel "${phase1[@]}"
[ "${#phase2[@]}" -gt 0 ] && run_parallel "${phase2[@]}"
for item in "${phase3[@]}"; do run_cell "${item%%/*}" "${item#*/}"; done

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
