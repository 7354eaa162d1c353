/**
 * Names of the standard (STANDARD §6, ADR-60), written once: identifiers, environments and their suffix,
 * `<database>_user`, the names PostgreSQL keeps for itself. The config loader rejects bad names with it, the
 * program derives every name from it, the policy pack checks them. Imports only the key words.
 */
import { isReservedKeyword } from "./keywords";

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

/** What a service role's name adds to its database's name. */
export const ROLE_SUFFIX = "_user";

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
    if (database === PUBLIC_NAME) {
        return `is the name of every database's default schema and of the pseudo-role PUBLIC (GRANT … TO public means every role); give the service a name of its own`;
    }
    const role = roleNameFor(database);
    return (
        reservedKeywordProblem(database) ??
        (isReservedKeyword(role)
            ? `would give the role "${role}", a key word PostgreSQL reserves (SQL reads it as the session's user, not a name); give the service another name`
            : undefined)
    );
}

/** The name GRANT and REVOKE read as every role, and every database's default schema. */
export const PUBLIC_NAME = "public";

/**
 * Why a name is a key word PostgreSQL reserves (policies/standard/keywords.ts), or undefined. `CREATE DATABASE
 * select` is a syntax error, and so is every query that names it unquoted (the drill's, the verifier's, a
 * person's); a service `current` would get the role `current_user`, which SQL reads as the session's user.
 */
export function reservedKeywordProblem(name: string): string | undefined {
    return isReservedKeyword(name)
        ? `"${name}" is a key word PostgreSQL reserves, which SQL cannot take as a name unquoted; give the service another name`
        : undefined;
}

/**
 * Namespaces Kubernetes keeps for itself: the `kube-` prefix (kube-system, kube-public, kube-node-lease: "Avoid
 * creating namespaces with the prefix kube-, since it is reserved for Kubernetes system namespaces", the
 * Namespaces page of the Kubernetes docs), and `default`, where every object applied without a namespace lands:
 * the NetworkPolicy admits the pods of the server's namespace, which there means whatever anyone deploys
 * without one.
 */
export const RESERVED_NAMESPACE_PREFIX = "kube-";
export const DEFAULT_NAMESPACE = "default";

/** Why a namespace may not hold the server or a service's credentials, or undefined. */
export function namespaceProblem(namespace: string): string | undefined {
    if (namespace.startsWith(RESERVED_NAMESPACE_PREFIX)) {
        return `is a Kubernetes system namespace (the "${RESERVED_NAMESPACE_PREFIX}" prefix is reserved for Kubernetes); use a namespace of your own, e.g. hanzo`;
    }
    if (namespace === DEFAULT_NAMESPACE) {
        return "is where every object applied without a namespace lands, and the server admits every pod of its namespace; use a namespace of your own, e.g. hanzo";
    }
    return undefined;
}

/**
 * Why `database` is not an acceptable database name for `service` in `environment`, or undefined.
 *
 * Accepted: `<service>`, or `<service>_<environment>`; in the test environment only `<service>_test`;
 * outside it, never a name ending in `_test`. Names in `legacy` are accepted as they are.
 */
export function databaseNameProblem(service: string, database: string, environment: string, legacy: readonly string[]): string | undefined {
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

/** The environment suffix a name carries, if any: the part after the last underscore when it is an environment. */
export function environmentSuffixOf(name: string): Environment | undefined {
    const last = name.slice(name.lastIndexOf("_") + 1);
    return (ENVIRONMENTS as readonly string[]).includes(last) && name.includes("_") ? (last as Environment) : undefined;
}
