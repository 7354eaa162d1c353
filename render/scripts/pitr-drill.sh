#!/usr/bin/env bash
# pitr-drill.sh: the restore drill of the WAL archive (issue 23, docs/pitr.md "The drill"). Proves that the
# latest base backup plus the WAL archived since restore to a point, and how long that takes:
#   1. writes two markers into the real server (the backup role's own table, hanzo_backup.pitr_drill_marker),
#      each a random token in its own transaction: "before", then the target (the WAL position right after
#      its commit), then "after";
#   2. waits until the segment holding "after" is archived (archive_timeout closes it on a quiet server);
#   3. restores the latest base backup with pgBackRest into an empty scratch directory, to that target
#      (--type=lsn, promote, archive-mode off: a scratch server never archives into the stack's stanza),
#      starts it (a Unix socket only, trust for local sessions, no credential of the real server in its
#      environment) and waits until recovery has ended;
#   4. checks: "before" is there (every WAL segment from the backup to now replayed), "after" is not (the
#      restore stopped at the target rather than the archive's end);
#   5. records the result and the restore's duration (RTO: from the restore's start until the scratch server
#      accepts writes) with report.sh (kind pitr, database "all"), read by the exporter.
# The result is also written to $PITR_RESULT when set (the dump drill's container, next in the pod, fails
# the Job when it is not ok; this script then exits 0 once it has reported). Without it, exits 1 on failure.
# Environment: PGHOST, PGPORT, PGUSER, PGPASSWORD (the backup role on the real server), PITR_CONFIG (the
# drill's pgbackrest.conf), PGBACKREST_REPO1_S3_KEY / _SECRET (the bucket's key), SCRATCH_DIR, and
# PITR_WAIT_SECONDS (how long the archive may take to hold the target; default 180, three archive_timeouts).
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
. "$here/lib.sh"
config="${PITR_CONFIG:?PITR_CONFIG must name the pgbackrest.conf of the drill}"
scratch="${SCRATCH_DIR:-/tmp/pitr-drill}"
wait_seconds="${PITR_WAIT_SECONDS:-180}"
result=ok
rto=""

rm -rf "$scratch"
mkdir -p "$scratch/socket"
chmod 700 "$scratch"
token() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }
before="$(token)"
after="$(token)"
real_psql() { psql -X -q -A -t -v ON_ERROR_STOP=1 --dbname=postgres "$@"; }

# 1. The markers, each committed on its own; the target is the WAL insert position after "before"'s commit.
if ! target="$(real_psql -v before="$before" <<'SQL'
CREATE TABLE IF NOT EXISTS hanzo_backup.pitr_drill_marker (
    token text PRIMARY KEY, phase text NOT NULL, at timestamptz NOT NULL DEFAULT now());
DELETE FROM hanzo_backup.pitr_drill_marker WHERE at < now() - interval '30 days';
INSERT INTO hanzo_backup.pitr_drill_marker (token, phase) VALUES (:'before', 'before');
SELECT pg_current_wal_insert_lsn();
SQL
)"; then
    log "pitr drill: could not write the markers into the real server"
    result=marker-failed
fi
after_lsn=""
if [ "$result" = ok ]; then
    after_lsn="$(real_psql -v after="$after" <<'SQL'
INSERT INTO hanzo_backup.pitr_drill_marker (token, phase) VALUES (:'after', 'after');
SELECT pg_current_wal_insert_lsn();
SQL
)" || result=marker-failed
fi

# 2. The segment holding "after" archived (the same timeline's names sort by position).
if [ "$result" = ok ]; then
    archived=""
    for _ in $(seq 1 "$wait_seconds"); do
        archived="$(real_psql -v lsn="$after_lsn" <<< "SELECT coalesce(last_archived_wal >= pg_walfile_name(:'lsn'::pg_lsn), false) FROM pg_stat_archiver;")" || archived=""
        [ "$archived" = t ] && break
        sleep 1
    done
    if [ "$archived" != t ]; then
        log "pitr drill: the segment holding the target was not archived within ${wait_seconds}s (see PostgresWalArchive* alerts)"
        result=archive-stale
    fi
fi

pg_stop() { pg_ctl --pgdata="$scratch/data" --mode=immediate stop > /dev/null 2>&1 || true; }
trap 'pg_stop; rm -rf "$scratch"' EXIT
scratch_psql() { PGHOST="$scratch/socket" PGPORT=5432 PGUSER="$PGUSER" PGPASSWORD="" psql -X -q -A -t -v ON_ERROR_STOP=1 --dbname=postgres "$@"; }

# 3. Restore and start; the clock runs from the restore's start until the scratch server accepts writes.
if [ "$result" = ok ]; then
    log "pitr drill: restoring the latest base backup and its WAL to $target"
    started="$(date +%s.%N)"
    mkdir -m 700 "$scratch/data"
    if ! pgbackrest --config="$config" --stanza=db --type=lsn --target="$target" --target-action=promote \
        --pg1-path="$scratch/data" --archive-mode=off restore >&2; then
        result=restore-failed
    fi
fi
if [ "$result" = ok ]; then
    # Its own configuration: the restored postgresql.auto.conf (pgBackRest's recovery settings) still applies.
    printf '%s\n' "local all all trust" > "$scratch/pg_hba.conf"
    cat > "$scratch/postgresql.conf" << CONF
listen_addresses = ''
port = 5432
unix_socket_directories = '$scratch/socket'
hba_file = '$scratch/pg_hba.conf'
archive_mode = off
# No connections until recovery ends: a hot standby would need max_connections and the other limits at
# least the real server's (CheckRequiredParameterValues), which this scratch server need not match.
hot_standby = off
CONF
    # The scratch server holds no credential of the real server (docs/security.md): PG* removed. It keeps
    # the bucket's key, which its restore_command (pgBackRest's archive-get) needs and this container has.
    if ! env -u PGPASSWORD -u PGUSER -u PGHOST -u PGPORT -u PGDATABASE -u PGOPTIONS \
        pg_ctl --pgdata="$scratch/data" --log="$scratch/server.log" --wait --timeout=3600 \
        -o "-c config_file=$scratch/postgresql.conf" start > /dev/null; then
        result=start-failed
    fi
fi
if [ "$result" = ok ]; then
    ready=""
    # Until recovery has ended (two hours at most, twice the alert's bound), or the server has died.
    for _ in $(seq 1 72000); do
        ready="$(scratch_psql <<< "SELECT NOT pg_is_in_recovery();" 2> /dev/null)" || ready=""
        [ "$ready" = t ] && break
        pg_ctl --pgdata="$scratch/data" status > /dev/null || break
        sleep 0.1
    done
    if [ "$ready" = t ]; then
        rto="$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
    else
        result=recovery-failed
    fi
fi
if [ "$result" = ok ]; then
    # 4. The markers: "before" restored, "after" not.
    found="$(scratch_psql -v before="$before" -v after="$after" <<'SQL'
SELECT count(*) FILTER (WHERE token = :'before') || ' ' || count(*) FILTER (WHERE token = :'after')
  FROM hanzo_backup.pitr_drill_marker;
SQL
)" || found="none"
    if [ "$found" = "1 0" ]; then
        log "pitr drill: restored to $target in ${rto}s; the marker before the target is there, the one after is not"
    else
        log "pitr drill: restored to $target, but the markers before/after the target number \"$found\" (expected \"1 0\")"
        result=check-failed
    fi
fi
# Recovery that ran out of WAL before the target: the archive lacks a segment between the backup and the target.
if { [ "$result" = start-failed ] || [ "$result" = recovery-failed ]; } &&
    grep -qs "recovery ended before configured recovery target was reached" "$scratch/server.log"; then
    log "pitr drill: the archive ends before the target $target: a WAL segment between the base backup and the target is missing from the bucket"
    result=wal-missing
fi
if [ "$result" != ok ] && [ -f "$scratch/server.log" ]; then
    tail -n 20 "$scratch/server.log" >&2
fi
pg_stop

# 5. Report (kind pitr, the whole cluster as database "all") and the RTO beside it.
echo "all $result" > "$scratch/result"
reported=0
REPORT_KIND=pitr REPORT_DATABASES=all REPORT_FILE="$scratch/result" REPORT_DURATION="$rto" bash "$here/report.sh" || reported=$?
if [ -n "${PITR_RESULT:-}" ]; then
    echo "$result" > "$PITR_RESULT"
    [ "$result" != ok ] || [ "$reported" -eq 0 ] || exit 1
    [ "$result" = ok ] || log "pitr drill failed ($result); the drill container fails the Job"
    exit 0
fi
exit "$reported"
