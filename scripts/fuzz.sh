#!/usr/bin/env bash
# Coverage-guided fuzzing, every target for SECONDS each (docs/FUZZING.md):
#
#   npm run fuzz -- [SECONDS] [TARGET...]        (= bash scripts/fuzz.sh ...)
#
# Targets: batch_ops (cargo-fuzz / libFuzzer on the core's batch decoders), scenario (V8-coverage
# greybox fuzzer on src/scenario.ts), snapshot (cargo-fuzz; enabled once the core has
# decode_snapshot). Default: all, 60 s each. Each run starts from the committed seeds
# (fuzz/corpus/<target>/) plus what earlier local runs found (fuzz/corpus-work/<target>/, ignored
# by git); findings go to fuzz/artifacts/<target>/. Prints executions, exec/s and findings per
# target; exits 1 if any target found something.
#
# The Rust targets need the nightly toolchain and cargo-fuzz. Without nightly they are skipped with
# a message. Without cargo-fuzz they are skipped too, unless DELEVERAGE_FUZZ_INSTALL=1, which
# installs the pinned version into node_modules/.cache/cargo-fuzz first (`npm test` does: ~1 min on
# the 2-core machine, once).
set -uo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
# Where DELEVERAGE_FUZZ_INSTALL=1 puts cargo-fuzz (found there on later runs too).
CARGO_FUZZ_ROOT="$PWD/node_modules/.cache/cargo-fuzz"
export PATH="$CARGO_FUZZ_ROOT/bin:$PATH"
seconds="${1:-60}"
[[ $# -gt 0 ]] && shift
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(batch_ops scenario snapshot)
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [batch_ops|scenario|snapshot ...]" >&2
  exit 2
fi

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
summary=()
failed=0

count_artifacts() { find "fuzz/artifacts/$1" -type f 2>/dev/null | wc -l; }

rust_ready() {
  if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "SKIP $1: the nightly Rust toolchain is not installed (rustup toolchain install nightly)"
    return 1
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    if [[ "${DELEVERAGE_FUZZ_INSTALL:-}" == 1 ]]; then
      # Into the project's cache, not ~/.cargo/bin: a test run leaves the user's toolchain alone.
      echo "==> cargo install cargo-fuzz --version $CARGO_FUZZ_VERSION --locked --root $CARGO_FUZZ_ROOT"
      local t0=$SECONDS
      cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet --root "$CARGO_FUZZ_ROOT" \
        || { echo "cargo-fuzz install failed" >&2; return 2; }
      echo "    installed in $((SECONDS - t0)) s"
    else
      echo "SKIP $1: cargo-fuzz is not installed (cargo install cargo-fuzz --version $CARGO_FUZZ_VERSION --locked, or DELEVERAGE_FUZZ_INSTALL=1)"
      return 1
    fi
  fi
}

run_rust() {
  local target="$1"; shift
  local features=("$@")
  rust_ready "$target"
  case $? in 0) ;; 1) summary+=("$target: skipped"); return ;; *) summary+=("$target: ERROR (setup)"); failed=1; return ;; esac
  mkdir -p "fuzz/corpus-work/$target" "fuzz/corpus/$target"
  local before log="$logs/$target.log" t0=$SECONDS
  before=$(count_artifacts "$target")
  # -s none: the core is safe Rust (no unsafe), so AddressSanitizer adds cost and finds nothing;
  # overflow checks and debug assertions stay on (cargo-fuzz's default).
  echo "==> $target: build"
  if ! (cd fuzz && cargo +nightly fuzz build -s none "${features[@]}" "$target") >"$log.build" 2>&1; then
    tail -30 "$log.build"
    summary+=("$target: ERROR (build)"); failed=1; return
  fi
  echo "    built in $((SECONDS - t0)) s; running ${seconds} s"
  (cd fuzz && cargo +nightly fuzz run -s none "${features[@]}" "$target" "corpus-work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=2048 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1
  local rc=$? runs rate found
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  found=$(( $(count_artifacts "$target") - before ))
  grep -E '^#[0-9]+ +DONE|^Done' "$log" | tail -2 | sed 's/^/    /'
  if [[ $rc -ne 0 || $found -gt 0 ]]; then
    grep -E 'panicked at|^SUMMARY|Test unit written' -A3 "$log" | cut -c1-400 | head -30
    summary+=("$target: ${runs:-?} executions, ${rate:-?} exec/s, FINDINGS: $found new artifact(s) in fuzz/artifacts/$target (exit $rc)")
    failed=1
  else
    summary+=("$target: ${runs:-?} executions, ${rate:-?} exec/s, 0 findings")
  fi
}

run_scenario() {
  local log="$logs/scenario.log" before found
  before=$(count_artifacts scenario)
  echo "==> scenario: running ${seconds} s"
  node --import tsx fuzz/js/scenario.ts --seconds "$seconds" 2>&1 | tee "$log" | grep -E '^(scenario|Done|FINDING|  )' | sed 's/^/    /'
  local rc=${PIPESTATUS[0]}
  found=$(( $(count_artifacts scenario) - before ))
  local line
  line=$(grep '^Done' "$log" | tail -1)
  local runs rate
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' <<<"$line")
  rate=$(sed -n 's/.*exec\/s \([0-9]*\).*/\1/p' <<<"$line")
  if [[ $rc -ne 0 || $found -gt 0 ]]; then
    summary+=("scenario: ${runs:-?} executions, ${rate:-?} exec/s, FINDINGS: $found new artifact(s) in fuzz/artifacts/scenario (exit $rc)")
    failed=1
  else
    summary+=("scenario: ${runs:-?} executions, ${rate:-?} exec/s, 0 findings")
  fi
}

for t in "${targets[@]}"; do
  case "$t" in
    batch_ops) run_rust batch_ops ;;
    scenario) run_scenario ;;
    snapshot) run_rust snapshot ;;
    *) echo "unknown target $t (batch_ops, scenario, snapshot)" >&2; exit 2 ;;
  esac
done

echo "==> fuzz summary (${seconds} s per target)"
printf '    %s\n' "${summary[@]}"
exit $failed
