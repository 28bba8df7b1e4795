#!/usr/bin/env bash
# Mailbox intake benchmark (not a test): messages per second of `datenwart withdrawals import
# --mbox` (release build) for a 10,000-message mbox, on SQLite and on PostgreSQL. Prints a
# Markdown table for BENCHMARKS.md.
#
#   bench/withdrawals.sh                                       # both backends, 10,000 messages
#   BENCH_MESSAGES=2000 BENCH_BACKENDS=sqlite bench/withdrawals.sh
#   BENCH_BY_HAND=1 ...                                        # build the database without `demo`
#   DATENWART_BIN=/tmp/old/datenwart bench/withdrawals.sh      # time another build (an A/B)
#
# Each run gets a fresh database with `datenwart demo --bookings 2000` (or, where `demo` is not
# there, migrate / tenants sync / services import / slots generate and bookings through the
# API), an mbox written by bench/withdrawals_mbox.py whose withdrawals and requests come from
# the people of that database, and a timed import into a fresh outbox. Then the same mbox is
# imported again (every message a duplicate), also timed.
#
# PostgreSQL: a throwaway database per run on the server named by PGHOST/PGPORT/PGUSER (default
# 127.0.0.1:5432, user postgres), created with createdb and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

messages="${BENCH_MESSAGES:-10000}"
bookings="${BENCH_BOOKINGS:-2000}"
backends="${BENCH_BACKENDS:-sqlite postgres}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"

# DATENWART_BIN=path times that binary (an older build, for an A/B) instead of the one built.
if [ -z "${DATENWART_BIN:-}" ]; then
  echo "building (release) ..." >&2
  cargo build --release --locked -q --bin datenwart
fi
datenwart="${DATENWART_BIN:-${CARGO_TARGET_DIR:-target}/release/datenwart}"

work="$(mktemp -d)"
pg_db=""
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$pg_db" ]; then dropdb --if-exists "$pg_db" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }

# Without `demo`: the tenants, their services, slots for the next four weeks and $bookings
# bookings through the JSON API of a short-lived `serve`.
prepare_by_hand() {
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
  "$datenwart" --database-url "$url" -q serve --listen 127.0.0.1:0 --rate-limit 0 \
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
tenants = ["recklinghausen"] * 6 + ["oer-erkenschwick"] * 3 + ["westendorf"]
free = {}
for t in set(tenants):
    with urllib.request.urlopen(f"{base}/api/v1/tenants/{t}/slots?service=PA") as r:
        free[t] = [s["id"] for s in json.load(r) for _ in range(s["free"])]
for i in range(n):
    t = rng.choice(tenants)
    f, l = rng.choice(first), rng.choice(last)
    form = {"slot_id": free[t].pop(rng.randrange(len(free[t]))), "first_name": f, "last_name": l,
            "email": f"{f.lower()}.{i}@example.org", "phone": f"0171 {1000000 + i}",
            "consent": True, "sms_reminder": t != "recklinghausen" and rng.random() < 0.4}
    req = urllib.request.Request(f"{base}/api/v1/tenants/{t}/bookings", data=json.dumps(form).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
PY
  kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

prepare() {
  local url="$1"
  if [ -z "${BENCH_BY_HAND:-}" ] && "$datenwart" --help | grep -q '^  demo '; then
    "$datenwart" --database-url "$url" -q demo --bookings "$bookings" >/dev/null
  else
    prepare_by_hand "$url"
  fi
}

# tenant,email,first_name,last_name of everyone who booked.
people_sql="select t.slug, lower(b.email), min(b.first_name), min(b.last_name) from bookings b
  join tenants t on t.id = b.tenant_id where b.email is not null group by t.slug, lower(b.email) order by 1, 2"

people() {
  local backend="$1" url="$2" out="$3"
  if [ "$backend" = sqlite ]; then
    python3 - "${url#sqlite://}" "$people_sql" "$out" <<'PY'
import csv, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchall()
with open(sys.argv[3], "w", newline="", encoding="utf-8") as f:
    csv.writer(f, lineterminator="\n").writerows(rows)
PY
  else
    psql -d "$pg_db" -q -At -F, -c "$people_sql" >"$out"
  fi
}

echo "| backend | messages | mbox | import | messages/s | again (all duplicate) | messages/s | outcomes |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for backend in $backends; do
  case "$backend" in
    sqlite) url="sqlite://$work/bench.db" ;;
    postgres)
      pg_db="dw_bench_withdrawals_$$"
      createdb "$pg_db"
      url="postgres://$PGUSER@$PGHOST:$PGPORT/$pg_db"
      # PostgreSQL has no default erasure ledger; the mailbox holds erasure requests.
      export DATENWART_LEDGER="$work/bench.ledger"
      ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  echo "$backend: preparing the database ($bookings bookings) ..." >&2
  prepare "$url"
  people "$backend" "$url" "$work/people.csv"
  python3 bench/withdrawals_mbox.py --people "$work/people.csv" --count "$messages" --out "$work/bench.mbox"
  size="$(du -m "$work/bench.mbox" | cut -f1)"

  echo "$backend: importing ..." >&2
  rm -rf "$work/outbox"
  start="$(now)"
  "$datenwart" --database-url "$url" withdrawals import --mbox "$work/bench.mbox" --outbox "$work/outbox" >"$work/import.txt"
  first="$(echo "$(now) - $start" | bc -l)"
  outcomes="$(tail -n 1 "$work/import.txt" | sed 's/^[0-9]* message(s); //')"
  start="$(now)"
  "$datenwart" --database-url "$url" withdrawals import --mbox "$work/bench.mbox" --outbox "$work/outbox" >"$work/again.txt"
  again="$(echo "$(now) - $start" | bc -l)"
  grep -q "; duplicate: $messages\$" "$work/again.txt" || { echo "bench: the second run was not all duplicates" >&2; tail -n 1 "$work/again.txt" >&2; exit 1; }

  printf '| %s | %d | %d MB | %.1f s | %.0f | %.1f s | %.0f | %s |\n' \
    "$backend" "$messages" "$size" "$first" "$(echo "$messages / $first" | bc -l)" \
    "$again" "$(echo "$messages / $again" | bc -l)" "$outcomes"

  if [ "$backend" = postgres ]; then dropdb "$pg_db"; pg_db=""; else rm -f "$work"/bench.db*; fi
done
