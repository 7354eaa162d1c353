/**
 * The one schema of a stack's configuration (zod 4), by job:
 * - stacks/zodHelpers.ts: the helpers it is written with (a rule as a check, quantities, URLs, schedules);
 * - stacks/serviceFields.ts: a service entry's fields;
 * - stacks/schema.ts (this file): every key of the `hanzo-sql` namespace, with its type, default, bounds, rule
 *   (and fix), description and secret-ness;
 * - stacks/rules.ts: the rules across keys, a list of named rules, and CONFIG, the keys and the rules together;
 * - stacks/services.ts: the values derived from them (each service with the stack's defaults);
 * - stacks/configKeys.ts: what is derived for the outside (Pulumi.yaml's `config:` block, the README's table and
 *   the stack files' JSON Schema; cli/configSchema.ts, test/stacks/schema.test.ts).
 * The loader validates with CONFIG and the spec types follow from its output. The rules themselves live in
 * policies/standard/* and stacks/schedule.ts; the schema only calls them.
 */
import { z } from "zod";
import { formatBytes } from "../policies/standard/quantity";
import {
    DEFAULT_LEGACY_DATABASES,
    ENVIRONMENTS,
    identifierProblem,
    dumpImageMajorProblem,
    imageProblem,
    namespaceProblem,
    reservedDatabaseProblem,
    pgbouncerVersionProblem,
    serverImageMajorProblem,
} from "../policies/standard/rules";
import { POD_NETWORK, endpointHostProblem, networkProblem } from "../policies/standard/network";
import { POSTGRES_PORT } from "../policies/standard/ports";
import { STORAGE_CLASS, STORAGE_SIZE } from "../policies/standard/storage";
import { MAX_STANDBYS, READ_SERVICE } from "../policies/standard/replication";
import { MAX_BACKUP_GAP_SECONDS } from "./schedule";
import { MAX_ARCHIVE_TIMEOUT_SECONDS } from "../render/pitr";
import { SERVICE } from "./serviceFields";
import { BOOTSTRAP_FROM } from "./pitrBootstrap";
import {
    DNS_LABEL,
    MAX_CPUS,
    MAX_DRILL_GAP_SECONDS,
    MAX_MEMORY_BYTES,
    MAX_RETENTION_DAYS,
    MAX_STORAGE_BYTES,
    SSLMODES,
    between,
    cron,
    flag,
    httpUrl,
    image,
    key,
    pattern,
    quantity,
    rule,
    stringList,
    text,
    vector,
    whole,
} from "./zodHelpers";

/** Every key of the `hanzo-sql` namespace, in the order they are documented and problems are reported. */
export const SHAPE = {
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
            .superRefine(rule(namespaceProblem))
            .default("hanzo"),
        "namespace of the PostgreSQL server",
    ),
    createNamespace: key(flag().default(false), "create the namespace (a local cluster); clusters already have it"),
    adopt: key(
        flag().default(false),
        "adopt the seed's running deployment (HIP-29): import its objects, keep PGDATA at the volume's root and the services' passwords",
    ),
    image: key(
        image()
            .superRefine(rule((v: string) => (imageProblem(v) === undefined ? serverImageMajorProblem(v) : undefined)))
            .default("pgvector/pgvector:0.8.0-pg16"),
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
        "CPU limit of the server container (at most 256 cores); max_parallel_maintenance_workers follows it",
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
        "memory limit (512Mi to 1Ti); shared_buffers, effective_cache_size, maintenance_work_mem and autovacuum_work_mem follow it",
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
    hnswEfSearch: key(whole().superRefine(vector("hnswEfSearch")).default(200), "hnsw.ef_search: HNSW candidates per scan step (1-1000)"),
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
            .superRefine(
                rule((v: string) => {
                    const why = endpointHostProblem(v, true);
                    return why && `${why}; use 127.0.0.1 (kubectl port-forward) or the server's in-cluster name`;
                }),
            )
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
    backupDumpImage: key(
        image()
            .superRefine(rule((v: string) => (imageProblem(v) === undefined ? dumpImageMajorProblem(v) : undefined)))
            .default("postgres:16.4-bookworm"),
        "image with the PostgreSQL 16 client tools, pinned",
    ),
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
    pitrEnabled: key(
        flag().default(false),
        "continuous WAL archiving to the backup bucket and point-in-time recovery with pgBackRest (docs/pitr.md); needs backupEnabled and an image with pgBackRest",
    ),
    pitrRetentionDays: key(
        between(1, MAX_RETENTION_DAYS, `must be a whole number of days from 1 to ${MAX_RETENTION_DAYS}`).default(7),
        "days of point-in-time recovery the archive keeps (pgBackRest's time-based expiry); at most the shortest dump retention of any service",
    ),
    pitrFullSchedule: key(
        cron(
            MAX_BACKUP_GAP_SECONDS,
            "full base backups",
            `full base backups must run at least every ${MAX_BACKUP_GAP_SECONDS / 86_400} days (a restore replays everything since the last one)`,
        ).default("0 1 * * 0"),
        "cron schedule of the full base backups (pgBackRest; at most 7 days between runs)",
    ),
    pitrDiffSchedule: key(
        cron(
            MAX_BACKUP_GAP_SECONDS,
            "differential base backups",
            `differential base backups must run at least every ${MAX_BACKUP_GAP_SECONDS / 86_400} days`,
        ).default("0 1 * * 1-6"),
        "cron schedule of the differential base backups (changes since the last full)",
    ),
    pitrEndpointCa: key(
        text()
            .superRefine(
                pattern(
                    /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?$/,
                    "must be one PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)",
                ),
            )
            .optional(),
        "PEM of the CA that signed backupEndpoint's certificate, for an endpoint of your own with a private CA (pgBackRest's repo1-storage-ca-file, and the dumps' AWS CLI's AWS_CA_BUNDLE); default: the image's CAs",
    ),
    pitrArchiveTimeoutSeconds: key(
        between(1, MAX_ARCHIVE_TIMEOUT_SECONDS, "must be from 1 to 60 seconds: a quiet server must still archive within a minute").default(
            60,
        ),
        "archive_timeout: a server with little write traffic still archives its segment this often (the RPO of an idle server)",
    ),
    pitrBootstrapFrom: key(
        BOOTSTRAP_FROM.optional(),
        "bootstrap this stack's server from another stack's WAL archive on an empty volume: { bucket, path, time | lsn | name (none: the end of the archive), restored: { roles, databases } (imported on the first up, not created) }; a volume with data is never touched (docs/pitr.md)",
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
export const FLAT = z.strictObject(SHAPE, {
    error: (iss) => (iss.code === "unrecognized_keys" ? `unknown key; known keys: ${CONFIG_KEY_NAMES.join(", ")}` : undefined),
});
