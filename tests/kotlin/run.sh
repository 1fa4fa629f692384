#!/usr/bin/env bash
# Compiles the committed Kotlin bindings with the test and runs a whole
# screening on the desktop JVM (JNA loads target/release/libhemalens_ffi.so).
# Needs kotlinc 2.x (npm kotlin-compiler, in .tools/) and JNA (Debian libjna-java).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
kotlinc=${KOTLINC:-$root/.tools/node_modules/kotlin-compiler/bin/kotlinc}
jna=${JNA_JAR:-/usr/share/java/jna.jar}
out=$root/target/kotlin-test
mkdir -p "$out"
"$kotlinc" -nowarn -cp "$jna" -d "$out/test.jar" \
  $(find rust-core/ffi/bindings/kotlin -name '*.kt') tests/kotlin/ScreeningTest.kt tests/kotlin/harness/Harness.kt 2>&1 | grep -v '^warning' || true
[ -f "$out/test.jar" ] || { echo "kotlinc failed" >&2; exit 1; }
stdlib=$(dirname "$kotlinc")/../lib/kotlin-stdlib.jar
HEMALENS_DATA=${HEMALENS_DATA:-$root/../shared/data} \
  java -Djna.library.path="$root/target/release" -cp "$jna:$stdlib:$out/test.jar" ScreeningTestKt 2>&1 \
  | grep -v -E '^(INFO|WARNING): \['
