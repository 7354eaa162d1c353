import { PRIVILEGED_SEARCH_PATH_SQL, SYNCHRONOUS_BOOTSTRAP_PSQL } from "./privilegedSession";

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
 *
 * Environment: PGDATA; HANZO_ADMIN_VERIFIER (the Secret's `scram-verifier`); PG_CONFIG_FILE and PG_HBA_FILE
 * (the mounted configuration; defaults below); HANZO_ADMIN_ROLE (default hanzo). Needs psql 15+ (\getenv).
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
socket="$(mktemp -d)"
trap 'pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$socket"' EXIT
pg_ctl -D "$PGDATA" -w -t 3600 -l "$socket/server.log" -o "-c config_file=\${PG_CONFIG_FILE:-/etc/postgresql/postgresql.conf} -c hba_file=\${PG_HBA_FILE:-/etc/postgresql/pg_hba.conf} -c listen_addresses='' -c port=5432 -c unix_socket_directories='$socket' -c log_statement=none -c log_min_duration_statement=-1 -c pg_stat_statements.track_utility=off" start >/dev/null \\
    || { cat "$socket/server.log" >&2; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 -h "$socket" -p 5432 -U "$role" -d postgres -v role="$role" <<'SQL'
${SYNCHRONOUS_BOOTSTRAP_PSQL}\\getenv verifier HANZO_ADMIN_VERIFIER
ALTER ROLE :"role" PASSWORD :'verifier';
ALTER ROLE :"role" SET search_path TO ${PRIVILEGED_SEARCH_PATH_SQL};
SQL
pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
trap 'rm -rf "$socket"' EXIT
echo "apply-admin-password: the administrator's password is the Secret's"
`;
