#!/usr/bin/env bash
# Compiles the Android shell's plain-Kotlin logic (android/logic) with the
# committed bindings and its test, and runs a whole screening on the desktop
# JVM (JNA loads target/release/libhemalens_ffi.so). Same tools as
# tests/kotlin/run.sh: kotlinc 2.x (npm kotlin-compiler, in .tools/) and JNA
# (Debian libjna-java). Not built here: the Compose/CameraX app (android/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
kotlinc=${KOTLINC:-$root/.tools/node_modules/kotlin-compiler/bin/kotlinc}
jna=${JNA_JAR:-/usr/share/java/jna.jar}
# Gson reads the JNI guide's JSON (the app pins com.google.code.gson:gson:2.10.1; Debian libgoogle-gson-java here).
gson=${GSON_JAR:-/usr/share/java/gson.jar}
out=$root/target/android-logic-test
rm -rf "$out/java" "$out/test.jar"
mkdir -p "$out/java"
# The JNI camera-preview class the app ships (rust-core/ffi/java).
javac --release 17 -d "$out/java" $(find rust-core/ffi/java -name '*.java')
"$kotlinc" -nowarn -cp "$jna:$gson:$out/java" -d "$out/test.jar" \
  $(find rust-core/ffi/bindings/kotlin android/logic/src -name '*.kt') tests/kotlin/harness/Harness.kt 2>&1 | grep -v '^warning' || true
[ -f "$out/test.jar" ] || { echo "kotlinc failed" >&2; exit 1; }
# The logic itself must not reach for Android.
if grep -rn '^import android\.' android/logic/src/main; then echo "android import in android/logic" >&2; exit 1; fi
stdlib=$(dirname "$kotlinc")/../lib/kotlin-stdlib.jar
HEMALENS_DATA=${HEMALENS_DATA:-$root/../shared/data} ANDROID_RES=$root/android/app/src/main/res HEMALENS_ROOT=$root \
  java -Djna.library.path="$root/target/release" -Dhemalens.ffi.library="$root/target/release/libhemalens_ffi.so" \
  -cp "$jna:$gson:$stdlib:$out/java:$out/test.jar" org.hemalens.app.FlowTestKt 2>&1 \
  | grep -v -E '^(INFO|WARNING): \['
