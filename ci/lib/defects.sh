#!/usr/bin/env bash
# The seeded-defect catalogue's evaluation and verdict (ci/defects/), shared by the x86-64 and
# aarch64 `defects` cells of ci/lib/cell.sh, which source this file; ci/lib/test_tools.py
# tests it with stand-in runners. Needs OUT (the cell's output folder) and the cell's `step`
# and `fail` functions.

# The seeded-defect program (Sources/offheap-defects/).
DEFECTS_PRODUCT=offheap-defects
# Runs a TSan row gets to be reported (see defects_evaluate).
DEFECT_TSAN_TRIES="${DEFECT_TSAN_TRIES:-3}"

# The checkers a catalogue names (column 2), each once.
defects_checkers() { grep -v -E '^(#|$)' "$1" | cut -f2 | sort -u; }

# defects_evaluate CATALOGUE RUN_FN "CHECKERS...": runs the clean control under every
# checker of the catalogue, then every row whose checker is in CHECKERS (the ones this arch
# has), with `RUN_FN CHECKER DEFECT LOG` (memcheck's program output goes to LOG.out).
# Writes OUT/defects.tsv and OUT/defects.env (planted, caught, controls_bad); a row whose
# checker the arch lacks is listed as not applicable and not counted.
defects_evaluate() {
    local catalogue="$1" run_fn="$2" available=" $3 " checker defect pattern rc planted=0 caught=0 controls_bad=0
    printf 'defect\tchecker\tcaught\tevidence\n' >"$OUT/defects.tsv"
    for checker in $(defects_checkers "$catalogue"); do
        [[ "$available" == *" $checker "* ]] || continue
        step "control: $DEFECTS_PRODUCT clean under $checker (must be silent)"
        rc=0; "$run_fn" "$checker" clean "$OUT/defects-clean-$checker.log" || rc=$?
        cat "$OUT/defects-clean-$checker.log"
        # The instrumentation must really be in the memcheck and asan builds.
        if { [ "$checker" = memcheck ] || [ "$checker" = asan ]; } && ! grep -q -a "instrumentation: on" \
            "$OUT/defects-clean-$checker.log" "$OUT/defects-clean-$checker.log.out" 2>/dev/null; then
            echo "control $checker: the build is not instrumented"; controls_bad=$((controls_bad + 1))
        fi
        # A checker that judges a mutant row runs the mutants build, nothing armed.
        if grep -q -E "^mutant-[^[:space:]]*[[:space:]]+${checker}[[:space:]]" "$catalogue" && ! grep -q -a \
            "mutants: compiled in, dormant" "$OUT/defects-clean-$checker.log" "$OUT/defects-clean-$checker.log.out" 2>/dev/null; then
            echo "control $checker: not the mutants build (or a mutant armed)"; controls_bad=$((controls_bad + 1))
        fi
        if [ "$rc" != 0 ] || grep -q -a -E 'ERROR: AddressSanitizer|WARNING: ThreadSanitizer|definitely lost in loss record|Invalid (read|write|free)' \
            "$OUT/defects-clean-$checker.log"; then
            echo "control $checker: NOT clean (exit $rc)"; controls_bad=$((controls_bad + 1))
        fi
    done
    while IFS=$'\t' read -r defect checker pattern; do
        case "$defect" in ''|'#'*) continue ;; esac
        if [[ "$available" != *" $checker "* ]]; then
            echo "n/a: $defect under $checker (no $checker on ${ARCH:-this arch})"
            continue
        fi
        planted=$((planted + 1))
        step "defect $defect under $checker (must report /$pattern/)"
        local log="$OUT/defects-$defect-$checker.log" evidence tries=1 try=1 runs=""
        # TSan sees a race only when it observes both accesses unordered in one run, so a
        # race row may go unseen in a run; it has DEFECT_TSAN_TRIES runs to be reported. The
        # control stays one run: on a correct program TSan must never report.
        [ "$checker" != tsan ] || tries="$DEFECT_TSAN_TRIES"
        while :; do
            rc=0; "$run_fn" "$checker" "$defect" "$log" || rc=$?
            evidence="$(grep -a -m1 -o -E "$pattern" "$log" || true)"
            { [ "$rc" != 0 ] && [ -n "$evidence" ]; } || [ "$try" -ge "$tries" ] || {
                echo "not reported in run $try of $tries (exit $rc): running it again"
                cp "$log" "$log.run$try"; try=$((try + 1)); continue
            }
            break
        done
        [ "$tries" = 1 ] || runs=", run $try of $tries"
        if [ "$rc" != 0 ] && [ -n "$evidence" ]; then
            caught=$((caught + 1))
            printf '%s\t%s\tyes\t%s (exit %s%s)\n' "$defect" "$checker" "$evidence" "$rc" "$runs" >>"$OUT/defects.tsv"
            echo "caught: $defect by $checker: $evidence (exit $rc$runs)"
        else
            printf '%s\t%s\tno\texit %s, no /%s/ in %s run(s)\n' "$defect" "$checker" "$rc" "$pattern" "$tries" >>"$OUT/defects.tsv"
            echo "MISSED: $defect under $checker (exit $rc, no /$pattern/ in $tries run(s))"
        fi
    done <"$catalogue"
    echo "planted=$planted" >"$OUT/defects.env"; echo "caught=$caught" >>"$OUT/defects.env"
    echo "controls_bad=$controls_bad" >>"$OUT/defects.env"
}

# The cell's verdict from OUT/defects.env: every planted defect caught, every control clean.
defects_verdict() {
    local catalogue="$1" planted caught controls_bad
    planted="$(sed -n 's/^planted=//p' "$OUT/defects.env")"
    caught="$(sed -n 's/^caught=//p' "$OUT/defects.env")"
    controls_bad="$(sed -n 's/^controls_bad=//p' "$OUT/defects.env")"
    echo "defects planted $planted, caught $caught; controls not clean: $controls_bad"
    [ "$planted" -gt 0 ] || fail "no defect in $catalogue"
    [ "$controls_bad" = 0 ] || fail "a clean control run reported (or was not instrumented): $controls_bad"
    [ "$caught" = "$planted" ] || fail "defects planted $planted, caught $caught: $(awk -F'\t' '$3 == "no" { printf "%s/%s ", $1, $2 }' "$OUT/defects.tsv")"
}

