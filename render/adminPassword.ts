import { READ_SERVICE, standbySlot } from "../policies/standard/replication";
import { PRIVILEGED_SEARCH_PATH_SQL, SYNCHRONOUS_BOOTSTRAP_PSQL } from "./privilegedSession";

/** `postgres_standby_`: the standbys' slots are it and the ordinal (policies/standard/replication.ts). */
const STANDBY_SLOT_PREFIX = standbySlot(0).replace(/0$/, "");

/**
 * psql lines dropping the slots of standbys the stack no longer declares (docs/standbys.md, "Removing standbys"):
 * physical, named `postgres_standby_<i>` with `i` at or past DECLARED_STANDBYS, and not active (on the init
 * container's socket-only server none can be). Run only when the read Service's name resolves to no Ready
 * standby (the script's `drop_slots`): after `standbys: 0` and the standbys' StatefulSet deleted, no standby
 * pod is left to hold them. One line is printed per slot dropped.
 */
export const DROP_UNDECLARED_SLOTS_PSQL = `\\if :drop_slots
\\getenv declared DECLARED_STANDBYS
\\pset tuples_only on
\\pset format unaligned
WITH gone AS MATERIALIZED (
    SELECT slot_name FROM pg_catalog.pg_replication_slots
    WHERE slot_type OPERATOR(pg_catalog.=) 'physical' AND NOT active
      AND slot_name OPERATOR(pg_catalog.~) '^${STANDBY_SLOT_PREFIX}[0-9]+$'
      AND pg_catalog.substr(slot_name, ${STANDBY_SLOT_PREFIX.length + 1})::pg_catalog.int4 OPERATOR(pg_catalog.>=) :'declared'::pg_catalog.int4
)
SELECT pg_catalog.concat('apply-admin-password: dropped the slot ', slot_name, ': the stack declares ', :'declared', ' standbys', pg_catalog.pg_drop_replication_slot(slot_name))
FROM gone ORDER BY slot_name;
\\endif
`;

/**
 * The server pod's `apply-admin-password` init container: applies the administrator's SCRAM verifier (from the
 * admin Secret) to an existing cluster before the server starts, so a changed or regenerated `adminPassword`
 * reaches the running server. The image's entrypoint sets POSTGRES_PASSWORD only when PGDATA is empty
 * (docker-library/postgres docker-entrypoint.sh, `docker_setup_env`/`docker_init_database_dir`); on every
 * later start this script does what the entrypoint does for initialisation: a temporary server that listens
 * on a private Unix socket only, one statement, a fast stop. The statement carries the verifier, never the
 * password, and is neither logged (log_statement=none) nor kept by pg_stat_statements (track_utility=off).
 * The pod template carries a checksum of the verifier, so a new password rolls the pod. It also gives the
 * administrator the role setting that keeps every later session of it out of a service's schema tricks
 * (render/privilegedSession.ts), on every start: a service cannot change it (only a superuser may).
 * In a synchronous stack its session commits locally, and the administrator's sessions do from then on
 * (SYNCHRONOUS_BOOTSTRAP_PSQL, render/privilegedSession.ts): otherwise the pod would never start.
 * It drops the slots of standbys the stack no longer declares (DROP_UNDECLARED_SLOTS_PSQL) while no standby is
 * Ready behind the read Service (its short name resolves in the pod's namespace through the kubelet's search list).
 *
 * Environment: PGDATA; HANZO_ADMIN_VERIFIER (the Secret's `scram-verifier`); PG_CONFIG_FILE and PG_HBA_FILE
 * (the mounted configuration; defaults below); HANZO_ADMIN_ROLE (default hanzo); DECLARED_STANDBYS (the stack's
 * `standbys`; default 0); STANDBYS_HOST (the read Service's name; default its short name). Needs psql 15+ (\getenv).
 */
export const APPLY_ADMIN_PASSWORD_SCRIPT = `#!/bin/bash
set -euo pipefail
: "\${PGDATA:?PGDATA must be set}"
role="\${HANZO_ADMIN_ROLE:-hanzo}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "apply-admin-password: no cluster in $PGDATA yet; the entrypoint's initdb sets the password"
    exit 0
fi
case "\${HANZO_ADMIN_VERIFIER:-}" in
    'SCRAM-SHA-256$'*) ;;
    *) echo "apply-admin-password: HANZO_ADMIN_VERIFIER must hold a SCRAM-SHA-256 verifier" >&2; exit 1 ;;
esac
case "\${DECLARED_STANDBYS:=0}" in
    '' | *[!0-9]*) echo "apply-admin-password: DECLARED_STANDBYS must be a whole number" >&2; exit 1 ;;
esac
export DECLARED_STANDBYS
drop_slots=on
if getent ahosts "\${STANDBYS_HOST:-${READ_SERVICE}}" >/dev/null 2>&1; then
    drop_slots=off
    echo "apply-admin-password: a standby is Ready behind \${STANDBYS_HOST:-${READ_SERVICE}}: no slot is dropped here"
fi
socket="$(mktemp -d)"
trap 'pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$socket"' EXIT
pg_ctl -D "$PGDATA" -w -t 3600 -l "$socket/server.log" -o "-c config_file=\${PG_CONFIG_FILE:-/etc/postgresql/postgresql.conf} -c hba_file=\${PG_HBA_FILE:-/etc/postgresql/pg_hba.conf} -c listen_addresses='' -c port=5432 -c unix_socket_directories='$socket' -c log_statement=none -c log_min_duration_statement=-1 -c pg_stat_statements.track_utility=off" start >/dev/null \\
    || { cat "$socket/server.log" >&2; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -h "$socket" -p 5432 -U "$role" -d postgres -v role="$role" -v drop_slots="$drop_slots" <<'SQL'
${SYNCHRONOUS_BOOTSTRAP_PSQL}\\getenv verifier HANZO_ADMIN_VERIFIER
ALTER ROLE :"role" PASSWORD :'verifier';
ALTER ROLE :"role" SET search_path TO ${PRIVILEGED_SEARCH_PATH_SQL};
${DROP_UNDECLARED_SLOTS_PSQL}SQL
pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
trap 'rm -rf "$socket"' EXIT
echo "apply-admin-password: the administrator's password is the Secret's"
`;
