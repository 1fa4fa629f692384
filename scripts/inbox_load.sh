#!/usr/bin/env bash
# The inbox's load figures (docs/inbox-figures.md): builds the release inbox
# and its load tool (rust-core/inbox/examples/load.rs), then runs, each step
# bounded in time:
#   a) SQLite: one `hemalens-inbox serve`, N devices uploading a session each
#      over a faulty link (30% of PATCH chunks dropped, duplicated, reordered
#      or cut), then the database checked;
#   b) PostgreSQL, one instance: the same;
#   c) PostgreSQL, three instances on one database (same --key, same --db),
#      each chunk sent to a random instance;
#   d) the queue benchmark: M cases inserted, GET /queue timed, on PostgreSQL,
#      then on SQLite if the time budget allows.
# Writes every step's JSON summary into one file and prints markdown tables.
#
#   scripts/inbox_load.sh --quick        # 100 devices, 10,000 cases (CI; a few minutes)
#   scripts/inbox_load.sh                # full: 1,000 devices, 100,000 cases
#   scripts/inbox_load.sh --devices 300 --cases 50000 --out /tmp/figures.json
#
# PostgreSQL: HEMALENS_TEST_POSTGRES names a server and a database the user
# may create databases from, e.g. postgres://hemalens:hemalens@127.0.0.1/hemalens;
# each step gets a fresh database (dropped afterwards unless --keep). Without
# it the PostgreSQL steps are skipped. Exits 1 if a step failed (something
# lost or duplicated, a timeout, a server that did not start).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mode=full
devices=""
cases=""
concurrency=48
fault_rate=0.3
seed=1
out=""
build=1
keep=0
budget=""

usage() {
  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
Options: --quick | --full, --devices N, --cases M, --concurrency C,
         --fault-rate F, --seed S, --budget SECONDS (whole run, after the build),
         --out FILE (default out/inbox-load-<mode>.json), --no-build, --keep
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --devices) devices=$2; shift ;;
    --cases) cases=$2; shift ;;
    --concurrency) concurrency=$2; shift ;;
    --fault-rate) fault_rate=$2; shift ;;
    --seed) seed=$2; shift ;;
    --budget) budget=$2; shift ;;
    --out) out=$2; shift ;;
    --no-build) build=0 ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "inbox_load.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

if [ "$mode" = quick ]; then
  devices=${devices:-100}; cases=${cases:-10000}
  step_limit=120; budget=${budget:-480}
else
  devices=${devices:-1000}; cases=${cases:-100000}
  step_limit=300; budget=${budget:-900}
fi
out=${out:-$root/out/inbox-load-$mode.json}
mkdir -p "$(dirname "$out")"

target=${CARGO_TARGET_DIR:-$root/target}
inbox=$target/release/hemalens-inbox
load=$target/release/examples/load
pg_admin=${HEMALENS_TEST_POSTGRES:-}

for tool in jq curl; do
  command -v "$tool" >/dev/null || { echo "inbox_load.sh: needs $tool" >&2; exit 2; }
done
if [ -n "$pg_admin" ] && ! command -v psql >/dev/null; then
  echo "inbox_load.sh: HEMALENS_TEST_POSTGRES is set but psql is missing" >&2; exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/inbox-load.XXXXXX")
pids=()
dbs=()

stop_servers() {
  local pid
  for pid in "${pids[@]:-}"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}

cleanup() {
  stop_servers
  if [ "$keep" = 0 ]; then
    local db
    for db in "${dbs[@]:-}"; do
      [ -n "$db" ] && psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
  else
    echo "kept: $work ${dbs[*]:-}" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n=== %s\n' "$*" >&2; }

if [ "$build" = 1 ]; then
  # Workspace-wide, so the features match the rest of the build and CI's
  # earlier `cargo build/test --workspace --release` is reused, not redone.
  say "build (release): the workspace's binaries and examples (hemalens-inbox, the load example)"
  (cd "$root" && timeout 3600 cargo build --release --workspace --bins --examples)
fi
[ -x "$inbox" ] && [ -x "$load" ] || { echo "inbox_load.sh: build $inbox and $load first" >&2; exit 2; }

started_at=$(date +%s)
remaining() { echo $((budget - ($(date +%s) - started_at))); }

key=$work/hospital.key
recipient=$("$inbox" --key "$key" key 2>/dev/null)

# free_port: sets $port to a loopback port nobody listens on (nor was given out).
used_ports=" "
free_port() {
  local p
  for p in $(seq 18400 18999); do
    case "$used_ports" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_ports="$used_ports$p "
      port=$p
      return
    fi
  done
  echo "inbox_load.sh: no free port" >&2
  return 1
}

# start_server DB PORT LOG: one `hemalens-inbox serve`, ready when /healthz answers.
start_server() {
  local db=$1 port=$2 log=$3 i
  RUST_LOG=${RUST_LOG:-warn} "$inbox" --db "$db" --key "$key" serve --listen "127.0.0.1:$port" >"$log" 2>&1 &
  pids+=($!)
  for i in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "inbox_load.sh: the server on port $port exited:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "inbox_load.sh: the server on port $port did not answer in 30 s" >&2
  return 1
}

# fresh_pg: sets $pg_url to a new, empty PostgreSQL database.
fresh_pg() {
  local name
  name="inbox_load_$(date +%s)_$RANDOM"
  psql "$pg_admin" -qc "CREATE DATABASE $name" >/dev/null
  dbs+=("$name")
  pg_url="${pg_admin%/*}/$name"
}

failed=0
steps=()

# record STEP JSON_FILE RC: keeps the step's summary, or what went wrong.
record() {
  local step=$1 file=$2 rc=$3
  if [ -s "$file" ] && jq -e . "$file" >/dev/null 2>&1; then
    jq --arg step "$step" --argjson rc "$rc" '. + {step: $step, exit: $rc}' "$file" >"$work/step-$step.json"
  else
    local why="exit $rc"
    [ "$rc" = 124 ] && why="timed out after ${step_limit} s"
    jq -n --arg step "$step" --argjson rc "$rc" --arg why "$why" \
      '{step: $step, ok: false, exit: $rc, error: $why}' >"$work/step-$step.json"
  fi
  steps+=("$work/step-$step.json")
  if [ "$rc" != 0 ]; then
    failed=1
    echo "inbox_load.sh: step $step FAILED ($rc)" >&2
  fi
}

skip() {
  jq -n --arg step "$1" --arg why "$2" '{step: $step, skipped: $why}' >"$work/step-$1.json"
  steps+=("$work/step-$1.json")
  echo "inbox_load.sh: step $1 skipped: $2" >&2
}

# load_step STEP DB INSTANCES
load_step() {
  local step=$1 db=$2 n=$3 urls=() i rc=0
  if [ "$(remaining)" -lt 60 ]; then
    skip "$step" "time budget spent"
    return
  fi
  local limit=$step_limit
  [ "$(remaining)" -lt "$limit" ] && limit=$(remaining)
  say "$step: $devices devices, $n instance(s), $db (at most $limit s)"
  for i in $(seq 1 "$n"); do
    free_port
    # One after another, each answering /healthz before the next starts, so
    # start-up (migrating, the first administrator) stays out of the figures.
    if ! start_server "$db" "$port" "$work/$step-server$i.log"; then
      stop_servers
      record "$step" /dev/null 3
      return
    fi
    urls+=("http://127.0.0.1:$port")
  done
  timeout "$limit" "$load" --url "${urls[@]}" --db "$db" --recipient "$recipient" \
    --devices "$devices" --concurrency "$concurrency" --fault-rate "$fault_rate" --seed "$seed" \
    --time-limit $((limit > 150 ? limit - 90 : limit * 2 / 5)) \
    --label "$step" --json-out "$work/$step.json" >/dev/null || rc=$?
  stop_servers
  if grep -q -E 'ERROR|panicked' "$work/$step"-server*.log; then
    echo "inbox_load.sh: $step: the server logged errors:" >&2
    grep -h -E 'ERROR|panicked' "$work/$step"-server*.log | sort | uniq -c | head -20 >&2
  fi
  record "$step" "$work/$step.json" "$rc"
}

# queue_step STEP DB
queue_step() {
  local step=$1 db=$2 rc=0
  if [ "$(remaining)" -lt 60 ]; then
    skip "$step" "time budget spent"
    return
  fi
  local limit=$step_limit
  [ "$(remaining)" -lt "$limit" ] && limit=$(remaining)
  say "$step: $cases cases, GET /queue, $db (at most $limit s)"
  free_port
  if ! start_server "$db" "$port" "$work/$step-server.log"; then
    stop_servers
    record "$step" /dev/null 3
    return
  fi
  timeout "$limit" "$load" --url "http://127.0.0.1:$port" --db "$db" --queue-bench "$cases" \
    --seed "$seed" --label "$step" --json-out "$work/$step.json" >/dev/null || rc=$?
  stop_servers
  record "$step" "$work/$step.json" "$rc"
}

load_step sqlite "sqlite:$work/sqlite.db" 1
if [ -n "$pg_admin" ]; then
  fresh_pg && load_step postgres "$pg_url" 1
  fresh_pg && load_step postgres-x3 "$pg_url" 3
  fresh_pg && queue_step queue-postgres "$pg_url"
else
  skip postgres "HEMALENS_TEST_POSTGRES not set"
  skip postgres-x3 "HEMALENS_TEST_POSTGRES not set"
  skip queue-postgres "HEMALENS_TEST_POSTGRES not set"
fi
queue_step queue-sqlite "sqlite:$work/queue.db"

command_line="scripts/inbox_load.sh --$mode --devices $devices --cases $cases --concurrency $concurrency --fault-rate $fault_rate --seed $seed"
jq -s --arg mode "$mode" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg cpus "$(nproc)" \
  --arg command "$command_line" --argjson failed "$failed" \
  '{date: $date, mode: $mode, cpus: ($cpus | tonumber), command: $command, ok: ($failed == 0), steps: .}' \
  "${steps[@]}" >"$out"

# The tables.
jq -r '
  def n: if . == null then "–" else tostring end;
  "| step | backend | instances | devices done / started | sessions/s | results upload p50 / p99 (ms) | requests | PATCH faults: dropped / duplicated / reordered / cut (share) | check |",
  "|---|---|---|---|---|---|---|---|---|",
  (.steps[] | select(.mode == "load" or ((.step | startswith("queue")) | not)) |
    if .skipped then "| \(.step) | | | | | | | | skipped: \(.skipped) |"
    elif .mode != "load" then "| \(.step) | | | | | | | | FAILED: \(.error // "?") |"
    else "| \(.step) | \(.backend) | \(.instances) | \(.devices_completed) / \(.devices_started)\(if .time_limit_hit then " (time limit)" else "" end) | \(.sessions_per_s) | \(.results_latency_ms.p50 | n) / \(.results_latency_ms.p99 | n) | \(.requests.total) | \(.faults.dropped) / \(.faults.duplicated) / \(.faults.reordered) / \(.faults.cut) (\(.faults.share * 100 | round)%) | \(if .ok then "ok: \(.check.cases) cases, \(.check.bundles) bundles, \(.check.duplicate_bundles) duplicates" else "FAILED: \(.check.problems // [] | .[0:3] | join("; "))" end) |"
    end),
  "",
  "| step | backend | cases | insert (rows/s) | GET /queue server p50 / p90 (ms) | client p50 / p90 (ms) | check |",
  "|---|---|---|---|---|---|---|",
  (.steps[] | select(.step | startswith("queue")) |
    if .skipped then "| \(.step) | | | | | | skipped: \(.skipped) |"
    elif .mode != "queue_bench" then "| \(.step) | | | | | | FAILED: \(.error // "?") |"
    else "| \(.step) | \(.backend) | \(.cases_inserted) (\(.cases_by_status.open) open) | \(.insert_rows_per_s) | \(.server_ms.p50) / \(.server_ms.p90) | \(.client_ms.p50) / \(.client_ms.p90) | \(if .ok then "ok: \(.rows_on_page) rows" else "FAILED" end) |"
    end)
' "$out"
echo >&2
echo "inbox_load.sh: results in $out ($(($(date +%s) - started_at)) s after the build)" >&2
exit "$failed"
