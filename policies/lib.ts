/**
 * What the policies share: type tokens, how to find the stack's environment, how to read Kubernetes
 * workloads whichever way a resource got into the stack, and how to read what the engine sends (plain
 * data, unknowns included). Kubernetes objects are typed by kubernetes-models (type imports only: nothing of it
 * loads at run time); apart from that and @pulumi/policy's types it needs only ./standard, so the pack is
 * self-contained (`pulumi policy publish` packs this folder alone, with its own package.json).
 */
import type { PolicyResource, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import type { IObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
import type { IDaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IReplicaSet } from "kubernetes-models/apps/v1/ReplicaSet";
import type { IStatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import type { ICronJob } from "kubernetes-models/batch/v1/CronJob";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { IPodTemplateSpec } from "kubernetes-models/v1/PodTemplateSpec";
import { DEFAULT_LEGACY_DATABASES, ENVIRONMENTS } from "./standard/rules";
import { KMS_SYNC_TYPES, TYPES, UNKNOWN } from "./standard/types";

/** The type tokens the policies look for (policies/standard/types.ts). */
export const T = TYPES;

/** A container, as Kubernetes defines it (kubernetes-models; types only, nothing loads at run time). */
export type Container = IContainer;
/** A pod template (a Pod's own metadata and spec, or a workload's template). */
export type PodTemplate = IPodTemplateSpec;

/** Workload kinds, by type token, and where their pod template is. */
export const WORKLOADS: Readonly<Record<string, (props: unknown) => PodTemplate | undefined>> = {
    [TYPES.deployment]: (p) => (p as IDeployment | undefined)?.spec?.template,
    [TYPES.statefulSet]: (p) => (p as IStatefulSet | undefined)?.spec?.template,
    [TYPES.daemonSet]: (p) => (p as IDaemonSet | undefined)?.spec?.template,
    [TYPES.replicaSet]: (p) => (p as IReplicaSet | undefined)?.spec?.template,
    [TYPES.job]: (p) => (p as IJob | undefined)?.spec?.template,
    [TYPES.cronJob]: (p) => (p as ICronJob | undefined)?.spec?.jobTemplate?.spec?.template,
    [TYPES.pod]: (p) => ({ metadata: (p as IPod | undefined)?.metadata, spec: (p as IPod | undefined)?.spec }),
};

export { KMS_SYNC_TYPES };

/** A Kubernetes resource's properties as its kind's type (kubernetes-models); values not known yet are the UNKNOWN marker. */
export function k8s<K>(r: { props: Record<string, unknown> }): Partial<K> {
    return r.props as Partial<K>;
}

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
export function plain(v: unknown): unknown {
    if (typeof v !== "object" || v === null) {
        return v;
    }
    if (Array.isArray(v)) {
        return Array.from({ length: Object.getOwnPropertyDescriptor(v, "length")!.value as number }, (_, i) =>
            plain(Object.getOwnPropertyDescriptor(v, i)?.value),
        );
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
        out[k] = plain(Object.getOwnPropertyDescriptor(v, k)?.value);
    }
    return out;
}

/** The stack's resources with their properties as plain data (see `plain`). */
export function plainStack<A extends StackValidationArgs>(args: A): A {
    return { ...args, resources: args.resources.map((r) => ({ ...r, props: plain(r.props) as PolicyResource["props"] })) };
}

/** A resource's validation arguments with its properties as plain data (see `plain`). */
export function plainResource(args: ResourceValidationArgs): ResourceValidationArgs {
    return { ...args, props: plain(args.props) as ResourceValidationArgs["props"] };
}

/** An array, or none (absent, or not known yet). */
export function list<V = unknown>(v: unknown): V[] {
    return Array.isArray(v) ? v : [];
}

/** An object's entries, or none (absent, or not known yet). */
export function entries(v: unknown): [string, unknown][] {
    return typeof v === "object" && v !== null && !Array.isArray(v) ? Object.entries(v) : [];
}

/** Resources of a type, in stack order. */
export function ofType(args: { resources: PolicyResource[] }, type: string): PolicyResource[] {
    return args.resources.filter((r) => r.type === type);
}

/** `namespace/name` of a Kubernetes object (or its Pulumi name when it has no metadata name). */
export function k8sName(r: { name: string; props: Record<string, unknown> }): string {
    const meta: IObjectMeta = k8s<{ metadata: IObjectMeta }>(r).metadata ?? {};
    const name = str(meta.name);
    const ns = str(meta.namespace);
    return name ? (ns ? `${ns}/${name}` : name) : r.name;
}

/** The PostgreSQL object name a resource declares (the `name` input, else the Pulumi name; undefined while unknown). */
export function pgName(r: { name: string; props: Record<string, unknown> }): string {
    return typeof r.props?.name === "string" ? r.props.name : r.name;
}

/** The Kubernetes kind of a type token: `kubernetes:apps/v1:StatefulSet` → `StatefulSet`. */
export function kindOf(type: string): string {
    return type.slice(type.lastIndexOf(":") + 1);
}

/** The PostgreSQL server container of a pod: the one named postgres, or the one that sets PGDATA. */
export function serverContainer(pod: PodTemplate | undefined): Container | undefined {
    const containers = list<Container>(pod?.spec?.containers);
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
    environment: {
        type: "string" as const,
        enum: [...ENVIRONMENTS],
        description: "the stack's environment; defaults to what the stack's HanzoSql component declares",
    },
};

export const LEGACY_SCHEMA = {
    legacyDatabases: {
        type: "array" as const,
        items: { type: "string" as const },
        default: [...DEFAULT_LEGACY_DATABASES],
        description: "database names exempt from the <service>[_<env>] rule",
    },
};

/**
 * The stack's environment: the policy's configuration, else what the stack's HanzoSql component registered
 * as its `environment` output (AnalyzeStack receives a component's registered outputs), else unknown.
 */
export function environmentOf(args: StackValidationArgs, configured?: string): string | undefined {
    return (
        configured ??
        ofType(args, T.hanzoSql)
            .map((r) => str(r.props?.environment))
            .find((e) => e !== undefined)
    );
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
export function selects(
    selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } | undefined,
    labels: Record<string, string>,
): boolean {
    if (!selector) {
        return false;
    }
    const expression = (r: Requirement) => {
        const has = Object.prototype.hasOwnProperty.call(labels, r.key);
        switch (r.operator) {
            case "In":
                return has && list<string>(r.values).includes(labels[r.key]);
            case "NotIn":
                return !has || !list<string>(r.values).includes(labels[r.key]);
            case "Exists":
                return has;
            case "DoesNotExist":
                return !has;
            default:
                return false;
        }
    };
    return (
        Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
        list<Requirement>(selector.matchExpressions).every(expression)
    );
}

/**
 * Was a resource declared by this component of the program? Its parent's type is the last but one of the
 * URN's type chain (`urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>`, pulumi/pulumi
 * sdk/go/common/resource/urn.go); a resource declared by hand outside the components has another parent.
 */
export function builtBy(r: { urn: string }, componentType: string): boolean {
    const qualified = r.urn.split("::")[2] ?? "";
    const chain = qualified.split("$");
    return chain.length >= 2 && chain[chain.length - 2] === componentType;
}

/** One way a pod reads a Secret: an env var, a whole-Secret envFrom, or a volume (secret or projected). */
export interface SecretRead {
    /** The container that reads it, or undefined for a pod volume no container mounts. */
    readonly container?: string;
    readonly secret: string;
    /** `env NAME`, `envFrom`, `volume NAME`. */
    readonly how: string;
    /** The key read, for env. */
    readonly key?: string;
}

/** Every read of a Secret by a pod template: containers' env and envFrom, and the pod's secret and projected volumes. */
export function secretReads(pod: PodTemplate | undefined): SecretRead[] {
    const reads: SecretRead[] = [];
    const containers = [...list<Container>(pod?.spec?.initContainers), ...list<Container>(pod?.spec?.containers)];
    for (const c of containers) {
        for (const e of list<NonNullable<Container["env"]>[number]>(c.env)) {
            const ref = str(e.valueFrom?.secretKeyRef?.name);
            if (ref !== undefined) {
                reads.push({ container: c.name, secret: ref, how: `env ${e.name}`, key: str(e.valueFrom?.secretKeyRef?.key) });
            }
        }
        for (const from of list<NonNullable<Container["envFrom"]>[number]>(c.envFrom)) {
            const ref = str(from.secretRef?.name);
            if (ref !== undefined) {
                reads.push({ container: c.name, secret: ref, how: "envFrom" });
            }
        }
    }
    for (const v of list<NonNullable<NonNullable<PodTemplate["spec"]>["volumes"]>[number]>(pod?.spec?.volumes)) {
        const names = [
            str(v.secret?.secretName),
            ...list<{ secret?: { name?: string } }>(v.projected?.sources).map((s) => str(s.secret?.name)),
        ].filter((n): n is string => n !== undefined);
        const users = containers.filter((c) => list<{ name: string }>(c.volumeMounts).some((m) => m.name === v.name)).map((c) => c.name);
        // A secret volume that projects one key reads that key only.
        const items = list<{ key?: string }>(v.secret?.items);
        const key = v.secret !== undefined && items.length === 1 ? str(items[0].key) : undefined;
        for (const secret of names) {
            for (const container of users.length > 0 ? users : [undefined]) {
                reads.push({ container, secret, how: `volume ${v.name}`, ...(key !== undefined ? { key } : {}) });
            }
        }
    }
    return reads;
}
