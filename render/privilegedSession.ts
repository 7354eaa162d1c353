/**
 * How every privileged session (the superuser's, the backup's, the exporter's) keeps a service's schema tricks
 * out (issue 21; PostgreSQL's "secure schema usage pattern", CVE-2018-1058). A service role owns its database,
 * so it decides what unqualified names mean there: `ALTER DATABASE <own> SET search_path = <its schema>,
 * pg_catalog`, its own `public`, a schema named after a privileged role (`"$user"`). A session whose
 * search_path holds only pg_catalog and pg_temp resolves every unqualified function, operator, table and
 * type in the system catalogs (pg_temp is the session's own and comes last, so it never shadows them).
 *
 * Where it is set, strongest first (PostgreSQL's precedence: a connection's options outrank a role's setting,
 * which outranks every database setting, `ALTER ROLE ALL IN DATABASE` included):
 * - on connect by our own tools: `options=-c search_path=…` (node-postgres), `PGOPTIONS` (libpq: the scripts);
 * - as a role setting of every privileged role (`ALTER ROLE … SET search_path`): the provider's Role
 *   `searchPaths` for hanzo_backup and hanzo_monitor, the server pod for the superuser (the init container on
 *   every start, the entrypoint's init script on a new volume), and init-sql's SQL. Only a superuser may
 *   change a superuser's settings, and only a role itself or CREATEROLE another's (test/db/privilegedSessions).
 *   The provider's own connection cannot pass options (cyrilgdn/terraform-provider-postgresql builds its
 *   DSN itself), so for it the role setting is the defence.
 */

/** The search_path of every privileged session. */
export const PRIVILEGED_SEARCH_PATH = ["pg_catalog", "pg_temp"] as const;

/** As a value in SQL (`SET search_path TO …`), each element quoted as the provider's Role does (pq.QuoteIdentifier). */
export const PRIVILEGED_SEARCH_PATH_SQL = PRIVILEGED_SEARCH_PATH.map((s) => `"${s}"`).join(", ");

/** The startup option (libpq `options`, `PGOPTIONS`) that sets it for one connection. */
export const PRIVILEGED_PG_OPTIONS = `-c search_path=${PRIVILEGED_SEARCH_PATH.join(",")}`;

/** A quoted SQL identifier (PostgreSQL's rule: double quotes, an embedded quote doubled). */
export function quoteIdent(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
}

/** A quoted SQL string literal (standard_conforming_strings, on since 9.1: a quote doubled, backslashes as they are). */
export function quoteLiteral(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The file the server image's entrypoint runs once, after initdb on a new volume (docker-library/postgres
 * docker-entrypoint.sh, `docker_process_init_files`: `*.sql` through psql as POSTGRES_USER): the superuser's
 * role setting from its first start. The server pod's init container sets it again on every later start.
 */
export const ADMIN_INIT_FILE = "hanzo-admin-search-path.sql";

/**
 * psql lines (run by the administrator, on the temporary servers of the entrypoint's init and of the
 * apply-admin-password init container) for a stack with synchronous standbys (docs/standbys.md, "Bootstrap"):
 * - this session commits locally: those servers listen on a socket only, so no standby could ever acknowledge,
 *   and every commit would wait forever (the pod would never start);
 * - the administrator's sessions commit locally from then on (a role setting; reset when the stack is not
 *   synchronous): the program's provider creates `hanzo_replication` as the administrator, and a commit waiting
 *   for a standby stays invisible to other sessions until acknowledged, so the first standby could never
 *   authenticate to clone. Services' roles keep `synchronous_commit = on` (RPO 0 for their data).
 */
export const SYNCHRONOUS_BOOTSTRAP_PSQL = `SET synchronous_commit = local;
SELECT pg_catalog.current_setting('synchronous_standby_names') OPERATOR(pg_catalog.<>) '' AS hanzo_synchronous \\gset
\\if :hanzo_synchronous
ALTER ROLE CURRENT_USER SET synchronous_commit = local;
\\else
ALTER ROLE CURRENT_USER RESET synchronous_commit;
\\endif
`;

/** Its content: the settings for the role the entrypoint connects as (POSTGRES_USER, the administrator). */
export const ADMIN_INIT_SQL = `-- Rendered by hanzo-sql (render/privilegedSession.ts): the administrator's sessions resolve names in pg_catalog only.
${SYNCHRONOUS_BOOTSTRAP_PSQL}ALTER ROLE CURRENT_USER SET search_path TO ${PRIVILEGED_SEARCH_PATH_SQL};
`;

/** The role setting, as the provider's Role sends it (`alterSearchPath`, postgresql/resource_postgresql_role.go). */
export function privilegedRoleSettingSql(role: string): string {
    return `ALTER ROLE ${quoteIdent(role)} SET search_path TO ${PRIVILEGED_SEARCH_PATH_SQL};`;
}
