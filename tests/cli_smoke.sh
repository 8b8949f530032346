#!/usr/bin/env bash
# End-to-end checks of the `tendril` binary (registered with ctest by src/cli/CMakeLists.txt):
# check-template accepts every shipped template and refuses a broken one with exit code 2 and a
# message naming the line; `tendril bench` trains and tests for real on the CSV staircase and
# the MNIST subset and writes the documented JSON, which must hold a plausible accuracy.
#
# Usage: tests/cli_smoke.sh PATH_TO_TENDRIL
set -euo pipefail

tendril="$1"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

for template in "${repo_root}"/templates/*.tmpl; do
  "${tendril}" check-template "${template}" >/dev/null || fail "check-template ${template}"
done

printf 'version: 1\nbricks:\n    1,1,1\n        input: in\n        number_of_neurons: 0\n' \
  >"${work}/bad.tmpl"
rc=0
"${tendril}" check-template "${work}/bad.tmpl" 2>"${work}/bad.err" >/dev/null || rc=$?
[[ ${rc} == 2 ]] || fail "check-template on a bad template exited ${rc}, expected 2"
grep -q "line" "${work}/bad.err" || fail "check-template error does not name the line: $(cat "${work}/bad.err")"

"${tendril}" bench --dataset csv-staircase --epochs 2 --json "${work}/staircase.json" >/dev/null \
  || fail "bench csv-staircase"
"${tendril}" bench --dataset mnist10k --epochs 1 --json "${work}/mnist.json" >/dev/null \
  || fail "bench mnist10k"

# Both JSON documents carry every documented field; MNIST must really have learned (chance is
# 10 %; the floor of the benchmark itself is checked in the README figures, not here).
/usr/bin/python3 - "${work}/staircase.json" "${work}/mnist.json" <<'PY'
import json, sys
fields = {"epoch", "train_seconds", "train_samples_per_second", "test_accuracy",
          "request_samples_per_second", "synapses", "bytes_per_synapse", "peak_rss_bytes"}
for path in sys.argv[1:]:
    doc = json.load(open(path))
    for key in ("dataset", "threads", "template", "epochs"):
        assert key in doc, f"{path}: missing {key}"
    assert doc["epochs"], f"{path}: no epochs"
    for epoch in doc["epochs"]:
        missing = fields - set(epoch)
        assert not missing, f"{path}: epoch lacks {sorted(missing)}"
        assert 0.0 <= epoch["test_accuracy"] <= 1.0
        assert epoch["synapses"] > 0 and epoch["bytes_per_synapse"] > 0, epoch
mnist = json.load(open(sys.argv[2]))["epochs"][0]
assert mnist["test_accuracy"] > 0.80, mnist
# The memory budget: at most 10 bytes per synapse, section overhead included (a toy cluster of
# a few hundred synapses is dominated by fixed per-block costs, so it is checked on MNIST).
assert mnist["bytes_per_synapse"] <= 10.0, mnist
PY

echo "cli smoke: ok"
