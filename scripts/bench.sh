#!/usr/bin/env bash
# HTTP load benchmark (not part of `make test`): starts a release server on a free port with a
# fresh database, drives it with wrk (scripts/bench/request.lua) and prints one table.
#
#   scripts/bench.sh          the table: SQLite and PostgreSQL rows, the raw argon2id rate
#   scripts/bench.sh soak     10 minutes of session creates at half the measured peak on SQLite,
#                             printing RSS, WAL size and p99 per minute
#
# Environment: BENCH_ROUNDS (5), BENCH_SECONDS per round (5), BENCH_CONNECTIONS (16),
# BENCH_WAL_SECONDS for the sustained WAL run (60), BENCH_SOAK_MINUTES (10),
# SERVER_BIN (a server binary to measure instead of building target/release/server),
# BENCH_NO_BUILD=1 (use the binaries already built),
# VESTIBULE_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test; empty skips it).
# The load generator runs on the same machine as the server: read the figures as ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

mode="${1:-table}"
rounds="${BENCH_ROUNDS:-5}"
secs="${BENCH_SECONDS:-5}"
conns="${BENCH_CONNECTIONS:-16}"
wal_secs="${BENCH_WAL_SECONDS:-60}"
soak_minutes="${BENCH_SOAK_MINUTES:-10}"
pg_url="${VESTIBULE_BENCH_POSTGRES_URL-postgres://postgres@127.0.0.1:5432/test}"
users=16
password="bench password 1"
lua="$PWD/scripts/bench/request.lua"

scripts/bootstrap.sh bench

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  [ -n "${SERVER_BIN:-}" ] || cargo build --release --locked -p server >&2
  cargo build --release --locked -p domain --example argon2_rate >&2
fi
SERVER_BIN="${SERVER_BIN:-$PWD/target/release/server}"
argon2_rate="$PWD/target/release/examples/argon2_rate"

work=$(mktemp -d /tmp/vestibule-bench.XXXXXX)
server_pid=""
starts=0
schemas=()
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  for s in "${schemas[@]}"; do psql "$pg_url" -qc "DROP SCHEMA IF EXISTS \"$s\" CASCADE" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/bench.toml" <<'TOML'
# Rate limits off: the benchmark measures the engine, not the limiter.
[rate_limits]
generate_per_app = { limit = 0, window_secs = 60 }
generate_per_address = { limit = 0, window_secs = 60 }
validate_per_app = { limit = 0, window_secs = 60 }
session_api_per_key = { limit = 0, window_secs = 60 }
session_api_per_address = { limit = 0, window_secs = 60 }
admin_api_per_key = { limit = 0, window_secs = 60 }
admin_api_per_address = { limit = 0, window_secs = 60 }
TOML
mkdir -p "$work/site/pkg"

# start_server sqlite|postgres: a fresh database with one user, an API key and an app; sets
# base, key, app_key, app_secret, data and server_pid.
start_server() {
  local backend=$1
  starts=$((starts + 1))
  data="$work/$backend-$starts"
  mkdir -p "$data"
  local db_args=()
  if [ "$backend" = postgres ]; then
    local schema="bench_$$_$RANDOM"
    psql "$pg_url" -qc "CREATE SCHEMA \"$schema\"" >/dev/null
    schemas+=("$schema")
    local sep='?'; case "$pg_url" in *\?*) sep='&';; esac
    db_args=(--database-url "${pg_url}${sep}options=-c%20search_path%3D${schema}")
  fi
  local cli=("$SERVER_BIN" --config "$work/bench.toml" --data-dir "$data" "${db_args[@]}")
  export RUST_LOG=warn
  # Several users: attempts are reserved before a password is checked, so one user with more
  # password checks in flight than the lockout limit (5) would be refused, as it should be.
  for i in $(seq 0 $((users - 1))); do
    printf '%s' "$password" | "${cli[@]}" user add --login-name "bench$i" --password-stdin --json >/dev/null
  done
  key=$("${cli[@]}" apikey add --name bench --scope session --json | jq -r .key)
  local app
  app=$("${cli[@]}" app add --name Bench --redirect-uri http://localhost/cb --json)
  app_key=$(jq -r .app_key <<<"$app")
  app_secret=$(jq -r .app_secret <<<"$app")
  "${cli[@]}" serve --listen 127.0.0.1:0 --no-demo --site-root "$work/site" \
    > "$data/stdout" 2> "$data/stderr" &
  server_pid=$!
  for _ in $(seq 1 100); do
    base=$(sed -n 's/^Vestibule is listening on \(http:[^ ]*\).*/\1/p' "$data/stdout")
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] || { cat "$data/stderr" >&2; echo "bench: the server did not start" >&2; exit 1; }
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# wal_watch: records the largest WAL size seen (bytes) into $data/wal_max until stopped.
wal_watch() {
  local file="$data/vestibule.db-wal" max=0 size
  while true; do
    size=$(stat -c %s "$file" 2>/dev/null || echo 0)
    [ "$size" -gt "$max" ] && max=$size && echo "$max" > "$data/wal_max"
    sleep 0.2
  done
}

# one_run PATH SECONDS [BODY] [AUTH] [CONNECTIONS]: one wrk run; prints its RESULT fields.
one_run() {
  local path=$1 seconds=$2 body=${3:-} auth=${4:-} c=${5:-$conns}
  BENCH_BODY="$body" BENCH_AUTH="$auth" BENCH_USERS="$users" wrk -t2 -c"$c" -d"${seconds}s" --timeout 10s \
    -s "$lua" "$base$path" | sed -n 's/^RESULT //p'
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }

# row LABEL PATH [BODY] [AUTH] [CONNECTIONS]: `rounds` runs, medians of each figure.
row() {
  local label=$1; shift
  local results="$work/results"
  : > "$results"
  for _ in $(seq 1 "$rounds"); do one_run "$1" "$secs" "${2:-}" "${3:-}" "${4:-}" >> "$results"; done
  printf '| %-46s | %8s | %-15s | %6s | %7s | %7s | %6s |\n' "$label" \
    "$(cut -d' ' -f1 "$results" | median)" "$(cut -d' ' -f1 "$results" | range)" \
    "$(cut -d' ' -f2 "$results" | median)" "$(cut -d' ' -f3 "$results" | median)" \
    "$(cut -d' ' -f4 "$results" | median)" "$(awk '{ s += $5 } END { print s + 0 }' "$results")"
}

header() {
  printf '| %-46s | %8s | %-15s | %6s | %7s | %7s | %6s |\n' "$1" "req/s" "[min–max]" "p50 ms" "p99 ms" "p99.9 ms" "errors"
  printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' $(seq 48))" "---------:" "-----------------" "-------:" "--------:" "---------:" "-------:"
}

# %USER% becomes bench0 … bench15, round robin (scripts/bench/request.lua).
user_check='{"checks":{"user":{"loginName":"%USER%"}}}'
user_password="{\"checks\":{\"user\":{\"loginName\":\"%USER%\"},\"password\":{\"password\":\"$password\"}}}"

handoff_rows() {
  local generate="{\"app_key\":\"$app_key\",\"app_secret\":\"$app_secret\"}"
  local sid
  sid=$(curl -sf -X POST "$base/session/generate/" -H 'Content-Type: application/json' -d "$generate" | jq -r .session_id)
  row "$1 POST /session/validate/ (pending)" /session/validate/ "{\"session_id\":\"$sid\"}"
  row "$1 POST /session/generate/" /session/generate/ "$generate"
}

table() {
  echo "Vestibule HTTP bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load at start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "server: $SERVER_BIN; wrk -t2 -c$conns, $rounds rounds of ${secs}s per row (median [min–max] of req/s; medians of the percentiles)"
  echo "argon2id m=19456 KiB t=2 p=1; rate limits off"
  echo
  header "row"
  start_server sqlite
  row "GET /healthz (HTTP floor)" /healthz
  handoff_rows "sqlite"
  wal_watch & local watcher=$!
  row "sqlite POST /v2/sessions user check" /v2/sessions "$user_check" "$key"
  row "sqlite POST /v2/sessions user + password" /v2/sessions "$user_password" "$key"
  kill "$watcher"; wait "$watcher" 2>/dev/null || true
  local wal_rows; wal_rows=$(cat "$data/wal_max" 2>/dev/null || echo 0)
  stop_server
  # The sustained runs: one fresh server per WAL checkpoint mode, creates for `wal_secs`.
  local sustained=()
  for wal_mode in ${BENCH_WAL_MODES:-truncate passive}; do
    VESTIBULE_WAL_CHECKPOINT=$wal_mode start_server sqlite
    echo 0 > "$data/wal_max"
    wal_watch & watcher=$!
    local r; r=$(one_run /v2/sessions "$wal_secs" "$user_check" "$key")
    kill "$watcher"; wait "$watcher" 2>/dev/null || true
    local wal_max; wal_max=$(cat "$data/wal_max" 2>/dev/null || echo 0)
    local wal_end; wal_end=$(stat -c %s "$data/vestibule.db-wal" 2>/dev/null || echo 0)
    local db_size; db_size=$(stat -c %s "$data/vestibule.db")
    sustained+=("$wal_mode $r $wal_max $wal_end $db_size")
    stop_server
  done
  if [ -n "$pg_url" ]; then
    start_server postgres
    handoff_rows "postgres"
    row "postgres POST /v2/sessions user check" /v2/sessions "$user_check" "$key"
    row "postgres POST /v2/sessions user + password" /v2/sessions "$user_password" "$key"
    stop_server
  fi
  local raw=()
  for _ in $(seq 1 "$rounds"); do
    raw+=("$("$argon2_rate" 2 "$secs" | sed -n 's/.*verifications_per_s=//p')")
  done
  printf '| %-46s | %8s | %-15s | %6s | %7s | %7s | %6s |\n' "raw argon2id verify, 2 threads (no HTTP)" \
    "$(printf '%s\n' "${raw[@]}" | median)" "$(printf '%s\n' "${raw[@]}" | range)" "" "" "" ""
  echo
  echo "SQLite WAL largest seen during the rows above: $(( wal_rows / 1048576 )) MiB (sampled every 0.2 s)"
  echo "Sustained user-check creates on SQLite, ${wal_secs}s each, a fresh server per WAL checkpoint mode (VESTIBULE_WAL_CHECKPOINT):"
  for line in "${sustained[@]}"; do
    read -r m rate p50 p99 p999 err n wal_max wal_end db_size <<<"$line"
    echo "  $m: $rate req/s, p50 $p50 ms, p99 $p99 ms, p99.9 $p999 ms, $err errors of $n; WAL largest $(( wal_max / 1048576 )) MiB, at the end $(( wal_end / 1048576 )) MiB; database $(( db_size / 1048576 )) MiB"
  done
  echo "load at end $(cut -d' ' -f1-3 /proc/loadavg)"
}

soak() {
  start_server sqlite
  local peak
  peak=$(one_run /v2/sessions "$secs" "$user_check" "$key" | cut -d' ' -f1)
  local target; target=$(awk -v p="$peak" 'BEGIN { printf "%d", p / 2 }')
  # wrk has no rate option: each connection pauses so that all of them together ask for about
  # `target` requests a second (slightly fewer, since each request also takes its own time).
  local pause; pause=$(awk -v t="$target" -v c="$conns" 'BEGIN { printf "%d", (c * 1000) / t }')
  echo "soak: peak $peak req/s, target about $target req/s ($conns connections, ${pause} ms pause each), $soak_minutes minutes"
  printf '| %6s | %8s | %7s | %7s | %9s | %8s | %6s |\n' minute "req/s" "p50 ms" "p99 ms" "RSS MiB" "WAL MiB" errors
  printf '|-------:|---------:|--------:|--------:|----------:|---------:|-------:|\n'
  for minute in $(seq 1 "$soak_minutes"); do
    echo 0 > "$data/wal_max"
    wal_watch & local watcher=$!
    local r
    r=$(BENCH_DELAY_MS="$pause" one_run /v2/sessions 60 "$user_check" "$key")
    kill "$watcher"; wait "$watcher" 2>/dev/null || true
    local rss; rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")
    local wal; wal=$(awk '{ printf "%.1f", $1 / 1048576 }' "$data/wal_max")
    read -r rate p50 p99 _ err _ <<<"$r"
    printf '| %6s | %8s | %7s | %7s | %9s | %8s | %6s |\n' "$minute" "$rate" "$p50" "$p99" "$rss" "$wal" "$err"
  done
  stop_server
}

case "$mode" in
  table) table ;;
  soak) soak ;;
  *) echo "usage: scripts/bench.sh [table|soak]" >&2; exit 2 ;;
esac
