#!/usr/bin/env bash
# `npm test`: the whole suite. Rust tests, generated-file freshness, TS
# build + type check (src, test, bench), then vitest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debug profile on purpose: it builds ~2x faster than the LTO release profile
# and keeps integer overflow checks on (release wraps silently). The release
# cdylib itself is exercised by vitest through the native loader.
echo "==> cargo test --workspace"
cargo test --workspace

# Short coverage-guided fuzz run (docs/FUZZING.md), only when asked: CI sets
# DELEVERAGE_FUZZ_SECONDS (seconds per target) and installs cargo-fuzz if it is missing. Without
# nightly the Rust targets skip with a message. A finding fails the suite.
if [[ -n "${DELEVERAGE_FUZZ_SECONDS:-}" ]]; then
  echo "==> fuzz (${DELEVERAGE_FUZZ_SECONDS} s per target)"
  DELEVERAGE_FUZZ_INSTALL=1 bash scripts/fuzz.sh "$DELEVERAGE_FUZZ_SECONDS"
fi

echo "==> check:generated (rebuild native module, diff index.js / index.d.ts)"
bash scripts/check-generated.sh

echo "==> build:ts (dist/esm + dist/cjs, used by the dist smoke tests)"
node scripts/build-ts.js

echo "==> tsc --noEmit -p tsconfig.json"
npx --no-install tsc --noEmit -p tsconfig.json

echo "==> vitest run"
tmpdir="$(mktemp -d)"; trap 'rm -rf "$tmpdir"' EXIT
results="$tmpdir/vitest.json"
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$results"
# Plain closing line ("N passed, N failed") that CI log readers recognise.
node -e 'const r = require(process.argv[1]);
  console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);' "$results"
