/**
 * Stack configuration → StackSpec: Pulumi's config strings are decoded by each key's type, validated by the
 * one schema (stacks/schema.ts), and every problem is reported together, each naming the config key, the
 * bad value (never a secret's) and the rule, before the program declares a single resource.
 */
import { DEFAULT_EXTENSION_VERSIONS } from "../policies/standard/rules";
import type { VectorSettings } from "../policies/standard/settings";
import { POSTGRES_PORT } from "../policies/standard/ports";
import { parseQuantity } from "../policies/standard/quantity";
import { redactSecrets } from "../render/connection";
import { CONFIG_KEYS, ConfigKey } from "./configKeys";
import { CONFIG } from "./rules";
import { PROJECT } from "../policies/standard/types";
import { CONFIG_KEY_NAMES, Config } from "./schema";
import { resolveServices } from "./services";
import { archiveSpecOf, pitrBackupsOf } from "./pitr";
import { bootstrapSpecOf } from "./pitrBootstrap";
import type { StackSpec } from "./spec";

export { CONFIG_KEYS, PROJECT };

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
    constructor(
        readonly stack: string,
        readonly problems: readonly ConfigProblem[],
    ) {
        super(
            `stack "${stack}": invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}); ` +
                `nothing was created:\n` +
                // A value is shown with any connection-string password in it hidden (a misplaced DSN, say).
                problems
                    .map(
                        (p) =>
                            `  - ${p.key}${p.value === undefined ? " (not set)" : ` = ${typeof p.value === "string" ? JSON.stringify(redactSecrets(p.value)) : redactSecrets(JSON.stringify(p.value))}`}: ${p.rule}`,
                    )
                    .join("\n"),
        );
        this.name = "StackConfigError";
    }
}

/** What a problem shows for the value of a key or field the schema does not know. */
export const UNKNOWN_VALUE = "[not shown]";

/** Turns Pulumi's string for a key into the value its schema takes, or says why it cannot. */
function decode(decl: ConfigKey, raw: string): { value: unknown } | { problem: string } {
    switch (decl.type) {
        case "string":
            return { value: raw };
        case "integer":
            return /^-?[0-9]+$/.test(raw) && Number.isSafeInteger(Number(raw))
                ? { value: Number(raw) }
                : { problem: "must be a whole number" };
        case "boolean":
            return raw === "true" || raw === "false" ? { value: raw === "true" } : { problem: "must be true or false" };
        default:
            try {
                return { value: JSON.parse(raw) };
            } catch {
                return { problem: `must be a YAML ${decl.type === "array" ? "list" : "structure"}` };
            }
    }
}

/** `services[2].name` from a zod path. */
function pathText(path: readonly PropertyKey[]): string {
    return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
}

/** Reads, defaults and validates a stack's configuration; throws StackConfigError listing every problem. */
export function loadStackSpec(source: ConfigSource): StackSpec {
    const keys = CONFIG_KEYS;
    /** A problem, with where it sorts: its key's place in the schema, then its list entry's. */
    const problems: (ConfigProblem & { readonly order: number; readonly entry?: number })[] = [];
    const order = (key: string) => CONFIG_KEY_NAMES.indexOf(key as never);
    const problem = (key: string, value: unknown, rule: string, at = key, entry = -1) =>
        problems.push({ key: `${PROJECT}:${at}`, value, rule, order: order(key), entry });
    /** Keys whose problem is already reported (undecodable, or a secret in plain text): the schema's are noise. */
    const settled = new Set<string>();

    // Entries, then Object.fromEntries: a key named `__proto__` becomes an own key (reported), not the prototype.
    const entries: [string, unknown][] = [];
    for (const full of source.keys()) {
        if (!full.startsWith(`${PROJECT}:`)) {
            continue;
        }
        const name = full.slice(PROJECT.length + 1);
        const raw = source.get(full);
        if (raw === undefined) {
            continue;
        }
        const decl = Object.hasOwn(keys, name) ? keys[name] : undefined;
        if (decl === undefined) {
            // Unknown: the schema reports it by name only; its value is not shown, secret or not (a misspelt
            // adminPassword is a password all the same).
            entries.push([name, source.isSecret(full) ? "[secret]" : UNKNOWN_VALUE]);
            continue;
        }
        if (decl.secret && !source.isSecret(full)) {
            problem(name, "[redacted]", `is stored in plain text; set it with pulumi config set --secret ${name}`);
            settled.add(name);
        }
        const decoded = decode(decl, raw);
        if ("problem" in decoded) {
            // A value that fails to decode is shown as given, unless it is a secret (of any type).
            problem(name, decl.secret || source.isSecret(full) ? "[secret]" : raw, decoded.problem);
            settled.add(name);
        } else {
            entries.push([name, decoded.value]);
        }
    }
    // The one default that depends on the stack; validated like a value given.
    const values = Object.fromEntries(entries);
    values.backupBucket ??= defaultBucket(source.stack);

    const parsed = CONFIG.safeParse(values, { reportInput: true });
    for (const issue of parsed.error?.issues ?? []) {
        const [name] = issue.path as (string | number)[];
        if (issue.code === "unrecognized_keys") {
            // Unknown keys of the namespace (values already hidden when secret), or of a service entry.
            const hidden = issue.path.length > 0 && source.isSecret(`${PROJECT}:${name}`);
            for (const k of issue.keys) {
                // An unknown key's or field's value is never shown (a misplaced password is one all the same).
                const value = issue.path.length === 0 ? (issue.input as Record<string, unknown>)[k] : hidden ? "[secret]" : UNKNOWN_VALUE;
                problems.push({
                    key: `${PROJECT}:${pathText([...issue.path, k])}`,
                    value,
                    rule: issue.message,
                    order: issue.path.length === 0 ? -1 : order(String(name)),
                });
            }
        } else if (!settled.has(String(name))) {
            // A secret's value never reaches a message, whatever rule it breaks (nor any value set with --secret).
            const secret = (keys[String(name)]?.secret || source.isSecret(`${PROJECT}:${name}`)) && issue.input !== undefined;
            const entry = typeof issue.path[1] === "number" ? issue.path[1] : -1;
            problem(String(name), secret ? "[secret]" : issue.input, issue.message, pathText(issue.path), entry);
        }
    }
    const config = parsed.data;
    const cluster = config ? clusterOf(config) : undefined;
    providerCredentials(source, values, cluster, (key, value, rule, after) => problems.push({ key, value, rule, order: order(after) }));

    if (problems.length > 0 || config === undefined) {
        // Sorted by the keys' order in the schema (unknown keys first); a key's own problems keep theirs.
        const sorted = problems
            .map((p, i) => [p, i] as const)
            .sort(([a, i], [b, j]) => a.order - b.order || (a.entry ?? -1) - (b.entry ?? -1) || i - j)
            .map(([p]) => p);
        const unique = sorted.filter((p, i) => sorted.findIndex((q) => q.key === p.key && q.rule === p.rule) === i);
        throw new StackConfigError(
            source.stack,
            unique.map(({ key, value, rule }) => ({ key, value, rule })),
        );
    }
    return specOf(source.stack, config);
}

const defaultBucket = (stack: string) => `${stack}-postgres-backups`;

/** A value the schema's rules guarantee (a cross-key rule the types cannot carry); a bug when missing. */
function given<T>(value: T | undefined, what: string): T {
    if (value === undefined) {
        throw new Error(`internal: ${what} passed the schema without a value`);
    }
    return value;
}

function clusterOf(c: Config): StackSpec["cluster"] {
    return c.clusterName !== undefined
        ? { kind: "doks", name: c.clusterName }
        : { kind: "kubeconfig", context: given(c.kubeContext, "kubeContext") };
}

/**
 * The other providers' credentials the stack needs: a DigitalOcean token for the DOKS lookup, Spaces keys to
 * create the bucket. Secrets, from config or the environment; reported after the key that needs them.
 */
function providerCredentials(
    source: ConfigSource,
    values: Record<string, unknown>,
    cluster: StackSpec["cluster"] | undefined,
    problem: (key: string, value: unknown, rule: string, after: string) => void,
): void {
    const doks =
        cluster?.kind === "doks" || (cluster === undefined && typeof values.clusterName === "string" && values.kubeContext === undefined);
    const needed: [string, string, string, string][] = [];
    if (doks) {
        needed.push([
            "digitalocean:token",
            "DIGITALOCEAN_TOKEN",
            "the DOKS lookup needs a DigitalOcean API token: pulumi config set --secret digitalocean:token <token> (or DIGITALOCEAN_TOKEN)",
            "clusterName",
        ]);
    }
    if (doks && values.backupEnabled !== false && values.backupEndpoint === undefined) {
        for (const [key, env] of [
            ["digitalocean:spacesAccessId", "SPACES_ACCESS_KEY_ID"],
            ["digitalocean:spacesSecretKey", "SPACES_SECRET_ACCESS_KEY"],
        ]) {
            needed.push([
                key,
                env,
                `creating the Spaces bucket needs Spaces keys: pulumi config set --secret ${key} <value> (or ${env}), or set backupEndpoint`,
                "backupEndpoint",
            ]);
        }
    }
    for (const [key, env, rule, after] of needed) {
        const fromEnv = source.env[env] ?? (env === "DIGITALOCEAN_TOKEN" ? source.env.DIGITALOCEAN_ACCESS_TOKEN : undefined);
        if (source.get(key) !== undefined && !source.isSecret(key)) {
            problem(key, "[redacted]", `is stored in plain text; set it with pulumi config set --secret ${key}`, after);
        } else if (source.get(key) === undefined && !fromEnv) {
            problem(key, undefined, rule, after);
        }
    }
}

/** The spec components receive: the validated configuration grouped by feature, each feature on or off. */
function specOf(stack: string, c: Config): StackSpec {
    const isTest = c.environment === "test";
    const services = resolveServices(
        c,
        () => true,
        () => undefined,
    );
    const drill = c.backupDrillEnabled ?? c.environment === "prod";
    return {
        stack,
        environment: c.environment,
        isTest,
        protectData: !isTest,
        cluster: clusterOf(c),
        namespace: c.namespace,
        createNamespace: c.createNamespace,
        adopt: c.adopt,
        extensionVersions: { ...DEFAULT_EXTENSION_VERSIONS, ...(c.extensionVersions as Record<string, string> | undefined) },
        instance: {
            name: "postgres",
            host: `postgres.${c.namespace}.svc`,
            port: POSTGRES_PORT,
            image: c.image,
            storageSize: c.storageSize,
            storageClass: c.storageClass,
            storageSizeApplied: c.storageSizeApplied,
            pgdataAtMountRoot: c.adopt,
            cpuRequest: c.cpuRequest,
            cpuLimit: c.cpuLimit,
            memoryRequest: c.memoryRequest,
            memoryLimit: c.memoryLimit,
            memoryLimitBytes: given(parseQuantity(c.memoryLimit), "memoryLimit"),
            podNetworkCidrs: c.podNetworkCidrs,
            terminationGracePeriodSeconds: c.terminationGracePeriodSeconds,
            replication: { standbys: c.standbys, synchronousStandbys: c.synchronousStandbys },
            vector: {
                hnswIterativeScan: c.hnswIterativeScan as VectorSettings["hnswIterativeScan"],
                hnswEfSearch: c.hnswEfSearch,
                hnswMaxScanTuples: c.hnswMaxScanTuples,
                ivfflatIterativeScan: c.ivfflatIterativeScan as VectorSettings["ivfflatIterativeScan"],
            },
            ...(archiveSpecOf(c) ? { archive: archiveSpecOf(c) } : {}),
        },
        admin: { host: c.adminHost, port: c.adminPort, sslmode: c.adminSslmode, password: c.adminPassword },
        legacyDatabases: c.legacyDatabases,
        services,
        backup: !c.backupEnabled
            ? { enabled: false }
            : {
                  enabled: true,
                  schedule: c.backupSchedule,
                  retentionDays: c.backupRetentionDays,
                  bucket: c.backupBucket ?? defaultBucket(stack),
                  prefix: c.backupPrefix,
                  dumpImage: c.backupDumpImage,
                  s3Image: c.backupS3Image,
                  drill: drill ? { enabled: true, schedule: c.backupDrillSchedule } : { enabled: false },
                  store:
                      c.backupEndpoint === undefined
                          ? { kind: "spaces", region: c.backupRegion }
                          : {
                                kind: "s3",
                                endpoint: c.backupEndpoint.replace(/\/$/, ""),
                                accessKeyId: given(c.backupAccessKeyId, "backupAccessKeyId"),
                                secretAccessKey: given(c.backupSecretAccessKey, "backupSecretAccessKey"),
                            },
              },
        monitoring: c.monitoringEnabled
            ? { enabled: true, namespace: c.monitoringNamespace, release: c.prometheusRelease, exporterImage: c.exporterImage }
            : { enabled: false },
        pooling: c.poolingEnabled
            ? {
                  enabled: true,
                  maxClientConn: c.poolMaxClientConn,
                  defaultPoolSize: c.poolDefaultPoolSize,
                  image: c.pgbouncerImage,
                  replicas: c.poolReplicas,
              }
            : { enabled: false },
        kms: c.kmsEnabled
            ? {
                  enabled: true,
                  apiVersion: c.kmsApiVersion,
                  kind: c.kmsKind,
                  projectSlug: c.kmsProjectSlug ?? "",
                  resyncInterval: c.kmsResyncInterval,
                  hostAPI: c.kmsHostApi,
                  envSlug: c.kmsEnvSlug,
                  credentialsSecret: c.kmsCredentialsSecret,
              }
            : { enabled: false },
        ...(pitrBackupsOf(c) ? { pitr: pitrBackupsOf(c) } : {}),
        ...(c.pitrBootstrapFrom ? { bootstrap: bootstrapSpecOf(c.pitrBootstrapFrom) } : {}),
    };
}
