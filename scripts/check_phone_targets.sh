#!/usr/bin/env bash
# Best effort: does the ffi crate (and the core under it) build for the phones?
# `cargo check` for aarch64-linux-android (with the JNI path) and
# aarch64-apple-ios (without it). What cannot be done on this machine is
# printed as SKIPPED with the reason; it never fails the suite for want of an
# SDK, only for a Rust error in our own crates.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
for spec in "aarch64-linux-android:" "aarch64-apple-ios:--no-default-features"; do
  target=${spec%%:*}
  flags=${spec#*:}
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    # rustup's server may be out of reach on a CI machine: give up soon.
    if ! timeout 120 rustup target add "$target" >/dev/null 2>&1; then
      echo "SKIPPED $target: the Rust standard library for it cannot be had here (rustup target add failed)"
      continue
    fi
  fi
  # Android builds take their 16 KB page alignment from .cargo/config.toml.
  if timeout 1500 cargo check --release -q --target "$target" -p hemalens-ffi $flags >"$log" 2>&1; then
    echo "ok      $target: cargo check -p hemalens-ffi $flags"
  elif grep -qE "error(\[E[0-9]+\])?: .*" "$log" && grep -qE -- "--> rust-core/" "$log"; then
    echo "FAILED  $target: our own code does not compile for it:"
    grep -E -A6 "^error" "$log" | head -40
    status=1
  else
    why=$(grep -m1 -oE 'failed to find tool "[^"]+"|litert-sys: no pre-generated bindings for target `[^`]+`' "$log" | head -1)
    echo "SKIPPED $target: a dependency cannot be built for it here${why:+ ($why)}: needs the platform's SDK (NDK, Xcode)"
  fi
done
exit $status
