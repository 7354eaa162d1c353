import type { StackValidationPolicy } from "@pulumi/policy";
import {
    ADMIN_ROLE,
    DEFAULT_LEGACY_DATABASES,
    ROLE_SUFFIX,
    SYSTEM_ROLES,
    TEST_ENVIRONMENT,
    TEST_SUFFIX,
    databaseOfRole,
    environmentSuffixOf,
    identifierProblem,
    reservedDatabaseProblem,
    roleNameFor,
} from "./standard/rules";
import {
    ENVIRONMENT_SCHEMA,
    EnvironmentConfig,
    LEGACY_SCHEMA,
    T,
    configOf,
    environmentOf,
    known,
    ofType,
    pgName,
    plainStack,
    str,
} from "./lib";

export interface NamingConfig extends EnvironmentConfig {
    legacyDatabases: string[];
}

/**
 * postgres-naming: databases and roles follow the standard's names (STANDARD §6, ADR-60).
 *
 * Protects: unambiguous, portable names (PostgreSQL folds capitals, rejects hyphens unquoted and silently
 * truncates past 63 bytes), and environment isolation: in a test environment every database (and so its
 * role, `<database>_user`) ends in `_test`, so a test can never reach a dev or prod database; outside it,
 * none does. A database is `<service>` or `<service>_<env>` of the stack's own environment; a service role
 * is `<database>_user` and owns its database. Legacy names (pack config) are exempt from the name shape.
 * Instead: rename in the stack configuration (the program derives every name from the service name).
 */
export const postgresNaming: StackValidationPolicy = {
    name: "postgres-naming",
    description:
        "PostgreSQL databases and roles are lowercase [a-z][a-z0-9_]*, at most 63 bytes, not the server's own (postgres, template0/1, pg_*), <service>[_<env>] and <database>_user, _test exactly in the test environment.",
    configSchema: { properties: { ...ENVIRONMENT_SCHEMA, ...LEGACY_SCHEMA } },
    validateStack: (raw, report) => {
        const args = plainStack(raw);
        const cfg = configOf<NamingConfig>(args, { legacyDatabases: [...DEFAULT_LEGACY_DATABASES] });
        const env = environmentOf(args, cfg.environment);
        // A name not known yet (a preview) is checked when it is.
        const databases = ofType(args, T.database).filter((db) => known(pgName(db)));
        const names = new Set(databases.map(pgName));

        for (const db of databases) {
            const name = pgName(db);
            const invalid = identifierProblem(name) ?? reservedDatabaseProblem(name);
            if (invalid) {
                report(`database "${name}" ${invalid}.`, db.urn);
                continue;
            }
            if (env === TEST_ENVIRONMENT && !name.endsWith(TEST_SUFFIX)) {
                report(
                    `database "${name}" must end in "${TEST_SUFFIX}" in the test environment (ADR-60), so tests never reach another environment's data.`,
                    db.urn,
                );
            } else if (env !== undefined && env !== TEST_ENVIRONMENT && name.endsWith(TEST_SUFFIX)) {
                report(
                    `database "${name}" ends in "${TEST_SUFFIX}" in a ${env} stack; only the test environment uses that suffix (ADR-60).`,
                    db.urn,
                );
            } else if (!cfg.legacyDatabases.includes(name)) {
                const suffix = environmentSuffixOf(name);
                if (suffix !== undefined && suffix !== TEST_ENVIRONMENT && env !== undefined && suffix !== env) {
                    report(
                        `database "${name}" names the ${suffix} environment in a ${env} stack; use "<service>" or "<service>_${env}".`,
                        db.urn,
                    );
                }
            }
            const owner = str(db.props?.owner);
            if (owner !== undefined && owner !== roleNameFor(name)) {
                report(
                    `database "${name}" is owned by "${owner}"; its owner must be its service role "${roleNameFor(name)}", so the service can run its own migrations.`,
                    db.urn,
                );
            }
        }
        if (env === undefined) {
            const test = [...names].filter((n) => n.endsWith(TEST_SUFFIX));
            if (test.length > 0 && test.length < names.size) {
                report(`databases mix test (${test.join(", ")}) and non-test names; a stack is one environment (ADR-60).`);
            }
        }

        for (const role of ofType(args, T.role)) {
            const name = pgName(role);
            if (!known(name)) {
                continue;
            }
            const invalid = identifierProblem(name);
            if (invalid) {
                report(`role "${name}" ${invalid}.`, role.urn);
                continue;
            }
            if (name === ADMIN_ROLE || SYSTEM_ROLES.includes(name)) {
                continue;
            }
            const database = databaseOfRole(name);
            if (database === undefined) {
                report(`role "${name}" must be named after its database: <database>${ROLE_SUFFIX}.`, role.urn);
                continue;
            }
            if (!names.has(database)) {
                report(
                    `role "${name}" has no database "${database}" in this stack; a service role is named after its database (<database>${ROLE_SUFFIX}).`,
                    role.urn,
                );
            }
        }
    },
};
