#!/usr/bin/env bash
# Makes the toolchain rust-toolchain.toml pins available to rustup, before any
# cargo command runs in the repository. Where the machine's stable toolchain
# is already that version (a machine that cannot download toolchains, as CI's),
# it is linked under the pinned name; otherwise rustup installs the pinned one.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$repo/rust-toolchain.toml")
[ -n "$channel" ] || { echo "toolchain.sh: no channel in rust-toolchain.toml" >&2; exit 1; }
command -v rustup >/dev/null 2>&1 || { echo "toolchain.sh: rustup is required (https://rustup.rs)" >&2; exit 1; }

# No download attempt while only asking whether it is there.
if RUSTUP_AUTO_INSTALL=0 rustup run "$channel" rustc --version >/dev/null 2>&1; then
  exit 0
fi
stable=$(RUSTUP_AUTO_INSTALL=0 rustup run stable rustc --version 2>/dev/null | awk '{print $2}' || true)
if [ "$stable" = "$channel" ]; then
  sysroot=$(rustup run stable rustc --print sysroot)
  for tool in rustfmt cargo-clippy; do
    [ -x "$sysroot/bin/$tool" ] || { echo "toolchain.sh: stable $stable lacks $tool (rustup component add rustfmt clippy)" >&2; exit 1; }
  done
  # `rustup toolchain link` refuses a release's name, so the link is made as
  # rustup itself names an installed release: <version>-<host> in its folder.
  host=$(rustup run stable rustc -vV | sed -n 's/^host: //p')
  toolchains=${RUSTUP_HOME:-$HOME/.rustup}/toolchains
  echo "toolchain.sh: linking the stable toolchain ($stable) as $channel-$host" >&2
  ln -sfn "$sysroot" "$toolchains/$channel-$host"
else
  echo "toolchain.sh: installing Rust $channel (stable here is ${stable:-absent})" >&2
  rustup toolchain install "$channel" --profile minimal --component rustfmt --component clippy
fi
