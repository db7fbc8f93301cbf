#!/usr/bin/env bash
# The declared vitest subset on every other supported Node major (official binaries fetched from
# the npm registry by scripts/fetch-node.sh), each after proving the napi module loads there:
#
#   bash scripts/test-node-versions.sh [MAJOR...]     default: every entry of VERSIONS
#
# The full suite runs on the Node that runs `npm test`; a major equal to it is skipped. The
# subset covers the engine and its boundary: golden values, native/TypeScript parity, the API,
# the loader, bad input and snapshots (docs/DISTRIBUTION.md, "Node versions").
set -euo pipefail
cd "$(dirname "$0")/.."

VERSIONS=(22.23.5 24.22.3 26.12.1)
FILES=(test/vectors.test.ts test/parity.test.ts test/api.test.ts test/loader.test.ts test/bad-input.test.ts test/snapshot.test.ts)
arch="$(node -p process.arch)"
current="$(node -p 'process.versions.node.split(".")[0]')"
wanted=("$@")
summary=()

for v in "${VERSIONS[@]}"; do
  major="${v%%.*}"
  if ((${#wanted[@]})) && [[ ! " ${wanted[*]} " == *" $major "* ]]; then continue; fi
  if [[ "$major" == "$current" ]]; then summary+=("node $major: the full suite above"); continue; fi
  t0=$SECONDS
  bin="$(bash scripts/fetch-node.sh "$arch" "$v")"
  echo "==> node $("$bin" --version): native module, then vitest ${FILES[*]##test/}"
  "$bin" -e 'const b = require("./index.js"); console.log(`    native ${b.coreVersion()} loads (napi ${process.versions.napi})`)' \
    || { echo "node $v: the native module does not load" >&2; exit 1; }
  # CI=true: test/helpers.ts refuses to run when the native module is missing.
  CI=true "$bin" node_modules/vitest/vitest.mjs run "${FILES[@]}"
  summary+=("node $("$bin" --version): ${#FILES[@]} files passed in $((SECONDS - t0)) s")
done
printf '    %s\n' "${summary[@]}"
