/** Policy tests: compliant plans of the real stacks, mutated per case, and the violations they yield. */
import type { Policy, PolicyPackConfig } from "@pulumi/policy";
import { evaluate, formatViolation } from "../../tools/gate/evaluate";
import type { Plan, PlannedResource } from "../../tools/plan/runner";
import { planOf } from "./plan";

/** A fresh, mutable copy of a stack's plan. */
export async function planCopy(stack = "hanzo-k8s"): Promise<Plan> {
    return JSON.parse(JSON.stringify((await planOf(stack)).plan));
}

/** The gate's lines for one policy over a plan. */
export async function violations(policy: Policy, plan: Plan, config: PolicyPackConfig = {}): Promise<string[]> {
    return (await evaluate(plan, [policy as never], config)).map(formatViolation);
}

/** The one resource of a plan with this type whose PostgreSQL name, metadata name or Pulumi name is `name`. */
export function find(plan: Plan, type: string, name: string): PlannedResource {
    const found = plan.resources.filter(
        (r) => r.type === type && (r.inputs?.name === name || (r.inputs?.metadata as { name?: string })?.name === name || r.name === name),
    );
    if (found.length !== 1) {
        throw new Error(`expected one ${type} ${name}, found ${found.length}`);
    }
    return found[0];
}

/** Inputs of a resource, typed loosely for mutation. */
export function inputs(r: PlannedResource): any {
    return r.inputs;
}

/** Adds a hand-written resource (as if declared outside the components) and returns it. */
export function add(plan: Plan, type: string, name: string, props: Record<string, unknown>, extra: Partial<PlannedResource> = {}): PlannedResource {
    const r: PlannedResource = {
        type, name, urn: `urn:pulumi:${plan.stack}::hanzo-sql::${type}::${name}`, custom: true, inputs: props, dependencies: [],
        options: { protect: false, retainOnDelete: false }, ...extra,
    };
    plan.resources.push(r);
    return r;
}

/** Removes the resources a predicate selects. */
export function remove(plan: Plan, pred: (r: PlannedResource) => boolean): void {
    for (let i = plan.resources.length - 1; i >= 0; i--) {
        if (pred(plan.resources[i])) {
            plan.resources.splice(i, 1);
        }
    }
}

export const TYPE = {
    hanzoSql: "hanzo-sql:index:HanzoSql",
    database: "postgresql:index/database:Database",
    role: "postgresql:index/role:Role",
    extension: "postgresql:index/extension:Extension",
    configMap: "kubernetes:core/v1:ConfigMap",
    secret: "kubernetes:core/v1:Secret",
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    deployment: "kubernetes:apps/v1:Deployment",
    cronJob: "kubernetes:batch/v1:CronJob",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    password: "random:index/randomPassword:RandomPassword",
    kmsSecret: "kubernetes:secrets.infisical.com/v1alpha1:KMSSecret",
} as const;
