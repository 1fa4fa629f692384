#!/usr/bin/env bash
# The JNI camera-preview path on the desktop JVM (Java 17):
#  1. every `native` method of org.hemalens.camera.PreviewGuide has its
#     Java_org_hemalens_camera_PreviewGuide_* symbol exported by the library,
#     and the library exports no such symbol the class lacks (a renamed
#     package, class or method would otherwise fail only on a phone);
#  2. PreviewGuideTest calls every entry point: good frames from real photos,
#     every error path, the panic path.
# Usage: tests/jni/run.sh path/to/libhemalens_ffi.so
set -euo pipefail
lib=$(realpath "${1:?usage: tests/jni/run.sh path/to/libhemalens_ffi.so}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The app's Java class lives with the library (rust-core/ffi/java); the test beside this script.
javac -Xlint:all -Werror --release 17 -d "$out" $(find "$root/rust-core/ffi/java" "$here/org" -name '*.java' | sort)

# JNI short names: '_' in a name is written "_1" (no overloads here, so no signatures).
declared=$(javap -p -cp "$out" org.hemalens.camera.PreviewGuide | grep -E ' native ' \
    | sed -E 's/.* ([A-Za-z0-9_$]+)\(.*/\1/' | sed 's/_/_1/g' \
    | sed 's/^/Java_org_hemalens_camera_PreviewGuide_/' | sort)
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep '^Java_org_hemalens_camera_' | sort || true)
if [ -z "$declared" ]; then
    echo "FAIL: no native methods found in PreviewGuide" >&2
    exit 1
fi
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
if [ -n "$missing" ] || [ -n "$extra" ]; then
    [ -n "$missing" ] && echo "FAIL: declared native but not exported by $lib:" >&2 && echo "$missing" >&2
    [ -n "$extra" ] && echo "FAIL: exported by $lib but declared by no native method:" >&2 && echo "$extra" >&2
    exit 1
fi
echo "symbols: $(echo "$declared" | wc -l) native methods, each exported by $(basename "$lib")"

java -Xcheck:jni -Dhemalens.ffi.library="$lib" -Dhemalens.root="$root" -cp "$out" \
    org.hemalens.camera.PreviewGuideTest
