#!/usr/bin/env bash
# Builds the request fuzzer (clang, libFuzzer, ASan + UBSan) in build-fuzz/ and runs it for a
# fixed time on a copy of the seed corpus in fuzz/corpus/, so the repository is never modified.
# Exits non-zero when the build fails or the fuzzer finds a crash, a leak, undefined behaviour,
# a timeout or an oracle failure; the input that did it is kept in build-fuzz/artifacts/.
#
# Usage: scripts/fuzz.sh [SECONDS]     (default 30)
set -euo pipefail

seconds="${1:-30}"
if ! [[ "${seconds}" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: $0 [SECONDS]  (a whole number of seconds, at least 1)" >&2
  exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${repo_root}/build-fuzz"

CC=clang CXX=clang++ cmake -S "${repo_root}" -B "${build_dir}" -G Ninja \
  -DTENDRIL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "${build_dir}" request_fuzzer

work_dir="$(mktemp -d)"
trap 'rm -rf "${work_dir}"' EXIT
cp -r "${repo_root}/fuzz/corpus" "${work_dir}/corpus"
mkdir -p "${build_dir}/artifacts"

# -max_len: room for a body of some size; the parser's own limits (16 KiB of headers, 1 MiB
# of body) are what the server uses. -timeout: seconds for one input before it counts as a hang.
# The dictionary holds the routes' tokens and edge values: without it a 2-minute run did not
# find a deliberately removed range check, with it one did.
"${build_dir}/fuzz/request_fuzzer" \
  -max_total_time="${seconds}" -max_len=65536 -timeout=10 -print_final_stats=1 -print_funcs=0 \
  -dict="${repo_root}/fuzz/request.dict" -artifact_prefix="${build_dir}/artifacts/" \
  "${work_dir}/corpus"
