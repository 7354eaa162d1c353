/**
 * PgBouncer's configuration (STANDARD §10): transaction pooling in front of the server, SCRAM for clients,
 * max_client_conn and default_pool_size from the stack, and the userlist (kept in a Secret).
 *
 * Needs PgBouncer >= 1.21: `max_prepared_statements` makes it track protocol-level (named) prepared
 * statements per client and prepare them on whichever server connection a transaction gets, so pgx's
 * statement cache, lib/pq `Prepare`, node-postgres and postgres.js named statements and Prisma's engine all
 * work in transaction mode unchanged (STANDARD defect 15). Below 1.21 the key does not exist and they fail with
 * `prepared statement "…" does not exist`.
 */
import { PGBOUNCER_PORT } from "../policies/standard/ports";
import { isScramVerifier } from "./scram";

export { PGBOUNCER_PORT };

/**
 * Prepared statements PgBouncer keeps per server connection (LRU; an evicted one is re-prepared on next
 * use, so a client with more distinct statements, e.g. pgx's 512-entry cache, still works). 200 is 1.24's
 * default; set explicitly so that older defaults (0 = off in 1.21–1.23) cannot turn it off.
 */
export const PGBOUNCER_MAX_PREPARED_STATEMENTS = 200;

/**
 * The read-only pool's name for a database (docs/standbys.md "Reads"): `<database>-ro`, forwarded to the same
 * database on the standbys. PgBouncer takes `[0-9A-Za-z_.-]` in a database name unquoted; the stack's
 * database names match `IDENTIFIER_PATTERN` (`[a-z][a-z0-9_]*`, policies/standard/naming.ts), so no database can be named like another's read pool.
 */
export function readPoolDatabase(database: string): string {
    return `${database}-ro`;
}

export interface PgbouncerInput {
    /** Databases clients may ask for, each forwarded to the same name on the server. */
    readonly databases: readonly string[];
    readonly serverHost: string;
    readonly serverPort: number;
    /**
     * The standbys' read Service (`postgres-ro.<ns>.svc`), when the stack has standbys: each database also gets
     * its read-only pool `<database>-ro` there (same port). PgBouncer resolves the headless Service's name to
     * every Ready standby and spreads new server connections over them round-robin.
     */
    readonly readHost?: string;
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
        ...(i.readHost === undefined
            ? []
            : i.databases.map((db) => `${readPoolDatabase(db)} = host=${i.readHost} port=${i.serverPort} dbname=${db}`)),
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
        `max_prepared_statements = ${PGBOUNCER_MAX_PREPARED_STATEMENTS}`,
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

/**
 * userlist.txt: `"user" "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"` per line, quotes doubled:
 * each pooled role's verifier, exactly as the server holds it, and no password.
 *
 * PgBouncer checks a client's SCRAM proof against the verifier, and then logs into the server with the
 * ClientKey that proof revealed ("SCRAM pass-through"). The PgBouncer manual (`auth_file`) states the
 * conditions, all met here: the client authenticates with SCRAM (`auth_type = scram-sha-256`), the database
 * definitions name no user, and the verifier is identical on both sides, salt and iterations included — both
 * come from the same Role input (components/roles.ts). A copy of this Secret therefore gives no login: a
 * verifier cannot be turned back into a password or a client proof.
 */
export function renderUserlist(users: readonly { readonly user: string; readonly verifier: string }[]): string {
    const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
    for (const u of users) {
        if (!isScramVerifier(u.verifier)) {
            // Never the value: it could be a password given by mistake.
            throw new Error(`PgBouncer's userlist takes SCRAM-SHA-256 verifiers only; the entry for ${u.user} is not one`);
        }
    }
    return users.map((u) => `${q(u.user)} ${q(u.verifier)}`).join("\n") + "\n";
}
