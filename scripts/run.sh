#!/usr/bin/env bash
# Tendril's main job, from a fresh Debian 12 machine: installs what it needs, builds, and runs
# it. Until the service (`tendril serve`) exists, the main job is the engine benchmark on
# Fashion-MNIST: train one epoch on the 60 000 training images, test on the 10 000 test images,
# and print the figures (also written to bench-fashion-mnist.json).
#
# Usage: scripts/run.sh [extra `tendril bench` arguments, e.g. --epochs 10 --threads 2]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${repo_root}/scripts/setup.sh"
bash "${repo_root}/scripts/build.sh" release
exec "${repo_root}/build/src/cli/tendril" bench --dataset fashion-mnist \
  --json "${repo_root}/bench-fashion-mnist.json" "$@"
