#!/usr/bin/env bash
# Configures and builds Tendril with Ninja, one build directory per flavour:
#   release  build/       -DCMAKE_BUILD_TYPE=Release, every target, and the web dashboard
#                         (web/dist, by Vite; `npm ci` first when web/node_modules is missing)
#   asan     build-asan/  -DTENDRIL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug, the unit tests only
#
# Usage: scripts/build.sh [release|asan]     (default: release)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-release}"

case "${mode}" in
  release)
    build_dir="${repo_root}/build"
    cmake_args=(-DCMAKE_BUILD_TYPE=Release -DTENDRIL_SANITIZE=OFF)
    targets=()
    ;;
  asan)
    build_dir="${repo_root}/build-asan"
    cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DTENDRIL_SANITIZE=ON)
    targets=(unit_tests)
    ;;
  *)
    echo "usage: $0 [release|asan]" >&2
    exit 2
    ;;
esac

# A directory configured earlier for another generator cannot be reused; it holds only build
# output, so start it afresh.
cache="${build_dir}/CMakeCache.txt"
if [[ -f "${cache}" ]] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "${cache}"; then
  echo "[build] ${build_dir} was configured for another generator; reconfiguring" >&2
  rm -rf "${cache}" "${build_dir}/CMakeFiles"
fi

jobs="$(nproc)"
cmake -S "${repo_root}" -B "${build_dir}" -G Ninja -DTENDRIL_TESTS=ON "${cmake_args[@]}"
if ((${#targets[@]} > 0)); then
  cmake --build "${build_dir}" --parallel "${jobs}" --target "${targets[@]}"
else
  cmake --build "${build_dir}" --parallel "${jobs}"
fi

if [[ "${mode}" == release ]]; then
  web_dir="${repo_root}/web"
  [[ -d "${web_dir}/node_modules" ]] || (cd "${web_dir}" && npm ci --no-audit --no-fund)
  (cd "${web_dir}" && npm run build)
fi
