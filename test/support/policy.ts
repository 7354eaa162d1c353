/**
 * Policy tests through the real analyzer: the pack started as the Pulumi CLI starts it (one process for the
 * whole mocha run) and driven over gRPC as the engine drives it, over plans of the real stacks in the form
 * the engine sends (secrets in plain text, outputs for AnalyzeStack), mutated per case.
 */
import type { PolicyPackConfig } from "@pulumi/policy";
import { TYPES } from "../../policies/standard/types";
import { PolicyAnalyzer } from "../../cli/gate/analyzer";
import { formatViolation, gate } from "../../cli/gate";
import type { Plan, PlannedResource } from "../../cli/plan/runner";
import { planOf, planWith } from "./plan";

let shared: Promise<PolicyAnalyzer> | undefined;

/** The pack, started once per test run (ts-node type-checks it in a few seconds) and stopped after the run. */
export function analyzer(): Promise<PolicyAnalyzer> {
    shared ??= PolicyAnalyzer.start();
    return shared;
}

after(async () => {
    if (shared) {
        await (await shared).close();
        shared = undefined;
    }
});

/**
 * A fresh, mutable copy of a stack's plan as the engine would analyze it. A custom resource whose outputs
 * equal its inputs (every Kubernetes and PostgreSQL object under the mock) gets one object for both, so a
 * case changes what Analyze and AnalyzeStack see at once.
 */
export async function planCopy(stack = "hanzo-k8s", preview = false): Promise<Plan> {
    return mutable((await planOf(stack, preview)).engine);
}

/** A mutable copy of the plan of a stack with PgBouncer (one pooled service), for the policies over its Deployment. */
export async function pooledPlanCopy(): Promise<Plan> {
    const pooled = await planWith("pooled", {
        environment: "prod",
        clusterName: "c",
        poolingEnabled: true,
        services: [{ name: "commerce", pooled: true }],
    });
    return mutable(pooled.engine);
}

/** A mutable copy of an engine plan, a custom resource's outputs the same object as its inputs when equal. */
export function mutable(engine: Plan): Plan {
    const plan: Plan = JSON.parse(JSON.stringify(engine));
    for (const r of plan.resources) {
        if (r.custom && JSON.stringify(r.outputs) === JSON.stringify(r.inputs)) {
            (r as { outputs?: Record<string, unknown> }).outputs = r.inputs;
        }
    }
    return plan;
}

/** The gate's lines for one policy over a plan (every other policy disabled), through the analyzer. */
export async function violations(policy: { name: string }, plan: Plan, config: PolicyPackConfig = {}): Promise<string[]> {
    const own = config[policy.name];
    const entry = typeof own === "string" ? { enforcementLevel: own } : { enforcementLevel: "mandatory", ...(own ?? {}) };
    const result = await gate(plan, { all: "disabled", [policy.name]: entry } as PolicyPackConfig, await analyzer());
    return result.violations.map(formatViolation);
}

/** Every line the gate prints for a plan with the whole pack (violations and the closing count). */
export async function gateLines(plan: Plan, config: PolicyPackConfig = {}): Promise<string[]> {
    return (await gate(plan, config, await analyzer())).text.trimEnd().split("\n");
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

/** Inputs of a resource (its outputs too, when they are the same object), typed loosely for mutation. */
export function inputs(r: PlannedResource): any {
    return r.inputs;
}

/** Adds a hand-written custom resource (as if declared outside the components) and returns it. */
export function add(
    plan: Plan,
    type: string,
    name: string,
    props: Record<string, unknown>,
    extra: Partial<PlannedResource> = {},
): PlannedResource {
    const r: PlannedResource = {
        type,
        name,
        urn: `urn:pulumi:${plan.stack}::hanzo-sql::${type}::${name}`,
        custom: true,
        inputs: props,
        outputs: props,
        dependencies: [],
        options: { protect: false, retainOnDelete: false },
        ...extra,
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

/** Pulumi's wrapper of a secret value, as the engine sends it (the pack unwraps it). */
export function secret(value: unknown): Record<string, unknown> {
    return { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value };
}

/** A value's plain text, a secret unwrapped. */
export function plain(v: unknown): unknown {
    const o = v as Record<string, unknown> | null;
    return typeof o === "object" && o !== null && o["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270"
        ? o.value
        : v;
}

/** The type tokens (policies/standard/types.ts). */
export const TYPE = TYPES;
