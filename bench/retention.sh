#!/usr/bin/env bash
# Retention benchmark (not a test): `datenwart retention run` on a `demo` database against the
# same work done by the fewest hand-written SQL statements on a copy of the same database, on
# SQLite and PostgreSQL. Prints a Markdown table for BENCHMARKS.md; wall time and peak memory
# come from /usr/bin/time.
#
#   bench/retention.sh                                       # 1,000,000 bookings, 4 page views each
#   BENCH_BOOKINGS=100000 BENCH_BACKENDS=sqlite bench/retention.sh
#   BENCH_SQLITE_DB=/tmp/big.db bench/retention.sh           # reuse a demo database (copied, not changed)
#   BENCH_POSTGRES_DB=dw_big bench/retention.sh              # the same on PostgreSQL (used as a template)
#   DATENWART_BIN=/tmp/old/datenwart bench/retention.sh     # time another build (an A/B)
#
# Both sides work at the same clock (`--now`), on identical copies, and must end with identical
# counts (checked). "SQL" honours holds and restrictions as the run does (a NOT EXISTS per row);
# "SQL, no holds" leaves that out and is the lower bound of what the database has to do.
# The run is timed alone, as the SQL is; a second run on a fourth copy has a writer commit a
# small transaction every 100 ms meanwhile (as bookings would) and reports its latencies.
# PostgreSQL: throwaway databases on PGHOST/PGPORT/PGUSER (default 127.0.0.1:5432, postgres),
# made with createdb and dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

bookings="${BENCH_BOOKINGS:-1000000}"
page_views="${BENCH_PAGE_VIEWS:-4}"
backends="${BENCH_BACKENDS:-sqlite postgres}"
batch_size="${BENCH_BATCH_SIZE:-}"   # empty: the program's default
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
for tool in /usr/bin/time sqlite3 psql createdb dropdb; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is needed" >&2; exit 2; }
done

echo "building (release) ..." >&2
cargo build --release --locked -q --bin datenwart
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$(pwd)/$target_dir" ;; esac
# DATENWART_BIN=path times that binary (an older build, for an A/B) instead of the one built.
datenwart="${DATENWART_BIN:-$target_dir/release/datenwart}"
policies="$(pwd)/policies"

work="$(mktemp -d "${BENCH_WORK_DIR:-/tmp}/dw-retention-bench.XXXXXX")"
pg_dbs=()
cleanup() {
  for db in "${pg_dbs[@]}"; do dropdb --if-exists "$db" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The clock of every run: now, whole seconds.
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
at() { date -u -d "$now $1" +%Y-%m-%dT%H:%M:%S+00:00; }

# The shipped policies' rules as SQL, at `$now`: one statement per kind of data, the tenants'
# periods folded into each. With $2 = holds, every statement keeps rows on hold or restricted.
baseline_sql() {
  local backend="$1" holds="$2"
  local r="(select id from tenants where slug = 'recklinghausen')"
  local h48 d7 d30 d90 w156 t cast=""
  [ "$backend" = postgres ] && cast="::timestamptz"
  h48="'$(at '-48 hours')'$cast" d7="'$(at '-7 days')'$cast" d30="'$(at '-30 days')'$cast"
  d90="'$(at '-90 days')'$cast" w156="'$(at '-156 weeks')'$cast" t="'$(at '')'$cast"
  held() { # $1 table, $2 subject expression, $3 booking expression (or empty)
    [ "$holds" = holds ] || { echo "1 = 1"; return; }
    local s="not exists (select 1 from holds h where h.tenant_id = $1.tenant_id and h.subject_ref = $2
        and h.removed_at is null and (h.until_on is null or h.until_on >= '${now%%T*}'))
      and not exists (select 1 from restrictions x where x.subject_ref = $2
        and (x.tenant_id is null or x.tenant_id = $1.tenant_id) and x.lifted_at is null)"
    [ -n "$3" ] && s="$s
      and not exists (select 1 from holds k where k.booking_id = $3
        and k.removed_at is null and (k.until_on is null or k.until_on >= '${now%%T*}'))"
    echo "$s"
  }
  local via="(select b.subject_ref from bookings b where b.id = "
  if [ "$backend" = sqlite ]; then
    echo "pragma foreign_keys = on; pragma secure_delete = on; pragma busy_timeout = 30000;"
  fi
  cat <<SQL
delete from notifications where booking_id in (select bookings.id from bookings
  where anonymized_at is null
    and appointment_end <= case when tenant_id = $r then $h48 else $d30 end
    and $(held bookings bookings.subject_ref bookings.id));
update bookings set subject_ref = null, first_name = null, last_name = null, email = null,
    phone = null, address = null, birth_date = null, code_hash = null, anonymized_at = $t
  where anonymized_at is null
    and appointment_end <= case when tenant_id = $r then $h48 else $d30 end
    and $(held bookings bookings.subject_ref bookings.id);
delete from notifications
  where ((tenant_id = $r and created_at <= $h48) or (tenant_id <> $r and sent_at <= $d7))
    and $(held notifications "${via}notifications.booking_id)" notifications.booking_id);
delete from access_log
  where logged_at <= case when tenant_id is not null and tenant_id <> $r then $d7 else $h48 end
    and $(held access_log "${via}access_log.booking_id)" access_log.booking_id);
delete from consents where withdrawn_at <= $w156 and $(held consents consents.subject_ref consents.booking_id);
update inbox_messages set sender = null, subject = null, subject_ref = null, anonymized_at = $t
  where anonymized_at is null and processed_at <= $d90 and $(held inbox_messages inbox_messages.subject_ref "");
update requests set subject_ref = null, anonymized_at = $t
  where anonymized_at is null and closed_at <= $w156 and $(held requests requests.subject_ref "");
SQL
  if [ "$backend" = sqlite ]; then echo "pragma wal_checkpoint(truncate);"; fi
}

# What both sides must agree on afterwards.
FINGERPRINT="select (select count(*) from bookings where first_name is not null) || ' ' ||
  (select count(*) from bookings where anonymized_at is not null) || ' ' ||
  (select count(*) from notifications) || ' ' || (select count(*) from access_log) || ' ' ||
  (select count(*) from consents) || ' ' ||
  (select count(*) from inbox_messages where sender is not null) || ' ' ||
  (select count(*) from requests where subject_ref is not null)"

query() { # backend, target, sql
  case "$1" in
    sqlite) sqlite3 "$2" "$3" ;;
    postgres) psql -X -A -t -q -d "$2" -c "$3" ;;
  esac
}

# While a run goes on: a small write transaction every 100 ms (a lock row in and out, as a
# booking would take the write lock), each one's latency in ms to $3. Stops when $4 exists.
probe_writes() {
  local backend="$1" target="$2" out="$3" stop="$4" i=0 t0 t1
  local sql="begin; insert into job_locks (name, holder, acquired_at, expires_at)
    values ('probe', 'bench', '2000-01-01T00:00:00+00:00', '2000-01-01T00:00:00+00:00');
    delete from job_locks where name = 'probe'; commit;"
  while [ ! -e "$stop" ]; do
    t0="$(date +%s%N)"
    case "$backend" in
      # As datenwart's own connections are set up (`serve` included): checkpoints every 256 MB.
      sqlite) sqlite3 -cmd "pragma busy_timeout = 30000" -cmd "pragma wal_autocheckpoint = 65536" "$target" "$sql" >/dev/null ;;
      postgres) psql -X -q -d "$target" -c "$sql" >/dev/null ;;
    esac
    t1="$(date +%s%N)"
    echo $(( (t1 - t0) / 1000000 )) >>"$out"
    i=$((i + 1))
    sleep 0.1
  done
}

# Runs a command under /usr/bin/time; sets secs and peak_mb.
timed() {
  /usr/bin/time -o "$work/time" -f "%e %M" "$@"
  read -r secs peak_kb < "$work/time"
  peak_mb=$(( (peak_kb + 1023) / 1024 ))
}

cpu="$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
echo "datenwart $(git rev-parse --short HEAD 2>/dev/null || echo '?') · $(nproc) cores ($cpu) · clock $now · batch size ${batch_size:-default}" >&2
load="$(cut -d ' ' -f 1 /proc/loadavg)"
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  echo "bench: warning: load average $load on $(nproc) cores before the runs; the figures will be low" >&2
fi

rows=()
for backend in $backends; do
  case "$backend" in
    sqlite)
      src="${BENCH_SQLITE_DB:-}"
      if [ -z "$src" ]; then
        src="$work/demo.db"
        echo "sqlite: demo --bookings $bookings --page-views $page_views ..." >&2
        timed "$datenwart" --database-url "sqlite://$src" --policies "$policies" -q demo \
          --bookings "$bookings" --page-views "$page_views" >/dev/null
        echo "  made in $secs s" >&2
      fi
      sqlite3 "$src" "pragma wal_checkpoint(truncate)" >/dev/null
      for copy in run loaded sql plain; do cp "$src" "$work/$copy.db"; done
      # Written out before anything is timed: the first fsync would otherwise wait for them.
      sync "$work"/*.db
      run_url="sqlite://$work/run.db"; sql_target="$work/sql.db"; plain_target="$work/plain.db"
      loaded_url="sqlite://$work/loaded.db"; loaded_target="$work/loaded.db"
      ;;
    postgres)
      src="${BENCH_POSTGRES_DB:-}"
      if [ -z "$src" ]; then
        src="dw_bench_demo_$$"; pg_dbs+=("$src"); createdb "$src"
        echo "postgres: demo --bookings $bookings --page-views $page_views ..." >&2
        timed "$datenwart" --database-url "postgres://$PGUSER@$PGHOST:$PGPORT/$src" --policies "$policies" -q demo \
          --bookings "$bookings" --page-views "$page_views" >/dev/null
        echo "  made in $secs s" >&2
      fi
      for copy in run loaded sql plain; do
        pg_dbs+=("dw_bench_${copy}_$$"); createdb -T "$src" "dw_bench_${copy}_$$"
        psql -X -q -d "dw_bench_${copy}_$$" -c "vacuum analyze" >/dev/null
      done
      run_url="postgres://$PGUSER@$PGHOST:$PGPORT/dw_bench_run_$$"
      sql_target="dw_bench_sql_$$"; plain_target="dw_bench_plain_$$"
      loaded_url="postgres://$PGUSER@$PGHOST:$PGPORT/dw_bench_loaded_$$"; loaded_target="dw_bench_loaded_$$"
      ;;
    *) echo "bench: unknown backend $backend (sqlite, postgres)" >&2; exit 2 ;;
  esac
  target_of_run="${run_url#sqlite://}"; [ "$backend" = postgres ] && target_of_run="dw_bench_run_$$"
  total_bookings="$(query "$backend" "$sql_target" "select count(*) from bookings")"
  total_access="$(query "$backend" "$sql_target" "select count(*) from access_log")"

  # Timed alone, like the SQL: the same work with nothing else on the database.
  echo "$backend: retention run ..." >&2
  timed "$datenwart" --database-url "$run_url" --policies "$policies" -vv --format json \
    retention run --now "$now" ${batch_size:+--batch-size "$batch_size"} >"$work/report.json" 2>"$work/run.err"
  run_secs="$secs" run_mb="$peak_mb"
  # Again on another copy while a writer commits every 100 ms, as bookings would.
  echo "$backend: retention run with a writer every 100 ms ..." >&2
  rm -f "$work/probe.ms" "$work/probe.stop"
  probe_writes "$backend" "$loaded_target" "$work/probe.ms" "$work/probe.stop" &
  probe_pid=$!
  timed "$datenwart" --database-url "$loaded_url" --policies "$policies" -q \
    retention run --now "$now" ${batch_size:+--batch-size "$batch_size"} >/dev/null
  loaded_secs="$secs"
  touch "$work/probe.stop"; wait "$probe_pid"
  probes="$(sort -n "$work/probe.ms" | awk '{ a[NR] = $1 } END { printf "%d writes, p50 %d ms, max %d ms", NR, a[int((NR + 1) / 2)], a[NR] }')"
  echo "  $loaded_secs s; writes during the run: $probes" >&2
  treated="$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(sum(x["anonymized"]+x["deleted"] for x in r["rules"]), r["outcome"])' "$work/report.json")"
  longest="$(sed -n 's/.*write_ms=\([0-9.]*\).*/\1/p' "$work/run.err" | sort -g | tail -n 1 | xargs printf "%.0f")"
  batches="$(grep -c 'retention batch committed' "$work/run.err" || true)"

  echo "$backend: hand-written SQL (holds honoured) ..." >&2
  baseline_sql "$backend" holds >"$work/sql.sql"
  if [ "$backend" = sqlite ]; then timed sqlite3 "$sql_target" <"$work/sql.sql" >/dev/null
  else timed psql -X -q -v ON_ERROR_STOP=1 -d "$sql_target" -f "$work/sql.sql" >/dev/null; fi
  sql_secs="$secs"
  echo "$backend: hand-written SQL (no holds) ..." >&2
  baseline_sql "$backend" plain >"$work/plain.sql"
  if [ "$backend" = sqlite ]; then timed sqlite3 "$plain_target" <"$work/plain.sql" >/dev/null
  else timed psql -X -q -v ON_ERROR_STOP=1 -d "$plain_target" -f "$work/plain.sql" >/dev/null; fi
  plain_secs="$secs"

  a="$(query "$backend" "$target_of_run" "$FINGERPRINT")"
  b="$(query "$backend" "$sql_target" "$FINGERPRINT")"
  c="$(query "$backend" "$plain_target" "$FINGERPRINT")"
  d="$(query "$backend" "$loaded_target" "$FINGERPRINT")"
  if [ "$a" != "$b" ] || [ "$a" != "$c" ] || [ "$a" != "$d" ]; then
    echo "bench: the results differ: run [$a] sql [$b] plain [$c] with a writer [$d]" >&2
    exit 1
  fi
  echo "  same result on all four copies: $a (personal bookings, anonymized, notifications, access log, consents, mail with sender, requests with subject)" >&2
  ratio="$(awk -v a="$run_secs" -v b="$sql_secs" 'BEGIN { printf "%.2f", a / b }')"
  ratio_plain="$(awk -v a="$run_secs" -v b="$plain_secs" 'BEGIN { printf "%.2f", a / b }')"
  rows+=("| $backend | $total_bookings | $total_access | ${treated% *} | ${treated#* } | $run_secs s | $run_mb MB | $batches | $longest ms | $loaded_secs s: ${probes#*, } | $sql_secs s | $ratio× | $plain_secs s | $ratio_plain× |")
done

echo
echo "| backend | bookings | access-log rows | rows treated | outcome | \`retention run\` | peak RSS | batches | longest batch transaction | run with a writer every 100 ms: time, the writer's p50 and max | SQL | run / SQL | SQL, no holds | run / no holds |"
echo "|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
