#!/usr/bin/env bash
# `npm run test:arm64`: cross-build the napi module for aarch64-unknown-linux-gnu on this x64
# Debian machine and test it under emulation (qemu-user) with an official arm64 Node from the npm
# registry: the golden vectors and a native-vs-TypeScript parity sample (scripts/native-check.js).
#
#   --no-install   never apt-get; exit 3 (skip) when a tool is missing (how `npm test` calls it)
#
# Tools (Debian bookworm, installed when missing and running as root with apt):
#   rustc-web + libstd-rust-web-dev:arm64  a Rust compiler with the aarch64 standard library
#   gcc-aarch64-linux-gnu                  the linker, and libc6-dev-arm64-cross its crti.o and
#                                          libc stubs (only a Recommends of the linker)
#   qemu-user, libc6:arm64, libstdc++6:arm64  to run arm64 Node (`qemu-aarch64 -L /`)
# Never `nodejs:arm64`, and arm64 packages only with --no-install-recommends: apt would replace
# this machine's x64 Node and npm. Every install is simulated first and refused if it would
# remove a package or touch nodejs/npm.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_ARM64_VERSION=20.20.2
TRIPLE=aarch64-unknown-linux-gnu
PKGS=(rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libc6:arm64 libstdc++6:arm64)
no_install=0
[[ "${1:-}" == --no-install ]] && no_install=1
t_start=$SECONDS

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if ((no_install)); then
    echo "test:arm64: skipped, not installed: ${missing[*]} (npm run test:arm64 installs them)"
    exit 3
  fi
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "test:arm64: needs ${missing[*]} (Debian bookworm); run as root on a Debian machine with apt," >&2
    echo "  or install them yourself: dpkg --add-architecture arm64 && apt-get install --no-install-recommends ${PKGS[*]}" >&2
    exit 1
  fi
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  echo "==> apt-get update"
  apt-get update -qq
  echo "==> apt-get install -s (simulate): may it touch nodejs/npm or remove anything?"
  sim="$(apt-get install -s -y --no-install-recommends "${missing[@]}")"
  if grep -E '^Remv |^Inst (nodejs|npm|libnode)[: ]' <<<"$sim"; then
    echo "test:arm64: refusing: installing ${missing[*]} would remove or replace the packages above" >&2
    exit 1
  fi
  echo "==> apt-get install --no-install-recommends ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Its own target dir: the Debian rustc must not disturb the host (rustup) build in target/.
export CARGO_TARGET_DIR="$PWD/target/arm64-cross"
echo "==> cargo build --release -p deleverage-node --target $TRIPLE ($(/usr/bin/rustc --version))"
t0=$SECONDS
RUSTC=/usr/bin/rustc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  cargo build --release -p deleverage-node --target "$TRIPLE"
t_build=$((SECONDS - t0))
module="$CARGO_TARGET_DIR/$TRIPLE/release/libdeleverage_node.so"
[[ "$(od -An -tx1 -j18 -N2 "$module" | tr -d " ")" == b700 ]] || { echo "test:arm64: $module is not an aarch64 binary" >&2; exit 1; }

node_arm64="$(bash scripts/fetch-node.sh arm64 "$NODE_ARM64_VERSION")"
[[ -d dist/cjs ]] || node scripts/build-ts.js

echo "==> qemu-aarch64 node $NODE_ARM64_VERSION scripts/native-check.js (golden vectors, parity sample)"
t0=$SECONDS
qemu-aarch64 -L / "$node_arm64" scripts/native-check.js "$module"
t_run=$((SECONDS - t0))
echo "test:arm64: ok: build ${t_build} s, run under qemu ${t_run} s, total $((SECONDS - t_start)) s"
