#!/usr/bin/env bash
# Merge gate over a matrix report: exits non-zero on any failed cell, sanitizer or valgrind
# finding, corruption, failed recovery, or a benchmark ratio worse than reports/baseline.json
# beyond its threshold, and says why on one screen.
#
#   ci/gate.sh [REPORT] [--baseline FILE] [--threshold 0.25] [--require-pass CELLS]
#
# REPORT: a run directory, its summary.json or a run id; default reports/latest.
set -euo pipefail
exec python3 "$(dirname "$0")/lib/gate.py" "$@"
