#!/usr/bin/env bash
# Rebuilds the native module and fails if the napi-rs generated loader
# (index.js) or typings (index.d.ts) differ from what git has, i.e. if the
# committed generated files are stale; likewise the tables the TypeScript side
# imports from the Rust core (src/generated/tables.ts, written by a cargo test).
set -euo pipefail
cd "$(dirname "$0")/.."

npm run --silent build:native
# Rewrites src/generated/tables.ts when it differs (and fails); the diff below names it.
cargo test --quiet -p deleverage-core --test generated_tables >/dev/null 2>&1 || true

files=(index.js index.d.ts src/generated/tables.ts)
untracked=()
for f in "${files[@]}"; do
  git ls-files --error-unmatch -- "$f" >/dev/null 2>&1 || untracked+=("$f")
done
if ((${#untracked[@]})); then
  msg="check:generated: ${untracked[*]} not tracked by git; run: git add ${untracked[*]}"
  if [[ "${CI:-}" == "true" ]]; then echo "$msg" >&2; exit 1; fi
  echo "warning: $msg" >&2
fi

if ! git diff --exit-code -- "${files[@]}"; then
  echo "check:generated: ${files[*]}: stale; commit the regenerated files above." >&2
  exit 1
fi
echo "check:generated: ${files[*]} are up to date"
