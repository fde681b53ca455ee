#!/usr/bin/env bash
# Builds the matrix images offline: debootstrap --variant=minbase bookworm rootfs (cached in
# /var/tmp/offheap-rootfs), imported as offheap-base:bookworm-{amd64,arm64}, then
# offheap-matrix:{x86_64,aarch64} from docker/Dockerfile.{x86_64,arm64}.
#
#   docker/build-images.sh [--engine docker|podman] [--arch x86_64,aarch64] [--rebuild] [--start-engine]
#
# With --start-engine a private dockerd is started for the build and stopped (by PID) after.
set -euo pipefail
# shellcheck source=ci/lib/matrix-common.sh
source "$(dirname "$0")/../ci/lib/matrix-common.sh"
# shellcheck source=ci/lib/engine.sh
source "$MATRIX_ROOT/ci/lib/engine.sh"

engine=""; arches="x86_64,aarch64"; rebuild=0; start_engine=0
while [ $# -gt 0 ]; do
    case "$1" in
        --engine) engine="$2"; shift 2 ;;
        --arch) arches="$2"; shift 2 ;;
        --rebuild) rebuild=1; shift ;;
        --start-engine) start_engine=1; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) die "unknown option $1" ;;
    esac
done
is_root || die "building images needs root (debootstrap, binfmt, engine)"
cleanup() { stop_private_dockerd; release_binfmt; }
trap cleanup EXIT
if [ -z "$engine" ]; then
    if docker_answers; then engine=docker
    elif [ "$start_engine" = 1 ] && command -v dockerd >/dev/null 2>&1; then engine=docker
    elif command -v podman >/dev/null 2>&1; then engine=podman
    else die "no container engine: install docker.io or podman"; fi
fi
if [ "$engine" = docker ] && ! docker_answers; then
    [ "$start_engine" = 1 ] || die "no docker daemon answers; pass --start-engine"
    start_private_dockerd
fi
IFS=, read -r -a arch_list <<<"$arches"
for arch in "${arch_list[@]}"; do
    build_cell_image "$engine" "$arch" "$rebuild"
    say "image $(cell_image "$arch") ready ($engine)"
done
