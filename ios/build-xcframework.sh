#!/usr/bin/env bash
# Builds ios/HemalensFFI.xcframework, the Rust core for the iOS app, on a Mac
# with Xcode and rustup (see ios/README.md). Not run on the machine this was
# written on (no Apple toolchain there).
#
#   ios/build-xcframework.sh            # device + simulator slices
#   WITH_MACOS=1 ios/build-xcframework.sh   # and a macOS slice, for `swift test`
#
# Each slice is the staticlib of hemalens-ffi (libhemalens_ffi.a) built
# without the JNI feature, with the C headers of the three UniFFI modules and
# one module map declaring them (HemalensFFI, HemalensCoreFFI,
# HemalensStoreFFI): the generated Swift bindings import them by those names.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bindings=$root/rust-core/ffi/bindings/swift
out=$root/ios/HemalensFFI.xcframework

targets=(aarch64-apple-ios aarch64-apple-ios-sim)
if [ "${WITH_MACOS:-0}" = 1 ]; then
  targets+=(aarch64-apple-darwin)
fi

# The committed bindings (rust-core/ffi/bindings/swift) must come from this
# same commit's core: CI checks it on Linux (scripts/bindings.sh --check); a
# mismatch shows at the first call as UniFFI's API checksum error.

for t in "${targets[@]}"; do
  rustup target add "$t"
  cargo build --release -p hemalens-ffi --no-default-features --target "$t"
done

headers=$(mktemp -d)
trap 'rm -rf "$headers"' EXIT
cp "$bindings"/HemalensFFI.h "$bindings"/HemalensCoreFFI.h "$bindings"/HemalensStoreFFI.h "$headers"/
for m in HemalensFFI HemalensCoreFFI HemalensStoreFFI; do
  cat "$bindings/$m.modulemap"
  echo
done > "$headers/module.modulemap"

args=()
for t in "${targets[@]}"; do
  args+=(-library "$root/target/$t/release/libhemalens_ffi.a" -headers "$headers")
done
rm -rf "$out"
xcodebuild -create-xcframework "${args[@]}" -output "$out"

# The Swift package's bindings are links to the generated files (committed);
# check that they still lead there.
for f in Hemalens HemalensCore HemalensStore; do
  link=$root/ios/HemalensKit/Sources/HemalensBindings/$f.swift
  [ -f "$link" ] || { echo "missing $link (a link to $bindings/$f.swift)" >&2; exit 1; }
done
echo "built $out (${targets[*]})"
