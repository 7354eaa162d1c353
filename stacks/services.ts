/**
 * The values derived from a valid configuration: each service entry with the stack's context-dependent
 * defaults applied (database per environment, role, namespace, Secret, retention), and the rules that need
 * the stack or the other entries to say whether an entry is valid.
 */
import {
    REQUIRED_EXTENSIONS,
    TEST_SUFFIX,
    databaseNameProblem,
    identifierProblem,
    kubernetesNameFor,
    roleNameFor,
} from "../policies/standard/rules";
import { PROJECT } from "../policies/standard/types";
import { Config } from "./schema";
import type { ServiceEntry } from "./serviceFields";
/** A service entry with every context-dependent default applied (the stack's environment, namespace, ...). */
export interface ResolvedService extends Readonly<Omit<ServiceEntry, "database" | "namespace" | "backupRetentionDays" | "keepPassword">> {
    readonly database: string;
    /** Login role: `<database>_user`. */
    readonly role: string;
    readonly namespace: string;
    /** Name of the service's connection Secret (`<service>-database`, hyphenated). */
    readonly secretName: string;
    readonly backupRetentionDays: number;
    readonly keepPassword: boolean;
}

export type Report = (path: (string | number)[], input: unknown, message: string) => void;

/**
 * The services with their defaults from the stack, and the rules that need the stack or other entries:
 * database names per environment, duplicates, features the stack must enable, renames. `valid(i)` says
 * whether entry i passed its own schema (only those are resolved).
 */
export function resolveServices(c: Config, valid: (i: number) => boolean, report: Report): ResolvedService[] {
    const isTest = c.environment === "test";
    const resolved: ResolvedService[] = [];
    const seen = new Map<string, string>();
    /** Claims a unique value for an entry; reports the clash and returns false when taken. */
    const claim = (what: string, value: string, path: (string | number)[], why: string): boolean => {
        const id = `${what}:${value}`;
        const first = seen.get(id);
        if (first !== undefined) {
            report(path, value, `duplicate ${what}; ${PROJECT}:${first} already uses it (${why})`);
            return false;
        }
        seen.set(id, `services[${path[1]}].${path[2]}`);
        return true;
    };
    c.services.forEach((e, i) => {
        if (!valid(i)) {
            return;
        }
        const at = (field: string) => ["services", i, field];
        if (isTest && e.name.endsWith(TEST_SUFFIX)) {
            return report(
                at("name"),
                e.name,
                `give the service's own name; the test environment adds "${TEST_SUFFIX}" to its database and role`,
            );
        }
        const database = e.database ?? (isTest ? `${e.name}${TEST_SUFFIX}` : e.name);
        const dbAt = at(e.database === undefined ? "name" : "database");
        const dbRule = databaseNameProblem(e.name, database, c.environment, c.legacyDatabases);
        if (dbRule) {
            return report(dbAt, database, `database name ${dbRule}`);
        }
        const role = roleNameFor(database);
        const roleRule = identifierProblem(role);
        if (roleRule) {
            return report(dbAt, database, `its role "${role}" ${roleRule}; shorten the name`);
        }
        const needs = [
            [e.pooled && !c.poolingEnabled, "pooled", "pooler", "poolingEnabled"],
            [e.kmsSync && !c.kmsEnabled, "kmsSync", "KMS sync", "kmsEnabled"],
        ] as const;
        for (const [missing, field, what, stackKey] of needs.filter(([missing]) => missing)) {
            report(at(field), missing, `needs the stack's ${what}: pulumi config set ${stackKey} true`);
        }
        if (needs.some(([missing]) => missing)) {
            return;
        }
        // An adopted service keeps the password the KMS holds until it is rotated on purpose.
        const keepPassword = e.keepPassword ?? c.adopt;
        if (keepPassword && e.pooled) {
            return report(
                at("keepPassword"),
                keepPassword,
                "a pooled service needs the password in PgBouncer's userlist, which the program only knows once it manages it: rotate first (keepPassword: false), then pool",
            );
        }
        if (e.renamedFrom === e.name) {
            return report(
                at("renamedFrom"),
                e.renamedFrom,
                "is the service's current name; remove renamedFrom once the rename is applied, or give the old name",
            );
        }
        const namespace = e.namespace ?? c.namespace;
        const secretName = `${kubernetesNameFor(e.name)}-database`;
        if (
            !claim("service name", e.name, at("name"), "one entry per service") ||
            !claim("database", database, dbAt, "one database per service") ||
            !claim("connection Secret", `${namespace}/${secretName}`, at("name"), "rename one of the services")
        ) {
            return;
        }
        resolved.push({
            ...e,
            database,
            role,
            namespace,
            secretName,
            extensions: [...new Set<string>([...REQUIRED_EXTENSIONS, ...e.extensions])],
            backupRetentionDays: e.backupRetentionDays ?? c.backupRetentionDays,
            keepPassword,
        });
    });
    for (const s of resolved) {
        if (s.renamedFrom !== undefined && resolved.some((o) => o.name === s.renamedFrom)) {
            report(
                ["services", c.services.findIndex((e) => e.name === s.name), "renamedFrom"],
                s.renamedFrom,
                `service "${s.renamedFrom}" is still declared: a rename moves its database, so remove the old entry`,
            );
        }
    }
    return resolved;
}
