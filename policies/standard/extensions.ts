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
