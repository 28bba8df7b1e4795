#!/usr/bin/env bash
# IMAP intake benchmark (not a test): messages per second of `datenwart withdrawals import
# --imap` (release build) for a mailbox of 10,000 messages on a private local Dovecot, on
# SQLite and on PostgreSQL. Prints a Markdown table for BENCHMARKS.md.
#
#   bench/imap.sh                                      # both backends, 10,000 messages
#   BENCH_MESSAGES=2000 BENCH_BACKENDS=sqlite bench/imap.sh
#   BENCH_TLS=1 bench/imap.sh                          # over imaps:// (a CA made here)
#
# Each run gets a fresh database with `datenwart demo --bookings 2000`, an mbox written by
# bench/withdrawals_mbox.py (the same mix as bench/withdrawals.sh: withdrawals and requests from
# the people of that database, questions, mail to other addresses, duplicates), stored as a
# Maildir for a Dovecot started from a config in a temporary folder (127.0.0.1, a free port,
# nothing of the system's configuration used). The import is timed with the default batch (100)
# and move mode; then a second, timed run finds nothing new. Needs dovecot-imapd and python3.
#
# PostgreSQL: a throwaway database per run on the server named by PGHOST/PGPORT/PGUSER (default
# 127.0.0.1:5432, user postgres), created with createdb and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

messages="${BENCH_MESSAGES:-10000}"
bookings="${BENCH_BOOKINGS:-2000}"
backends="${BENCH_BACKENDS:-sqlite postgres}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
dovecot=/usr/sbin/dovecot
[ -x "$dovecot" ] || { echo "bench: dovecot is not installed (apt-get install dovecot-imapd)" >&2; exit 1; }

# DATENWART_BIN=path uses that binary instead of building the release one (to try the script).
datenwart="${DATENWART_BIN:-}"
if [ -z "$datenwart" ]; then
  echo "building (release) ..." >&2
  cargo build --release --locked -q --bin datenwart
  datenwart="${CARGO_TARGET_DIR:-target}/release/datenwart"
fi

work="$(mktemp -d)"
chmod 755 "$work"
pg_db=""
dovecot_pid=""
cleanup() {
  if [ -n "$dovecot_pid" ]; then kill -TERM "$dovecot_pid" 2>/dev/null || true; wait "$dovecot_pid" 2>/dev/null || true; fi
  if [ -n "$pg_db" ]; then dropdb --if-exists "$pg_db" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Dovecot never accesses mail as root: as root the mailbox belongs to nobody.
if [ "$(id -u)" = 0 ]; then mail_uid=65534; mail_gid=65534; own_users=""; else
  mail_uid="$(id -u)"; mail_gid="$(id -g)"
  own_users="default_internal_user = $(id -un)
default_login_user = $(id -un)
default_internal_group = $(id -gn)"
fi
password="bench-$$-$RANDOM"
printf '%s\n' "$password" >"$work/password"
chmod 600 "$work/password"

# A CA and a server certificate for 127.0.0.1 (for BENCH_TLS=1).
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=bench CA" \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$work/ext"
openssl x509 -req -in "$work/cert.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 1 -extfile "$work/ext" -out "$work/cert.pem" 2>/dev/null

start_dovecot() {
  local home="$1"
  port="$(free_port)"; tls_port="$(free_port)"
  printf 'office:{PLAIN}%s:%s:%s::%s\n' "$password" "$mail_uid" "$mail_gid" "$home" >"$work/users"
  cat >"$work/dovecot.conf" <<EOF
base_dir = $work/run
state_dir = $work/state
log_path = $work/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <$work/cert.pem
ssl_key = <$work/key.pem
disable_plaintext_auth = no
first_valid_uid = 1
mail_location = maildir:~/Maildir
$own_users
passdb {
  driver = passwd-file
  args = $work/users
}
userdb {
  driver = passwd-file
  args = $work/users
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $tls_port
    ssl = yes
  }
}
service anvil {
  chroot =
}
EOF
  "$dovecot" -F -c "$work/dovecot.conf" &
  dovecot_pid=$!
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; then return; fi
    sleep 0.1
  done
  echo "bench: dovecot did not start" >&2; cat "$work/dovecot.log" >&2; exit 1
}

stop_dovecot() {
  kill -TERM "$dovecot_pid"; wait "$dovecot_pid" 2>/dev/null || true; dovecot_pid=""
}

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

echo "| backend | messages | mailbox | transport | import | messages/s | filed away / left | again (nothing new) | outcomes |"
echo "|---|---:|---:|---|---:|---:|---:|---:|---|"
for backend in $backends; do
  case "$backend" in
    sqlite) url="sqlite://$work/bench.db" ;;
    postgres)
      pg_db="dw_bench_imap_$$"
      createdb "$pg_db"
      url="postgres://$PGUSER@$PGHOST:$PGPORT/$pg_db"
      # PostgreSQL has no default erasure ledger; the mailbox holds erasure requests.
      export DATENWART_LEDGER="$work/bench.ledger"
      ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  echo "$backend: preparing the database ($bookings bookings) ..." >&2
  "$datenwart" --database-url "$url" -q demo --bookings "$bookings" >/dev/null
  people "$backend" "$url" "$work/people.csv"
  python3 bench/withdrawals_mbox.py --people "$work/people.csv" --count "$messages" --out "$work/bench.mbox"

  echo "$backend: filling the IMAP mailbox ($messages messages) ..." >&2
  home="$work/home-$backend"
  python3 - "$work/bench.mbox" "$home/Maildir" <<'PY'
import mailbox, os, sys
src, dst = sys.argv[1], sys.argv[2]
for sub in ("new", "cur", "tmp"):
    os.makedirs(os.path.join(dst, sub), exist_ok=True)
n = 0
for message in mailbox.mbox(src):
    n += 1
    raw = message.as_bytes(unixfrom=False)
    with open(os.path.join(dst, "new", f"{1700000000 + n}.M{n}P1.bench"), "wb") as f:
        f.write(raw)
PY
  size="$(du -sm "$home/Maildir" | cut -f1)"
  chown -R "$mail_uid:$mail_gid" "$home"
  start_dovecot "$home"

  if [ -n "${BENCH_TLS:-}" ]; then
    imap_url="imaps://office@127.0.0.1:$tls_port/INBOX"; transport="imaps"; ca=(--imap-ca-file "$work/ca.pem")
  else
    imap_url="imap://office@127.0.0.1:$port/INBOX?tls=none"; transport="plain"; ca=()
  fi
  echo "$backend: importing over IMAP ..." >&2
  rm -rf "$work/outbox"
  start="$(now)"
  "$datenwart" --database-url "$url" withdrawals import --imap "$imap_url" "${ca[@]}" \
    --imap-password-file "$work/password" --outbox "$work/outbox" >"$work/import.txt"
  first="$(echo "$(now) - $start" | bc -l)"
  outcomes="$(grep ' message(s); ' "$work/import.txt" | sed 's/^[0-9]* message(s); //')"
  filed="$(sed -n 's/^IMAP: \([0-9]*\) message(s) filed away, \([0-9]*\) left.*/\1 \/ \2/p' "$work/import.txt")"
  start="$(now)"
  "$datenwart" --database-url "$url" withdrawals import --imap "$imap_url" "${ca[@]}" \
    --imap-password-file "$work/password" --outbox "$work/outbox" >"$work/again.txt"
  again="$(echo "$(now) - $start" | bc -l)"
  grep -q '^0 message(s)' "$work/again.txt" || { echo "bench: the second run found messages" >&2; tail -n 3 "$work/again.txt" >&2; exit 1; }

  printf '| %s | %d | %d MB | %s | %.1f s | %.0f | %s | %.2f s | %s |\n' \
    "$backend" "$messages" "$size" "$transport" "$first" "$(echo "$messages / $first" | bc -l)" \
    "$filed" "$again" "$outcomes"

  stop_dovecot
  if [ "$backend" = postgres ]; then dropdb "$pg_db"; pg_db=""; else rm -f "$work"/bench.db*; fi
done
