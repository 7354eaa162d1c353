#!/usr/bin/env bash
# drill.sh DIR: the scheduled restore drill. Restores every database of the backup fetch.sh put in DIR into
# a scratch server started inside this pod (initdb in $SCRATCH_DIR, a Unix socket, no TCP), the way the
# program builds a database (the service's role owns it, the stack's extensions exist) and with restore.sh
# itself; then runs the ADR-60 checks on each: the service's required tables exist, and every table holds
# the rows the manifest counted in the dump. Records each database's result with report.sh
# (REPORT_KIND=drill) in the real server (PGHOST..., the backup role), and exits 1 when any failed.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=stack.sh
. "$here/stack.sh"
dir="${1:?usage: drill.sh DIR}"
scratch="${SCRATCH_DIR:-/tmp/drill}"
manifest="$dir/manifest.json"
if [ ! -s "$dir/timestamp" ] || [ ! -s "$manifest" ]; then
    log "no complete backup fetched into $dir"
    exit 1
fi
run="$(cat "$dir/timestamp")"

rm -rf "$scratch"
mkdir -p "$scratch/socket"
initdb --pgdata="$scratch/data" --username=drill --auth=trust --encoding=UTF8 > "$scratch/initdb.log"
# The scratch server runs the service's restored code (its functions, operators, index expressions); it
# must not hold the real server's credentials: started without them in its environment.
env -u PGPASSWORD -u PGUSER -u PGHOST -u PGPORT -u PGDATABASE pg_ctl --pgdata="$scratch/data" --log="$scratch/server.log" --wait \
    -o "-p 5432 -c listen_addresses='' -c unix_socket_directories='$scratch/socket' -c fsync=off" start > /dev/null
trap 'pg_ctl --pgdata="$scratch/data" --mode=immediate stop > /dev/null 2>&1 || true' EXIT
scratch_psql() { PGHOST="$scratch/socket" PGPORT=5432 PGUSER=drill psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

results="$scratch/results"
: > "$results"
for db in "${databases[@]}"; do
    if [ ! -f "$dir/$db.dump" ]; then
        log "drill $db: not in backup $run"
        echo "$db missing" >> "$results"
        continue
    fi
    owner="${role[$db]}"
    # As the program does: the service role owns its database; the administrator creates the extensions.
    # Names reach SQL as psql variables, quoted by psql as identifiers (:"var").
    scratch_psql --dbname=postgres -v owner="$owner" -v db="$db" > /dev/null <<'SQL'
CREATE ROLE :"owner" NOLOGIN;
CREATE DATABASE :"db" OWNER :"owner";
SQL
    for ext in ${extensions[$db]:-}; do
        scratch_psql --dbname="$db" -v ext="$ext" <<< 'CREATE EXTENSION IF NOT EXISTS :"ext" WITH SCHEMA public;' > /dev/null
    done
    if ! PGHOST="$scratch/socket" PGPORT=5432 PGUSER=drill PGPASSWORD="" bash "$here/restore.sh" "$dir" "$db" >&2; then
        echo "$db restore-failed" >> "$results"
        continue
    fi
    # ADR-60: the service's tables exist, and each table holds the rows counted in the dump.
    problems="$(scratch_psql --dbname="$db" -v manifest="$(cat "$manifest")" -v db="$db" -v required="${required_tables[$db]:-}" <<'SQL'
-- An unqualified required table is the service's public schema's (the session's search_path is pg_catalog's).
SELECT 'required table ' || r || ' is missing'
  FROM unnest(string_to_array(:'required', ' ')) AS r
 WHERE to_regclass(CASE WHEN strpos(r, '.') > 0 THEN r ELSE 'public.' || r END) IS NULL
UNION ALL
SELECT format('table %s: %s rows in the dump, %s restored', t.key, t.value,
              coalesce((xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %s', to_regclass(t.key)), false, true, '')))[1]::text, 'no table'))
  FROM jsonb_array_elements(:'manifest'::jsonb -> 'databases') AS d, jsonb_each_text(d -> 'tables') AS t
 WHERE d ->> 'database' = :'db'
   AND (to_regclass(t.key) IS NULL
        OR (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %s', to_regclass(t.key)), false, true, '')))[1]::text <> t.value);
SQL
)" || problems="the checks could not run"
    if [ -n "$problems" ]; then
        log "drill $db:" "$problems"
        echo "$db check-failed" >> "$results"
    else
        log "drill $db: restored, required tables present, row counts match"
        echo "$db ok" >> "$results"
    fi
done
reported=0
REPORT_KIND=drill REPORT_FILE="$results" bash "$here/report.sh" || reported=$?
# The WAL archive's drill ran before this one in the pod (pitr-drill.sh) and left its result here.
if [ -n "${PITR_RESULT:-}" ] && [ "$(cat "$PITR_RESULT" 2> /dev/null || echo missing)" != ok ]; then
    log "the WAL archive's drill failed ($(cat "$PITR_RESULT" 2> /dev/null || echo "no result"))"
    exit 1
fi
exit "$reported"
