# shellcheck shell=bash
# Container engines for the matrix: detection, a private dockerd started and stopped by PID,
# binfmt for arm64, offline base images (debootstrap + import) and the cell images.
# Sourced after common.sh.

# State of a private engine (socket, data root, pid file). Kept between runs so images are
# built once; override with OFFHEAP_ENGINE_STATE.
ENGINE_STATE="${OFFHEAP_ENGINE_STATE:-/var/tmp/offheap-engine}"
ROOTFS_CACHE="${OFFHEAP_ROOTFS_CACHE:-/var/tmp/offheap-rootfs}"
ENGINE_STARTED_PID=""
BINFMT_MOUNTED_BY_US=0

# engine_needs ENGINE ARCH...: the probes of ci/deps.tsv that running cells in ENGINE's images
# needs (images are bootstrapped offline; an arm64 base is imported through podman).
engine_needs() {
    local engine="$1"; shift
    echo cmd:debootstrap
    case "$engine" in
        docker) printf '%s\n' cmd:dockerd cmd:docker cmd:runc ;;
        podman) printf '%s\n' cmd:podman cmd:runc file:/usr/libexec/podman/catatonit ;;   # --init
    esac
    if [[ " $* " == *" aarch64 "* ]]; then
        printf '%s\n' cmd:update-binfmts cmd:qemu-aarch64-static
        [ "$engine" = docker ] && echo cmd:podman
    fi
    return 0
}

# Docker talks to our private daemon when its socket exists and DOCKER_HOST is unset.
engine_docker_env() {
    if [ -z "${DOCKER_HOST:-}" ] && [ -S "$ENGINE_STATE/docker.sock" ]; then
        export DOCKER_HOST="unix://$ENGINE_STATE/docker.sock"
    fi
}

docker_answers() { engine_docker_env; timeout 10 docker info >/dev/null 2>&1; }

# podman with the flags this machine needs (crun fails on this cgroup setup), on a store of
# its own under ENGINE_STATE: the user's store may hold another graph driver ("database
# configuration mismatch" when a default-configured podman created it first).
PODMAN_ARGS=(--runtime runc --storage-driver overlay --root "$ENGINE_STATE/podman/root"
    --runroot "$ENGINE_STATE/podman/run")
podman_cmd() { podman "${PODMAN_ARGS[@]}" "$@"; }

# The engine's command as words, for commands run through timeout(1) (which cannot run
# a shell function): `read -r -a cli < <(engine_argv ENGINE)`.
engine_argv() {
    case "$1" in
        docker) echo docker ;;
        podman) echo podman "${PODMAN_ARGS[@]}" ;;
        *) die "no CLI for engine $1" ;;
    esac
}

# The command prefix for ENGINE (docker|podman).
engine_cli() {
    case "$1" in
        docker) echo docker ;;
        podman) echo podman_cmd ;;
        *) die "no CLI for engine $1" ;;
    esac
}

# Starts a private dockerd (overlay2, no iptables, no bridge) and waits for it.
start_private_dockerd() {
    command -v dockerd >/dev/null 2>&1 || die "dockerd missing (apt-get install docker.io)"
    mkdir -p "$ENGINE_STATE/data" "$ENGINE_STATE/exec"
    if [ -S "$ENGINE_STATE/docker.sock" ] && DOCKER_HOST="unix://$ENGINE_STATE/docker.sock" \
        timeout 5 docker info >/dev/null 2>&1; then
        say "private dockerd already running at $ENGINE_STATE/docker.sock (not ours to stop)"
        export DOCKER_HOST="unix://$ENGINE_STATE/docker.sock"
        return 0
    fi
    rm -f "$ENGINE_STATE/docker.sock" "$ENGINE_STATE/dockerd.pid"
    dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
        --data-root "$ENGINE_STATE/data" --exec-root "$ENGINE_STATE/exec" \
        --pidfile "$ENGINE_STATE/dockerd.pid" -H "unix://$ENGINE_STATE/docker.sock" \
        >"$ENGINE_STATE/dockerd.log" 2>&1 &
    ENGINE_STARTED_PID=$!
    export DOCKER_HOST="unix://$ENGINE_STATE/docker.sock"
    local i
    for i in $(seq 1 60); do
        if timeout 5 docker info >/dev/null 2>&1; then
            say "private dockerd pid $ENGINE_STARTED_PID up after ${i}s"
            return 0
        fi
        kill -0 "$ENGINE_STARTED_PID" 2>/dev/null || break
        sleep 1
    done
    tail -20 "$ENGINE_STATE/dockerd.log" >&2 || true
    die "private dockerd did not come up (log: $ENGINE_STATE/dockerd.log)"
}

# Stops the daemon we started (by its PID only) and unmounts what it left mounted.
stop_private_dockerd() {
    [ -n "$ENGINE_STARTED_PID" ] || return 0
    say "stopping private dockerd pid $ENGINE_STARTED_PID"
    kill -TERM "$ENGINE_STARTED_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 30); do
        kill -0 "$ENGINE_STARTED_PID" 2>/dev/null || break
        sleep 1
    done
    kill -0 "$ENGINE_STARTED_PID" 2>/dev/null && kill -KILL "$ENGINE_STARTED_PID" 2>/dev/null
    wait "$ENGINE_STARTED_PID" 2>/dev/null || true
    ENGINE_STARTED_PID=""
    # Mounts under our exec/data roots (netns, overlay layers), deepest first.
    local mount_point
    while read -r mount_point; do
        umount "$mount_point" 2>/dev/null || umount -l "$mount_point" 2>/dev/null || true
    done < <(awk -v a="$ENGINE_STATE/exec" -v b="$ENGINE_STATE/data" \
        'index($2, a) == 1 || index($2, b) == 1 { print $2 }' /proc/mounts | sort -r)
    rm -f "$ENGINE_STATE/docker.sock"
    unset DOCKER_HOST
}

# arm64 containers run through binfmt_misc + qemu-user-static (flag F).
ensure_binfmt() {
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
        BINFMT_MOUNTED_BY_US=1
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        update-binfmts --enable qemu-aarch64 >&2 || die "update-binfmts --enable qemu-aarch64 failed"
    fi
}

release_binfmt() {
    if [ "$BINFMT_MOUNTED_BY_US" = 1 ]; then
        umount /proc/sys/fs/binfmt_misc 2>/dev/null || true
        BINFMT_MOUNTED_BY_US=0
    fi
}

# Debian architecture and image names for a matrix arch.
deb_arch() { case "$1" in x86_64) echo amd64 ;; aarch64) echo arm64 ;; *) die "arch $1" ;; esac; }
base_image() { echo "offheap-base:bookworm-$(deb_arch "$1")"; }
# The cell image of ARCH: offheap-matrix:ARCH-<hash of its build context> (the Dockerfile, the
# dependency table and what the image's cells need), so an image is rebuilt exactly when what
# goes into it changed and reused otherwise. build_cell_image sets it.
declare -A CELL_IMAGE=()
cell_image() { echo "${CELL_IMAGE[$1]:-offheap-matrix:$1}"; }

# The Swift toolchain the matrix uses: the one on PATH (`command -v swift`), as the directory
# that holds usr/bin/swift. Containers bind-mount it read-only at the same path.
toolchain_root() {
    local swift
    swift="$(command -v swift)" || return 1
    swift="$(readlink -f "$swift")"
    (cd "$(dirname "$swift")/../.." && pwd)
}

# Local package mirrors this machine's git is configured with (url.<DIR>.insteadOf): the
# directories, one per line. Containers get them read-only at the same path, and the same
# rewrite rules through GIT_CONFIG_* (git_mirror_env).
git_mirror_dirs() {
    git config --get-regexp '^url\..*\.insteadof$' 2>/dev/null | while read -r key _; do
        key="${key#url.}"; key="${key%.insteadof}"
        [ -d "$key" ] && printf '%s\n' "${key%/}"
    done | sort -u
}
git_mirror_env() {
    local n=0 key value
    while read -r key value; do
        key="${key#url.}"; key="${key%.insteadof}"
        [ -d "$key" ] || continue
        printf '%s\n' "GIT_CONFIG_KEY_$n=url.$key.insteadOf" "GIT_CONFIG_VALUE_$n=$value"
        n=$((n + 1))
    done < <(git config --get-regexp '^url\..*\.insteadof$' 2>/dev/null)
    printf '%s\n' "GIT_CONFIG_KEY_$n=safe.directory" "GIT_CONFIG_VALUE_$n=*" "GIT_CONFIG_COUNT=$((n + 1))"
}
dockerfile_for() { case "$1" in x86_64) echo Dockerfile.x86_64 ;; aarch64) echo Dockerfile.arm64 ;; esac; }

engine_has_image() {
    local engine="$1" image="$2" cli
    cli="$(engine_cli "$engine")"
    $cli image inspect "$image" >/dev/null 2>&1
}

# Builds the minbase rootfs for ARCH once (cached in ROOTFS_CACHE).
build_rootfs() {
    local arch="$1" debarch dir
    debarch="$(deb_arch "$arch")"
    dir="$ROOTFS_CACHE/bookworm-$debarch"
    if [ -f "$dir/.complete" ]; then echo "$dir"; return 0; fi
    rm -rf "$dir"; mkdir -p "$dir"
    local mirror="${OFFHEAP_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    if [ "$debarch" = amd64 ]; then
        say "debootstrap bookworm amd64 → $dir"
        debootstrap --variant=minbase bookworm "$dir" "$mirror" >&2
    else
        ensure_binfmt
        say "debootstrap bookworm arm64 (foreign + second stage under QEMU) → $dir"
        debootstrap --arch=arm64 --foreign --variant=minbase bookworm "$dir" "$mirror" >&2
        chroot "$dir" /debootstrap/debootstrap --second-stage >&2
    fi
    rm -rf "$dir/var/cache/apt/archives/"*.deb
    touch "$dir/.complete"
    echo "$dir"
}

# Imports the rootfs as the base image. Docker 20.10 ignores `import --platform`, so an
# arm64 base is imported with podman (--arch arm64) and moved over with save | load.
import_base() {
    local engine="$1" arch="$2" image dir
    image="$(base_image "$arch")"
    engine_has_image "$engine" "$image" && return 0
    dir="$(build_rootfs "$arch")"
    local tar_args=(--numeric-owner --exclude=./.complete -C "$dir" -c .)
    if [ "$engine" = podman ]; then
        tar "${tar_args[@]}" | podman_cmd import --arch "$(deb_arch "$arch")" - "$image" >&2
    elif [ "$arch" = aarch64 ] && command -v podman >/dev/null 2>&1; then
        tar "${tar_args[@]}" | podman_cmd import --arch arm64 - "$image" >&2
        # podman names it localhost/<image>; docker needs the plain name.
        podman_cmd save "localhost/$image" | docker load >&2
        docker tag "localhost/$image" "$image" >&2
        docker rmi "localhost/$image" >/dev/null 2>&1 || true
        podman_cmd rmi "localhost/$image" >/dev/null 2>&1 || true
    else
        [ "$arch" = aarch64 ] && say "warning: podman missing; $image is tagged with the host arch"
        tar "${tar_args[@]}" | docker import --platform "linux/$(deb_arch "$arch")" - "$image" >&2
    fi
}

# Builds the cell image of ARCH from docker/Dockerfile.* on top of the base image. NEEDS is
# a file of ci/deps.tsv probes that the image's cells need: the image installs their packages
# with the matrix's own installer (ci/lib/deps.sh), so images and hosts agree by construction.
build_cell_image() {
    local engine="$1" arch="$2" needs="$3" rebuild="${4:-0}" image cli context hash
    context="$(mktemp -d)"
    cp "$MATRIX_ROOT/docker/$(dockerfile_for "$arch")" "$context/Dockerfile"
    cp "$MATRIX_ROOT/ci/deps.tsv" "$MATRIX_ROOT/ci/lib/deps.sh" "$context/"
    sort -u "$needs" >"$context/needs.txt"
    hash="$(cat "$context/Dockerfile" "$context/deps.tsv" "$context/deps.sh" "$context/needs.txt" | sha256sum | cut -c1-12)"
    image="offheap-matrix:$arch-$hash"
    CELL_IMAGE[$arch]="$image"
    if [ "$rebuild" = 0 ] && engine_has_image "$engine" "$image"; then rm -rf "$context"; return 0; fi
    [ "$arch" = aarch64 ] && ensure_binfmt
    import_base "$engine" "$arch"
    cli="$(engine_cli "$engine")"
    say "building $image with $engine ($(wc -l <"$context/needs.txt") probes from ci/deps.tsv)"
    local platform=() rc=0
    [ "$arch" = aarch64 ] && platform=(--platform linux/arm64)
    if [ "$engine" = docker ]; then
        DOCKER_BUILDKIT=0 docker build --network=host "${platform[@]}" \
            --build-arg "BASE=$(base_image "$arch")" -t "$image" "$context" >&2 || rc=$?
    else
        $cli build --format docker --network=host "${platform[@]}" --ulimit nofile=20000:20000 \
            --build-arg "BASE=$(base_image "$arch")" -t "$image" "$context" >&2 || rc=$?
    fi
    rm -rf "$context"
    [ "$rc" = 0 ] || die "building $image failed"
}
