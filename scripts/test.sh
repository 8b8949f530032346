#!/usr/bin/env bash
# The project's one test command (CI runs it through .ci/run):
#   1. scripts/setup.sh          system packages and npm data
#   2. scripts/build.sh release  everything, optimised, and the web dashboard (web/dist)
#   3. scripts/build.sh asan     unit tests with AddressSanitizer + UBSan
#   4. ctest in build/           every registered test (the dashboard's Vitest unit tests and
#                                its Chromium end-to-end test included)
#   5. ctest in build-asan/      the unit tests under the sanitizers
#   6. scripts/fuzz.sh 30        the request parser/validator fuzzer (clang, libFuzzer), 30 s
# Later steps run even when a test step fails, so one run reports everything; a failed setup or
# build skips what depends on it. Exits non-zero when any step failed.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

names=()
results=()
failed=0

# run_step NAME COMMAND...: runs one step, records its outcome and duration.
run_step() {
  local name="$1"
  shift
  printf '\n===== %s =====\n' "${name}"
  local start="${SECONDS}" rc=0
  "$@" || rc=$?
  local took=$((SECONDS - start))
  names+=("${name}")
  if ((rc == 0)); then
    results+=("ok      ${took}s")
  else
    results+=("FAILED  ${took}s (exit ${rc})")
    failed=1
  fi
  return "${rc}"
}

skip_step() {
  names+=("$1")
  results+=("skipped (an earlier step failed)")
}

summary() {
  printf '\n===== summary =====\n'
  local i
  for i in "${!names[@]}"; do
    printf '  %-28s %s\n' "${names[i]}" "${results[i]}"
  done
  printf '  total %ss: %s\n' "${SECONDS}" "$([[ ${failed} == 0 ]] && echo PASSED || echo FAILED)"
}

# The two functions below are called through run_step, which shellcheck cannot follow.
# shellcheck disable=SC2317
ctest_release() {
  ctest --test-dir build --output-on-failure -j2
}

# Only the unit-test binaries are built in build-asan; the placeholders CMake registers for the
# other test targets ("…_NOT_BUILT") are excluded.
# shellcheck disable=SC2317
ctest_asan() {
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2 -E '_NOT_BUILT$'
}

if run_step "setup" bash scripts/setup.sh; then
  release_ok=1
  asan_ok=1
  run_step "build release" bash scripts/build.sh release || release_ok=0
  run_step "build asan" bash scripts/build.sh asan || asan_ok=0
  if ((release_ok)); then
    run_step "tests (release)" ctest_release || true
  else
    skip_step "tests (release)"
  fi
  if ((asan_ok)); then
    run_step "tests (asan+ubsan)" ctest_asan || true
  else
    skip_step "tests (asan+ubsan)"
  fi
  run_step "fuzz (30 s)" bash scripts/fuzz.sh 30 || true
else
  for step in "build release" "build asan" "tests (release)" "tests (asan+ubsan)" "fuzz (30 s)"; do
    skip_step "${step}"
  done
fi

summary
exit "${failed}"
