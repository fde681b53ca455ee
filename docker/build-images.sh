#!/usr/bin/env bash
# Builds the matrix images ahead of a run: debootstrap --variant=minbase bookworm rootfs
# (cached in /var/tmp/offheap-rootfs), imported as offheap-base:bookworm-{amd64,arm64}, then
# offheap-matrix:{x86_64,aarch64}-<hash> from docker/Dockerfile.{x86_64,arm64} with the
# packages ci/deps.tsv names for the cells that run in each image.
#
#   docker/build-images.sh [--engine docker|podman] [--arch x86_64,aarch64]
#
# The same code runs on first use inside ci/run-matrix.sh (this is `run-matrix.sh
# --images-only`); a private dockerd is started for the build when none answers (root).
set -euo pipefail
exec "$(dirname "$0")/../ci/run-matrix.sh" --images-only "$@"
