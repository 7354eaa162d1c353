#!/usr/bin/env bash
# report.sh: records the run's result per database in the server, where the metrics exporter reads it
# (hanzo_backup.status: the last attempt, the last success and the last result of each database; see
# render/backup.ts for the exporter's query), and exits non-zero when any database of the stack failed or
# pruning failed: the Job fails, the good dumps stay uploaded. Also records a restore drill's result
# (REPORT_KIND=drill, one row "<database> <status>" per line in REPORT_FILE). Connection as dump.sh's.
# REPORT_DATABASES replaces the stack's databases (the WAL archive's drill reports one row, "all"), and
# REPORT_DURATION (seconds) is recorded beside the result (the drill's restore time, RTO).
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
. "$here/lib.sh"
# shellcheck source=stack.sh
. "$here/stack.sh"
kind="${REPORT_KIND:-backup}"
if [ -n "${REPORT_DATABASES:-}" ]; then
    read -r -a databases <<< "$REPORT_DATABASES"
fi
if [ -z "${REPORT_FILE:-}" ]; then
    : "${BACKUP_DIR:?BACKUP_DIR must be set}"
    run="$(cat "$BACKUP_DIR/ready" 2> /dev/null || true)"
    REPORT_FILE="$BACKUP_DIR/$run/uploaded"
fi
declare -A status=()
if [ -f "$REPORT_FILE" ]; then
    while read -r db s; do status[$db]="$s"; done < "$REPORT_FILE"
fi
failed=()
oks=()
for db in "${databases[@]}"; do
    s="${status[$db]:-not-run}"
    [ "$s" = ok ] || failed+=("$db ($s)")
    oks+=("$([ "$s" = ok ] && echo true || echo false)")
done
# Values reach SQL as psql variables, quoted by psql as literals (:'var'): the databases and their results
# as two space-separated lists (database names never hold a space; render/backup.ts refuses other names).
# One transaction, serialized by an advisory lock: a backup's and a drill's report (or two runs) may meet, and
# concurrent CREATE IF NOT EXISTS / GRANT on the same objects fail with "tuple concurrently updated".
psql -X -q -v ON_ERROR_STOP=1 --single-transaction --dbname=postgres \
    -v kind="$kind" -v databases="${databases[*]}" -v oks="${oks[*]}" -v duration="${REPORT_DURATION:-}" <<'SQL'
SELECT pg_advisory_xact_lock(hashtext('hanzo_backup.status')) AS locked \gset
CREATE TABLE IF NOT EXISTS hanzo_backup.status (
    kind text NOT NULL, database text NOT NULL, ok boolean NOT NULL,
    last_attempt timestamptz NOT NULL, last_success timestamptz, PRIMARY KEY (kind, database));
ALTER TABLE hanzo_backup.status ADD COLUMN IF NOT EXISTS duration_seconds double precision;
GRANT USAGE ON SCHEMA hanzo_backup TO pg_monitor;
GRANT SELECT ON hanzo_backup.status TO pg_monitor;
INSERT INTO hanzo_backup.status AS s (kind, database, ok, last_attempt, last_success, duration_seconds)
SELECT kind, database, ok, now(), CASE WHEN ok THEN now() END, nullif(:'duration', '')::double precision
  FROM unnest(string_to_array(:'databases', ' '), string_to_array(:'oks', ' ')::boolean[]) AS v (database, ok),
       (SELECT :'kind'::text AS kind) AS k
ON CONFLICT (kind, database) DO UPDATE
   SET ok = excluded.ok, last_attempt = excluded.last_attempt, last_success = coalesce(excluded.last_success, s.last_success),
       duration_seconds = excluded.duration_seconds;
-- A database that left the stack is no longer watched.
DELETE FROM hanzo_backup.status WHERE kind = :'kind' AND database <> ALL (string_to_array(:'databases', ' '));
SQL
pruned="$(cat "$(dirname "$REPORT_FILE")/pruned" 2> /dev/null || echo ok)"
[ "$kind" != backup ] || [ "$pruned" = ok ] || failed+=("pruning ($pruned)")
if [ "${#failed[@]}" -gt 0 ]; then
    log "$kind failed for: ${failed[*]}"
    exit 1
fi
log "$kind succeeded for all ${#databases[@]} databases"
