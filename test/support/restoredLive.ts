/**
 * The roles and databases a bootstrap restored (pitrBootstrapFrom), as the postgresql provider's Read returns
 * them when the new stack imports them: the engine-step model's live objects for the first `up` of a
 * bootstrapped stack (test/program/transitions.test.ts).
 *
 * The source is a stack of this program, so its roles and databases were declared by the same code: their
 * inputs are the source plan's (its own Role and Database registrations), what `resourcePostgreSQLRoleRead` /
 * `resourcePostgreSQLDatabaseReadImpl` (cyrilgdn/terraform-provider-postgresql) read back from the catalog.
 * The password Read returns is the catalog's verifier (pg_shadow.passwd, `readRolePassword`): the source's,
 * drawn by the source's own RandomPassword. The mock runtime derives generated values from the resource's name
 * alone, which would give both stacks the same ones, so each is marked as the source's here.
 */
import type { LiveObject } from "../../cli/plan/steps";
import type { PlanResult } from "../../cli/plan/runner";
import { TYPES } from "../../policies/standard/types";

export function restoredLiveObjects(
    source: PlanResult,
    restored: { roles: readonly string[]; databases: readonly string[] },
    /** false: the stack's own objects (its own archive restored): the passwords are the state's. */
    anotherStack = true,
): LiveObject[] {
    const out: LiveObject[] = [];
    for (const r of source.plan.resources) {
        const inputs = source.revealed.get(r.urn) as Record<string, unknown>;
        const name = inputs.name as string;
        if (r.type === TYPES.role && restored.roles.includes(name)) {
            out.push({
                type: TYPES.role,
                id: name,
                inputs: anotherStack ? { ...inputs, password: `${String(inputs.password)} (the source's)` } : inputs,
            });
        }
        if (r.type === TYPES.database && restored.databases.includes(name)) {
            out.push({ type: TYPES.database, id: name, inputs: { ...inputs, template: "template0" } });
        }
    }
    return out;
}
