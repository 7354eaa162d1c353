/**
 * A service entry of the configuration (`services:`): its fields, each with its type, default, rule and
 * description, and the entry itself (a name, or an object with at least `name`).
 */
import { z } from "zod";
import { AVAILABLE_EXTENSIONS, identifierProblem } from "../policies/standard/rules";
import { CONNECTION_SHAPES } from "../render/connection";
import { DNS_LABEL, KEY_META, MAX_CONNECTIONS, MAX_RETENTION_DAYS, flag, key, pattern, rule, text } from "./zodHelpers";

const PASSWORD_VERSION = "must be a positive whole number; raise it by one to rotate the service's password";
const CONNECTION_LIMIT = `must be a whole number from 1 to ${MAX_CONNECTIONS} (the server's max_connections), or -1 for no limit`;
const RETENTION = `must be a whole number of days up to ${MAX_RETENTION_DAYS} (0: not backed up; e.g. 2555 for 7 years)`;
const TABLES = "must be a list of table names (`table` or `schema.table`, lowercase)";
const SERVICE_FIELD_SHAPE = {
    name: key(
        text("required: the service name, e.g. iam").superRefine(
            rule((v: string) => identifierProblem(v) && `service name ${identifierProblem(v)}`),
        ),
        "the service's name, [a-z][a-z0-9_]* (an entry may be just the name)",
    ),
    database: key(text().optional(), "its database: <service>, <service>_<env> or a legacyDatabases name; <service>_test in test"),
    namespace: key(
        text("must be a Kubernetes namespace name")
            .superRefine(pattern(DNS_LABEL, "must be a Kubernetes namespace name", 63))
            .optional(),
        "namespace of its connection Secret; default the server's namespace",
    ),
    connection: key(
        z.enum(CONNECTION_SHAPES, { error: `must be one of ${CONNECTION_SHAPES.join(", ")}` }).default("url"),
        "extra key its connection Secret carries: url, beego, infisical or krakend",
    ),
    extensions: key(
        z
            .array(z.string(), { error: "must be a list of extension names" })
            .superRefine((v, ctx) => {
                const unknown = v.filter((x) => !AVAILABLE_EXTENSIONS.includes(x));
                if (unknown.length > 0) {
                    ctx.addIssue({
                        code: "custom",
                        input: unknown,
                        message: `unknown extension; the image ships ${AVAILABLE_EXTENSIONS.join(", ")}`,
                    });
                }
            })
            .default([]),
        "extensions besides the standard's four (vector, pg_trgm, uuid-ossp, pg_stat_statements)",
    ),
    requiredTables: key(
        z
            .array(z.string(), { error: TABLES })
            .superRefine(rule((v: string[]) => (v.every((t) => /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/.test(t)) ? undefined : TABLES)))
            .default([]),
        "tables the live verifier expects once the service has migrated (table or schema.table)",
    ),
    connectionLimit: key(
        z
            .number({ error: CONNECTION_LIMIT })
            .superRefine(
                rule((v: number) => (Number.isInteger(v) && (v === -1 || (v >= 1 && v <= MAX_CONNECTIONS)) ? undefined : CONNECTION_LIMIT)),
            )
            .default(-1),
        "connection limit of its role; -1: none",
    ),
    backupRetentionDays: key(
        z.number({ error: RETENTION }).int(RETENTION).min(0, RETENTION).max(MAX_RETENTION_DAYS, RETENTION).optional(),
        "days its dumps are kept; default the stack's backupRetentionDays; 0: not backed up",
    ),
    pooled: key(flag().default(false), "connect through PgBouncer (needs poolingEnabled)"),
    kmsSync: key(flag().default(false), "sync its DATABASE_URL from the KMS (needs kmsEnabled and kmsProjectSlug)"),
    passwordVersion: key(
        z.number({ error: PASSWORD_VERSION }).int(PASSWORD_VERSION).min(1, PASSWORD_VERSION).default(1),
        "version of its generated password; raise it by one to rotate",
    ),
    keepPassword: key(
        flag().optional(),
        "leave its password as the KMS holds it (default when adopting); false rotates it to the program's",
    ),
    renamedFrom: key(
        text("must be the service's previous name")
            .superRefine(rule((v: string) => identifierProblem(v) && `previous service name ${identifierProblem(v)}`))
            .optional(),
        "its previous name: its database and role are renamed in place",
    ),
};
export const SERVICE_FIELDS = Object.keys(SERVICE_FIELD_SHAPE) as (keyof typeof SERVICE_FIELD_SHAPE)[];
/** A service field's description. */
export const serviceFieldDoc = (field: keyof typeof SERVICE_FIELD_SHAPE) => KEY_META.get(SERVICE_FIELD_SHAPE[field])?.description ?? "";

/** A service entry: a name, or an object with at least `name`. */
export const SERVICE = z.preprocess(
    (v) => (typeof v === "string" ? { name: v } : v),
    z.strictObject(SERVICE_FIELD_SHAPE, {
        error: (iss) =>
            iss.code === "unrecognized_keys"
                ? `unknown field; a service has ${SERVICE_FIELDS.join(", ")}`
                : "must be a service name or an object with at least `name`",
    }),
);
export type ServiceEntry = z.output<typeof SERVICE>;
