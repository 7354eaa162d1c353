/** What the pod runner needs from a plan: a workload's pod template, and its namespace's Secrets and ConfigMaps. */
import { TYPES } from "../../../policies/standard/types";
import type { PlanResult, PlannedResource } from "../../../cli/plan/runner";
import type { NetworkPolicy } from "./netpol";
import type { DataByName, PodSpec } from "./runner";

/** The workload kinds the pod runner starts. */
const RUNNABLE_TYPES: readonly string[] = [TYPES.statefulSet, TYPES.deployment, TYPES.cronJob, TYPES.job];

export interface Workload {
    readonly kind: string;
    /** The object's Kubernetes name. */
    readonly name: string;
    readonly namespace: string;
    /** The pod template's spec, exactly as rendered (secrets revealed). */
    readonly spec: PodSpec;
    readonly labels: Readonly<Record<string, string>>;
    /** A StatefulSet's claim templates, by name. */
    readonly claimTemplates: readonly string[];
}

function revealedOf(plan: PlanResult, r: PlannedResource): Record<string, any> {
    return plan.revealed.get(r.urn) as Record<string, any>;
}

/** Every workload of a plan (StatefulSet, Deployment, CronJob, Job) with its pod template. */
export function workloads(plan: PlanResult): Workload[] {
    return plan.plan.resources
        .filter((r) => RUNNABLE_TYPES.includes(r.type))
        .map((r) => {
            const inputs = revealedOf(plan, r);
            const kind = r.type.split(":")[2];
            const template = kind === "CronJob" ? inputs.spec.jobTemplate.spec.template : inputs.spec.template;
            return {
                kind,
                name: inputs.metadata.name,
                namespace: inputs.metadata.namespace,
                spec: template.spec as PodSpec,
                labels: template.metadata?.labels ?? {},
                claimTemplates: (inputs.spec.volumeClaimTemplates ?? []).map((t: { metadata: { name: string } }) => t.metadata.name),
            };
        });
}

/** The workload of a kind and Kubernetes name; throws listing what the plan has. */
export function workload(plan: PlanResult, kind: string, name: string): Workload {
    const all = workloads(plan);
    const w = all.find((x) => x.kind === kind && x.name === name);
    if (!w) {
        throw new Error(`plan ${plan.plan.stack} has no ${kind} ${name} (it has ${all.map((x) => `${x.kind} ${x.name}`).join(", ")})`);
    }
    return w;
}

/** Every NetworkPolicy of a plan, as rendered. */
export function networkPolicies(plan: PlanResult): NetworkPolicy[] {
    return plan.plan.resources.filter((r) => r.type === TYPES.networkPolicy).map((r) => revealedOf(plan, r) as unknown as NetworkPolicy);
}

/** The Secrets and ConfigMaps of a namespace, values revealed (a Secret's `data` decoded from base64). */
export function namespaceData(
    plan: PlanResult,
    namespace: string,
): { secrets: Map<string, Record<string, string>>; configMaps: Map<string, Record<string, string>> } {
    const secrets = new Map<string, Record<string, string>>();
    const configMaps = new Map<string, Record<string, string>>();
    for (const r of plan.plan.resources) {
        const inputs = revealedOf(plan, r);
        if (inputs?.metadata?.namespace !== namespace) {
            continue;
        }
        if (r.type === TYPES.secret) {
            const data: Record<string, string> = {};
            for (const [k, v] of Object.entries((inputs.data ?? {}) as Record<string, string>)) {
                data[k] = Buffer.from(v, "base64").toString("utf8");
            }
            secrets.set(inputs.metadata.name, { ...data, ...(inputs.stringData ?? {}) });
        } else if (r.type === TYPES.configMap) {
            configMaps.set(inputs.metadata.name, { ...(inputs.data ?? {}) });
        }
    }
    return { secrets, configMaps };
}

export type { DataByName };
