/**
 * Stack configuration → StackSpec. Every key is read once, here; defaults are applied; every problem is
 * collected and reported together, each naming the config key, the bad value and the rule, before the
 * program declares a single resource.
 */
import {
    AVAILABLE_EXTENSIONS, DEFAULT_EXTENSION_VERSIONS, DEFAULT_LEGACY_DATABASES, ENVIRONMENTS, Environment, REQUIRED_EXTENSIONS, TEST_ENVIRONMENT,
    databaseNameProblem, identifierProblem, imageProblem, kubernetesNameFor, reservedDatabaseProblem, roleNameFor, TEST_SUFFIX,
} from "../policies/standard/rules";
import { POD_NETWORK, networkProblem } from "../policies/standard/network";
import { POSTGRES_PORT } from "../policies/standard/ports";
import { formatBytes, parseQuantity } from "../policies/standard/quantity";
import { STORAGE_CLASS, STORAGE_SIZE } from "../policies/standard/storage";
import { pgbouncerVersionProblem } from "../render/pgbouncer";
import { MAX_BACKUP_GAP_SECONDS, scheduleProblem, schedulePeriodSeconds } from "./schedule";
import { SEED_SETTINGS, VECTOR_SETTING_RULES, VectorSettings, vectorSettingProblem } from "../policies/standard/settings";
import { redactSecrets } from "../render/connection";
import { KMS_SYNC_CRDS, kmsSyncCrd } from "../render/kmsSync";
import { CONNECTION_SHAPES, ConnectionShape, ServiceSpec, StackSpec } from "./spec";

/** The project's configuration namespace (the `name` in Pulumi.yaml). */
export const PROJECT = "hanzo-sql";

type ConfigType = "string" | "integer" | "boolean" | "array" | "object";

interface KeyDeclaration {
    readonly type: ConfigType;
    readonly description: string;
    readonly default?: string | number | boolean | readonly string[];
    readonly secret?: boolean;
}

/**
 * Every key of the `hanzo-sql` namespace. Pulumi.yaml declares the typed ones (a test keeps the two in step);
 * `services` is a list of objects, which Pulumi's project config types cannot express, so it is only here.
 */
export const CONFIG_KEYS: Readonly<Record<string, KeyDeclaration>> = {
    environment: { type: "string", description: "dev, test, staging or prod; test suffixes every database and role with _test" },
    clusterName: { type: "string", description: "DOKS cluster to look up by name (exclusive with kubeContext)" },
    kubeContext: { type: "string", description: "kubeconfig context of a local cluster (exclusive with clusterName)" },
    namespace: { type: "string", default: "hanzo", description: "namespace of the PostgreSQL server" },
    createNamespace: { type: "boolean", default: false, description: "create the namespace (a local cluster); clusters already have it" },
    adopt: { type: "boolean", default: false, description: "adopt the seed's running deployment (HIP-29): import its objects, keep PGDATA at the volume's root and the services' passwords" },
    image: { type: "string", default: "pgvector/pgvector:0.8.0-pg16", description: "PostgreSQL 16 image with pgvector, pinned by tag or digest" },
    extensionVersions: { type: "object", description: "extension versions the image ships, by name; default the default image's (a new image: set them, and up runs ALTER EXTENSION … UPDATE)" },
    storageSize: { type: "string", default: STORAGE_SIZE, description: "size of the data volume" },
    storageClass: { type: "string", default: STORAGE_CLASS, description: "storage class of the data volume" },
    storageSizeApplied: { type: "string", description: "the data volume's size now (kubectl get pvc); storageSize may grow from it, never shrink" },
    storageClassAllowsExpansion: { type: "boolean", default: true, description: "the storage class has allowVolumeExpansion (do-block-storage does); without it storageSize cannot grow" },
    cpuRequest: { type: "string", default: "500m", description: "CPU request of the server container" },
    cpuLimit: { type: "string", default: "2", description: "CPU limit of the server container" },
    memoryRequest: { type: "string", default: "1Gi", description: "memory request of the server container" },
    memoryLimit: { type: "string", default: "2Gi", description: "memory limit; shared_buffers, effective_cache_size and maintenance_work_mem follow it" },
    podNetworkCidrs: { type: "array", default: [POD_NETWORK], description: "networks pg_hba.conf admits with a password" },
    terminationGracePeriodSeconds: { type: "integer", default: 120, description: "time for the shutdown checkpoint" },
    hnswIterativeScan: { type: "string", default: "strict_order", description: "hnsw.iterative_scan: off, relaxed_order or strict_order; filtered vector queries return their LIMIT only when not off" },
    hnswEfSearch: { type: "integer", default: 100, description: "hnsw.ef_search: HNSW candidates per scan step (1-1000)" },
    hnswMaxScanTuples: { type: "integer", default: 20000, description: "hnsw.max_scan_tuples: where an iterative HNSW scan gives up" },
    ivfflatIterativeScan: { type: "string", default: "relaxed_order", description: "ivfflat.iterative_scan: off or relaxed_order" },
    adminHost: { type: "string", default: "127.0.0.1", description: "where pulumi reaches the server as hanzo (port-forward or in-cluster)" },
    adminPort: { type: "integer", default: POSTGRES_PORT, description: "port of adminHost" },
    adminSslmode: { type: "string", default: "disable", description: "sslmode of the admin connection" },
    adminPassword: { type: "string", secret: true, description: "superuser password; generated when unset" },
    legacyDatabases: { type: "array", default: [...DEFAULT_LEGACY_DATABASES], description: "database names exempt from the <service>[_<env>] rule" },
    backupSchedule: { type: "string", default: "0 */6 * * *", description: "cron schedule of the backups" },
    backupEnabled: { type: "boolean", default: true, description: "back up every service database to S3-compatible storage" },
    backupRetentionDays: { type: "integer", default: 30, description: "days a dump is kept (services may say otherwise); the newest complete backup is always kept" },
    backupBucket: { type: "string", description: "bucket of the dumps; default <stack>-postgres-backups" },
    backupPrefix: { type: "string", default: "postgres", description: "key prefix of the dumps in the bucket" },
    backupRegion: { type: "string", default: "nyc3", description: "DigitalOcean Spaces region of the bucket" },
    backupEndpoint: { type: "string", description: "S3-compatible endpoint of your own (MinIO); no bucket is created then" },
    backupAccessKeyId: { type: "string", secret: true, description: "access key for backupEndpoint" },
    backupSecretAccessKey: { type: "string", secret: true, description: "secret key for backupEndpoint" },
    backupDumpImage: { type: "string", default: "postgres:16.4-bookworm", description: "image with the PostgreSQL 16 client tools, pinned" },
    backupS3Image: { type: "string", default: "amazon/aws-cli:2.17.0", description: "image with the AWS CLI, pinned" },
    backupDrillEnabled: { type: "boolean", description: "restore the latest complete backup into a scratch server on a schedule and check it; default: on in prod" },
    backupDrillSchedule: { type: "string", default: "30 3 * * *", description: "cron schedule of the restore drill" },
    monitoringEnabled: { type: "boolean", default: true, description: "postgres_exporter sidecar, PodMonitor and alert rules (prometheus-operator)" },
    monitoringNamespace: { type: "string", default: "monitoring", description: "namespace of Prometheus, admitted to the metrics port" },
    prometheusRelease: { type: "string", default: "kube-prometheus-stack", description: "release label prometheus-operator selects monitors and rules by" },
    exporterImage: { type: "string", default: "quay.io/prometheuscommunity/postgres-exporter:v0.11.1", description: "postgres_exporter image, pinned" },
    poolingEnabled: { type: "boolean", default: false, description: "a PgBouncer (transaction pooling) for the services marked pooled" },
    poolMaxClientConn: { type: "integer", default: 200, description: "PgBouncer max_client_conn" },
    poolDefaultPoolSize: { type: "integer", default: 20, description: "PgBouncer default_pool_size" },
    poolReplicas: { type: "integer", default: 2, description: "PgBouncer replicas" },
    pgbouncerImage: { type: "string", default: "edoburu/pgbouncer:v1.25.2-p0", description: "PgBouncer image, pinned, 1.21 or later (prepared statements in transaction pooling)" },
    kmsEnabled: { type: "boolean", default: false, description: "sync service credentials from the KMS (Infisical) for the services marked kmsSync" },
    kmsApiVersion: { type: "string", default: "kms.hanzo.ai/v1", description: "API version of the KMS sync resource: kms.hanzo.ai/v1, secrets.lux.network/v1alpha1 (KMSSecret) or secrets.infisical.com/v1alpha1 (InfisicalSecret)" },
    kmsKind: { type: "string", default: "KMSSecret", description: "the KMS sync resource kind: KMSSecret (Hanzo's operator) or InfisicalSecret (upstream Infisical)" },
    kmsProjectSlug: { type: "string", description: "KMS project (org) of the synced secrets; required when a service has kmsSync" },
    kmsResyncInterval: { type: "integer", default: 60, description: "seconds between the KMS operator's syncs" },
    kmsHostApi: { type: "string", default: "https://kms.hanzo.ai/api", description: "the KMS API" },
    kmsEnvSlug: { type: "string", default: "prod", description: "the KMS environment of the secrets" },
    kmsCredentialsSecret: { type: "string", default: "kms-universal-auth", description: "Secret with the KMS universal-auth credentials" },
    services: { type: "object", description: "the services: one entry (a name, or an object) per service" },
};

const SERVICE_FIELDS = ["name", "database", "namespace", "connection", "extensions", "requiredTables", "connectionLimit", "backupRetentionDays", "pooled", "kmsSync", "passwordVersion", "keepPassword", "renamedFrom"];
const SSLMODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A DigitalOcean region slug (nyc3, ams3, fra1, ...): it becomes part of the Spaces endpoint's host name. */
const SPACES_REGION = /^[a-z]{3}[0-9]{1,2}$/;
/** Bounds past which a value is a typo, not a plan: more than any node offers, or than the volume service allows. */
const MAX_MEMORY_BYTES = 2 ** 40;
const MAX_CPUS = 256;
const MAX_STORAGE_BYTES = 16 * 2 ** 40;
const MAX_RETENTION_DAYS = 36_500;
const MAX_CONNECTIONS = Number(SEED_SETTINGS.max_connections);

/**
 * Why `value` is not a plain http(s) URL (no credentials, query or fragment; a path only where `path`), or
 * undefined. Such values are written into URLs and resources as they are, so nothing may ride along.
 */
function httpUrlProblem(value: string, opts: { path: boolean }): string | undefined {
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
    if (!opts.path && url.pathname !== "/") {
        return "no path";
    }
    if (/\s/.test(value)) {
        return "no spaces";
    }
    return undefined;
}

/** Where configuration comes from: the Pulumi engine in a real run, a plain map in tests and the plan tool. */
export interface ConfigSource {
    readonly stack: string;
    /** The raw string value of a fully qualified key (`hanzo-sql:environment`), as Pulumi stores it. */
    get(key: string): string | undefined;
    /** Whether the key was set with `--secret`. */
    isSecret(key: string): boolean;
    /** Every fully qualified key the stack sets (to catch misspelt keys). */
    keys(): readonly string[];
    /** Environment variables (the DigitalOcean token may come from there). */
    readonly env: Readonly<Record<string, string | undefined>>;
}

export interface ConfigProblem {
    /** Fully qualified key and path: `hanzo-sql:services[2].name`. */
    readonly key: string;
    /** The bad value as given, or undefined when missing. */
    readonly value: unknown;
    /** The rule it breaks and how to fix it. */
    readonly rule: string;
}

/** Invalid stack configuration: every problem found, reported at once. */
export class StackConfigError extends Error {
    constructor(readonly stack: string, readonly problems: readonly ConfigProblem[]) {
        super(
            `stack "${stack}": invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}); ` +
                `nothing was created:\n` +
                // A value is shown with any connection-string password in it hidden (a misplaced DSN, say).
                problems.map((p) => `  - ${p.key}${p.value === undefined ? " (not set)" : ` = ${typeof p.value === "string" ? JSON.stringify(redactSecrets(p.value)) : redactSecrets(JSON.stringify(p.value))}`}: ${p.rule}`).join("\n"),
        );
        this.name = "StackConfigError";
    }
}

/** Reads, defaults and validates a stack's configuration; throws StackConfigError listing every problem. */
export function loadStackSpec(source: ConfigSource): StackSpec {
    const problems: ConfigProblem[] = [];
    const full = (key: string) => `${PROJECT}:${key}`;
    const problem = (key: string, value: unknown, rule: string) => problems.push({ key: full(key), value, rule });

    const read = (key: string): unknown => {
        const decl = CONFIG_KEYS[key];
        const raw = source.get(full(key));
        if (raw === undefined) {
            return decl.default;
        }
        switch (decl.type) {
            case "string":
                return raw;
            case "integer":
                if (!/^-?[0-9]+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
                    problem(key, raw, "must be a whole number");
                    return decl.default;
                }
                return Number(raw);
            case "boolean":
                if (raw !== "true" && raw !== "false") {
                    problem(key, raw, "must be true or false");
                    return decl.default;
                }
                return raw === "true";
            default:
                try {
                    return JSON.parse(raw);
                } catch {
                    problem(key, raw, `must be a YAML ${decl.type === "array" ? "list" : "structure"}`);
                    return decl.default;
                }
        }
    };
    const str = (key: string): string | undefined => read(key) as string | undefined;
    const int = (key: string): number => read(key) as number;
    const stringList = (key: string): string[] => {
        const v = read(key);
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
            problem(key, v, "must be a list of strings");
            return [...((CONFIG_KEYS[key].default as string[]) ?? [])];
        }
        return v;
    };

    // Unknown keys of our namespace are typos that would otherwise be ignored silently.
    for (const key of source.keys()) {
        // Own keys only: `hanzo-sql:constructor` or `hanzo-sql:toString` must not pass as known.
        if (key.startsWith(`${PROJECT}:`) && !Object.hasOwn(CONFIG_KEYS, key.slice(PROJECT.length + 1))) {
            // A secure value is reported by name only: a misspelt secret key must not echo the secret.
            problems.push({ key, value: source.isSecret(key) ? "[secret]" : source.get(key), rule: `unknown key; known keys: ${Object.keys(CONFIG_KEYS).join(", ")}` });
        }
    }

    // Environment.
    const environmentRaw = str("environment");
    let environment: Environment = "prod";
    if (environmentRaw === undefined) {
        problem("environment", undefined, `required; one of ${ENVIRONMENTS.join(", ")} (pulumi config set environment prod)`);
    } else if (!(ENVIRONMENTS as readonly string[]).includes(environmentRaw)) {
        problem("environment", environmentRaw, `must be one of ${ENVIRONMENTS.join(", ")}`);
    } else {
        environment = environmentRaw as Environment;
    }
    const isTest = environment === TEST_ENVIRONMENT;

    // Cluster.
    const clusterName = str("clusterName");
    const kubeContext = str("kubeContext");
    let cluster: StackSpec["cluster"] = { kind: "doks", name: clusterName ?? "" };
    if ((clusterName === undefined) === (kubeContext === undefined)) {
        problem(
            clusterName === undefined ? "clusterName" : "kubeContext",
            clusterName === undefined ? undefined : kubeContext,
            "set exactly one of clusterName (a DOKS cluster) and kubeContext (a local cluster)",
        );
    } else if (clusterName !== undefined) {
        if (!DNS_LABEL.test(clusterName)) {
            problem("clusterName", clusterName, "must be a DOKS cluster name (lowercase letters, digits, hyphens)");
        }
        cluster = { kind: "doks", name: clusterName };
        const tokenKey = "digitalocean:token";
        const fromEnv = source.env.DIGITALOCEAN_TOKEN ?? source.env.DIGITALOCEAN_ACCESS_TOKEN;
        if (source.get(tokenKey) !== undefined && !source.isSecret(tokenKey)) {
            problems.push({ key: tokenKey, value: "[redacted]", rule: "is stored in plain text; set it with pulumi config set --secret digitalocean:token" });
        } else if (source.get(tokenKey) === undefined && !fromEnv) {
            problems.push({
                key: tokenKey,
                value: undefined,
                rule: "the DOKS lookup needs a DigitalOcean API token: pulumi config set --secret digitalocean:token <token> (or DIGITALOCEAN_TOKEN)",
            });
        }
    } else {
        cluster = { kind: "kubeconfig", context: kubeContext! };
    }

    // Namespace and instance.
    const namespace = str("namespace")!;
    if (!DNS_LABEL.test(namespace) || namespace.length > 63) {
        problem("namespace", namespace, "must be a Kubernetes namespace name (DNS label: lowercase letters, digits, hyphens, at most 63)");
    }
    const image = str("image")!;
    const imageRule = imageProblem(image);
    if (imageRule) {
        problem("image", image, imageRule);
    }
    const quantity = (key: string, kind: "bytes" | "cpu"): number => {
        const text = str(key)!;
        const v = parseQuantity(text);
        if (v === undefined || v <= 0) {
            problem(key, text, `must be a Kubernetes quantity, e.g. ${kind === "bytes" ? '"2Gi" or "512Mi"' : '"500m" or "2"'}`);
            return NaN;
        }
        return v;
    };
    const storageBytes = quantity("storageSize", "bytes");
    const cpuRequest = quantity("cpuRequest", "cpu");
    const cpuLimit = quantity("cpuLimit", "cpu");
    const memoryRequest = quantity("memoryRequest", "bytes");
    const memoryLimit = quantity("memoryLimit", "bytes");
    if (cpuRequest > cpuLimit) {
        problem("cpuRequest", str("cpuRequest"), `must not exceed cpuLimit (${str("cpuLimit")})`);
    }
    if (memoryRequest > memoryLimit) {
        problem("memoryRequest", str("memoryRequest"), `must not exceed memoryLimit (${str("memoryLimit")})`);
    }
    if (memoryLimit < 512 * 2 ** 20) {
        problem("memoryLimit", str("memoryLimit"), 'must be at least "512Mi" for PostgreSQL with the standard\'s settings');
    } else if (memoryLimit > MAX_MEMORY_BYTES) {
        problem("memoryLimit", str("memoryLimit"), `must be at most "${formatBytes(MAX_MEMORY_BYTES)}" (more than any node offers; shared_buffers and the other memory settings follow it)`);
    }
    if (cpuLimit > MAX_CPUS) {
        problem("cpuLimit", str("cpuLimit"), `must be at most ${MAX_CPUS} cores (more than any node offers)`);
    }
    if (storageBytes < 2 ** 30) {
        problem("storageSize", str("storageSize"), 'must be at least "1Gi"');
    } else if (storageBytes > MAX_STORAGE_BYTES) {
        problem("storageSize", str("storageSize"), `must be at most "${formatBytes(MAX_STORAGE_BYTES)}", the largest DigitalOcean block storage volume`);
    }
    const storageClass = str("storageClass")!;
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(storageClass)) {
        problem("storageClass", storageClass, "must be a storage class name (lowercase letters, digits, hyphens, dots)");
    }
    // A claim grows in place (the PVC patch) and never shrinks; Kubernetes refuses both a smaller request
    // and any growth on a class without allowVolumeExpansion, but only once `up` is under way.
    const applied = str("storageSizeApplied");
    if (applied !== undefined) {
        const appliedBytes = quantity("storageSizeApplied", "bytes");
        if (storageBytes < appliedBytes) {
            problem("storageSize", str("storageSize"), `is smaller than the volume (storageSizeApplied = "${applied}"): a volume cannot shrink; keep storageSize at "${applied}" or more, or move the data to a new stack with a backup and restore`);
        } else if (storageBytes > appliedBytes && read("storageClassAllowsExpansion") === false) {
            problem("storageSize", str("storageSize"), `would grow the volume from "${applied}", but storage class "${storageClass}" cannot expand (storageClassAllowsExpansion = false): keep "${applied}", or enable allowVolumeExpansion on the class and set storageClassAllowsExpansion true`);
        }
    }
    const podNetworkCidrs = stringList("podNetworkCidrs");
    for (const [i, cidr] of podNetworkCidrs.entries()) {
        const rule = networkProblem(cidr);
        if (rule) {
            problem(`podNetworkCidrs[${i}]`, cidr, rule);
        }
    }
    const grace = int("terminationGracePeriodSeconds");
    if (!(grace >= 60)) {
        problem("terminationGracePeriodSeconds", grace, "must be at least 60 so the shutdown checkpoint can finish (STANDARD defect 11)");
    } else if (grace > 3600) {
        problem("terminationGracePeriodSeconds", grace, "must be at most 3600: a fast shutdown's checkpoint takes at most checkpoint_timeout (10min), and a longer grace only stalls node drains");
    }

    // pgvector's query settings: validated here, since PostgreSQL replaces an invalid one silently (a WARNING).
    const vector: VectorSettings = {
        hnswIterativeScan: str("hnswIterativeScan") as VectorSettings["hnswIterativeScan"],
        hnswEfSearch: int("hnswEfSearch"),
        hnswMaxScanTuples: int("hnswMaxScanTuples"),
        ivfflatIterativeScan: str("ivfflatIterativeScan") as VectorSettings["ivfflatIterativeScan"],
    };
    for (const [key, rule] of Object.entries(VECTOR_SETTING_RULES)) {
        const value = vector[key as keyof VectorSettings];
        const why = vectorSettingProblem(rule.guc, String(value));
        if (why) {
            problem(key, value, `${rule.guc} ${why} (pgvector would ignore it with only a WARNING and use its default)`);
        } else if (value === "off") {
            problem(key, value, `${rule.guc} off makes filtered vector queries (WHERE … ORDER BY distance LIMIT n) return fewer than n rows; use ${rule.values!.slice(1).join(" or ")} (a session may still SET it off)`);
        }
    }

    // Admin connection.
    const adminHost = str("adminHost")!;
    if (!/^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$|^\[[0-9a-fA-F:]+\]$/.test(adminHost)) {
        problem("adminHost", adminHost, "must be a host name or IP address");
    }
    const adminPort = int("adminPort");
    if (!(adminPort >= 1 && adminPort <= 65535)) {
        problem("adminPort", adminPort, "must be a TCP port (1-65535)");
    }
    const adminSslmode = str("adminSslmode")!;
    if (!SSLMODES.includes(adminSslmode)) {
        problem("adminSslmode", adminSslmode, `must be one of ${SSLMODES.join(", ")}`);
    }
    const adminPassword = str("adminPassword");
    const adopt = read("adopt") as boolean;
    if (adopt && adminPassword === undefined) {
        problem("adminPassword", undefined, "adopting a running server needs its superuser's password (the server keeps it, and the Secret postgres-credentials must keep it too): pulumi config set --secret adminPassword <the password in postgres-credentials>");
    }
    if (adminPassword !== undefined) {
        if (!source.isSecret(full("adminPassword"))) {
            problem("adminPassword", "[redacted]", "is stored in plain text; set it with pulumi config set --secret adminPassword");
        } else if (adminPassword.length < 16) {
            problem("adminPassword", "[secret]", "must be at least 16 characters");
        }
    }

    // Backups.
    const backupSchedule = str("backupSchedule")!;
    const scheduleRule = scheduleProblem(backupSchedule);
    if (scheduleRule) {
        problem("backupSchedule", backupSchedule, `is not a cron schedule: ${scheduleRule}`);
    } else if (schedulePeriodSeconds(backupSchedule) > MAX_BACKUP_GAP_SECONDS) {
        const gap = schedulePeriodSeconds(backupSchedule);
        problem(
            "backupSchedule",
            backupSchedule,
            `${gap === Infinity ? "runs at most once in two years (or never)" : `leaves up to ${gap / 3600}h between backups`}; ` +
                `backups must run at least every ${MAX_BACKUP_GAP_SECONDS / 86_400} days (the standard's schedule is "0 */6 * * *", every 6 hours)`,
        );
    }
    const backupEnabled = read("backupEnabled") as boolean;
    const drillSchedule = str("backupDrillSchedule")!;
    const drillRule = scheduleProblem(drillSchedule);
    if (drillRule) {
        problem("backupDrillSchedule", drillSchedule, `is not a cron schedule: ${drillRule}`);
    }
    const drillEnabled = (read("backupDrillEnabled") as boolean | undefined) ?? environment === "prod";
    if (drillEnabled && !backupEnabled && source.get(full("backupDrillEnabled")) !== undefined) {
        problem("backupDrillEnabled", true, "drills restore backups: set backupEnabled: true, or backupDrillEnabled: false");
    }
    let retentionDays = int("backupRetentionDays");
    if (!(retentionDays >= 1)) {
        problem("backupRetentionDays", retentionDays, "must be at least 1 day");
    } else if (retentionDays > MAX_RETENTION_DAYS) {
        problem("backupRetentionDays", retentionDays, `must be at most ${MAX_RETENTION_DAYS} days (100 years); regulated data needs 2555 (7 years)`);
    }
    if (!(retentionDays >= 1 && retentionDays <= MAX_RETENTION_DAYS)) {
        retentionDays = CONFIG_KEYS.backupRetentionDays.default as number; // reported once, not again for every service
    }
    const bucket = str("backupBucket") ?? `${source.stack}-postgres-backups`;
    if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket)) {
        problem("backupBucket", bucket, "must be a bucket name: 3-63 lowercase letters, digits and hyphens");
    }
    const prefix = str("backupPrefix")!;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9._-]+)*$/.test(prefix)) {
        problem("backupPrefix", prefix, "must be a key prefix without leading or trailing slashes, e.g. postgres");
    }
    const endpoint = str("backupEndpoint");
    if (endpoint !== undefined && httpUrlProblem(endpoint, { path: false }) !== undefined) {
        problem("backupEndpoint", endpoint, `must be an http(s) URL of an S3 API, e.g. http://minio.minio.svc:9000 (${httpUrlProblem(endpoint, { path: false })})`);
    }
    const region = str("backupRegion")!;
    if (!SPACES_REGION.test(region)) {
        problem("backupRegion", region, "must be a DigitalOcean Spaces region such as nyc3, sfo3, ams3, fra1, sgp1 or syd1 (it becomes the endpoint's host name)");
    }
    const credentials: Record<string, string | undefined> = {};
    for (const key of ["backupAccessKeyId", "backupSecretAccessKey"]) {
        const value = str(key);
        if (value !== undefined && !source.isSecret(full(key))) {
            problem(key, "[redacted]", `is stored in plain text; set it with pulumi config set --secret ${key}`);
        } else if (backupEnabled && endpoint !== undefined && value === undefined) {
            problem(key, undefined, `backups to backupEndpoint need credentials: pulumi config set --secret ${key} <value>`);
        }
        credentials[key] = value;
    }
    if (backupEnabled && endpoint === undefined && cluster.kind === "doks") {
        for (const key of ["digitalocean:spacesAccessId", "digitalocean:spacesSecretKey"]) {
            const env = key.endsWith("Id") ? source.env.SPACES_ACCESS_KEY_ID : source.env.SPACES_SECRET_ACCESS_KEY;
            if (source.get(key) !== undefined && !source.isSecret(key)) {
                problems.push({ key, value: "[redacted]", rule: `is stored in plain text; set it with pulumi config set --secret ${key}` });
            } else if (source.get(key) === undefined && !env) {
                problems.push({ key, value: undefined, rule: `creating the Spaces bucket needs Spaces keys: pulumi config set --secret ${key} <value> (or ${key.endsWith("Id") ? "SPACES_ACCESS_KEY_ID" : "SPACES_SECRET_ACCESS_KEY"}), or set backupEndpoint` });
            }
        }
    }
    if (backupEnabled && endpoint === undefined && cluster.kind === "kubeconfig") {
        problem("backupEndpoint", undefined, "a local cluster has no DigitalOcean Spaces: set backupEndpoint (e.g. MinIO) or backupEnabled: false");
    }
    const dumpImage = str("backupDumpImage")!;
    const s3Image = str("backupS3Image")!;
    for (const [key, image] of [["backupDumpImage", dumpImage], ["backupS3Image", s3Image]]) {
        const rule = imageProblem(image);
        if (rule) {
            problem(key, image, rule);
        }
    }

    // Monitoring.
    const monitoringNamespace = str("monitoringNamespace")!;
    if (!DNS_LABEL.test(monitoringNamespace)) {
        problem("monitoringNamespace", monitoringNamespace, "must be a Kubernetes namespace name");
    }
    const release = str("prometheusRelease")!;
    if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(release) || release.length > 63) {
        problem("prometheusRelease", release, "must be a Kubernetes label value");
    }
    const exporterImage = str("exporterImage")!;
    const exporterRule = imageProblem(exporterImage);
    if (exporterRule) {
        problem("exporterImage", exporterImage, exporterRule);
    }

    // Pooling and KMS.
    const poolingEnabled = read("poolingEnabled") as boolean;
    const maxClientConn = int("poolMaxClientConn");
    const defaultPoolSize = int("poolDefaultPoolSize");
    const poolReplicas = int("poolReplicas");
    if (!(maxClientConn >= 1 && maxClientConn <= 100_000)) {
        problem("poolMaxClientConn", maxClientConn, "must be 1-100000 (each client holds a file descriptor of the pooler)");
    }
    if (!(defaultPoolSize >= 1 && defaultPoolSize <= 200)) {
        problem("poolDefaultPoolSize", defaultPoolSize, "must be 1-200 (the server's max_connections is 200)");
    }
    if (!(poolReplicas >= 1 && poolReplicas <= 20)) {
        problem("poolReplicas", poolReplicas, "must be 1-20 (each replica opens its own pools to the server, whose max_connections is 200)");
    }
    const pgbouncerImage = str("pgbouncerImage")!;
    const pgbouncerRule = imageProblem(pgbouncerImage) ?? pgbouncerVersionProblem(pgbouncerImage);
    if (pgbouncerRule) {
        problem("pgbouncerImage", pgbouncerImage, pgbouncerRule);
    }
    const kmsEnabled = read("kmsEnabled") as boolean;
    const kmsApiVersion = str("kmsApiVersion")!;
    const kmsKind = str("kmsKind")!;
    if (kmsSyncCrd(kmsApiVersion, kmsKind) === undefined) {
        problem(
            KMS_SYNC_CRDS.some((c) => c.apiVersion === kmsApiVersion) ? "kmsKind" : "kmsApiVersion",
            KMS_SYNC_CRDS.some((c) => c.apiVersion === kmsApiVersion) ? kmsKind : kmsApiVersion,
            `kmsApiVersion + kmsKind must name a KMS operator's CRD: ${KMS_SYNC_CRDS.map((c) => `${c.apiVersion} ${c.kind} (${c.operator})`).join(", ")}`,
        );
    }
    const kmsProjectSlug = str("kmsProjectSlug");
    if (kmsProjectSlug !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(kmsProjectSlug)) {
        problem("kmsProjectSlug", kmsProjectSlug, "must be a KMS project slug (lowercase letters, digits, hyphens)");
    }
    const kmsResyncInterval = int("kmsResyncInterval");
    if (!(kmsResyncInterval >= 10)) {
        problem("kmsResyncInterval", kmsResyncInterval, "must be at least 10 seconds");
    }
    const kmsHostApi = str("kmsHostApi")!;
    if (httpUrlProblem(kmsHostApi, { path: true }) !== undefined) {
        problem("kmsHostApi", kmsHostApi, `must be an http(s) URL such as https://kms.hanzo.ai/api (${httpUrlProblem(kmsHostApi, { path: true })})`);
    }
    const kmsEnvSlug = str("kmsEnvSlug")!;
    if (!/^[a-z0-9]([-a-z0-9_]{0,62})$/.test(kmsEnvSlug)) {
        problem("kmsEnvSlug", kmsEnvSlug, "must be a KMS environment slug such as prod (lowercase letters, digits, hyphens, underscores)");
    }
    const kmsCredentialsSecret = str("kmsCredentialsSecret")!;
    if (!DNS_LABEL.test(kmsCredentialsSecret)) {
        problem("kmsCredentialsSecret", kmsCredentialsSecret, "must be a Kubernetes Secret name");
    }

    // Services.
    const legacyDatabases = stringList("legacyDatabases");
    for (const [i, name] of legacyDatabases.entries()) {
        const rule = identifierProblem(name) ?? reservedDatabaseProblem(name);
        if (rule) {
            problem(`legacyDatabases[${i}]`, name, rule);
        }
    }
    const services = loadServices(read("services"), { environment, isTest, namespace, legacyDatabases, retentionDays, poolingEnabled, kmsEnabled, adopt }, problem);
    const extensionVersions = loadExtensionVersions(read("extensionVersions"), services, problem);
    const syncing = services.filter((s) => s.kmsSync).map((s) => s.name);
    if (kmsEnabled && syncing.length > 0 && kmsProjectSlug === undefined) {
        problem("kmsProjectSlug", undefined, `required when a service syncs from the KMS (${syncing.join(", ")}): pulumi config set kmsProjectSlug <project>`);
    }

    if (problems.length > 0) {
        throw new StackConfigError(source.stack, problems);
    }
    return {
        stack: source.stack,
        environment,
        isTest,
        protectData: !isTest,
        cluster,
        namespace,
        createNamespace: read("createNamespace") as boolean,
        adopt,
        extensionVersions,
        instance: {
            name: "postgres",
            host: `postgres.${namespace}.svc`,
            port: POSTGRES_PORT,
            image,
            storageSize: str("storageSize")!,
            storageClass,
            storageSizeApplied: applied,
            pgdataAtMountRoot: adopt,
            cpuRequest: str("cpuRequest")!,
            cpuLimit: str("cpuLimit")!,
            memoryRequest: str("memoryRequest")!,
            memoryLimit: str("memoryLimit")!,
            memoryLimitBytes: memoryLimit,
            podNetworkCidrs,
            terminationGracePeriodSeconds: grace,
            vector,
        },
        admin: { host: adminHost, port: adminPort, sslmode: adminSslmode, password: adminPassword },
        legacyDatabases,
        services,
        backup: {
            enabled: backupEnabled,
            schedule: backupSchedule,
            retentionDays,
            bucket,
            prefix,
            region,
            endpoint: endpoint?.replace(/\/$/, ""),
            accessKeyId: credentials.backupAccessKeyId,
            secretAccessKey: credentials.backupSecretAccessKey,
            dumpImage,
            s3Image,
            drill: drillEnabled && backupEnabled ? { enabled: true, schedule: drillSchedule } : { enabled: false },
        },
        monitoring: { enabled: read("monitoringEnabled") as boolean, namespace: monitoringNamespace, release, exporterImage },
        pooling: { enabled: poolingEnabled, maxClientConn, defaultPoolSize, image: pgbouncerImage, replicas: poolReplicas },
        kms: {
            enabled: kmsEnabled,
            apiVersion: kmsApiVersion,
            kind: kmsKind,
            projectSlug: kmsProjectSlug ?? "",
            resyncInterval: kmsResyncInterval,
            hostAPI: kmsHostApi,
            envSlug: kmsEnvSlug,
            credentialsSecret: kmsCredentialsSecret,
        },
    };
}

interface ServiceContext {
    readonly environment: Environment;
    readonly isTest: boolean;
    readonly namespace: string;
    readonly legacyDatabases: readonly string[];
    readonly retentionDays: number;
    readonly poolingEnabled: boolean;
    readonly kmsEnabled: boolean;
    readonly adopt: boolean;
}

function loadServices(
    raw: unknown,
    ctx: ServiceContext,
    problem: (key: string, value: unknown, rule: string) => void,
): ServiceSpec[] {
    if (raw === undefined) {
        problem("services", undefined, "required: a list with one entry per service, e.g. `- name: iam`");
        return [];
    }
    if (!Array.isArray(raw) || raw.length === 0) {
        problem("services", raw, "must be a non-empty list with one entry per service");
        return [];
    }
    const specs: ServiceSpec[] = [];
    const seen = new Map<string, string>();
    /** Claims a unique value for an entry; reports the clash and returns false when taken. */
    const claim = (what: string, value: string, key: string, why: string): boolean => {
        const id = `${what}:${value}`;
        const first = seen.get(id);
        if (first !== undefined) {
            problem(key, value, `duplicate ${what}; ${PROJECT}:${first} already uses it (${why})`);
            return false;
        }
        seen.set(id, key);
        return true;
    };
    raw.forEach((entry: unknown, i: number) => {
        const at = (field?: string) => `services[${i}]${field ? `.${field}` : ""}`;
        const e: Record<string, unknown> = typeof entry === "string" ? { name: entry } : (entry as Record<string, unknown>);
        if (e === null || typeof e !== "object" || Array.isArray(e)) {
            problem(at(), entry, "must be a service name or an object with at least `name`");
            return;
        }
        for (const field of Object.keys(e)) {
            if (!SERVICE_FIELDS.includes(field)) {
                problem(at(field), e[field], `unknown field; a service has ${SERVICE_FIELDS.join(", ")}`);
            }
        }
        const name = e.name;
        if (typeof name !== "string") {
            problem(at("name"), name, "required: the service name, e.g. iam");
            return;
        }
        const nameRule = identifierProblem(name);
        if (nameRule) {
            problem(at("name"), name, `service name ${nameRule}`);
            return;
        }
        if (ctx.isTest && name.endsWith(TEST_SUFFIX)) {
            problem(at("name"), name, `give the service's own name; the test environment adds "${TEST_SUFFIX}" to its database and role`);
            return;
        }
        const database = e.database ?? (ctx.isTest ? `${name}${TEST_SUFFIX}` : name);
        if (typeof database !== "string") {
            problem(at("database"), database, "must be a string");
            return;
        }
        const dbRule = databaseNameProblem(name, database, ctx.environment, ctx.legacyDatabases);
        if (dbRule) {
            problem(e.database === undefined ? at("name") : at("database"), database, `database name ${dbRule}`);
            return;
        }
        const role = roleNameFor(database);
        const roleRule = identifierProblem(role);
        if (roleRule) {
            problem(e.database === undefined ? at("name") : at("database"), database, `its role "${role}" ${roleRule}; shorten the name`);
            return;
        }
        const namespace = e.namespace ?? ctx.namespace;
        if (typeof namespace !== "string" || !DNS_LABEL.test(namespace) || namespace.length > 63) {
            problem(at("namespace"), namespace, "must be a Kubernetes namespace name");
            return;
        }
        const connection = e.connection ?? "url";
        if (!(CONNECTION_SHAPES as readonly unknown[]).includes(connection)) {
            problem(at("connection"), connection, `must be one of ${CONNECTION_SHAPES.join(", ")}`);
            return;
        }
        const extra = e.extensions ?? [];
        if (!Array.isArray(extra) || extra.some((x) => typeof x !== "string")) {
            problem(at("extensions"), extra, "must be a list of extension names");
            return;
        }
        const unknown = extra.filter((x: string) => !AVAILABLE_EXTENSIONS.includes(x));
        if (unknown.length > 0) {
            problem(at("extensions"), unknown, `unknown extension; the image ships ${AVAILABLE_EXTENSIONS.join(", ")}`);
            return;
        }
        const requiredTables = e.requiredTables ?? [];
        if (!Array.isArray(requiredTables) || requiredTables.some((t) => typeof t !== "string" || !/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/.test(t))) {
            problem(at("requiredTables"), requiredTables, "must be a list of table names (`table` or `schema.table`, lowercase)");
            return;
        }
        const connectionLimit = e.connectionLimit ?? -1;
        if (typeof connectionLimit !== "number" || !Number.isInteger(connectionLimit) || connectionLimit < -1 || connectionLimit === 0 || connectionLimit > MAX_CONNECTIONS) {
            problem(at("connectionLimit"), connectionLimit, `must be a whole number from 1 to ${MAX_CONNECTIONS} (the server's max_connections), or -1 for no limit`);
            return;
        }
        const backupRetentionDays = e.backupRetentionDays ?? ctx.retentionDays;
        if (typeof backupRetentionDays !== "number" || !Number.isInteger(backupRetentionDays) || backupRetentionDays < 0 || backupRetentionDays > MAX_RETENTION_DAYS) {
            problem(at("backupRetentionDays"), backupRetentionDays, `must be a whole number of days up to ${MAX_RETENTION_DAYS} (0: not backed up; e.g. 2555 for 7 years)`);
            return;
        }
        /** An optional true/false field that only works when the stack enables `stackKey`. */
        const flag = (field: string, stackEnabled: boolean, needs: string, stackKey: string): boolean | undefined => {
            const v = e[field] ?? false;
            if (typeof v !== "boolean") {
                problem(at(field), v, "must be true or false");
                return undefined;
            }
            if (v && !stackEnabled) {
                problem(at(field), v, `needs the stack's ${needs}: pulumi config set ${stackKey} true`);
                return undefined;
            }
            return v;
        };
        const passwordVersion = e.passwordVersion ?? 1;
        if (typeof passwordVersion !== "number" || !Number.isInteger(passwordVersion) || passwordVersion < 1) {
            problem(at("passwordVersion"), passwordVersion, "must be a positive whole number; raise it by one to rotate the service's password");
            return;
        }
        const pooled = flag("pooled", ctx.poolingEnabled, "pooler", "poolingEnabled");
        const kmsSync = flag("kmsSync", ctx.kmsEnabled, "KMS sync", "kmsEnabled");
        if (pooled === undefined || kmsSync === undefined) {
            return;
        }
        // An adopted service keeps the password the KMS holds until it is rotated on purpose.
        const keepPassword = e.keepPassword ?? ctx.adopt;
        if (typeof keepPassword !== "boolean") {
            problem(at("keepPassword"), keepPassword, "must be true or false");
            return;
        }
        if (keepPassword && pooled) {
            problem(at("keepPassword"), keepPassword, "a pooled service needs the password in PgBouncer's userlist, which the program only knows once it manages it: rotate first (keepPassword: false), then pool");
            return;
        }
        const renamedFrom = e.renamedFrom;
        if (renamedFrom !== undefined) {
            const rule = typeof renamedFrom === "string" ? identifierProblem(renamedFrom) : "must be the service's previous name";
            if (rule || renamedFrom === name) {
                problem(at("renamedFrom"), renamedFrom, rule ? `previous service name ${rule}` : "is the service's current name; remove renamedFrom once the rename is applied, or give the old name");
                return;
            }
        }
        const secretName = `${kubernetesNameFor(name)}-database`;
        if (
            !claim("service name", name, at("name"), "one entry per service") ||
            !claim("database", database, at(e.database === undefined ? "name" : "database"), "one database per service") ||
            !claim("connection Secret", `${namespace}/${secretName}`, at("name"), "rename one of the services")
        ) {
            return;
        }
        specs.push({
            name,
            database,
            role,
            namespace,
            secretName,
            connection: connection as ConnectionShape,
            extensions: [...new Set<string>([...REQUIRED_EXTENSIONS, ...extra])],
            requiredTables,
            connectionLimit,
            backupRetentionDays,
            pooled,
            kmsSync,
            passwordVersion,
            keepPassword,
            ...(renamedFrom !== undefined ? { renamedFrom: renamedFrom as string } : {}),
        });
    });
    for (const [i, s] of specs.entries()) {
        if (s.renamedFrom !== undefined && specs.some((o) => o.name === s.renamedFrom)) {
            problem(`services[${i}].renamedFrom`, s.renamedFrom, `service "${s.renamedFrom}" is still declared: a rename moves its database, so remove the old entry`);
        }
    }
    return specs;
}

/** Pinned extension versions: the default image's, overridden per extension by `extensionVersions`. */
function loadExtensionVersions(
    raw: unknown,
    services: readonly ServiceSpec[],
    problem: (key: string, value: unknown, rule: string) => void,
): Readonly<Record<string, string>> {
    const versions: Record<string, string> = { ...DEFAULT_EXTENSION_VERSIONS };
    if (raw === undefined) {
        return versions;
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        problem("extensionVersions", raw, 'must be a map of extension name to version, e.g. { vector: "0.8.1" }');
        return versions;
    }
    const used = new Set<string>([...REQUIRED_EXTENSIONS, ...services.flatMap((s) => s.extensions)]);
    for (const [ext, version] of Object.entries(raw as Record<string, unknown>)) {
        if (!AVAILABLE_EXTENSIONS.includes(ext)) {
            problem(`extensionVersions.${ext}`, version, `unknown extension; the image ships ${AVAILABLE_EXTENSIONS.join(", ")}`);
        } else if (!used.has(ext)) {
            problem(`extensionVersions.${ext}`, version, "no service uses this extension: add it to a service's extensions, or remove the version");
        } else if (typeof version !== "string" || !/^[0-9][0-9A-Za-z._-]*$/.test(version)) {
            problem(`extensionVersions.${ext}`, version, 'must be a version string as the extension names it, e.g. "0.8.0" or "1.6" (SELECT name, version FROM pg_available_extension_versions)');
        } else {
            versions[ext] = version;
        }
    }
    return versions;
}
