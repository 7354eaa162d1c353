/**
 * Which input changes make each provider replace a resource (delete and create again) instead of updating it,
 * per resource type the program uses: the providers' own rules, read in their sources (not copied), written
 * once. The engine-step model (cli/plan/steps.ts) evaluates transitions with them, and the data-holder list
 * (./replacement.ts) takes its replace-forcing inputs from here. Imports only its siblings, so the policy pack
 * can load it as is.
 *
 * Paths are Pulumi property paths (`spec.selector`, `data`); `[*]` matches any array index.
 */
import { TYPES } from "./types";

/** Whether the provider that manages a resource updates Secrets/ConfigMaps in place (its configuration). */
export interface KubernetesProviderConfig {
    readonly enableSecretMutable?: boolean;
    readonly enableConfigMapMutable?: boolean;
}

/**
 * pulumi-kubernetes: `metadataForceNewProperties(".metadata")` in provider/pkg/provider/diff.go, which
 * `forceNewProperties` starts every kind's list with; `Diff` in provider/pkg/provider/provider.go also uses
 * exactly these two for Patch resources ("Patch resources can be updated in place for all other properties").
 */
export const K8S_IDENTITY: readonly string[] = ["metadata.name", "metadata.namespace"];

/** `labelSelectorForceNewProperties(prefix)` in diff.go. */
function labelSelector(prefix: string): string[] {
    return [
        `${prefix}.matchExpressions`,
        `${prefix}.matchExpressions.key`,
        `${prefix}.matchExpressions.operator`,
        `${prefix}.matchExpressions.values`,
        `${prefix}.matchLabels`,
    ];
}

/** `containerForceNewProperties(prefixes...)` in diff.go (for bare Pods). */
function containers(...prefixes: string[]): string[] {
    const fields = [
        "args",
        "command",
        "env",
        "env.value",
        "image",
        "imagePullPolicy",
        "lifecycle",
        "livenessProbe",
        "ports",
        "readinessProbe",
        "resources",
        "securityContext",
        "stdin",
        "stdinOnce",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "tty",
        "volumeDevices",
        "volumeMounts",
        "workingDir",
    ];
    return prefixes.flatMap((p) => fields.map((f) => `${p}.${f}`));
}

/**
 * The kind lists of `forceNew` in pulumi-kubernetes provider/pkg/provider/diff.go (groups `apps/v1`, `core/v1`,
 * `batch/v1`, ...), for the kinds this program declares. Kinds absent here (CronJob, NetworkPolicy,
 * ServiceAccount, Namespace, PodMonitor, PrometheusRule, the KMS sync kinds) have only the identity fields.
 */
const K8S_KIND_FIELDS: Readonly<Record<string, readonly string[]>> = {
    // `statefulSet` in diff.go.
    [TYPES.statefulSet]: [
        "spec.podManagementPolicy",
        "spec.revisionHistoryLimit",
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
        ...labelSelector("spec.selector"),
    ],
    // `deployment` and `daemonset` in diff.go.
    [TYPES.deployment]: ["spec.selector", ...labelSelector("spec.selector")],
    [TYPES.daemonSet]: ["spec.selector", ...labelSelector("spec.selector")],
    // `job` in diff.go: a Job's whole template.
    [TYPES.job]: ["spec.completions", "spec.parallelism", "spec.selector", "spec.template", ...labelSelector("spec.selector")],
    // core/v1 `Service` in diff.go.
    [TYPES.service]: ["spec.clusterIP"],
    // core/v1 `PersistentVolumeClaim` in diff.go.
    "kubernetes:core/v1:PersistentVolumeClaim": [
        "spec.accessModes",
        "spec.selector",
        "spec.storageClassName",
        "spec.volumeName",
        ...labelSelector("spec.selector"),
    ],
    // core/v1 `Pod` in diff.go (abridged to the fields a template here could carry).
    [TYPES.pod]: [
        "spec.affinity",
        "spec.nodeSelector",
        "spec.securityContext",
        "spec.serviceAccountName",
        "spec.volumes",
        ...containers("spec.containers[*]", "spec.initContainers[*]"),
    ],
    // core/v1 `Secret` in diff.go: only `.type` when the provider has enableSecretMutable (see below).
    [TYPES.secret]: ["type"],
};

/** Whether the object is immutable (`clients.IsImmutable`: `.immutable` true). */
function isImmutable(inputs: Record<string, unknown>): boolean {
    return inputs.immutable === true;
}

/**
 * The replace-forcing paths of a Kubernetes object: `kubeProvider.forceNewProperties` in pulumi-kubernetes
 * provider/pkg/provider/diff.go. A Secret's `type`, `stringData` and `data` force a replacement unless the
 * provider sets `enableSecretMutable` and the Secret is not immutable; a ConfigMap's `binaryData` and `data`
 * unless `enableConfigMapMutable` (same condition). Patch resources (`…Patch` types): identity only (`Diff` in
 * provider.go).
 */
export function kubernetesForceNew(type: string, inputs: Record<string, unknown>, config: KubernetesProviderConfig = {}): string[] {
    if (type.endsWith("Patch")) {
        return [...K8S_IDENTITY];
    }
    const props = [...K8S_IDENTITY];
    if (type === TYPES.secret && (!config.enableSecretMutable || isImmutable(inputs))) {
        props.push("type", "stringData", "data");
    } else if (K8S_KIND_FIELDS[type]) {
        props.push(...K8S_KIND_FIELDS[type]);
    } else if (type === TYPES.configMap && (!config.enableConfigMapMutable || isImmutable(inputs))) {
        props.push("binaryData", "data");
    }
    return props;
}

/**
 * Terraform-bridged providers: the top-level inputs (Pulumi's camelCase names) whose schema sets `ForceNew`
 * (SDKv2) or a `RequiresReplace` plan modifier (plugin framework). Every other input updates in place.
 */
export const TERRAFORM_FORCE_NEW: Readonly<Record<string, readonly string[]>> = {
    // cyrilgdn/terraform-provider-postgresql postgresql/resource_postgresql_database.go, `resourcePostgreSQLDatabase`:
    // template, encoding, lc_collate, lc_ctype (`name` and `owner` are ALTER DATABASE … RENAME TO / OWNER TO).
    [TYPES.database]: ["template", "encoding", "lcCollate", "lcCtype"],
    // postgresql/resource_postgresql_role.go, `resourcePostgreSQLRole`: nothing (a new name is ALTER ROLE … RENAME TO).
    [TYPES.role]: [],
    // postgresql/resource_postgresql_grant.go, `resourcePostgreSQLGrant`: the grant's whole identity; `privileges` updates.
    [TYPES.grant]: ["role", "database", "schema", "objectType", "objects", "columns", "withGrantOption"],
    // postgresql/resource_postgresql_extension.go, `resourcePostgreSQLExtension`: name, database; `version` is
    // ALTER EXTENSION … UPDATE TO, `schema` ALTER EXTENSION … SET SCHEMA.
    [TYPES.extension]: ["name", "database"],
    // postgresql/resource_postgresql_schema.go, `resourcePostgreSQLSchema`: database.
    [TYPES.schema]: ["database"],
    // postgresql/resource_postgresql_grant_role.go: role, grant_role, with_admin_option.
    "postgresql:index/grantRole:GrantRole": ["role", "grantRole", "withAdminOption"],
    // postgresql/resource_postgresql_default_privileges.go: everything but privileges.
    "postgresql:index/defaultPrivileges:DefaultPrivileges": ["role", "database", "owner", "schema", "objectType", "withGrantOption"],
    // digitalocean/terraform-provider-digitalocean digitalocean/spaces/resource_spaces_bucket.go,
    // `ResourceDigitalOceanBucket`: only `region` (a new `name` is an in-place "update" that renames nothing).
    [TYPES.spacesBucket]: ["region"],
    // digitalocean/spaces/spaces_entities.go, `spacesKeyResourceSchema`: nothing (name and grants update).
    [TYPES.spacesKey]: [],
    // hashicorp/terraform-provider-random internal/provider/resource_password.go, `passwordSchemaV3`: every
    // attribute has `RequiresReplace` (keepers, length, special, upper, lower, number, numeric, min_*,
    // override_special).
    [TYPES.password]: [
        "keepers",
        "length",
        "special",
        "upper",
        "lower",
        "number",
        "numeric",
        "minNumeric",
        "minUpper",
        "minLower",
        "minSpecial",
        "overrideSpecial",
    ],
    // internal/provider/resource_id.go, `Schema`: keepers, byte_length, prefix.
    [TYPES.randomId]: ["keepers", "byteLength", "prefix"],
};

/** The replace-forcing input paths of a resource type (for the data-holder list and the policy). */
export function forceNewPaths(type: string, inputs: Record<string, unknown> = {}, config: KubernetesProviderConfig = {}): string[] {
    if (type.startsWith("kubernetes:")) {
        return kubernetesForceNew(type, inputs, config);
    }
    const tf = TERRAFORM_FORCE_NEW[type];
    if (!tf) {
        throw new Error(
            `no replace-forcing rule is written for ${type}: read its provider's schema and add it to policies/standard/forceNew.ts`,
        );
    }
    return [...tf];
}
