#!/usr/bin/env bash
# pitr-bootstrap.sh: the server pod's restore step of a stack bootstrapped from another stack's WAL archive
# (pitrBootstrapFrom; docs/pitr.md "Into a new stack"), as CloudNativePG's bootstrap.recovery. It runs before
# the server starts, on every start, and restores only onto an empty volume:
#   - PGDATA holds a cluster (PG_VERSION): never touched. Restored by this step before (its mark is there), or
#     a stack whose volume already had data when the key was set: said, and the server starts as it is;
#   - PGDATA holds files but no cluster: refused (exit 1), nothing is removed; empty the volume or remove the key;
#   - no PGDATA, the source another stack's repository, and this stack's own already holds its stanza: the stack was bootstrapped before and
#     has archived its own history since; restoring the source again would put the source's past in place of this
#     stack's writes. With standbys (BOOTSTRAP_STANDBYS > 0) and a primary answering, the step leaves the volume
#     empty for the start script, which clones it from that primary; otherwise it is refused (exit 1): promote a
#     standby, or restore this stack from its own archive (docs/pitr.md "Onto a fresh volume") and remove
#     pitrBootstrapFrom. A repository that does not say (the bucket down…): refused too (the next start asks again);
#   - no PGDATA: pgBackRest restores the source's latest base backup into $PGDATA.bootstrap (beside it, on the
#     same volume), a server started there with the stack's postgresql.conf replays the source's WAL to the
#     target and promotes (archive_mode off: nothing is pushed to either stack's archive; no TCP; trust on
#     its own socket only), the recovery settings pgBackRest wrote are reset, it stops cleanly, and only then
#     the directory becomes PGDATA. A step cut short leaves $PGDATA.bootstrap, which the next start discards.
# Environment: PGDATA; PG_CONFIG_FILE (the stack's rendered postgresql.conf); BOOTSTRAP_CONFIG (pgbackrest.conf
# of the source's repository); BOOTSTRAP_OWN_CONFIG (pgbackrest.conf of this stack's own repository) and
# BOOTSTRAP_STANDBYS (the standbys the stack declares) and, with standbys, BOOTSTRAP_PRIMARY_HOST/_PORT (the
# `postgres` Service); BOOTSTRAP_SOURCE (what it restores from, for messages and the mark);
# BOOTSTRAP_TARGET_TYPE (time, lsn, name or latest) and BOOTSTRAP_TARGET; BOOTSTRAP_SUPERUSER (the restored
# cluster's superuser); BOOTSTRAP_RUN (a directory for the socket and the log); PGBACKREST_REPO1_S3_KEY/_SECRET.
set -euo pipefail
log() { printf '%s\n' "pitr-bootstrap: $*" >&2; }
: "${PGDATA:?}" "${PG_CONFIG_FILE:?}" "${BOOTSTRAP_CONFIG:?}" "${BOOTSTRAP_OWN_CONFIG:?}" "${BOOTSTRAP_SOURCE:?}" "${BOOTSTRAP_TARGET_TYPE:?}"
standbys="${BOOTSTRAP_STANDBYS:-0}"
[[ "$standbys" =~ ^[0-9]+$ ]] || {
    printf '%s\n' "pitr-bootstrap: BOOTSTRAP_STANDBYS must be a count, not '$standbys'" >&2
    exit 1
}
run="${BOOTSTRAP_RUN:-/tmp/pitr-bootstrap}"
superuser="${BOOTSTRAP_SUPERUSER:-hanzo}"
mark="hanzo-bootstrapped-from"

if [ -s "$PGDATA/PG_VERSION" ]; then
    if [ -f "$PGDATA/$mark" ]; then
        log "PGDATA was restored from $(cat "$PGDATA/$mark") earlier; starting it as it is"
    else
        log "PGDATA already holds a cluster: pitrBootstrapFrom restores onto an empty volume only, so this volume is not touched (remove pitrBootstrapFrom from the stack)"
    fi
    exit 0
fi
if [ -d "$PGDATA" ] && [ -n "$(ls -A "$PGDATA")" ]; then
    log "refused: PGDATA ($PGDATA) holds files but no cluster (no PG_VERSION); nothing is restored over them. Empty the volume, or remove pitrBootstrapFrom"
    exit 1
fi

# This stack's own history, from pgBackRest's account of its stanza (`info`, which exits 0 whatever it found:
# src/command/info/info.c): `status: error (missing stanza path)` for a repository no stanza-create ran in, `status:
# ok` or `status: error (no valid backups)` for a stanza that exists; anything else (`error (other)`: the bucket did
# not answer, a key or a CA refused) says nothing about it. Not asked when the source is this stack's own repository
# (docs/pitr.md "Onto a fresh volume of the same stack"; pgBackRest drops a path's trailing slashes, so does this).
repo_of() { grep -E '^repo1-(s3-endpoint|s3-bucket|path)=' "$1" | sed -E 's#^(repo1-path=.*[^/])/+$#\1#' | sort; }
if [ "$(repo_of "$BOOTSTRAP_CONFIG")" != "$(repo_of "$BOOTSTRAP_OWN_CONFIG")" ]; then
    own=$(pgbackrest --config="$BOOTSTRAP_OWN_CONFIG" --stanza=db info 2>&1) || true
    status=$(sed -n 's/^    status: //p' <<<"$own" | head -n 1)
    case "$status" in
    "error (missing stanza path)") ;;
    "ok" | "error (no valid backups)")
        if ((standbys > 0)); then
            # Left empty only for a clone: with no primary to clone from, the start script would initdb an empty
            # cluster in place of both the history and the restore.
            if pg_isready -q -h "${BOOTSTRAP_PRIMARY_HOST:?}" -p "${BOOTSTRAP_PRIMARY_PORT:-5432}" -t 10; then
                log "this stack's own repository holds its stanza ($status): it was bootstrapped before, so $BOOTSTRAP_SOURCE is not restored again; the volume stays empty for the start script, which clones it from the primary behind $BOOTSTRAP_PRIMARY_HOST"
                exit 0
            fi
            log "refused: this stack's own repository holds its stanza ($status): it was bootstrapped before, so $BOOTSTRAP_SOURCE is not restored again, and no primary answers behind $BOOTSTRAP_PRIMARY_HOST to clone this volume from. Promote a standby (docs/standbys.md, failover), or restore this stack from its own archive (docs/pitr.md \"Onto a fresh volume\"); this step asks again at the pod's next start"
            exit 1
        fi
        log "refused: this stack's own repository holds its stanza ($status): it was bootstrapped before and has archived its own writes since, which restoring $BOOTSTRAP_SOURCE again would replace with the source's past. Restore this stack from its own archive (docs/pitr.md \"Onto a fresh volume\"), and remove pitrBootstrapFrom"
        exit 1
        ;;
    *)
        printf '%s\n' "$own" >&2
        log "refused: this stack's own repository did not say whether it holds a stanza (status: ${status:-none}; pgBackRest's account above), so whether the stack has a history of its own is not known; nothing is restored, and this step asks again at the pod's next start"
        exit 1
        ;;
    esac
fi

case "$BOOTSTRAP_TARGET_TYPE" in
time | lsn | name) target=(--type="$BOOTSTRAP_TARGET_TYPE" --target="${BOOTSTRAP_TARGET:?}" --target-action=promote) ;;
latest) target=() ;;
*)
    log "BOOTSTRAP_TARGET_TYPE must be time, lsn, name or latest"
    exit 1
    ;;
esac

work="$PGDATA.bootstrap"
rm -rf "$work" "$run"
mkdir -m 700 "$work"
mkdir -p "$run"
chmod 700 "$run"
log "restoring $BOOTSTRAP_SOURCE (${BOOTSTRAP_TARGET_TYPE} ${BOOTSTRAP_TARGET:-}) into an empty volume"
pgbackrest --config="$BOOTSTRAP_CONFIG" --stanza=db "${target[@]}" --pg1-path="$work" --archive-mode=off restore >&2

# Recovery with the stack's own settings; no connection but the socket here, trusted.
printf '%s\n' "local all all trust" > "$run/pg_hba.conf"
stop() { pg_ctl --pgdata="$work" --mode=fast --wait stop > /dev/null 2>&1 || true; }
trap stop EXIT
failed() {
    tail -n 30 "$run/server.log" >&2
    log "recovery failed (above: the server's log)"
    exit 1
}
# hot_standby off: no session until recovery has ended (the limits of a hot standby need not match).
pg_ctl --pgdata="$work" --log="$run/server.log" --wait --timeout=86400 -o "-c config_file=$PG_CONFIG_FILE \
-c hba_file=$run/pg_hba.conf -c listen_addresses='' -c unix_socket_directories=$run -c archive_mode=off -c hot_standby=off" start > /dev/null || failed
su_psql() { PGOPTIONS="-c search_path=pg_catalog,pg_temp" psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$run" -U "$superuser" -d postgres "$@"; }
# Replay until the target (or the archive's end), then the promotion: the server accepts writes.
until [ "$(su_psql -c "SELECT NOT pg_is_in_recovery()" 2> /dev/null)" = t ]; do
    pg_ctl --pgdata="$work" status > /dev/null || failed
    sleep 1
done
# pgBackRest's recovery settings (postgresql.auto.conf) would outlive the restore: the stack's own
# restore_command (postgresql.conf) must apply from now on, and no recovery target.
su_psql > /dev/null << 'SQL'
ALTER SYSTEM RESET restore_command;
ALTER SYSTEM RESET recovery_target_time;
ALTER SYSTEM RESET recovery_target_lsn;
ALTER SYSTEM RESET recovery_target_name;
ALTER SYSTEM RESET recovery_target_action;
ALTER SYSTEM RESET archive_mode;
SQL
pg_ctl --pgdata="$work" --mode=fast --wait stop > /dev/null
trap - EXIT
printf '%s %s %s\n' "$BOOTSTRAP_SOURCE" "$BOOTSTRAP_TARGET_TYPE" "${BOOTSTRAP_TARGET:-}" > "$work/$mark"
[ ! -d "$PGDATA" ] || rmdir "$PGDATA"
mv "$work" "$PGDATA"
log "restored $BOOTSTRAP_SOURCE to ${BOOTSTRAP_TARGET_TYPE} ${BOOTSTRAP_TARGET:-}; the server starts on it"
