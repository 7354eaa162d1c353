/** Test access to the offline plan: per-stack plans (cached; planning is deterministic) and lookups. */
import * as assert from "assert";
import { planFromStackFile, planFromValues } from "../../cli/plan";
import type { PlanResult, PlannedResource } from "../../cli/plan/runner";
import { TYPES } from "../../policies/standard/types";

const cache = new Map<string, Promise<PlanResult>>();

/** The plan of a stack file (Pulumi.<stack>.yaml), validated as `npm run plan` does (as a first preview with `preview`). */
export function planOf(stack: string, preview = false): Promise<PlanResult> {
    const key = `${stack}${preview ? " preview" : ""}`;
    if (!cache.has(key)) {
        cache.set(key, planFromStackFile(stack, preview));
    }
    return cache.get(key)!;
}

/** Credentials a DOKS stack needs from the environment (the plan never uses them). */
export const TOKEN_ENV = { DIGITALOCEAN_TOKEN: "test-token", SPACES_ACCESS_KEY_ID: "test-id", SPACES_SECRET_ACCESS_KEY: "test-key" };

/** The plan of a stack given its config values directly (keys without a namespace are hanzo-sql's). */
export function planWith(stack: string, values: Record<string, unknown>, secretKeys: string[] = []): Promise<PlanResult> {
    return planFromValues(stack, values, secretKeys, TOKEN_ENV);
}

export { TYPES };

export function ofType(result: PlanResult, type: string): PlannedResource[] {
    return result.plan.resources.filter((r) => r.type === type);
}

/** The one resource of a type and Pulumi name; fails the test when absent. */
export function resource(result: PlanResult, type: string, name: string): PlannedResource {
    const found = result.plan.resources.filter((r) => r.type === type && r.name === name);
    assert.strictEqual(found.length, 1, `expected one ${type} named ${name}, found ${found.length}`);
    return found[0];
}

/** Inputs of a resource with secrets revealed. */
export function revealed(result: PlanResult, r: PlannedResource): Record<string, unknown> {
    return result.revealed.get(r.urn)!;
}
