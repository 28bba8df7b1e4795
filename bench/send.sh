#!/usr/bin/env bash
# Delivery benchmark (not a test): messages per second of `datenwart send` (release build)
# delivering about 10,000 queued e-mails to a local SMTP server (aiosmtpd, Debian's
# python3-aiosmtpd, storing into a Maildir), on SQLite and on PostgreSQL. Prints a Markdown
# table for BENCHMARKS.md.
#
#   bench/send.sh                                       # both backends, 6,000 bookings (~10,000 e-mails)
#   BENCH_BOOKINGS=1000 BENCH_BACKENDS=sqlite bench/send.sh
#
# Each run gets a fresh database (migrate, tenants sync, services import, slots for four
# weeks) and $bookings bookings through the JSON API of a short-lived `serve`; each booking
# queues its confirmation and the office copy as the policies say (SMS and reminders stay
# queued: they are not due or not e-mail). Then one timed `send` delivers every due e-mail to
# aiosmtpd (plain SMTP on 127.0.0.1, tests/fixtures/smtp's handler), and the Maildir is counted.
#
# PostgreSQL: a throwaway database per run on the server named by PGHOST/PGPORT/PGUSER (default
# 127.0.0.1:5432, user postgres), created with createdb and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bookings="${BENCH_BOOKINGS:-6000}"
backends="${BENCH_BACKENDS:-sqlite postgres}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
/usr/bin/python3 -c "import aiosmtpd" 2>/dev/null || { echo "bench: aiosmtpd is missing (apt-get install python3-aiosmtpd)" >&2; exit 1; }

# DATENWART_BIN=path uses that binary instead of building the release one (to try the script).
datenwart="${DATENWART_BIN:-}"
if [ -z "$datenwart" ]; then
  echo "building (release) ..." >&2
  cargo build --release --locked -q --bin datenwart
  datenwart="${CARGO_TARGET_DIR:-target}/release/datenwart"
fi

work="$(mktemp -d)"
pg_db=""
server_pid=""
smtp_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$smtp_pid" ]; then kill -TERM "$smtp_pid" 2>/dev/null || true; wait "$smtp_pid" 2>/dev/null || true; fi
  if [ -n "$pg_db" ]; then dropdb --if-exists "$pg_db" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

prepare() {
  local url="$1"
  local dw=("$datenwart" --database-url "$url" -q)
  "${dw[@]}" migrate >/dev/null
  "${dw[@]}" tenants sync >/dev/null
  for t in recklinghausen oer-erkenschwick westendorf; do
    "${dw[@]}" services import --tenant "$t" tests/fixtures/services.csv >/dev/null
    "${dw[@]}" slots generate --tenant "$t" --service PA \
      --from "$(date -u -d '+1 day' +%F)" --to "$(date -u -d '+28 days' +%F)" \
      --weekdays mon-fri --times 08:00-12:00,13:00-16:00 --every 20m --capacity 10 >/dev/null
  done
  "$datenwart" --database-url "$url" -q serve --listen 127.0.0.1:0 --rate-limit 0 --allow-unconfirmed \
    >"$work/serve.out" 2>"$work/serve.err" &
  server_pid=$!
  local base=""
  for _ in $(seq 1 100); do
    base="$(sed -n 's/^listening on //p' "$work/serve.out" 2>/dev/null | head -n 1)"
    if [ -n "$base" ]; then break; fi
    sleep 0.1
  done
  if [ -z "$base" ]; then echo "bench: serve did not start" >&2; cat "$work/serve.err" >&2; exit 1; fi
  python3 - "$base" "$bookings" <<'PY'
import json, random, sys, urllib.request
base, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
first = ["Anna", "Jonas", "Lea", "Mehmet", "Sofia", "Lukas", "Marie", "Paul", "Emma", "Ben"]
last = ["Müller", "Schmidt", "Yılmaz", "Nowak", "Becker", "Hoffmann", "Schäfer", "Koch"]
tenants = ["recklinghausen", "oer-erkenschwick", "westendorf"]
free = {}
for t in tenants:
    with urllib.request.urlopen(f"{base}/api/v1/tenants/{t}/slots?service=PA") as r:
        free[t] = [s["id"] for s in json.load(r) for _ in range(s["free"])]
for i in range(n):
    t = tenants[i % 3]
    f, l = rng.choice(first), rng.choice(last)
    form = {"slot_id": free[t].pop(rng.randrange(len(free[t]))), "first_name": f, "last_name": l,
            "email": f"{f.lower()}.{i}@example.org", "phone": f"0171 {1000000 + i}",
            "consent": True, "sms_reminder": False}
    req = urllib.request.Request(f"{base}/api/v1/tenants/{t}/bookings", data=json.dumps(form).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
PY
  kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

# E-mails that are due now (the ones one `send` delivers).
due_sql="select count(*) from notifications where channel = 'email' and status = 'queued'
  and (send_after is null or send_after <= '$(date -u +%FT%TZ)')"

count() {
  local backend="$1" url="$2" sql="$3"
  if [ "$backend" = sqlite ]; then
    python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "${url#sqlite://}" "$sql"
  else
    psql -d "$pg_db" -q -At -c "$sql"
  fi
}

echo "| backend | bookings | e-mails due | send | messages/s | arrived at the SMTP server |"
echo "|---|---:|---:|---:|---:|---:|"
for backend in $backends; do
  case "$backend" in
    sqlite) url="sqlite://$work/bench.db" ;;
    postgres)
      pg_db="dw_bench_send_$$"
      createdb "$pg_db"
      url="postgres://$PGUSER@$PGHOST:$PGPORT/$pg_db"
      ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  echo "$backend: preparing the database ($bookings bookings) ..." >&2
  prepare "$url"
  due="$(count "$backend" "$url" "$due_sql")"

  maildir="$work/maildir-$backend"
  port="$(free_port)"
  PYTHONPATH=tests/fixtures/smtp /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$port" \
    -c datenwart_test_smtp.Handler "$maildir" 2>"$work/smtp.err" &
  smtp_pid=$!
  for _ in $(seq 1 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; then break; fi
    sleep 0.1
  done

  echo "$backend: sending $due e-mails ..." >&2
  start="$(now)"
  ${BENCH_TIME:+/usr/bin/time -v -o "$work/send.time"} "$datenwart" --database-url "$url" -q send --smtp-url "smtp://127.0.0.1:$port?tls=none" \
    --public-url https://termine.example.de >"$work/send.txt"
  took="$(echo "$(now) - $start" | bc -l)"
  arrived="$(find "$maildir/new" "$maildir/cur" -type f 2>/dev/null | wc -l)"
  if [ -n "${BENCH_TIME:-}" ]; then
    grep -E "User time|System time|Percent of CPU|Maximum resident" "$work/send.time" | sed 's/^/  send: /' >&2
    ps -o cputime= -p "$smtp_pid" | sed 's/^/  SMTP server cpu time: /' >&2
  fi
  kill -TERM "$smtp_pid"; wait "$smtp_pid" 2>/dev/null || true; smtp_pid=""

  printf '| %s | %d | %d | %.1f s | %.0f | %d |\n' \
    "$backend" "$bookings" "$due" "$took" "$(echo "$arrived / $took" | bc -l)" "$arrived"

  if [ "$backend" = postgres ]; then dropdb "$pg_db"; pg_db=""; else rm -f "$work"/bench.db*; fi
done
