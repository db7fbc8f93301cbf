#!/usr/bin/env bash
# `npm test`: the whole suite, on a fresh machine too (README: npm install && npm test). Rust tests,
# a short fuzz run, generated-file freshness (rebuilds the native module), the TS build and type
# check, vitest (with a real headless Chromium), the engine subset on the other Node majors, and
# the arm64 module under emulation when the cross tools are installed. Everything it needs comes
# from npm (dev dependencies, node_modules/.cache) or is skipped with a line saying so.
#
#   DELEVERAGE_FUZZ_SECONDS=N  seconds per fuzz target (default 20; 0 skips the fuzz run)
#   DELEVERAGE_NODE_VERSIONS=0 skips the other Node majors; DELEVERAGE_ARM64=0 skips arm64
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS
steps=()
step() { steps+=("$(printf '%-28s %4d s' "$1" $((SECONDS - $2)))"); }

# Debug profile on purpose: it builds ~2x faster than the LTO release profile
# and keeps integer overflow checks on (release wraps silently). The release
# cdylib itself is exercised by vitest through the native loader.
# Style first: it is the cheapest failure (rustfmt.toml, biome.jsonc; CONTRIBUTING.md).
echo "==> style (cargo fmt --check, biome check: format + lint, clippy -D warnings)"
t=$SECONDS
cargo fmt --all --check
(cd fuzz && cargo fmt --all --check)
npx --no-install biome check .
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "style" $t

echo "==> cargo test --workspace"
t=$SECONDS; cargo test --workspace; step "cargo test" $t

# Short coverage-guided fuzz run (docs/FUZZING.md). cargo-fuzz (pinned) is installed into
# node_modules/.cache on first use; without the nightly toolchain the Rust targets skip with a
# message. A finding fails the suite.
fuzz_seconds="${DELEVERAGE_FUZZ_SECONDS:-20}"
if [[ "$fuzz_seconds" != 0 ]]; then
  echo "==> fuzz (${fuzz_seconds} s per target)"
  t=$SECONDS; DELEVERAGE_FUZZ_INSTALL=1 bash scripts/fuzz.sh "$fuzz_seconds"; step "fuzz" $t
fi

echo "==> check:generated (rebuild native module, diff index.js / index.d.ts)"
t=$SECONDS; bash scripts/check-generated.sh; step "native build + check" $t

# The tests need the native module (they compare it with the TypeScript engine); the loader
# would otherwise fall back silently.
node -e "require('./index.js').coreVersion()" \
  || { echo "npm test: the native module (index.js) does not load after the build" >&2; exit 1; }

echo "==> build:ts (dist/esm + dist/cjs, used by the dist smoke tests)"
node scripts/build-ts.js

echo "==> tsc --noEmit -p tsconfig.json"
t=$SECONDS; npx --no-install tsc --noEmit -p tsconfig.json; step "build:ts + tsc" $t

# The browser for test/report.test.ts: the system's chromium, else the one in the dev dependency
# @sparticuz/chromium (linux x64). Elsewhere, as root with apt, Debian's chromium is installed.
echo "==> browser for test/report.test.ts"
if ! node scripts/chromium.mjs; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null && [[ -z "${DELEVERAGE_CHROMIUM:-}" ]]; then
    echo "    installing Debian's chromium (apt-get install --no-install-recommends chromium)"
    apt-get update -qq
    if apt-get install -s -y --no-install-recommends chromium | grep -E '^Remv |^Inst (nodejs|npm)[: ]'; then
      echo "npm test: refusing to install chromium: apt would remove or replace the packages above" >&2
    else
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
    fi
  else
    echo "    test/report.test.ts will fail: install chromium (/usr/bin/chromium) or set DELEVERAGE_CHROMIUM=/path/to/chrome" >&2
  fi
fi

# Apache Kafka for test/shard.test.ts: Maven fetches the broker's jars into node_modules/.cache once;
# the test starts and stops the broker itself and fails with the reason if it cannot.
echo "==> Kafka broker jars (scripts/kafka.sh fetch)"
t=$SECONDS; bash scripts/kafka.sh fetch; step "kafka fetch" $t

echo "==> vitest run"
tmpdir="$(mktemp -d)"; trap 'rm -rf "$tmpdir"' EXIT
results="$tmpdir/vitest.json"
t=$SECONDS
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$results"
step "vitest (node $(node --version))" $t

if [[ "${DELEVERAGE_NODE_VERSIONS:-1}" != 0 ]]; then
  echo "==> the engine subset on the other Node majors (scripts/test-node-versions.sh)"
  t=$SECONDS; bash scripts/test-node-versions.sh; step "other Node majors" $t
fi

# Only when the cross tools are already installed (npm run test:arm64 installs them).
if [[ "${DELEVERAGE_ARM64:-1}" != 0 && "$(uname -m)" == x86_64 ]]; then
  echo "==> arm64 module under qemu (scripts/test-arm64.sh --no-install)"
  t=$SECONDS; rc=0; bash scripts/test-arm64.sh --no-install || rc=$?
  ((rc == 0 || rc == 3)) || exit "$rc"
  ((rc == 3)) || step "arm64 (qemu)" $t
fi

echo "==> timings"
printf '    %s\n' "${steps[@]}" "$(printf '%-28s %4d s' total $((SECONDS - t_start)))"
# Plain closing line ("N passed, N failed") that CI log readers recognise.
node -e 'const r = require(process.argv[1]);
  console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);' "$results"
