#!/bin/bash
# shellcheck shell=bash
# The start of a server pod in a stack with standbys (docs/standbys.md), run as the postgres user before the
# image's entrypoint, which it then runs ("$@"). It decides what the volume may become, so that a server never
# serves as a second primary:
#  - an empty volume of a standby clones the primary behind $PRIMARY_HOST (pg_basebackup, its own slot) and
#    starts as a standby;
#  - an empty volume of the primary's pod (a lost volume) clones the primary answering behind $PRIMARY_HOST (a
#    failover happened) and starts as its standby; with no primary answering it is left to initdb only when no
#    standby is Ready behind $STANDBYS_HOST either (the first boot), else it stops the start: a standby holds the
#    cluster's data and must be promoted first;
#  - a volume that was a primary (no standby.signal) while another primary of the same cluster answers behind
#    $PRIMARY_HOST (a failover happened) is rewound to it (pg_rewind) and rejoins as its standby; a server of
#    another cluster there stops the start;
#  - a standby makes sure its slot exists on the primary it follows (a promoted standby has no slots yet);
#  - a server that follows a primary drops there the slots of the standbys the stack no longer declares
#    (postgres_standby_<i>, DECLARED_STANDBYS <= i < MAX_STANDBYS) that no standby holds: the server refuses to
#    drop an active slot. It runs when a standby's pod starts, and after a change of `standbys` the StatefulSet
#    controller removes the pods beyond the new count before it rolls the others (scaling before updates,
#    kubernetes pkg/controller/statefulset/stateful_set_control.go, updateStatefulSet: "condemned" pods), so the
#    slots it drops are those of pods that no longer exist.
# Environment: PGDATA, PRIMARY_HOST, PRIMARY_PORT, SLOT (this pod's slot and application_name; or POD_NAME), SERVER_ROLE
# (primary or standby: the pod's declared role), REPLICATION_PGPASS (the replication Secret's pgpass line),
# ADMIN_PGPASS (a pgpass line of the administrator, for pg_rewind), RUN_DIR (private, writable), CONFIG_FILE
# (the rendered postgresql.conf the server runs with), DECLARED_STANDBYS (the stack's `standbys`), STANDBYS_HOST (the read Service `postgres-ro`, headless: its
# name resolves while a standby is Ready, to nothing while none is).
set -euo pipefail
# In a pod, SLOT defaults to the pod's name with `_` for `-` (POD_NAME from the downward API): postgres-0 is
# postgres_0, postgres-standby-1 postgres_standby_1 (policies/standard/replication.ts).
if [ -z "${SLOT:-}" ] && [ -n "${POD_NAME:-}" ]; then SLOT=${POD_NAME//-/_}; fi
: "${PGDATA:?}" "${PRIMARY_HOST:?}" "${PRIMARY_PORT:?}" "${SLOT:?}" "${SERVER_ROLE:?}" "${REPLICATION_PGPASS:?}" "${RUN_DIR:?}" "${CONFIG_FILE:?}"
: "${STANDBYS_HOST:?}" "${DECLARED_STANDBYS:?}"
# A count, checked before any arithmetic: bash evaluates a variable's text inside (( )), commands included.
[[ "$DECLARED_STANDBYS" =~ ^[0-9]+$ ]] || {
    printf '%s\n' "replica-start: DECLARED_STANDBYS must be a whole number, not '$DECLARED_STANDBYS'" >&2
    exit 1
}
# The schema's largest `standbys` (policies/standard/replication.ts MAX_STANDBYS): the ordinals a slot can have.
MAX_STANDBYS=5
# The administrator's sessions here (CHECKPOINT and the control file's timeline on the primary a rejoin rewinds
# to) resolve names in pg_catalog only, as every privileged session's (render/privilegedSession.ts).
admin_psql() { PGOPTIONS="-c search_path=pg_catalog,pg_temp" psql -XAtq "$@"; }

log() { printf 'replica-start: %s\n' "$*" >&2; }

# libpq ignores a password file that group or others may read, and a Secret volume with fsGroup is 0440.
private_copy() { (umask 077 && cat "$1" >"$2"); }
private_copy "$REPLICATION_PGPASS" "$RUN_DIR/replication.pgpass"
conninfo="host=$PRIMARY_HOST port=$PRIMARY_PORT user=hanzo_replication application_name=$SLOT passfile=$RUN_DIR/replication.pgpass connect_timeout=5"

# IDENTIFY_SYSTEM of the primary answering behind $PRIMARY_HOST (systemid|timeline|xlogpos|dbname); fails when
# none answers.
identify_primary() {
    local row
    row=$(psql -XAtq -d "$conninfo dbname=replication replication=true" -c IDENTIFY_SYSTEM 2>/dev/null) || return 1
    [ -n "$row" ] || return 1
    printf '%s\n' "$row"
}

# The system identifier of the primary answering behind $PRIMARY_HOST; fails when none answers.
primary_system() {
    local row
    row=$(identify_primary) || return 1
    printf '%s\n' "${row%%|*}"
}

# Streams from $PRIMARY_HOST through this pod's slot: standby.signal and the connection (no password in it:
# libpq reads the pgpass copy) written to postgresql.auto.conf, which pg_rewind and pg_basebackup leave alone.
follow() {
    touch "$PGDATA/standby.signal"
    local auto="$PGDATA/postgresql.auto.conf"
    touch "$auto"
    sed -i -e '/^primary_conninfo[[:space:]]*=/d' -e '/^primary_slot_name[[:space:]]*=/d' "$auto"
    printf "primary_conninfo = '%s'\nprimary_slot_name = '%s'\n" "$conninfo" "$SLOT" >>"$auto"
}

ensure_slot() {
    pg_receivewal --create-slot --if-not-exists --slot="$SLOT" --no-password -d "$conninfo"
}

# Drops on the primary the slots of standbys the stack no longer declares. DROP_REPLICATION_SLOT (without WAIT)
# fails on an active slot ("is active for PID"), so a standby still streaming keeps its slot whatever the count says.
drop_undeclared_slots() {
    local i slot out
    for ((i = DECLARED_STANDBYS; i < MAX_STANDBYS; i++)); do
        slot="postgres_standby_$i"
        [ "$slot" != "$SLOT" ] || continue
        if out=$(pg_receivewal --drop-slot --slot="$slot" --no-password -d "$conninfo" 2>&1); then
            log "dropped the slot $slot on the primary: the stack declares $DECLARED_STANDBYS standbys"
        elif [[ "$out" != *"does not exist"* ]]; then
            log "kept the slot $slot on the primary: ${out##*ERROR:  }"
        fi
    done
}

# A new standby of the primary behind $PRIMARY_HOST on this (empty) volume, streaming through this pod's slot.
clone() {
    # A slot left by an earlier clone of this pod (its volume lost) would make --create-slot fail.
    pg_receivewal --drop-slot --slot="$SLOT" --no-password -d "$conninfo" 2>/dev/null || true
    rm -rf "$PGDATA.clone"
    pg_basebackup --pgdata="$PGDATA.clone" --create-slot --slot="$SLOT" --wal-method=stream --checkpoint=fast \
        --no-password -d "$conninfo"
    mv "$PGDATA.clone" "$PGDATA"
    drop_undeclared_slots
    follow
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ "$SERVER_ROLE" = standby ]; then
        log "empty volume: cloning the primary behind $PRIMARY_HOST into slot $SLOT"
        clone
    elif primary_system >/dev/null; then
        # The primary's pod lost its volume after a failover: a clone makes it a standby of the new primary (it
        # never serves as a second primary: in recovery, role-ready.sh keeps it out of `postgres` until relabelled).
        log "empty volume of the primary's pod while a primary answers behind $PRIMARY_HOST (a failover happened): cloning it into slot $SLOT as its standby; label this pod hanzo.ai/role=standby"
        clone
    elif getent ahosts "$STANDBYS_HOST" >/dev/null 2>&1; then
        # No primary answers, but a standby is Ready (the read Service resolves only to Ready standbys): the
        # cluster's data lives there. An initdb here would start an empty cluster behind `postgres`, which clients
        # would write to and the standbys could not follow. Whether that standby answers or is cut off from this
        # pod, the way on is the same: promote it, and this pod then clones from it.
        log "empty volume, no primary answers behind $PRIMARY_HOST, but a standby of this cluster is Ready behind $STANDBYS_HOST: refusing to initdb an empty primary in its place; promote the standby (docs/standbys.md, failover), then this pod clones from it"
        exit 1
    else
        log "empty volume, no primary behind $PRIMARY_HOST and no Ready standby behind $STANDBYS_HOST: the first boot; the entrypoint initdb's"
    fi
elif [ ! -e "$PGDATA/standby.signal" ]; then
    ours=$(pg_controldata "$PGDATA" | sed -n 's/^Database system identifier:[[:space:]]*//p')
    if identity=$(identify_primary); then
        theirs=${identity%%|*}
        their_timeline=$(printf '%s\n' "$identity" | cut -d'|' -f2)
        if [ "$theirs" != "$ours" ]; then
            log "the primary behind $PRIMARY_HOST belongs to another cluster ($theirs; this volume: $ours): not starting"
            exit 1
        fi
        : "${ADMIN_PGPASS:?a rejoin needs ADMIN_PGPASS for pg_rewind}"
        private_copy "$ADMIN_PGPASS" "$RUN_DIR/admin.pgpass"
        trap 'rm -f "$RUN_DIR/admin.pgpass"' EXIT
        log "this volume was a primary, and another primary of this cluster serves $PRIMARY_HOST: rewinding and rejoining as its standby"
        source="host=$PRIMARY_HOST port=$PRIMARY_PORT user=hanzo dbname=postgres passfile=$RUN_DIR/admin.pgpass connect_timeout=5"
        # pg_rewind takes the source's timeline from its control file (pg_rewind.c: "source and target cluster are
        # on the same timeline"), which a promoted server updates only at its first checkpoint after promotion,
        # and that checkpoint is a spread one. Before it, pg_rewind sees timeline 1 on both sides, says "no rewind
        # required", and the volume keeps the WAL it wrote past the fork: commits never acknowledged, which a hot
        # standby would serve. PostgreSQL's pg_rewind documentation: CHECKPOINT the source after promotion.
        admin_psql -d "$source" -c CHECKPOINT
        control_timeline=$(admin_psql -d "$source" -c 'SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()')
        if [ "$control_timeline" != "$their_timeline" ]; then
            log "the primary behind $PRIMARY_HOST runs timeline $their_timeline but its control file still records timeline $control_timeline after a CHECKPOINT: pg_rewind would not see the fork; not starting"
            exit 1
        fi
        # --config-file: pg_rewind first finishes the crash recovery of a killed server in single-user mode; with
        # PGDATA's own postgresql.conf (initdb's defaults) the control file would record max_wal_senders = 10,
        # and the standby would then refuse to start under the rendered, lower value.
        pg_rewind --target-pgdata="$PGDATA" --config-file="$CONFIG_FILE" \
            --source-server="$source"
        rm -f "$RUN_DIR/admin.pgpass"
        ensure_slot
        drop_undeclared_slots
        follow
    fi
else
    # A standby: its slot may be missing on a newly promoted primary; without an answer, the walreceiver retries.
    if primary_system >/dev/null; then
        ensure_slot
        drop_undeclared_slots
    fi
    follow
fi
exec "$@"
