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
