/**
 * The Hanzo SQL standard (HIP-29, ADR-60, as restated in STANDARD.md), written once.
 *
 * The program builds from these rules, `stacks/` rejects bad configuration with them, and the policy pack
 * rejects non-compliant resources with them. This module imports nothing, so that the policy pack (which
 * has its own node_modules) can load it as is.
 */

/** The administrative superuser. Applications never connect as this role. */
export const ADMIN_ROLE = "hanzo";
/** Key of the admin Secret holding the password's SCRAM-SHA-256 verifier (what the server pod applies). */
export const ADMIN_VERIFIER_KEY = "scram-verifier";

/** PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1), silently. */
export const IDENTIFIER_MAX_BYTES = 63;

/** Database, role and service names: lowercase ASCII letters, digits and underscores, starting with a letter. */
export const IDENTIFIER_PATTERN = /^[a-z][a-z0-9_]*$/;

/** The environment whose every database and role carries the `_test` suffix (ADR-60). */
export const TEST_ENVIRONMENT = "test";
export const TEST_SUFFIX = "_test";

/** Environments a stack may declare. Only `test` changes names; every other one is protected. */
export const ENVIRONMENTS = ["dev", "test", "staging", "prod"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** Database names allowed to break the `<service>` / `<service>_<env>` rule, by default. */
export const DEFAULT_LEGACY_DATABASES: readonly string[] = ["hanzo_cloud"];

/** Extensions every service database (and template1) must have (STANDARD §2). */
export const REQUIRED_EXTENSIONS = ["vector", "pg_trgm", "uuid-ossp", "pg_stat_statements"] as const;

/**
 * Extensions the server image ships (PostgreSQL 16 contrib plus pgvector), so a stack may ask for them.
 * Anything else would fail at `CREATE EXTENSION` time, after other resources were already created.
 */
export const AVAILABLE_EXTENSIONS: readonly string[] = [
    ...REQUIRED_EXTENSIONS,
    "amcheck", "btree_gin", "btree_gist", "citext", "cube", "earthdistance", "fuzzystrmatch", "hstore",
    "intarray", "isn", "lo", "ltree", "pg_buffercache", "pg_prewarm", "pgcrypto", "pgstattuple",
    "tablefunc", "tcn", "unaccent",
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

/**
 * Annotation on a StatefulSet whose data volume was adopted from the seed's deployment (STANDARD defect 19):
 * its PGDATA is the volume's mount root, where the seed's initdb put it. Such a volume is not fresh (no
 * lost+found problem), so the policy accepts that layout there and nowhere else.
 */
export const ADOPTED_VOLUME_ANNOTATION = "hanzo.ai/adopted-volume";

/** Libraries the server must preload: pg_stat_statements' view fails without it (STANDARD defect 2). */
export const PRELOAD_LIBRARIES: readonly string[] = ["pg_stat_statements"];

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

/** What a service role's name adds to its database's name. */
export const ROLE_SUFFIX = "_user";

/** SUPERUSER, the attribute only the administrator has. */
export const SUPERUSER_ATTRIBUTE = FORBIDDEN_ROLE_ATTRIBUTES[0];

/** The role a service connects as: `<database>_user` (the role follows the database, ADR-60). */
export function roleNameFor(database: string): string {
    return `${database}${ROLE_SUFFIX}`;
}

/** The database a service role is named after (`iam_user` → `iam`), or undefined when the name is not `<database>_user`. */
export function databaseOfRole(role: string): string | undefined {
    return role.endsWith(ROLE_SUFFIX) && role.length > ROLE_SUFFIX.length ? role.slice(0, -ROLE_SUFFIX.length) : undefined;
}

/** The Kubernetes-safe form of a service name (DNS-1123 labels have no underscores). */
export function kubernetesNameFor(service: string): string {
    return service.replace(/_/g, "-");
}

/** Bytes of a string in UTF-8, which is what PostgreSQL counts against NAMEDATALEN. */
export function utf8Length(s: string): number {
    let n = 0;
    for (const ch of s) {
        const cp = ch.codePointAt(0)!;
        n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
    return n;
}

/**
 * Why `name` is not a valid PostgreSQL identifier under the standard, or undefined when it is.
 * Checks, in order: characters (capitals, hyphens, leading digits, anything else), then length.
 */
export function identifierProblem(name: string): string | undefined {
    if (name.length === 0) {
        return "must not be empty";
    }
    if (!IDENTIFIER_PATTERN.test(name)) {
        if (/[A-Z]/.test(name)) {
            return "must be lowercase (PostgreSQL folds unquoted identifiers to lowercase, so capitals need quoting everywhere)";
        }
        if (name.includes("-")) {
            return "must use underscores, not hyphens";
        }
        if (!/^[a-z]/.test(name)) {
            return "must start with a lowercase letter";
        }
        return "may contain only lowercase letters, digits and underscores";
    }
    const bytes = utf8Length(name);
    if (bytes > IDENTIFIER_MAX_BYTES) {
        return `is ${bytes} bytes long; PostgreSQL silently truncates identifiers to ${IDENTIFIER_MAX_BYTES} bytes`;
    }
    return undefined;
}

/** Databases every PostgreSQL server has; a service database by one of these names would be the server's own. */
export const SYSTEM_DATABASES: readonly string[] = ["postgres", "template0", "template1"];

/** PostgreSQL reserves role names starting with `pg_` (CREATE ROLE fails); a service role is `<database>_user`. */
export const RESERVED_ROLE_PREFIX = "pg_";

/** Why `database` (and so its role `<database>_user`) collides with a name PostgreSQL keeps for itself, or undefined. */
export function reservedDatabaseProblem(database: string): string | undefined {
    if (SYSTEM_DATABASES.includes(database)) {
        return `is one of the server's own databases (${SYSTEM_DATABASES.join(", ")}); give the service a name of its own`;
    }
    if (database.startsWith(RESERVED_ROLE_PREFIX)) {
        return `must not start with "${RESERVED_ROLE_PREFIX}": PostgreSQL reserves role names with that prefix, and the role would be "${roleNameFor(database)}"`;
    }
    return undefined;
}

/**
 * Why `database` is not an acceptable database name for `service` in `environment`, or undefined.
 *
 * Accepted: `<service>`, or `<service>_<environment>`; in the test environment only `<service>_test`;
 * outside it, never a name ending in `_test`. Names in `legacy` are accepted as they are.
 */
export function databaseNameProblem(
    service: string,
    database: string,
    environment: string,
    legacy: readonly string[],
): string | undefined {
    const invalid = identifierProblem(database) ?? reservedDatabaseProblem(database);
    if (invalid !== undefined) {
        return invalid;
    }
    const isTest = environment === TEST_ENVIRONMENT;
    if (isTest && !database.endsWith(TEST_SUFFIX)) {
        return `must end in "${TEST_SUFFIX}" in the test environment (ADR-60), e.g. "${service}${TEST_SUFFIX}"`;
    }
    if (!isTest && database.endsWith(TEST_SUFFIX)) {
        return `must not end in "${TEST_SUFFIX}" outside the test environment (ADR-60)`;
    }
    if (legacy.includes(database)) {
        return undefined;
    }
    if (database !== service && database !== `${service}_${environment}`) {
        return `must be the service name "${service}" or "${service}_${environment}" (or be listed in legacyDatabases)`;
    }
    return undefined;
}

/** Roles the server's own jobs use (not services): metrics (pg_monitor) and backups (pg_read_all_data). */
export const MONITOR_ROLE = "hanzo_monitor";
export const BACKUP_ROLE = "hanzo_backup";
export const SYSTEM_ROLES: readonly string[] = [MONITOR_ROLE, BACKUP_ROLE];
/**
 * Databases every cluster has besides the services': PUBLIC may not connect to them (a service role has no
 * business there, reads other roles' statements through pg_stat_statements, and a session held in template1
 * blocks CREATE DATABASE). Only the administrator, and the exporter to the one it scrapes, connect.
 */
export const MAINTENANCE_DATABASES: readonly string[] = ["postgres", "template1"];
/** The database the metrics exporter connects to (and may: CONNECT is granted to it alone). */
export const MONITOR_DATABASE = "postgres";

/** The environment suffix a name carries, if any: the part after the last underscore when it is an environment. */
export function environmentSuffixOf(name: string): Environment | undefined {
    const last = name.slice(name.lastIndexOf("_") + 1);
    return (ENVIRONMENTS as readonly string[]).includes(last) && name.includes("_") ? (last as Environment) : undefined;
}

/** Why an image reference is not pinned, or undefined. */
export function imageProblem(image: string): string | undefined {
    if (!/^[a-z0-9][a-z0-9._\-/:@]*$/.test(image)) {
        return "must be an image reference such as pgvector/pgvector:0.8.0-pg16";
    }
    const [ref, digest] = image.split("@");
    const lastSlash = ref.lastIndexOf("/");
    const colon = ref.indexOf(":", lastSlash + 1);
    const tag = colon >= 0 ? ref.slice(colon + 1) : undefined;
    if (digest !== undefined && !/^sha256:[a-f0-9]{64}$/.test(digest)) {
        return "has a malformed digest; use @sha256:<64 hex digits>";
    }
    if (digest === undefined && tag === undefined) {
        return "must be pinned by a tag or digest; an untagged image means :latest, which is not reproducible (STANDARD defect 7)";
    }
    if (tag === "latest") {
        return "must not use :latest, which is not reproducible (STANDARD defect 7); pin a version tag or digest";
    }
    return undefined;
}
