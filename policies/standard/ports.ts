/** The ports of the standard (STANDARD §4, §9, §10), written once. Imports nothing. */

/** PostgreSQL: the server, its Service and every connection string. */
export const POSTGRES_PORT = 5432;
/** PgBouncer's Service and listener. */
export const PGBOUNCER_PORT = 6432;
/** postgres_exporter's metrics (its own default). */
export const METRICS_PORT = 9187;
/** pgBackRest's TLS server in the server pod (the base backup Jobs' only way in; docs/pitr.md). */
export const PGBACKREST_TLS_PORT = 8432;
