#!/usr/bin/env bash
# The whole test suite: formatting, lints, Rust tests, cross-language tests,
# evaluation of the committed model packs. What CI runs (.ci/run calls this).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n=== %s\n' "$*"; }

step "Python venv for the cross-language tests (.venv)"
if ! .venv/bin/python -c "import ai_edge_litert, numpy, PIL, pytest, matplotlib, tree_sitter, tree_sitter_swift, fhir.resources, pyrage, cryptography" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt
fi
export HEMALENS_PYTHON="$root/.venv/bin/python"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --release -- -D warnings

step "cargo build --release"
cargo build --workspace --release

step "cargo test (release profile, shares the build above)"
cargo test --workspace --release

step "hemalens-photo without its Rust entropy decoder (libjpeg decodes every JPEG): same tests"
cargo test --release -p hemalens-photo --no-default-features

step "fuzz targets (cargo fuzz, nightly, AddressSanitizer): each for a short fixed time on the committed corpus and regressions"
bash scripts/fuzz.sh --ci

step "bindings: the committed Kotlin, Swift and Python bindings match the library (scripts/bindings.sh --check)"
bash scripts/bindings.sh --check

step "cross-language tests (pytest; the Python bindings included)"
export HEMALENS_BIN="$root/target/release/hemalens"
.venv/bin/python -m pytest tests/python -q -p no:cacheprovider

step "hospital inbox under load (quick: 100 devices over a link that spoils 30% of chunks, 10,000 queued cases)"
bash scripts/inbox_load.sh --quick

step "Kotlin bindings: a whole screening on the desktop JVM (kotlinc + JNA)"
bash tests/kotlin/run.sh

step "Android shell logic: a screening through ScreeningFlow on the desktop JVM (kotlinc + JNA); Compose/CameraX, APK and NDK library not built here"
bash android/logic/run-tests.sh

step "Android shell (android/app): ktlint and resource checks; NOT compiled (no Android SDK here)"
bash scripts/android_shell_check.sh

step "JNI camera-preview path: Java calls every entry point"
bash tests/jni/run.sh "$root/target/release/libhemalens_ffi.so"

step "Swift (bindings and the iOS shell in ios/): syntax only, tree-sitter (no Swift compiler here)"
.venv/bin/python scripts/check_swift.py

step "iOS string tables: generated from the Android catalogue, Str/UiStr cases in step (scripts/ios_strings.py --check)"
.venv/bin/python scripts/ios_strings.py --check

step "phone targets (best effort; SKIPPED where an SDK is needed)"
bash scripts/check_phone_targets.sh

step "committed model packs: recompute held-out metrics, temperatures, thresholds, checksums"
.venv/bin/python scripts/evaluate_models.py --check

step "the README's first command, from another directory"
(cd / && "$HEMALENS_BIN" analyze "$root/tests/fixtures/demo/eyepiece_bccd_00339.jpg")
