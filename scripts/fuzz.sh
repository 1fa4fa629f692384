#!/usr/bin/env bash
# Runs the cargo fuzz targets (rust-core/fuzz, libFuzzer + AddressSanitizer on
# the nightly toolchain) for a fixed time each, on the committed seed corpus.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # default: 60 s, every target
#   scripts/fuzz.sh --ci                      # CI: every target, 15 s each
#   scripts/fuzz.sh --no-build SECONDS TARGET  # long runs: the targets as last built, so
#                                              # edits to the tree meanwhile change nothing
#
# New inputs that add coverage go to rust-core/fuzz/corpus-work/<target>/
# (ignored by git; fold the useful ones into corpus/ by hand with `cargo fuzz
# cmin`). Each run appends one line per target to docs/fuzzing-log.tsv
# (date, target, seconds, executions, coverage edges, features, corpus size,
# crashes) unless --ci; `scripts/fuzz.sh --totals` sums that log. A crash
# leaves its input under rust-core/fuzz/artifacts/<target>/ and fails the run:
# fix it, and commit the input under rust-core/fuzz/regressions/<target>/
# (every run starts by executing those, so CI replays each one) beside a unit
# test in the crate it broke (docs/reliability.md lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ=rust-core/fuzz
LOG=docs/fuzzing-log.tsv
TARGETS_ALL=(jpeg_entropy_differential photo_open decode_image field_pipeline pack_manifest bundle_open
  sms_and_card record_import store_remote_review inbox_http)

if [[ "${1:-}" == "--totals" ]]; then
  printf "%-28s %9s %14s %9s %8s\n" "target" "seconds" "executions" "max cov" "crashes"
  awk -F'\t' 'NR > 1 { s[$2] += $3; e[$2] += $4; if ($5 > c[$2]) c[$2] = $5; k[$2] += $8 }
    END { for (t in s) printf "%-28s %9d %14d %9d %8d\n", t, s[t], e[t], c[t], k[t] }' "$LOG" | sort
  exit 0
fi

BUILD=1
if [[ "${1:-}" == "--no-build" ]]; then
  BUILD=0
  shift
fi
CI_MODE=0
if [[ "${1:-}" == "--ci" ]]; then
  CI_MODE=1
  shift
  SECONDS_EACH=15
else
  SECONDS_EACH="${1:-60}"
  shift || true
fi
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${TARGETS_ALL[@]}")

TOOLCHAIN=+nightly
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is needed (AddressSanitizer): rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is needed: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

BIN="$PWD/$FUZZ/target/x86_64-unknown-linux-gnu/release"
[[ $BUILD -eq 1 ]] && cargo $TOOLCHAIN fuzz build --fuzz-dir "$FUZZ" >&2
# cargo fuzz's RUSTFLAGS replace .cargo/config.toml's ($ORIGIN rpath): find libLiteRt.so beside the targets.
export LD_LIBRARY_PATH="$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Thread bookkeeping freed as a scoped thread exits is not a leak (see the file).
export LSAN_OPTIONS="suppressions=$PWD/$FUZZ/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

[[ -f "$LOG" ]] || printf 'date\ttarget\tseconds\texecutions\tcov\tft\tcorpus\tcrashes\n' > "$LOG"
failed=0
for t in "${TARGETS[@]}"; do
  work="$FUZZ/corpus-work/$t"
  mkdir -p "$work" "$FUZZ/artifacts/$t"
  extra=()
  [[ -d "$FUZZ/regressions/$t" ]] && extra+=("$FUZZ/regressions/$t")
  # The field pipeline also starts from the committed demo photo, read in place.
  [[ "$t" == field_pipeline ]] && extra+=(tests/fixtures/demo)
  # FUZZ_LANE names a second run of the same target at once (its own log).
  out="$FUZZ/artifacts/$t/last-run${FUZZ_LANE:+-$FUZZ_LANE}.log"
  started=$SECONDS
  set +e
  # New inputs go to the first corpus directory named: the ignored work one.
  corpora=("$work" "$FUZZ/corpus/$t" "${extra[@]}")
  run=(cargo $TOOLCHAIN fuzz run --fuzz-dir "$FUZZ" "$t" "${corpora[@]}" --)
  if [[ $BUILD -eq 0 ]]; then
    [[ -x "$BIN/$t" ]] || { echo "fuzz: --no-build, but $BIN/$t is not built" >&2; exit 2; }
    run=("$BIN/$t" "${corpora[@]}")
  fi
  "${run[@]}" \
    -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1 \
    -artifact_prefix="$FUZZ/artifacts/$t/" > "$out" 2>&1
  rc=$?
  set -e
  # The time it really ran (a run stopped early by a signal logs what it did).
  ran=$((SECONDS - started))
  # A run that ended before libFuzzer printed its stats has none: log zeros, not exit.
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out" | grep -o '[0-9]*$' | tail -1 || true)
  [[ -z "$execs" ]] && execs=$(grep -oE '^#[0-9]+' "$out" | tail -1 | tr -d '#' || true)
  cov=$(grep -o 'cov: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*' || true)
  ft=$(grep -o 'ft: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*' || true)
  corpus=$(grep -o 'corp: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*' || true)
  crashes=0
  if [[ $rc -eq 72 ]]; then
    echo "fuzz: $t interrupted after ${ran}s (libFuzzer's exit code 72), not a finding" >&2
  elif [[ $rc -ne 0 ]]; then
    crashes=1
    failed=1
    echo "fuzz: $t FAILED (exit $rc); see $out and $FUZZ/artifacts/$t/" >&2
    grep -E 'panicked|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY' "$out" | head -5 >&2
  fi
  printf 'fuzz: %-28s %4ss %10s execs  cov %6s  ft %6s  corpus %5s\n' "$t" "$ran" "${execs:-?}" \
    "${cov:-?}" "${ft:-?}" "${corpus:-?}"
  if [[ $CI_MODE -eq 0 ]]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$t" "$ran" \
      "${execs:-0}" "${cov:-0}" "${ft:-0}" "${corpus:-0}" "$crashes" >> "$LOG"
  fi
done
exit $failed
