/**
 * Extensions of the standard (STANDARD §2, defects 2, 8, 10), written once: the config loader accepts and
 * pins them, the program creates them, the policy pack requires them, the verifier checks them. Imports nothing.
 */

/** Extensions every service database (and template1) must have (STANDARD §2). */
export const REQUIRED_EXTENSIONS = ["vector", "pg_trgm", "uuid-ossp", "pg_stat_statements"] as const;

/**
 * Extensions the server image ships (PostgreSQL 16 contrib plus pgvector), so a stack may ask for them.
 * Anything else would fail at `CREATE EXTENSION` time, after other resources were already created.
 */
export const AVAILABLE_EXTENSIONS: readonly string[] = [
    ...REQUIRED_EXTENSIONS,
    "amcheck",
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "earthdistance",
    "fuzzystrmatch",
    "hstore",
    "intarray",
    "isn",
    "lo",
    "ltree",
    "pg_buffercache",
    "pg_prewarm",
    "pgcrypto",
    "pgstattuple",
    "tablefunc",
    "tcn",
    "unaccent",
];

/**
 * The extension versions the default image (pgvector/pgvector:0.8.0-pg16, PostgreSQL 16) ships as default
 * versions (`SELECT name, default_version FROM pg_available_extensions`). A stack pins these unless it says
 * otherwise; an image with newer ones changes them in `extensionVersions`, and `up` updates each
 * database's extension in place (ALTER EXTENSION … UPDATE TO).
 */
export const DEFAULT_EXTENSION_VERSIONS: Readonly<Record<string, string>> = {
    vector: "0.8.0",
    pg_trgm: "1.6",
    "uuid-ossp": "1.1",
    pg_stat_statements: "1.10",
};

/** Libraries the server must preload: pg_stat_statements' view fails without it (STANDARD defect 2). */
export const PRELOAD_LIBRARIES: readonly string[] = ["pg_stat_statements"];

/**
 * Extensions no database may have, and why: each reaches the server's files, other servers or the operating
 * system, or runs code no privilege check confines. Measured on the PostgreSQL 15 server here
 * (`pg_available_extension_versions`: every one installed is `trusted = false`, so only a superuser creates
 * it); PostgreSQL's docs ("Additional Supplied Modules", "PL/Python", "PL/Perl", "PL/Tcl") say what each does.
 */
export const FORBIDDEN_EXTENSIONS: Readonly<Record<string, string>> = {
    adminpack: "writes, renames and deletes files on the server (pg_file_write, pg_file_unlink)",
    file_fdw: "reads the server's files and runs programs (the program option) as its OS user",
    postgres_fdw: "connects to other servers from the server's network position (the metadata service included)",
    dblink: "connects to other servers (and to this one as whichever role's password it is given) from the server's network position",
    plpython3u: "an untrusted language: its functions run any code as the server's OS user",
    plperlu: "an untrusted language: its functions run any code as the server's OS user",
    pltclu: "an untrusted language: its functions run any code as the server's OS user",
    pageinspect: "reads raw pages of any relation, bypassing every privilege and row-level security",
    pg_surgery: "rewrites heap tuples in place (heap_force_kill, heap_force_freeze), corrupting data at will",
    pg_visibility: "reads visibility data of any relation and can truncate its visibility map",
    pg_walinspect: "reads the write-ahead log, every database's changes included",
};

/**
 * Extensions the standard allows although PostgreSQL marks them untrusted (only a superuser creates them,
 * which the program's provider is): none reaches files, other servers or the operating system. vector and
 * pg_stat_statements are required; amcheck's and pgstattuple's functions are revoked from PUBLIC (granted to
 * pg_stat_scan_tables), pg_buffercache's to pg_monitor, pg_prewarm checks SELECT on the relation it loads, and
 * earthdistance's are SQL functions over cube (test/db/securityFacts.test.ts reads the flags from the server).
 */
export const UNTRUSTED_ALLOWED_EXTENSIONS: readonly string[] = [
    "vector",
    "pg_stat_statements",
    "amcheck",
    "earthdistance",
    "pg_buffercache",
    "pg_prewarm",
    "pgstattuple",
];

/** Why an extension may not be created in a database under the standard, or undefined when it may. */
export function extensionProblem(name: string): string | undefined {
    if (name in FORBIDDEN_EXTENSIONS) {
        return FORBIDDEN_EXTENSIONS[name];
    }
    if (!AVAILABLE_EXTENSIONS.includes(name) && name !== "plpgsql") {
        return `is not one the standard's image ships and allows (${AVAILABLE_EXTENSIONS.join(", ")})`;
    }
    return undefined;
}
