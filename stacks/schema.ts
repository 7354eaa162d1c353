/**
 * The one schema of a stack's configuration (zod 4): every key of the `hanzo-sql` namespace and of a service
 * entry, with its type, default, bounds, rule (and fix), description and secret-ness. The loader validates
 * with it, the spec types follow from its output, and Pulumi.yaml's `config:` block, the README's table and
 * the stack files' JSON Schema are derived from it (cli/configSchema.ts; test/stacks/schema.test.ts).
 *
 * The rules themselves live in policies/standard/* and stacks/schedule.ts; the schema only calls them.
 */
import { z } from "zod";
import { formatBytes, parseQuantity } from "../policies/standard/quantity";
import {
    AVAILABLE_EXTENSIONS,
    DEFAULT_LEGACY_DATABASES,
    ENVIRONMENTS,
    REQUIRED_EXTENSIONS,
    TEST_SUFFIX,
    databaseNameProblem,
    identifierProblem,
    imageProblem,
    kubernetesNameFor,
    reservedDatabaseProblem,
    roleNameFor,
} from "../policies/standard/rules";
import { POD_NETWORK, networkProblem } from "../policies/standard/network";
import { POSTGRES_PORT } from "../policies/standard/ports";
import { STORAGE_CLASS, STORAGE_SIZE } from "../policies/standard/storage";
import { SEED_SETTINGS, VECTOR_SETTING_RULES, VectorSettings, vectorSettingProblem } from "../policies/standard/settings";
import { MAX_STANDBYS, READ_SERVICE, replicationProblem } from "../policies/standard/replication";
import { KMS_SYNC_CRDS, kmsSyncCrd } from "../render/kmsSync";
import { pgbouncerVersionProblem } from "../render/pgbouncer";
import { MAX_BACKUP_GAP_SECONDS, scheduleProblem, schedulePeriodSeconds } from "./schedule";
import { CONNECTION_SHAPES } from "./spec";

/** The project's configuration namespace (the `name` in Pulumi.yaml). */
export const PROJECT = "hanzo-sql";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Bounds past which a value is a typo, not a plan: more than any node offers, or than the volume service allows. */
const MAX_MEMORY_BYTES = 2 ** 40;
const MAX_CPUS = 256;
const MAX_STORAGE_BYTES = 16 * 2 ** 40;
export const MAX_RETENTION_DAYS = 36_500;
const MAX_CONNECTIONS = Number(SEED_SETTINGS.max_connections);
const SSLMODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;

/** What the schema says about a key besides its type: its description and whether its value is a secret. */
export interface KeyMeta {
    readonly description: string;
    readonly secret?: boolean;
}
/** Each key's description and secret-ness (descriptions also go into the JSON Schema). */
export const KEY_META = z.registry<KeyMeta>();

/** A rule from policies/standard (why a value is wrong, or undefined) as a zod check with that message. */
function rule<T>(problem: (value: T) => string | undefined) {
    return (value: T, ctx: z.RefinementCtx<T>) => {
        const why = problem(value);
        if (why !== undefined) {
            ctx.addIssue({ code: "custom", message: why, input: value });
        }
    };
}
const pattern = (re: RegExp, message: string, max = Infinity) => rule((v: string) => (re.test(v) && v.length <= max ? undefined : message));

const text = (error = "must be a string") => z.string({ error });
const whole = () => z.int({ error: "must be a whole number" });
const flag = () => z.boolean({ error: "must be true or false" });
const stringList = () => z.array(z.string(), { error: "must be a list of strings" });

/** A Kubernetes quantity string (`2Gi`, `500m`), bounded in its own unit (bytes or cores). */
function quantity(kind: "bytes" | "cpu", bounds: { min?: [number, string]; max?: [number, string] } = {}) {
    const example = kind === "bytes" ? '"2Gi" or "512Mi"' : '"500m" or "2"';
    return text().superRefine((v, ctx) => {
        const n = parseQuantity(v);
        const fail = (message: string) => ctx.addIssue({ code: "custom", message, input: v });
        if (n === undefined || n <= 0) {
            fail(`must be a Kubernetes quantity, e.g. ${example}`);
        } else if (bounds.min && n < bounds.min[0]) {
            fail(bounds.min[1]);
        } else if (bounds.max && n > bounds.max[0]) {
            fail(bounds.max[1]);
        }
    });
}

/**
 * Why `value` is not a plain http(s) URL (no credentials, query or fragment; a path only where `path`), or
 * undefined. Such values are written into URLs and resources as they are, so nothing may ride along.
 */
function httpUrlProblem(value: string, path: boolean): string | undefined {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        return "not a URL";
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
        return "the scheme must be http or https";
    }
    if (url.username || url.password || value.includes("@")) {
        return "no credentials in the URL";
    }
    if (url.search || url.hash || /[?#]/.test(value)) {
        return "no query or fragment";
    }
    if (!path && url.pathname !== "/") {
        return "no path";
    }
    return /\s/.test(value) ? "no spaces" : undefined;
}
const httpUrl = (path: boolean, example: string) =>
    text().superRefine(
        rule((v: string) => {
            const why = httpUrlProblem(v, path);
            return why && `must be an http(s) URL ${example} (${why})`;
        }),
    );

const image = () => text().superRefine(rule(imageProblem));
/** A CronJob schedule of `runs` that runs at least every `maxGap` seconds (`why` says why). */
const cron = (maxGap: number, runs: string, why: string) =>
    text()
        .superRefine(rule((v: string) => scheduleProblem(v) && `is not a cron schedule: ${scheduleProblem(v)}`))
        .superRefine(
            rule((v: string) => {
                const gap = scheduleProblem(v) === undefined ? schedulePeriodSeconds(v) : 0;
                return gap <= maxGap
                    ? undefined
                    : `${gap === Infinity ? "runs at most once in two years (or never)" : `leaves up to ${gap / 3600}h between ${runs}`}; ${why}`;
            }),
        );
/** A restore drill at least monthly: its staleness alert waits one period, and a drill that never runs proves nothing. */
const MAX_DRILL_GAP_SECONDS = 31 * 86_400;
const vector = (key: keyof VectorSettings) => {
    const { guc, values } = VECTOR_SETTING_RULES[key];
    return rule((v: string | number) => {
        const why = vectorSettingProblem(guc, String(v));
        if (why) {
            return `${guc} ${why} (pgvector would ignore it with only a WARNING and use its default)`;
        }
        return v === "off"
            ? `${guc} off makes filtered vector queries (WHERE … ORDER BY distance LIMIT n) return fewer than n rows; use ${values?.slice(1).join(" or ")} (a session may still SET it off)`
            : undefined;
    });
};
/** An integer key within [min, max], one message for both bounds. */
const between = (min: number, max: number, message: string) => whole().min(min, message).max(max, message);

/** Registers a key's description (and secret-ness) and returns its schema. */
function key<S extends z.ZodType>(schema: S, description: string, secret?: true): S {
    KEY_META.add(schema, secret ? { description, secret } : { description });
    return schema;
}

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
const SERVICE = z.preprocess(
    (v) => (typeof v === "string" ? { name: v } : v),
    z.strictObject(SERVICE_FIELD_SHAPE, {
        error: (iss) =>
            iss.code === "unrecognized_keys"
                ? `unknown field; a service has ${SERVICE_FIELDS.join(", ")}`
                : "must be a service name or an object with at least `name`",
    }),
);
export type ServiceEntry = z.output<typeof SERVICE>;

/** Every key of the `hanzo-sql` namespace, in the order they are documented and problems are reported. */
const SHAPE = {
    environment: key(
        z.enum(ENVIRONMENTS, {
            error: (iss) =>
                iss.input === undefined
                    ? `required; one of ${ENVIRONMENTS.join(", ")} (pulumi config set environment prod)`
                    : `must be one of ${ENVIRONMENTS.join(", ")}`,
        }),
        "dev, test, staging or prod; test suffixes every database and role with _test and protects nothing",
    ),
    clusterName: key(
        text().superRefine(pattern(DNS_LABEL, "must be a DOKS cluster name (lowercase letters, digits, hyphens)")).optional(),
        "DOKS cluster to look up by name (exclusive with kubeContext)",
    ),
    kubeContext: key(text().optional(), "kubeconfig context of a local cluster (exclusive with clusterName)"),
    namespace: key(
        text()
            .superRefine(
                pattern(DNS_LABEL, "must be a Kubernetes namespace name (DNS label: lowercase letters, digits, hyphens, at most 63)", 63),
            )
            .default("hanzo"),
        "namespace of the PostgreSQL server",
    ),
    createNamespace: key(flag().default(false), "create the namespace (a local cluster); clusters already have it"),
    adopt: key(
        flag().default(false),
        "adopt the seed's running deployment (HIP-29): import its objects, keep PGDATA at the volume's root and the services' passwords",
    ),
    image: key(
        image().default("pgvector/pgvector:0.8.0-pg16"),
        "PostgreSQL 16 image with pgvector (contrib has the other three extensions), pinned by tag or digest, never :latest",
    ),
    extensionVersions: key(
        z.record(z.string(), z.unknown(), { error: 'must be a map of extension name to version, e.g. { vector: "0.8.1" }' }).optional(),
        "extension versions the image ships, by name; default the default image's (a new image: set them, and up runs ALTER EXTENSION … UPDATE)",
    ),
    storageSize: key(
        quantity("bytes", {
            min: [2 ** 30, 'must be at least "1Gi"'],
            max: [MAX_STORAGE_BYTES, `must be at most "${formatBytes(MAX_STORAGE_BYTES)}", the largest DigitalOcean block storage volume`],
        }).default(STORAGE_SIZE),
        "size of the data volume (1Gi to 16Ti, DigitalOcean's largest volume)",
    ),
    storageClass: key(
        text()
            .superRefine(
                pattern(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a storage class name (lowercase letters, digits, hyphens, dots)"),
            )
            .default(STORAGE_CLASS),
        "storage class of the data volume",
    ),
    storageSizeApplied: key(
        quantity("bytes").optional(),
        "the data volume's size now (kubectl get pvc); storageSize may grow from it, never shrink",
    ),
    storageClassAllowsExpansion: key(
        flag().default(true),
        "the storage class has allowVolumeExpansion (do-block-storage does); without it storageSize cannot grow",
    ),
    cpuRequest: key(quantity("cpu").default("500m"), "CPU request of the server container"),
    cpuLimit: key(
        quantity("cpu", { max: [MAX_CPUS, `must be at most ${MAX_CPUS} cores (more than any node offers)`] }).default("2"),
        "CPU limit of the server container (at most 256 cores)",
    ),
    memoryRequest: key(quantity("bytes").default("1Gi"), "memory request of the server container"),
    memoryLimit: key(
        quantity("bytes", {
            min: [512 * 2 ** 20, 'must be at least "512Mi" for PostgreSQL with the standard\'s settings'],
            max: [
                MAX_MEMORY_BYTES,
                `must be at most "${formatBytes(MAX_MEMORY_BYTES)}" (more than any node offers; shared_buffers and the other memory settings follow it)`,
            ],
        }).default("2Gi"),
        "memory limit (512Mi to 1Ti); shared_buffers, effective_cache_size and maintenance_work_mem follow it",
    ),
    podNetworkCidrs: key(
        z.array(z.string().superRefine(rule(networkProblem)), { error: "must be a list of strings" }).default([POD_NETWORK]),
        "networks pg_hba.conf admits with a password (SCRAM): IPv4 inside 10/8, 172.16/12, 192.168/16 or 100.64/10; IPv6 inside fc00::/7, at most a /48",
    ),
    standbys: key(
        between(0, MAX_STANDBYS, `must be a whole number from 0 to ${MAX_STANDBYS} (0: one server, no standby)`).default(0),
        `hot standbys streaming from the primary (0-${MAX_STANDBYS}), read through the Service ${READ_SERVICE} (docs/standbys.md)`,
    ),
    synchronousStandbys: key(
        between(0, MAX_STANDBYS, `must be a whole number from 0 to ${MAX_STANDBYS}, and at most standbys`).default(0),
        "standbys that must flush a commit before it returns (0: asynchronous); commits block while fewer are up",
    ),
    terminationGracePeriodSeconds: key(
        whole()
            .min(60, "must be at least 60 so the shutdown checkpoint can finish (STANDARD defect 11)")
            .max(
                3600,
                "must be at most 3600: a fast shutdown's checkpoint takes at most checkpoint_timeout (10min), and a longer grace only stalls node drains",
            )
            .default(120),
        "time for the shutdown checkpoint, 60 to 3600 seconds",
    ),
    hnswIterativeScan: key(
        text().superRefine(vector("hnswIterativeScan")).default("strict_order"),
        "hnsw.iterative_scan: relaxed_order or strict_order (off is refused: filtered vector queries would return fewer rows than their LIMIT)",
    ),
    hnswEfSearch: key(whole().superRefine(vector("hnswEfSearch")).default(100), "hnsw.ef_search: HNSW candidates per scan step (1-1000)"),
    hnswMaxScanTuples: key(
        whole().superRefine(vector("hnswMaxScanTuples")).default(20000),
        "hnsw.max_scan_tuples: where an iterative HNSW scan gives up",
    ),
    ivfflatIterativeScan: key(
        text().superRefine(vector("ivfflatIterativeScan")).default("relaxed_order"),
        "ivfflat.iterative_scan: relaxed_order (off is refused, as for HNSW)",
    ),
    adminHost: key(
        text()
            .superRefine(pattern(/^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$|^\[[0-9a-fA-F:]+\]$/, "must be a host name or IP address"))
            .default("127.0.0.1"),
        "where pulumi reaches the server as hanzo (port-forward or in-cluster)",
    ),
    adminPort: key(between(1, 65535, "must be a TCP port (1-65535)").default(POSTGRES_PORT), "port of adminHost"),
    adminSslmode: key(
        z.enum(SSLMODES, { error: `must be one of ${SSLMODES.join(", ")}` }).default("disable"),
        "sslmode of the admin connection",
    ),
    adminPassword: key(text().min(16, "must be at least 16 characters").optional(), "superuser password; generated when unset", true),
    legacyDatabases: key(
        stringList()
            .superRefine((names, ctx) =>
                names.forEach((name, i) => {
                    const why = identifierProblem(name) ?? reservedDatabaseProblem(name);
                    if (why) {
                        ctx.addIssue({ code: "custom", path: [i], input: name, message: why });
                    }
                }),
            )
            .default([...DEFAULT_LEGACY_DATABASES]),
        "database names exempt from the <service>[_<env>] rule",
    ),
    backupSchedule: key(
        cron(
            MAX_BACKUP_GAP_SECONDS,
            "backups",
            `backups must run at least every ${MAX_BACKUP_GAP_SECONDS / 86_400} days (the standard's schedule is "0 */6 * * *", every 6 hours)`,
        ).default("0 */6 * * *"),
        "cron schedule of the backups (Kubernetes' five-field cron; at most 7 days between runs)",
    ),
    backupEnabled: key(flag().default(true), "back up every service database to S3-compatible storage"),
    backupRetentionDays: key(
        whole()
            .min(1, "must be at least 1 day")
            .max(MAX_RETENTION_DAYS, `must be at most ${MAX_RETENTION_DAYS} days (100 years); regulated data needs 2555 (7 years)`)
            .default(30),
        "days a dump is kept, up to 36500 (a service may set its own); the newest complete backup is always kept",
    ),
    backupBucket: key(
        text()
            .superRefine(pattern(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "must be a bucket name: 3-63 lowercase letters, digits and hyphens"))
            .optional(),
        "bucket of the dumps; default <stack>-postgres-backups",
    ),
    backupPrefix: key(
        text()
            .superRefine(
                pattern(
                    /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9._-]+)*$/,
                    "must be a key prefix without leading or trailing slashes, e.g. postgres",
                ),
            )
            .default("postgres"),
        "key prefix of the dumps in the bucket",
    ),
    backupRegion: key(
        // A DigitalOcean region slug (nyc3, ams3, fra1, ...): it becomes part of the Spaces endpoint's host name.
        text()
            .superRefine(
                pattern(
                    /^[a-z]{3}[0-9]{1,2}$/,
                    "must be a DigitalOcean Spaces region such as nyc3, sfo3, ams3, fra1, sgp1 or syd1 (it becomes the endpoint's host name)",
                ),
            )
            .default("nyc3"),
        "DigitalOcean Spaces region of the bucket (a slug such as nyc3: it becomes the endpoint's host name)",
    ),
    backupEndpoint: key(
        httpUrl(false, "of an S3 API, e.g. http://minio.minio.svc:9000").optional(),
        "S3-compatible endpoint of your own (MinIO), http(s) without path, query or credentials; no bucket is created then",
    ),
    backupAccessKeyId: key(text().optional(), "access key for backupEndpoint", true),
    backupSecretAccessKey: key(text().optional(), "secret key for backupEndpoint", true),
    backupDumpImage: key(image().default("postgres:16.4-bookworm"), "image with the PostgreSQL 16 client tools, pinned"),
    backupS3Image: key(image().default("amazon/aws-cli:2.17.0"), "image with the AWS CLI, pinned"),
    backupDrillEnabled: key(
        flag().optional(),
        "restore the latest complete backup into a scratch server on a schedule and check it (needs backupEnabled); default: on in prod, off elsewhere",
    ),
    backupDrillSchedule: key(
        cron(
            MAX_DRILL_GAP_SECONDS,
            "drills",
            `restore drills must run at least every ${MAX_DRILL_GAP_SECONDS / 86_400} days (the default is "30 3 * * *", daily)`,
        ).default("30 3 * * *"),
        "cron schedule of the restore drill (at most 31 days between runs)",
    ),
    monitoringEnabled: key(flag().default(true), "postgres_exporter sidecar, PodMonitor and alert rules (prometheus-operator)"),
    monitoringNamespace: key(
        text().superRefine(pattern(DNS_LABEL, "must be a Kubernetes namespace name")).default("monitoring"),
        "namespace of Prometheus, admitted to the metrics port",
    ),
    prometheusRelease: key(
        text()
            .superRefine(pattern(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, "must be a Kubernetes label value", 63))
            .default("kube-prometheus-stack"),
        "release label prometheus-operator selects monitors and rules by",
    ),
    exporterImage: key(
        image().default("quay.io/prometheuscommunity/postgres-exporter:v0.11.1"),
        "postgres_exporter image, pinned (the version the tests run)",
    ),
    poolingEnabled: key(flag().default(false), "a PgBouncer (transaction pooling) for the services marked pooled"),
    poolMaxClientConn: key(
        between(1, 100_000, "must be 1-100000 (each client holds a file descriptor of the pooler)").default(200),
        "PgBouncer max_client_conn",
    ),
    poolDefaultPoolSize: key(
        between(1, 200, "must be 1-200 (the server's max_connections is 200)").default(20),
        "PgBouncer default_pool_size",
    ),
    poolReplicas: key(
        between(1, 20, "must be 1-20 (each replica opens its own pools to the server, whose max_connections is 200)").default(2),
        "PgBouncer replicas",
    ),
    pgbouncerImage: key(
        text()
            .superRefine(rule((v: string) => imageProblem(v) ?? pgbouncerVersionProblem(v)))
            .default("edoburu/pgbouncer:v1.25.2-p0"),
        "PgBouncer image, pinned, 1.21 or later (prepared statements in transaction pooling)",
    ),
    kmsEnabled: key(flag().default(false), "sync service credentials from the KMS (Infisical) for the services marked kmsSync"),
    kmsApiVersion: key(
        text().default("kms.hanzo.ai/v1"),
        "API version of the KMS sync resource: kms.hanzo.ai/v1, secrets.lux.network/v1alpha1 (KMSSecret) or secrets.infisical.com/v1alpha1 (InfisicalSecret)",
    ),
    kmsKind: key(
        text().default("KMSSecret"),
        "the KMS sync resource kind: KMSSecret (Hanzo's operator) or InfisicalSecret (upstream Infisical)",
    ),
    kmsProjectSlug: key(
        text().superRefine(pattern(DNS_LABEL, "must be a KMS project slug (lowercase letters, digits, hyphens)")).optional(),
        "KMS project (org) of the synced secrets; required when a service has kmsSync",
    ),
    kmsResyncInterval: key(
        whole()
            .min(10, "must be at least 10 seconds")
            .max(86_400, "must be at most 86400 seconds (a day): a rotated password would reach the service a day late")
            .default(60),
        "seconds between the KMS operator's syncs (10 to 86400)",
    ),
    kmsHostApi: key(httpUrl(true, "such as https://kms.hanzo.ai/api").default("https://kms.hanzo.ai/api"), "the KMS API"),
    kmsEnvSlug: key(
        text()
            .superRefine(
                pattern(
                    /^[a-z0-9]([-a-z0-9_]{0,62})$/,
                    "must be a KMS environment slug such as prod (lowercase letters, digits, hyphens, underscores)",
                ),
            )
            .default("prod"),
        "the KMS environment of the secrets",
    ),
    kmsCredentialsSecret: key(
        text().superRefine(pattern(DNS_LABEL, "must be a Kubernetes Secret name")).default("kms-universal-auth"),
        "Secret with the KMS universal-auth credentials",
    ),
    services: key(
        z
            .array(SERVICE, {
                error: (iss) =>
                    iss.input === undefined
                        ? "required: a list with one entry per service, e.g. `- name: iam`"
                        : "must be a non-empty list with one entry per service",
            })
            .min(1, "must be a non-empty list with one entry per service"),
        "the services: one entry (a name, or an object) per service",
    ),
};
export const CONFIG_KEY_NAMES = Object.keys(SHAPE) as (keyof typeof SHAPE)[];

/** The configuration as validated, defaults applied (context-dependent defaults are the spec's to resolve). */
export type Config = z.output<typeof FLAT>;
const FLAT = z.strictObject(SHAPE, {
    error: (iss) => (iss.code === "unrecognized_keys" ? `unknown key; known keys: ${CONFIG_KEY_NAMES.join(", ")}` : undefined),
});

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

type Report = (path: (string | number)[], input: unknown, message: string) => void;

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

/** A quantity that passed its schema (NaN otherwise, which no comparison holds for). */
const quantityOf = (text: string) => parseQuantity(text) ?? NaN;

/**
 * The rules that relate keys to each other. They run even when other keys failed, each only once the keys
 * it reads passed their own schema, so every problem is reported at once and none twice.
 */
function crossFieldRules(c: Config, ctx: z.RefinementCtx<Config>): void {
    const failed = new Set(ctx.issues.map((i) => i.path?.[0]));
    const failedEntries = new Set(ctx.issues.filter((i) => i.path?.[0] === "services").map((i) => i.path?.[1]));
    const ok = (...keys: (keyof Config)[]) => keys.every((k) => !failed.has(k));
    const report: Report = (path, input, message) => ctx.addIssue({ code: "custom", path, input, message });

    if (ok("clusterName", "kubeContext") && (c.clusterName === undefined) === (c.kubeContext === undefined)) {
        const [k, v] = c.clusterName === undefined ? ["clusterName", undefined] : ["kubeContext", c.kubeContext];
        report([k], v, "set exactly one of clusterName (a DOKS cluster) and kubeContext (a local cluster)");
    }
    for (const [request, limit] of [
        ["cpuRequest", "cpuLimit"],
        ["memoryRequest", "memoryLimit"],
    ] as const) {
        if (ok(request, limit) && quantityOf(c[request]) > quantityOf(c[limit])) {
            report([request], c[request], `must not exceed ${limit} (${c[limit]})`);
        }
    }
    // A claim grows in place (the PVC patch) and never shrinks; Kubernetes refuses both a smaller request
    // and any growth on a class without allowVolumeExpansion, but only once `up` is under way.
    const applied = c.storageSizeApplied;
    if (applied !== undefined && ok("storageSize", "storageSizeApplied", "storageClassAllowsExpansion")) {
        const [size, now] = [quantityOf(c.storageSize), quantityOf(applied)];
        if (size < now) {
            report(
                ["storageSize"],
                c.storageSize,
                `is smaller than the volume (storageSizeApplied = "${applied}"): a volume cannot shrink; keep storageSize at "${applied}" or more, or move the data to a new stack with a backup and restore`,
            );
        } else if (size > now && !c.storageClassAllowsExpansion) {
            report(
                ["storageSize"],
                c.storageSize,
                `would grow the volume from "${applied}", but storage class "${c.storageClass}" cannot expand (storageClassAllowsExpansion = false): keep "${applied}", or enable allowVolumeExpansion on the class and set storageClassAllowsExpansion true`,
            );
        }
    }
    if (ok("adopt", "adminPassword") && c.adopt && c.adminPassword === undefined) {
        report(
            ["adminPassword"],
            undefined,
            "adopting a running server needs its superuser's password (the server keeps it, and the Secret postgres-credentials must keep it too): pulumi config set --secret adminPassword <the password in postgres-credentials>",
        );
    }
    if (ok("standbys", "synchronousStandbys")) {
        const problem = replicationProblem({ standbys: c.standbys, synchronousStandbys: c.synchronousStandbys });
        if (problem) {
            report([problem.key], c[problem.key], problem.message);
        }
    }
    if (ok("backupEnabled", "backupDrillEnabled") && c.backupDrillEnabled && !c.backupEnabled) {
        report(["backupDrillEnabled"], true, "drills restore backups: set backupEnabled: true, or backupDrillEnabled: false");
    }
    if (ok("backupEnabled", "backupEndpoint") && c.backupEnabled && c.backupEndpoint !== undefined) {
        for (const k of ["backupAccessKeyId", "backupSecretAccessKey"] as const) {
            if (c[k] === undefined) {
                report([k], undefined, `backups to backupEndpoint need credentials: pulumi config set --secret ${k} <value>`);
            }
        }
    }
    if (
        ok("backupEnabled", "backupEndpoint", "kubeContext", "clusterName") &&
        c.backupEnabled &&
        c.backupEndpoint === undefined &&
        c.kubeContext !== undefined &&
        c.clusterName === undefined
    ) {
        report(
            ["backupEndpoint"],
            undefined,
            "a local cluster has no DigitalOcean Spaces: set backupEndpoint (e.g. MinIO) or backupEnabled: false",
        );
    }
    if (ok("kmsApiVersion", "kmsKind") && kmsSyncCrd(c.kmsApiVersion, c.kmsKind) === undefined) {
        const knownApi = KMS_SYNC_CRDS.some((crd) => crd.apiVersion === c.kmsApiVersion);
        report(
            [knownApi ? "kmsKind" : "kmsApiVersion"],
            knownApi ? c.kmsKind : c.kmsApiVersion,
            `kmsApiVersion + kmsKind must name a KMS operator's CRD: ${KMS_SYNC_CRDS.map((crd) => `${crd.apiVersion} ${crd.kind} (${crd.operator})`).join(", ")}`,
        );
    }
    const context: (keyof Config)[] = [
        "environment",
        "namespace",
        "legacyDatabases",
        "backupRetentionDays",
        "poolingEnabled",
        "kmsEnabled",
        "adopt",
    ];
    if (!Array.isArray(c.services) || !ok(...context)) {
        return;
    }
    const services = resolveServices(c, (i) => !failedEntries.has(i), report);
    if (c.extensionVersions !== undefined && ok("extensionVersions")) {
        const used = new Set<string>([...REQUIRED_EXTENSIONS, ...services.flatMap((s) => s.extensions)]);
        for (const [ext, version] of Object.entries(c.extensionVersions)) {
            const why = !AVAILABLE_EXTENSIONS.includes(ext)
                ? `unknown extension; the image ships ${AVAILABLE_EXTENSIONS.join(", ")}`
                : !used.has(ext)
                  ? "no service uses this extension: add it to a service's extensions, or remove the version"
                  : typeof version !== "string" || !/^[0-9][0-9A-Za-z._-]*$/.test(version)
                    ? 'must be a version string as the extension names it, e.g. "0.8.0" or "1.6" (SELECT name, version FROM pg_available_extension_versions)'
                    : undefined;
            if (why) {
                report(["extensionVersions", ext], version, why);
            }
        }
    }
    const syncing = services.filter((s) => s.kmsSync).map((s) => s.name);
    if (ok("kmsProjectSlug") && c.kmsEnabled && syncing.length > 0 && c.kmsProjectSlug === undefined) {
        report(
            ["kmsProjectSlug"],
            undefined,
            `required when a service syncs from the KMS (${syncing.join(", ")}): pulumi config set kmsProjectSlug <project>`,
        );
    }
}

/** The stack configuration schema: every key, then the rules across keys. */
export const CONFIG = FLAT.superRefine(crossFieldRules, { when: () => true });

/** A key as Pulumi.yaml declares it and the README documents it: all derived from the schema. */
export interface ConfigKey {
    /** Pulumi's config type: how the engine's string is decoded. */
    readonly type: "string" | "integer" | "boolean" | "array" | "object";
    readonly description: string;
    readonly default?: unknown;
    readonly secret?: boolean;
    /** A stack must set it (no default, not optional). */
    readonly required: boolean;
    /** The key's JSON Schema (the value a stack file gives). */
    readonly jsonSchema: Record<string, unknown>;
}

/** The JSON Schema of a value, descriptions from KEY_META; what JSON Schema cannot say (the rules) stays in zod. */
function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
    const { $schema: _draft, ...json } = z.toJSONSchema(schema, {
        io: "input",
        metadata: KEY_META,
        unrepresentable: "any",
        override: ({ zodSchema, jsonSchema }) => {
            // Secret-ness is the stack file's `secure:` form, not a JSON Schema keyword.
            delete (jsonSchema as Record<string, unknown>).secret;
            // A service entry may be just its name: zod's preprocess, which JSON Schema cannot see.
            if (zodSchema === SERVICE) {
                const object = { ...jsonSchema };
                Object.keys(jsonSchema).forEach((k) => delete (jsonSchema as Record<string, unknown>)[k]);
                jsonSchema.anyOf = [{ type: "string", description: "the service's name alone" }, object];
            }
        },
    }) as Record<string, unknown>;
    return json;
}

/** Every key of the namespace, in the schema's order. */
export const CONFIG_KEYS: Readonly<Record<string, ConfigKey>> = Object.fromEntries(
    CONFIG_KEY_NAMES.map((name) => {
        const json = jsonSchemaOf(SHAPE[name]);
        const meta = KEY_META.get(SHAPE[name]);
        if (meta === undefined) {
            throw new Error(`stacks/schema.ts: key ${name} has no description`);
        }
        const decl: ConfigKey = {
            type: json.type as ConfigKey["type"],
            description: meta.description,
            ...(json.default !== undefined ? { default: json.default } : {}),
            jsonSchema: json,
            required: !SHAPE[name].safeParse(undefined).success,
            ...(meta.secret ? { secret: true } : {}),
        };
        return [name, decl];
    }),
);
