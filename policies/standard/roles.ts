/**
 * Roles of the standard (STANDARD §4, defect 18), written once: the administrator, the server's own jobs'
 * roles, the attributes no application role may have, and the databases closed to services. The program
 * builds roles from it, init-sql renders them, the policy pack and the live verifier check them. Imports nothing.
 */

/** The administrative superuser. Applications never connect as this role. */
export const ADMIN_ROLE = "hanzo";
/** Key of the admin Secret holding the password's SCRAM-SHA-256 verifier (what the server pod applies). */
export const ADMIN_VERIFIER_KEY = "scram-verifier";

/**
 * Role attributes no application role may have, by the name the @pulumi/postgresql Role uses and by the
 * name PostgreSQL uses (pg_roles column), so the program, the policy and the live verifier agree.
 */
export const FORBIDDEN_ROLE_ATTRIBUTES = [
    { input: "superuser", column: "rolsuper", sql: "SUPERUSER" },
    { input: "createRole", column: "rolcreaterole", sql: "CREATEROLE" },
    { input: "createDatabase", column: "rolcreatedb", sql: "CREATEDB" },
    { input: "replication", column: "rolreplication", sql: "REPLICATION" },
    { input: "bypassRowLevelSecurity", column: "rolbypassrls", sql: "BYPASSRLS" },
] as const;

/** SUPERUSER, the attribute only the administrator has. */
export const SUPERUSER_ATTRIBUTE = FORBIDDEN_ROLE_ATTRIBUTES[0];

/** Roles the server's own jobs use (not services): metrics (pg_monitor) and backups (pg_read_all_data). */
export const MONITOR_ROLE = "hanzo_monitor";
export const BACKUP_ROLE = "hanzo_backup";
/** The standbys' role (policies/standard/replication.ts): streams WAL, nothing else. */
export const REPLICATION_ROLE = "hanzo_replication";
export const SYSTEM_ROLES: readonly string[] = [MONITOR_ROLE, BACKUP_ROLE, REPLICATION_ROLE];
/**
 * The one exception each system role has to FORBIDDEN_ROLE_ATTRIBUTES (by the provider's input name): the
 * backup role BYPASSRLS (pg_dump must read every row of a table with row-level security, defect 18), the
 * replication role REPLICATION (a standby streams WAL as it). Every other role has none.
 */
export const ALLOWED_ROLE_ATTRIBUTES: Readonly<Record<string, readonly (typeof FORBIDDEN_ROLE_ATTRIBUTES)[number]["input"][]>> = {
    [BACKUP_ROLE]: ["bypassRowLevelSecurity"],
    [REPLICATION_ROLE]: ["replication"],
};
/**
 * Databases every cluster has besides the services': PUBLIC may not connect to them (a service role has no
 * business there, reads other roles' statements through pg_stat_statements, and a session held in template1
 * blocks CREATE DATABASE). Only the administrator, and the exporter to the one it scrapes, connect.
 */
export const MAINTENANCE_DATABASES: readonly string[] = ["postgres", "template1"];
/** The database the metrics exporter connects to (and may: CONNECT is granted to it alone). */
export const MONITOR_DATABASE = "postgres";

/**
 * The memberships the standard gives its own roles, and no other: the exporter reads every statistics view
 * (pg_monitor), the backup role reads every table (pg_read_all_data; with BYPASSRLS and lo_compat_privileges
 * pg_dump reads everything a service can create, STANDARD defect 18). Service roles are members of nothing.
 * The program grants exactly these (components/monitoring.ts, components/backups.ts); the policy pack allows
 * exactly these; the live verifier expects exactly these.
 */
export const SYSTEM_ROLE_MEMBERSHIPS: Readonly<Record<string, readonly string[]>> = {
    [MONITOR_ROLE]: ["pg_monitor"],
    [BACKUP_ROLE]: ["pg_read_all_data"],
};

/**
 * PostgreSQL's predefined roles (PostgreSQL 15 and 16 docs, "Predefined Roles"; the 15 server here lists the
 * first twelve in pg_roles, 16 adds the last two) and what a member of each can do beyond its own database.
 * No role but the administrator is a member of any of them, except SYSTEM_ROLE_MEMBERSHIPS.
 */
export const PREDEFINED_ROLES: Readonly<Record<string, string>> = {
    pg_execute_server_program: "runs programs on the server as its OS user (COPY … PROGRAM): a superuser in all but name",
    pg_read_server_files: "reads any file the server can (COPY … FROM a file, pg_read_file): the data directory included",
    pg_write_server_files: "writes any file the server can (COPY … TO a file): a superuser in all but name",
    pg_read_all_data: "reads every table of every database",
    pg_write_all_data: "writes and deletes every table of every database",
    pg_signal_backend: "cancels and terminates other roles' sessions (every service's)",
    pg_checkpoint: "forces checkpoints at will (I/O storms)",
    pg_monitor: "reads every role's queries and statistics",
    pg_read_all_settings: "reads every server setting, file paths included",
    pg_read_all_stats: "reads every role's statistics and query texts",
    pg_stat_scan_tables: "runs functions that lock and scan any table",
    pg_database_owner: "would own every database it connects to (PostgreSQL refuses explicit members)",
    pg_create_subscription: "creates subscriptions that connect to other servers (PostgreSQL 16)",
    pg_use_reserved_connections: "takes the connection slots reserved for administration (PostgreSQL 16)",
};

/** Memberships that hand over the server itself: the administrator and the roles that reach its files and programs. */
export const SUPERUSER_EQUIVALENT_ROLES: readonly string[] = [
    ADMIN_ROLE,
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
];
