#!/usr/bin/env bash
# Booking benchmark (not a test): bookings per second and latency of `datenwart serve` (release
# build) with 1, 8 and 32 concurrent clients, on SQLite and on PostgreSQL. Prints a Markdown table
# for BENCHMARKS.md. All traffic goes to 127.0.0.1; every run is bounded in count and time.
#
#   bench/booking.sh                                  # both backends, 10000 bookings per run
#   BENCH_BOOKINGS=2000 BENCH_CLIENTS="1 8" BENCH_BACKENDS=sqlite bench/booking.sh
#   BENCH_SERVERS="1 2" BENCH_CLIENTS=8 BENCH_BACKENDS=postgres bench/booking.sh
#
# BENCH_SERVERS (default 1) runs that many `serve` processes on one database side by side; the
# clients take turns between them (a hosted installation behind a load balancer). Give several
# values to compare in one run.
#
# PostgreSQL: a throwaway database per run on the server named by PGHOST/PGPORT/PGUSER
# (default 127.0.0.1:5432, user postgres), created with createdb and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bookings="${BENCH_BOOKINGS:-10000}"
clients="${BENCH_CLIENTS:-1 8 32}"
servers="${BENCH_SERVERS:-1}"
backends="${BENCH_BACKENDS:-sqlite postgres}"
max_seconds="${BENCH_MAX_SECONDS:-300}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"

echo "building (release) ..." >&2
cargo build --release --locked -q --bin datenwart --example booking_load
target="${CARGO_TARGET_DIR:-target}/release"
# DATENWART_BIN=path times that binary (an older build, for an A/B) instead of the one built.
datenwart="${DATENWART_BIN:-$target/datenwart}"
load="$target/examples/booking_load"

work="$(mktemp -d)"
server_pids=()
pg_db=""
cleanup() {
  for pid in "${server_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_db" ]; then dropdb --if-exists "$pg_db" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Slots for the next 27 days, 08:00-18:00 every 20 minutes, 50 places each: the endpoint lists
# at most 500 free slots, so 25,000 bookings fit in one run.
prepare() {
  local url="$1"
  local dw=("$datenwart" --database-url "$url" -q)
  "${dw[@]}" migrate >/dev/null
  "${dw[@]}" tenants sync >/dev/null
  "${dw[@]}" services import --tenant recklinghausen tests/fixtures/services.csv >/dev/null
  "${dw[@]}" slots generate --tenant recklinghausen --service PA \
    --from "$(date -u -d '+1 day' +%F)" --to "$(date -u -d '+27 days' +%F)" \
    --weekdays mon-sun --include-holidays --times 08:00-18:00 --every 20m --capacity 50 >/dev/null
}

# Starts $2 `serve` processes on the database; sets server_pids and urls (--url arguments).
start_servers() {
  local url="$1" n="$2" i base
  urls=()
  for i in $(seq 1 "$n"); do
    "$datenwart" --database-url "$url" -q serve --listen 127.0.0.1:0 --rate-limit 0 \
      >"$work/serve-$i.out" 2>"$work/serve-$i.err" &
    server_pids+=("$!")
    base=""
    for _ in $(seq 1 100); do
      base="$(sed -n 's/^listening on //p' "$work/serve-$i.out" 2>/dev/null | head -n 1)"
      if [ -n "$base" ]; then break; fi
      sleep 0.1
    done
    if [ -z "$base" ]; then
      echo "bench: serve did not start:" >&2
      cat "$work/serve-$i.err" >&2
      exit 1
    fi
    urls+=(--url "$base")
  done
}

stop_servers() {
  for pid in "${server_pids[@]}"; do kill -TERM "$pid"; wait "$pid" || true; done
  server_pids=()
}

# Bookings in the database, to check the client's count against.
stored() {
  local backend="$1" target="$2" sql="select count(*) from bookings where status = 'booked'"
  case "$backend" in
    sqlite) if command -v sqlite3 >/dev/null; then sqlite3 "$target" "$sql"; else echo "?"; fi ;;
    postgres) psql -X -A -t -q -d "$target" -c "$sql" ;;
  esac
}

cpu="$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
echo "datenwart $(git rev-parse --short HEAD 2>/dev/null || echo '?') · $(nproc) cores ($cpu) · $bookings bookings per run after 100 warm-up" >&2
# Other work on the machine skews every figure; say so rather than print a quiet-looking table.
load_avg="$(cut -d ' ' -f 1 /proc/loadavg)"
if awk -v l="$load_avg" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  echo "bench: warning: load average $load_avg on $(nproc) cores before the runs; the figures will be low" >&2
fi
echo
echo "| backend | clients | bookings | seconds | bookings/s | p50 ms | p99 ms | failed |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for backend in $backends; do
  for n in $servers; do
  for c in $clients; do
    label="$backend"
    if [ "$n" != 1 ]; then label="$backend, $n serve processes"; fi
    case "$backend" in
      sqlite)
        file="$work/bench-$n-$c.db"
        url="sqlite://$file"
        check="$file"
        ;;
      postgres)
        pg_db="dw_bench_$$_${n}_$c"
        createdb "$pg_db"
        url="postgres://$PGUSER@$PGHOST:$PGPORT/$pg_db"
        check="$pg_db"
        ;;
      *) echo "bench: unknown backend $backend (sqlite, postgres)" >&2; exit 2 ;;
    esac
    prepare "$url"
    start_servers "$url" "$n"
    row="$("$load" "${urls[@]}" --bookings "$bookings" --warmup 100 --clients "$c" \
      --max-seconds "$max_seconds" --label "$label")"
    stop_servers
    echo "$row"
    # The database must hold exactly what the client counted (measured + 100 warm-up).
    counted=$(( $(echo "$row" | awk -F '|' '{ gsub(/ /, "", $4); print $4 }') + 100 ))
    in_db="$(stored "$backend" "$check")"
    echo "  stored bookings: $in_db, counted $counted; load average now $(cut -d ' ' -f 1-3 /proc/loadavg)" >&2
    if [ "$in_db" != "?" ] && [ "$in_db" != "$counted" ]; then
      echo "bench: the database holds $in_db bookings, the client counted $counted" >&2
      exit 1
    fi
    if [ "$backend" = postgres ]; then dropdb "$pg_db"; pg_db=""; fi
  done
  done
done
