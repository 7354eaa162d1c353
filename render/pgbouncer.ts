/**
 * PgBouncer's configuration (STANDARD §10): transaction pooling in front of the server, SCRAM for clients,
 * max_client_conn and default_pool_size from the stack, and the userlist (kept in a Secret).
 */

export const PGBOUNCER_PORT = 6432;

export interface PgbouncerInput {
    /** Databases clients may ask for, each forwarded to the same name on the server. */
    readonly databases: readonly string[];
    readonly serverHost: string;
    readonly serverPort: number;
    readonly maxClientConn: number;
    readonly defaultPoolSize: number;
    /** Where the userlist is mounted. */
    readonly authFile: string;
    readonly listenAddr?: string;
    readonly listenPort?: number;
}

/** pgbouncer.ini. */
export function renderPgbouncerIni(i: PgbouncerInput): string {
    return [
        "; pgbouncer.ini rendered by hanzo-sql (HIP-29 §Connection Pooling): transaction pooling.",
        "[databases]",
        ...i.databases.map((db) => `${db} = host=${i.serverHost} port=${i.serverPort} dbname=${db}`),
        "",
        "[pgbouncer]",
        `listen_addr = ${i.listenAddr ?? "0.0.0.0"}`,
        `listen_port = ${i.listenPort ?? PGBOUNCER_PORT}`,
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        `auth_file = ${i.authFile}`,
        "pool_mode = transaction",
        `max_client_conn = ${i.maxClientConn}`,
        `default_pool_size = ${i.defaultPoolSize}`,
        // Drivers (JDBC, pgx) send it at startup; PgBouncer would refuse the connection otherwise.
        "ignore_startup_parameters = extra_float_digits",
        "server_tls_sslmode = disable",
        "server_reset_query =",
        "admin_users =",
        "stats_users =",
        "log_connections = 0",
        "log_disconnections = 0",
        "",
    ].join("\n");
}

/** userlist.txt: `"user" "password"` per line, quotes doubled. */
export function renderUserlist(users: readonly { readonly user: string; readonly password: string }[]): string {
    const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
    return users.map((u) => `${q(u.user)} ${q(u.password)}`).join("\n") + "\n";
}
