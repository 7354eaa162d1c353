/**
 * What the policies share: type tokens, how to find the stack's environment, how to read Kubernetes
 * workloads whichever way a resource got into the stack, and how to read what the engine sends (plain
 * data, unknowns included). Dependency-free apart from @pulumi/policy's types and ./standard, so the pack
 * is self-contained (`pulumi policy publish` packs this folder alone).
 */
import type { PolicyResource, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { DEFAULT_LEGACY_DATABASES, ENVIRONMENTS } from "./standard/rules";

export const T = {
    hanzoSql: "hanzo-sql:index:HanzoSql",
    database: "postgresql:index/database:Database",
    role: "postgresql:index/role:Role",
    grant: "postgresql:index/grant:Grant",
    extension: "postgresql:index/extension:Extension",
    pgProvider: "pulumi:providers:postgresql",
    secret: "kubernetes:core/v1:Secret",
    configMap: "kubernetes:core/v1:ConfigMap",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    serviceAccount: "kubernetes:core/v1:ServiceAccount",
} as const;

/** Workload kinds, by type token, and where their pod template is. */
export const WORKLOADS: Readonly<Record<string, (props: any) => PodTemplate | undefined>> = {
    "kubernetes:apps/v1:Deployment": (p) => p?.spec?.template,
    "kubernetes:apps/v1:StatefulSet": (p) => p?.spec?.template,
    "kubernetes:apps/v1:DaemonSet": (p) => p?.spec?.template,
    "kubernetes:apps/v1:ReplicaSet": (p) => p?.spec?.template,
    "kubernetes:batch/v1:Job": (p) => p?.spec?.template,
    "kubernetes:batch/v1:CronJob": (p) => p?.spec?.jobTemplate?.spec?.template,
    "kubernetes:core/v1:Pod": (p) => ({ metadata: p?.metadata, spec: p?.spec }),
};

/** KMS sync resources (Hanzo's `KMSSecret`, old and new groups; upstream Infisical's `InfisicalSecret`; the seed's pair). */
export const KMS_SYNC_TYPES = [
    "kubernetes:kms.hanzo.ai/v1:KMSSecret",
    "kubernetes:secrets.lux.network/v1alpha1:KMSSecret",
    "kubernetes:secrets.infisical.com/v1alpha1:InfisicalSecret",
    "kubernetes:secrets.infisical.com/v1alpha1:KMSSecret",
];

export interface Container {
    name: string;
    image?: string;
    env?: { name: string; value?: string; valueFrom?: any }[];
    envFrom?: { secretRef?: { name?: string }; configMapRef?: { name?: string } }[];
    args?: string[];
    command?: string[];
    resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    startupProbe?: unknown;
    securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
    volumeMounts?: { name: string; mountPath: string }[];
}

export interface PodTemplate {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: {
        containers?: Container[];
        initContainers?: Container[];
        volumes?: { name: string; emptyDir?: { medium?: string }; configMap?: { name?: string } }[];
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        serviceAccountName?: string;
        /** Deprecated alias of serviceAccountName, still honoured by the API server. */
        serviceAccount?: string;
        automountServiceAccountToken?: boolean;
    };
}

/**
 * The engine's marker for a value not known yet (a preview): `plugin.UnknownStringValue` in pulumi/pulumi,
 * which the engine sends for every unknown, whatever its type.
 */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Is a value known (not the preview's unknown marker)? */
export function known<V>(v: V): v is Exclude<V, typeof UNKNOWN> {
    return v !== (UNKNOWN as unknown);
}

/** A known string, or undefined. */
export function str(v: unknown): string | undefined {
    return typeof v === "string" && v !== UNKNOWN ? v : undefined;
}

/**
 * A property value as plain data. @pulumi/policy hands policies proxies that throw on reading an unknown
 * value (turning the whole policy into an advisory "can't run during preview") and build a new object on
 * every read (so `===` between two reads is always false). Property descriptors are not intercepted, so
 * this copy reads through them: unknowns stay the marker string, for each check to skip, and every value
 * compares by value.
 */
export function plain(v: unknown): any {
    if (typeof v !== "object" || v === null) {
        return v;
    }
    if (Array.isArray(v)) {
        return Array.from({ length: Object.getOwnPropertyDescriptor(v, "length")!.value as number }, (_, i) => plain(Object.getOwnPropertyDescriptor(v, i)?.value));
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
        out[k] = plain(Object.getOwnPropertyDescriptor(v, k)?.value);
    }
    return out;
}

/** The stack's resources with their properties as plain data (see `plain`). */
export function plainStack<A extends StackValidationArgs>(args: A): A {
    return { ...args, resources: args.resources.map((r) => ({ ...r, props: plain(r.props) })) };
}

/** A resource's validation arguments with its properties as plain data (see `plain`). */
export function plainResource(args: ResourceValidationArgs): ResourceValidationArgs {
    return { ...args, props: plain(args.props) };
}

/** An array, or none (absent, or not known yet). */
export function list<V = any>(v: unknown): V[] {
    return Array.isArray(v) ? v : [];
}

/** An object's entries, or none (absent, or not known yet). */
export function entries(v: unknown): [string, any][] {
    return typeof v === "object" && v !== null && !Array.isArray(v) ? Object.entries(v) : [];
}

/** Resources of a type, in stack order. */
export function ofType(args: { resources: PolicyResource[] }, type: string): PolicyResource[] {
    return args.resources.filter((r) => r.type === type);
}

/** `namespace/name` of a Kubernetes object (or its Pulumi name when it has no metadata name). */
export function k8sName(r: { name: string; props: Record<string, any> }): string {
    const meta = r.props?.metadata ?? {};
    const name = str(meta.name);
    const ns = str(meta.namespace);
    return name ? (ns ? `${ns}/${name}` : name) : r.name;
}

/** The PostgreSQL object name a resource declares (the `name` input, else the Pulumi name; undefined while unknown). */
export function pgName(r: { name: string; props: Record<string, any> }): string {
    return typeof r.props?.name === "string" ? r.props.name : r.name;
}

/** The Kubernetes kind of a type token: `kubernetes:apps/v1:StatefulSet` → `StatefulSet`. */
export function kindOf(type: string): string {
    return type.slice(type.lastIndexOf(":") + 1);
}

/** The PostgreSQL server container of a pod: the one named postgres, or the one that sets PGDATA. */
export function serverContainer(pod: PodTemplate | undefined): Container | undefined {
    const containers = pod?.spec?.containers ?? [];
    return containers.find((c) => c.env?.some((e) => e.name === "PGDATA")) ?? containers.find((c) => c.name === "postgres");
}

/** StatefulSets that run a PostgreSQL server. */
export function postgresServers(args: { resources: PolicyResource[] }): PolicyResource[] {
    return ofType(args, T.statefulSet).filter((r) => serverContainer(WORKLOADS[T.statefulSet](r.props)) !== undefined);
}

/** Configuration every environment-aware policy accepts. */
export interface EnvironmentConfig {
    /** dev, test, staging or prod; read from the stack's HanzoSql component when not configured. */
    environment?: string;
}

export const ENVIRONMENT_SCHEMA = {
    environment: { type: "string" as const, enum: [...ENVIRONMENTS], description: "the stack's environment; defaults to what the stack's HanzoSql component declares" },
};

export const LEGACY_SCHEMA = {
    legacyDatabases: { type: "array" as const, items: { type: "string" as const }, default: [...DEFAULT_LEGACY_DATABASES], description: "database names exempt from the <service>[_<env>] rule" },
};

/**
 * The stack's environment: the policy's configuration, else what the stack's HanzoSql component registered
 * as its `environment` output (AnalyzeStack receives a component's registered outputs), else unknown.
 */
export function environmentOf(args: StackValidationArgs, configured?: string): string | undefined {
    return configured ?? ofType(args, T.hanzoSql).map((r) => str(r.props?.environment)).find((e) => e !== undefined);
}

/** Merges a policy's configuration over its defaults (the engine does this from configSchema; tests and the gate do not). */
export function configOf<C extends object>(args: { getConfig<T extends object>(): T }, defaults: C): C {
    return { ...defaults, ...(args.getConfig<Partial<C>>() ?? {}) };
}

type Requirement = { key: string; operator: string; values?: string[] };

/**
 * Does a label selector select pods with these labels? `matchLabels` and `matchExpressions` (In, NotIn,
 * Exists, DoesNotExist) are ANDed; an empty selector selects all (metav1.LabelSelector).
 */
export function selects(selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } | undefined, labels: Record<string, string>): boolean {
    if (!selector) {
        return false;
    }
    const expression = (r: Requirement) => {
        const has = Object.prototype.hasOwnProperty.call(labels, r.key);
        switch (r.operator) {
            case "In": return has && list<string>(r.values).includes(labels[r.key]);
            case "NotIn": return !has || !list<string>(r.values).includes(labels[r.key]);
            case "Exists": return has;
            case "DoesNotExist": return !has;
            default: return false;
        }
    };
    return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) && list<Requirement>(selector.matchExpressions).every(expression);
}
