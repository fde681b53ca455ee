# shellcheck shell=bash
# Probes and packages from the one dependency table, ci/deps.tsv. Sourced, never executed.
#
#   source ci/lib/deps.sh
#   deps_check cmd:valgrind lib:libjemalloc.so.2 || exit 3   # says what to install
#   deps_install cmd:valgrind                                # root: apt-get / pip
#
# A probe is what a script really needs (a command, a file, a library, a Python module); the
# table says which package provides it. Checks never test package names: a package that is
# installed but does not provide what the script uses (gcc-aarch64-linux-gnu without the
# headers of libc6-dev-arm64-cross) is still reported missing, under the right name.

DEPS_TABLE="${DEPS_TABLE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deps.tsv}"

# The Debian multiarch triplet and architecture of this machine.
deps_multiarch() {
    case "$(uname -m)" in
        x86_64) echo x86_64-linux-gnu ;;
        aarch64) echo aarch64-linux-gnu ;;
        *) echo "$(uname -m)-linux-gnu" ;;
    esac
}
deps_host_arch() { case "$(uname -m)" in x86_64) echo amd64 ;; aarch64) echo arm64 ;; *) uname -m ;; esac; }

# Table rows that apply to this host, as "group probe package". A group may be qualified
# with the host architecture it applies to (aarch64@amd64: cross tools on an x86-64 host).
deps_rows() {
    local host
    host="$(deps_host_arch)"
    awk -v host="$host" '
        /^[[:space:]]*(#|$)/ { next }
        NF != 3 { printf "deps.tsv:%d: expected 3 columns, got %d\n", NR, NF > "/dev/stderr"; next }
        { n = split($1, g, "@"); if (n == 2 && g[2] != host) next; print }
    ' "$DEPS_TABLE"
}

# The package that provides PROBE on this host ("" when the table has none).
deps_package_of() { deps_rows | awk -v p="$1" '$2 == p { print $3; exit }'; }

# Prints the path that satisfies PROBE (the one `dpkg -S` attributes to a package); fails when
# the probe is not satisfied.
deps_probe_path() {
    local probe="$1" kind value multiarch dir
    kind="${probe%%:*}"; value="${probe#*:}"
    multiarch="$(deps_multiarch)"
    value="${value//\$\{MULTIARCH\}/$multiarch}"
    case "$kind" in
        cmd) command -v "$value" 2>/dev/null | grep -m1 '^/' ;;
        file) [ -e "$value" ] && echo "$value" ;;
        lib)
            for dir in "/usr/lib/$multiarch" "/lib/$multiarch" /usr/lib /lib; do
                if [ -e "$dir/$value" ]; then echo "$dir/$value"; return 0; fi
            done
            return 1 ;;
        py) python3 -c "import os, $value as m; print(os.path.realpath(m.__file__))" 2>/dev/null ;;
        *) echo "unknown probe kind '$kind' in '$probe'" >&2; return 2 ;;
    esac
}

deps_has() { deps_probe_path "$1" >/dev/null; }

# Prints the unsatisfied probes among "$@", one per line, without duplicates.
deps_missing() {
    local probe
    printf '%s\n' "$@" | awk 'NF && !seen[$0]++' | while IFS= read -r probe; do
        deps_has "$probe" || printf '%s\n' "$probe"
    done
}

# The install command for the packages behind PROBES (for people without root).
deps_install_hint() {
    local debs=() pips=() pkg probe arm=""
    for probe in "$@"; do
        pkg="$(deps_package_of "$probe")"
        case "$pkg" in ""|-) ;; pip:*) pips+=("${pkg#pip:}") ;; *) debs+=("$pkg") ;; esac
    done
    [[ " ${debs[*]} " == *":arm64 "* ]] && [ "$(deps_host_arch)" != arm64 ] && arm="dpkg --add-architecture arm64 && "
    [ "${#debs[@]}" -eq 0 ] || echo "${arm}apt-get update && apt-get install -y --no-install-recommends $(printf '%s\n' "${debs[@]}" | sort -u | paste -sd' ' -)"
    [ "${#pips[@]}" -eq 0 ] || echo "python3 -m pip install --break-system-packages $(printf '%s\n' "${pips[@]}" | sort -u | paste -sd' ' -)"
}

# deps_check PROBE...: 0 when every probe is satisfied; otherwise one line per missing probe
# ("missing cmd:X (package P)") on stderr, then the install command, and status 1.
deps_check() {
    local missing=() probe pkg
    mapfile -t missing < <(deps_missing "$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    for probe in "${missing[@]}"; do
        pkg="$(deps_package_of "$probe")"
        case "$pkg" in
            -) echo "missing $probe (a precondition: install Swift 6.2+ and put it on PATH)" >&2 ;;
            "") echo "missing $probe (no package in ci/deps.tsv provides it)" >&2 ;;
            *) echo "missing $probe (package $pkg)" >&2 ;;
        esac
    done
    deps_install_hint "${missing[@]}" | sed 's/^/  install with: /' >&2
    return 1
}

# deps_install PROBE...: as root, installs the packages behind the missing probes (apt-get
# with --no-install-recommends: what a package only recommends must have its own row), then
# checks again. Fails on a probe the table has no package for, or one still missing after.
deps_install() {
    local missing=() debs=() pips=() probe pkg unknown=()
    mapfile -t missing < <(deps_missing "$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    for probe in "${missing[@]}"; do
        pkg="$(deps_package_of "$probe")"
        case "$pkg" in
            ""|-) unknown+=("$probe") ;;
            pip:*) pips+=("${pkg#pip:}") ;;
            *) debs+=("$pkg") ;;
        esac
    done
    if [ "${#unknown[@]}" -gt 0 ]; then
        deps_check "${unknown[@]}" || true
        return 1
    fi
    # pip itself comes from Debian.
    if [ "${#pips[@]}" -gt 0 ] && ! deps_has py:pip; then debs+=("$(deps_package_of py:pip)"); fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing: ${missing[*]}; run as root:" >&2
        deps_install_hint "${missing[@]}" | sed 's/^/  /' >&2
        return 1
    fi
    if [ "${#debs[@]}" -gt 0 ]; then
        mapfile -t debs < <(printf '%s\n' "${debs[@]}" | sort -u)
        echo "installing (apt): ${debs[*]}" >&2
        if [[ " ${debs[*]} " == *":arm64 "* ]] && [ "$(deps_host_arch)" != arm64 ] \
            && ! dpkg --print-foreign-architectures | grep -qx arm64; then
            dpkg --add-architecture arm64
        fi
        apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || return 1
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
            --no-install-recommends "${debs[@]}" >&2 || return 1
    fi
    if [ "${#pips[@]}" -gt 0 ]; then
        mapfile -t pips < <(printf '%s\n' "${pips[@]}" | sort -u)
        echo "installing (pip): ${pips[*]}" >&2
        # Debian's python3 refuses system-wide installs (PEP 668) without the flag.
        local pep668=()
        python3 -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))' \
            2>/dev/null && pep668=(--break-system-packages)
        python3 -m pip install -q --root-user-action=ignore "${pep668[@]}" "${pips[@]}" >&2 || return 1
        hash -r
    fi
    deps_check "${missing[@]}" || {
        # pip puts commands in /usr/local/bin: say so when that is not on PATH.
        case ":$PATH:" in *:/usr/local/bin:*) ;; *) echo "note: /usr/local/bin (where pip installs commands) is not on PATH" >&2 ;; esac
        return 1
    }
}
