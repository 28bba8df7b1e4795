#!/usr/bin/env bash
# Times `export` and `erase` of one person in a big `demo` database, on SQLite or PostgreSQL,
# and shows that the lookups use indexes (query plans), not table scans.
#
#   bench/rights.sh sqlite:///tmp/big.db                 # an existing demo database
#   bench/rights.sh postgres://postgres@127.0.0.1/big
#   BOOKINGS=1000000 bench/rights.sh sqlite:///tmp/new.db   # build it first with demo
#
# It erases one real person of the database: run it on a copy. To compare binaries over many
# people in turns, see bench/rights_ab.py.
set -euo pipefail
cd "$(dirname "$0")/.."
url="${1:?usage: bench/rights.sh DATABASE_URL}"
# DATENWART_BIN=path uses that binary instead of building the release one.
bin="${DATENWART_BIN:-${CARGO_TARGET_DIR:-target}/release/datenwart}"
# PostgreSQL has no default erasure ledger: a throwaway one unless the caller set one.
case "$url" in postgres*) export DATENWART_LEDGER="${DATENWART_LEDGER:-$(mktemp -d)/bench.ledger}" ;; esac
if [ -z "${DATENWART_BIN:-}" ]; then cargo build --release --quiet; fi
if [ -n "${BOOKINGS:-}" ]; then
  "$bin" --database-url "$url" -q demo --bookings "$BOOKINGS" >/dev/null
fi

# A person with bookings at two tenants (demo makes some), else any person.
pick_sql="select email from bookings where email is not null group by email
          having count(distinct tenant_id) > 1 order by email limit 1"
any_sql="select email from bookings where email is not null order by id limit 1"
case "$url" in
  sqlite:*)
    file="${url#sqlite://}"
    email=$(python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); r=c.execute(sys.argv[2]).fetchone() or c.execute(sys.argv[3]).fetchone(); print(r[0])" "$file" "$pick_sql" "$any_sql")
    plan() { python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); [print('   ', r[3]) for r in c.execute('explain query plan ' + sys.argv[2])]" "$file" "$1"; }
    ;;
  postgres*)
    email=$(psql "$url" -Atc "$pick_sql"); [ -n "$email" ] || email=$(psql "$url" -Atc "$any_sql")
    plan() { psql "$url" -Atc "explain $1" | sed 's/^/    /'; }
    ;;
esac
bookings=$("$bin" --database-url "$url" --format csv tenants list | awk -F, 'NR>1 {s+=$5} END {print s}')
echo "database: $bookings bookings; the person: one with bookings at two tenants where there is one"

echo "query plans (the person is found by index):"
ref_sql="select id from bookings where subject_ref = 'x' and tenant_id = 1"
plan "$ref_sql"
plan "select id from consents where subject_ref = 'x' and tenant_id = 1"
plan "select id from notifications where booking_id = 1"
plan "select id from access_log where booking_id = 1"

# A database copied just before has gigabytes not yet on disk, and the erasure's first
# fsync would wait for all of them: write them out first.
case "$url" in sqlite:*) sync "$file" ;; esac

out=$(mktemp -d)/auskunft
t0=$(date +%s.%N)
"$bin" --database-url "$url" -q export --email "$email" --all-tenants --identity-checked-by in_person --out "$out" >/dev/null
t1=$(date +%s.%N)
"$bin" --database-url "$url" -q erase --email "$email" --all-tenants --identity-checked-by in_person --yes >/dev/null
t2=$(date +%s.%N)
"$bin" --database-url "$url" -q hold list >/dev/null
t3=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
t0, t1, t2, t3 = map(float, sys.argv[1:])
base = t3 - t2
print(f"export: {t1 - t0:.3f} s   erase: {t2 - t1:.3f} s   (a trivial command, process start and connect: {base:.3f} s)")
PY
rm -rf "$(dirname "$out")"
