#!/usr/bin/env bash
# Tendril's main job, from a fresh Debian 12 machine: installs what it needs, builds, and runs
# the service at http://127.0.0.1:8080 on its embedded defaults — the SQLite database, the token
# key and data under ./data (relative to the repository root).
#
# On the first start there is no user yet: the first admin is created from TENDRIL_ADMIN_NAME and
# TENDRIL_ADMIN_PASSWORD when they are set, otherwise as `admin` with a generated password that
# is printed once. Stop it with Ctrl-C.
#
# Usage: scripts/run.sh [extra `tendril serve` arguments, e.g. --listen 0.0.0.0:8080]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${repo_root}/scripts/setup.sh"
bash "${repo_root}/scripts/build.sh" release
cd "${repo_root}"
exec "${repo_root}/build/src/cli/tendril" serve "$@"
