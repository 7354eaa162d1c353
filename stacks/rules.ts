/**
 * The rules that relate keys to each other, each a named function in a list (as CloudNativePG's webhook lists
 * its validateX functions), and CONFIG: the keys of stacks/schema.ts with these rules. The rules run even when
 * other keys failed, each only once the keys it reads passed their own schema, so every problem is reported at
 * once and none twice.
 */
import { z } from "zod";
import { parseQuantity } from "../policies/standard/quantity";
import { ADMIN_ROLE, AVAILABLE_EXTENSIONS, BACKUP_ROLE, MONITOR_ROLE, REQUIRED_EXTENSIONS } from "../policies/standard/rules";
import { REPLICATION_ROLE, replicationProblem } from "../policies/standard/replication";
import { restoredProblems } from "./pitrBootstrap";
import { KMS_SYNC_CRDS, kmsSyncCrd } from "../render/kmsSync";
import { HANZO_SQL_IMAGE } from "../render/pitr";
import { Config, FLAT } from "./schema";
import { Report, ResolvedService, resolveServices } from "./services";

/** What a rule is given: the configuration, which keys passed their schema, where to report. */
export interface RuleInput {
    readonly c: Config;
    /** Whether every one of `keys` passed its own schema (a rule reads only keys that did). */
    readonly ok: (...keys: (keyof Config)[]) => boolean;
    readonly report: Report;
}
/** A rule across keys: reports each problem it finds. */
export type CrossKeyRule = (input: RuleInput) => void;
/** A rule that also reads the resolved services (stacks/services.ts). */
export type ServicesRule = (input: RuleInput, services: readonly ResolvedService[]) => void;

/** A quantity that passed its schema (NaN otherwise, which no comparison holds for). */
const quantityOf = (text: string) => parseQuantity(text) ?? NaN;

/** Exactly one of clusterName and kubeContext says where the cluster is. */
export function validateOneCluster({ c, ok, report }: RuleInput): void {
    if (ok("clusterName", "kubeContext") && (c.clusterName === undefined) === (c.kubeContext === undefined)) {
        const [k, v] = c.clusterName === undefined ? ["clusterName", undefined] : ["kubeContext", c.kubeContext];
        report([k], v, "set exactly one of clusterName (a DOKS cluster) and kubeContext (a local cluster)");
    }
}

/** A request never exceeds its limit (CPU and memory). */
export function validateRequestsWithinLimits({ c, ok, report }: RuleInput): void {
    for (const [request, limit] of [
        ["cpuRequest", "cpuLimit"],
        ["memoryRequest", "memoryLimit"],
    ] as const) {
        if (ok(request, limit) && quantityOf(c[request]) > quantityOf(c[limit])) {
            report([request], c[request], `must not exceed ${limit} (${c[limit]})`);
        }
    }
}

/**
 * The volume only grows, and only on a class that can expand. A claim grows in place (the PVC patch) and never
 * shrinks; Kubernetes refuses both a smaller request and any growth on a class without allowVolumeExpansion,
 * but only once `up` is under way.
 */
export function validateVolumeGrowth({ c, ok, report }: RuleInput): void {
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
}

/** Adopting a running server needs its superuser's password. */
export function validateAdoptionPassword({ c, ok, report }: RuleInput): void {
    if (ok("adopt", "adminPassword") && c.adopt && c.adminPassword === undefined) {
        report(
            ["adminPassword"],
            undefined,
            "adopting a running server needs its superuser's password (the server keeps it, and the Secret postgres-credentials must keep it too): pulumi config set --secret adminPassword <the password in postgres-credentials>",
        );
    }
}

/** A restore drill needs backups to restore. */
export function validateDrillNeedsBackups({ c, ok, report }: RuleInput): void {
    if (ok("backupEnabled", "backupDrillEnabled") && c.backupDrillEnabled && !c.backupEnabled) {
        report(["backupDrillEnabled"], true, "drills restore backups: set backupEnabled: true, or backupDrillEnabled: false");
    }
}

/** Backups to an endpoint of your own need its credentials. */
export function validateEndpointCredentials({ c, ok, report }: RuleInput): void {
    if (ok("backupEnabled", "backupEndpoint") && c.backupEnabled && c.backupEndpoint !== undefined) {
        for (const k of ["backupAccessKeyId", "backupSecretAccessKey"] as const) {
            if (c[k] === undefined) {
                report([k], undefined, `backups to backupEndpoint need credentials: pulumi config set --secret ${k} <value>`);
            }
        }
    }
}

/** Backups from a local cluster need an endpoint (it has no DigitalOcean Spaces). */
export function validateLocalClusterEndpoint({ c, ok, report }: RuleInput): void {
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
}

/** kmsApiVersion and kmsKind name a KMS operator's CRD the program supports. */
export function validateKmsCrd({ c, ok, report }: RuleInput): void {
    if (ok("kmsApiVersion", "kmsKind") && kmsSyncCrd(c.kmsApiVersion, c.kmsKind) === undefined) {
        const knownApi = KMS_SYNC_CRDS.some((crd) => crd.apiVersion === c.kmsApiVersion);
        report(
            [knownApi ? "kmsKind" : "kmsApiVersion"],
            knownApi ? c.kmsKind : c.kmsApiVersion,
            `kmsApiVersion + kmsKind must name a KMS operator's CRD: ${KMS_SYNC_CRDS.map((crd) => `${crd.apiVersion} ${crd.kind} (${crd.operator})`).join(", ")}`,
        );
    }
}

/** Every pinned extension version is of an extension the image ships and a service uses, and is a version. */
export function validateExtensionVersions({ c, ok, report }: RuleInput, services: readonly ResolvedService[]): void {
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
}

/** A service that syncs from the KMS needs the KMS project. */
export function validateKmsProject({ c, ok, report }: RuleInput, services: readonly ResolvedService[]): void {
    const syncing = services.filter((s) => s.kmsSync).map((s) => s.name);
    if (ok("kmsProjectSlug") && c.kmsEnabled && syncing.length > 0 && c.kmsProjectSlug === undefined) {
        report(
            ["kmsProjectSlug"],
            undefined,
            `required when a service syncs from the KMS (${syncing.join(", ")}): pulumi config set kmsProjectSlug <project>`,
        );
    }
}

/**
 * Point-in-time recovery (docs/pitr.md): archives into the backup bucket, so it needs backups on; pgBackRest
 * must be in the server image; it talks to S3 over TLS only and verifies the certificate by DNS name.
 */
export function validatePitr({ c, ok, report }: RuleInput): void {
    if (!ok("pitrEnabled") || !c.pitrEnabled) {
        return;
    }
    if (ok("backupEnabled") && !c.backupEnabled) {
        report(["pitrEnabled"], true, "the WAL archive goes to the backup bucket: set backupEnabled: true, or pitrEnabled: false");
    }
    if (
        ok("image") &&
        !c.image.startsWith(`${HANZO_SQL_IMAGE.split(":")[0]}:`) &&
        !c.image.startsWith(`${HANZO_SQL_IMAGE.split(":")[0]}@`)
    ) {
        report(
            ["image"],
            c.image,
            `has no pgBackRest, which archive_command runs in the server container: set image: ${HANZO_SQL_IMAGE} (image/Containerfile), or pitrEnabled: false`,
        );
    }
    if (ok("pitrEndpointCa", "backupEndpoint") && c.pitrEndpointCa !== undefined && c.backupEndpoint === undefined) {
        report(
            ["pitrEndpointCa"],
            "[certificate]",
            "is for an endpoint of your own (backupEndpoint); DigitalOcean Spaces is verified with the image's CAs: remove it",
        );
    }
    if (ok("backupEndpoint") && c.backupEndpoint !== undefined) {
        const host = /^https?:\/\/([^:/]+)/.exec(c.backupEndpoint)?.[1] ?? "";
        if (!c.backupEndpoint.startsWith("https://")) {
            report(
                ["backupEndpoint"],
                c.backupEndpoint,
                "pgBackRest reaches S3 over TLS only: serve the endpoint over https, or set pitrEnabled: false",
            );
        } else if (/^[0-9.]+$|^\[/.test(host)) {
            report(
                ["backupEndpoint"],
                c.backupEndpoint,
                "pgBackRest verifies the endpoint's certificate by DNS name only: give its host name (e.g. https://minio.minio.svc:9000), not an IP address",
            );
        }
    }
}

/**
 * The archive holds every database's data for pitrRetentionDays: no longer than the shortest retention of any
 * dumped database (ADR-60's retention classes), or data a class must delete would outlive it in the archive.
 */
export function validatePitrRetention({ c, ok, report }: RuleInput, services: readonly ResolvedService[]): void {
    if (!ok("pitrEnabled", "pitrRetentionDays") || !c.pitrEnabled) {
        return;
    }
    const dumped = services.filter((s) => s.backupRetentionDays > 0);
    const shortest = Math.min(c.backupRetentionDays, ...dumped.map((s) => s.backupRetentionDays));
    if (c.pitrRetentionDays > shortest) {
        const who = dumped.filter((s) => s.backupRetentionDays === shortest).map((s) => s.name);
        report(
            ["pitrRetentionDays"],
            c.pitrRetentionDays,
            `exceeds the shortest dump retention, ${shortest} days (${who.length > 0 ? who.join(", ") : "backupRetentionDays"}): the archive holds every database, so it would keep data past its class; set pitrRetentionDays to ${shortest} or less`,
        );
    }
}

/** synchronousStandbys ≤ standbys (policies/standard/replication.ts): commits would otherwise wait forever. */
export function validateSynchronousStandbys({ c, ok, report }: RuleInput): void {
    if (ok("standbys", "synchronousStandbys")) {
        const problem = replicationProblem({ standbys: c.standbys, synchronousStandbys: c.synchronousStandbys });
        if (problem) {
            report([problem.key], c[problem.key], problem.message);
        }
    }
}

/**
 * Bootstrapping from another stack's archive (docs/pitr.md "Into a new stack") runs pgBackRest in the server
 * image with the bucket's keys, as archiving does, so it needs pitrEnabled; an adopted volume already holds
 * the seed's cluster, which the restore step would never touch.
 */
export function validatePitrBootstrap({ c, ok, report }: RuleInput): void {
    if (!ok("pitrBootstrapFrom") || c.pitrBootstrapFrom === undefined) {
        return;
    }
    if (ok("pitrEnabled") && !c.pitrEnabled) {
        report(
            ["pitrBootstrapFrom"],
            c.pitrBootstrapFrom,
            "needs pitrEnabled: true (the restore step runs pgBackRest in the server image with the bucket's keys, as archiving does); set it, or remove pitrBootstrapFrom",
        );
    }
    if (ok("adopt") && c.adopt) {
        report(
            ["pitrBootstrapFrom"],
            c.pitrBootstrapFrom,
            "cannot bootstrap an adopted stack: its volume holds the seed's cluster, which the restore step never touches; remove pitrBootstrapFrom or adopt",
        );
    }
    // The first preview would Read the imported roles from a server that does not exist yet: a provider whose
    // configuration is known reads them (pkg/resource/plugin/provider_plugin.go Read); a generated password is
    // unknown in that preview, so the provider is not configured and the imports preview as empty (components/bootstrap.ts).
    if (ok("adminPassword") && c.adminPassword !== undefined) {
        report(
            ["pitrBootstrapFrom"],
            c.pitrBootstrapFrom,
            "cannot be given with adminPassword: the first preview would read the restored roles from a server that is not there yet; leave adminPassword unset (the stack generates one and the restore step gives it to the restored cluster), or remove pitrBootstrapFrom before setting it",
        );
    }
}

/**
 * pitrBootstrapFrom.restored names only roles and databases this stack declares, and the backup role
 * (stacks/pitrBootstrap.ts restoredProblems; docs/pitr.md "Into a new stack").
 */
export function validatePitrBootstrapRestored({ c, ok, report }: RuleInput, services: readonly ResolvedService[]): void {
    if (!ok("pitrBootstrapFrom", "backupEnabled", "monitoringEnabled", "standbys") || c.pitrBootstrapFrom === undefined) {
        return;
    }
    const declared = {
        roles: [
            ...services.map((s) => s.role),
            ...(c.backupEnabled ? [BACKUP_ROLE] : []),
            ...(c.monitoringEnabled ? [MONITOR_ROLE] : []),
            ...(c.standbys > 0 ? [REPLICATION_ROLE] : []),
        ],
        databases: services.map((s) => s.database),
        admin: ADMIN_ROLE,
        backupRole: BACKUP_ROLE,
    };
    for (const p of restoredProblems(c.pitrBootstrapFrom.restored, declared)) {
        report(["pitrBootstrapFrom", "restored", ...p.path], p.value, p.message);
    }
}

/** The rules across keys, in the order their problems are reported. */
export const CROSS_KEY_RULES: readonly CrossKeyRule[] = [
    validateOneCluster,
    validateRequestsWithinLimits,
    validateVolumeGrowth,
    validateAdoptionPassword,
    validateSynchronousStandbys,
    validateDrillNeedsBackups,
    validateEndpointCredentials,
    validateLocalClusterEndpoint,
    validateKmsCrd,
    validatePitr,
    validatePitrBootstrap,
];
/** The keys the services are resolved with (stacks/services.ts); the services' rules run only once they passed. */
export const SERVICES_CONTEXT: readonly (keyof Config)[] = [
    "environment",
    "namespace",
    "legacyDatabases",
    "backupRetentionDays",
    "poolingEnabled",
    "kmsEnabled",
    "adopt",
];
/** The rules that read the resolved services, after resolveServices' own, in the order they are reported. */
export const SERVICES_RULES: readonly ServicesRule[] = [
    validateExtensionVersions,
    validateKmsProject,
    validatePitrRetention,
    validatePitrBootstrapRestored,
];

/** Runs every rule: CROSS_KEY_RULES, then (when the context passed) resolveServices and SERVICES_RULES. */
function crossKeyRules(c: Config, ctx: z.RefinementCtx<Config>): void {
    const failed = new Set(ctx.issues.map((i) => i.path?.[0]));
    const failedEntries = new Set(ctx.issues.filter((i) => i.path?.[0] === "services").map((i) => i.path?.[1]));
    const ok = (...keys: (keyof Config)[]) => keys.every((k) => !failed.has(k));
    const report: Report = (path, input, message) => ctx.addIssue({ code: "custom", path, input, message });
    const input: RuleInput = { c, ok, report };
    for (const validate of CROSS_KEY_RULES) {
        validate(input);
    }
    if (!Array.isArray(c.services) || !ok(...SERVICES_CONTEXT)) {
        return;
    }
    const services = resolveServices(c, (i) => !failedEntries.has(i), report);
    for (const validate of SERVICES_RULES) {
        validate(input, services);
    }
}

/** The stack configuration schema: every key, then the rules across keys. */
export const CONFIG = FLAT.superRefine(crossKeyRules, { when: () => true });
