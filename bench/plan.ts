/**
 * npm run bench:plan
 *
 * Times the offline plan (the whole program under the mock runtime, schema validation included) of both
 * production stacks and of generated stacks with 30 and 300 services, in one run, and prints the
 * 300/30 ratio and each plan's longest dependency chain; then the policy gate through the real analyzer:
 * the pack started once as the CLI starts it (its start-up printed on its own), serving both production
 * plans, then the 300-service plan, with the ratio of the two. Not a test: this machine is noisy, so
 * compare the ratios printed by one run.
 */
import { performance } from "perf_hooks";
import { Command, Flag, runCommand } from "../cli/cli";
import { gate } from "../cli/gate";
import { PolicyAnalyzer } from "../cli/gate/analyzer";
import { planFromStackFile, planFromValues } from "../cli/plan";
import { validatePlan } from "../cli/plan/kubernetes";
import type { Plan, PlanResult } from "../cli/plan/runner";

/**
 * Number of resources on the longest path of dependency edges: explicit, through inputs, and to the
 * resource's provider (the engine waits for all three).
 */
export function longestChain(plan: Plan): number {
    const providerUrn = (ref?: string) => (ref ? [ref.slice(0, ref.lastIndexOf("::"))] : []);
    const deps = new Map(plan.resources.map((r) => [r.urn, [...r.dependencies, ...providerUrn(r.options.provider)]]));
    const memo = new Map<string, number>();
    const depth = (urn: string): number => {
        if (!memo.has(urn)) {
            memo.set(urn, 1 + Math.max(0, ...(deps.get(urn) ?? []).map(depth)));
        }
        return memo.get(urn)!;
    };
    return Math.max(...plan.resources.map((r) => depth(r.urn)));
}

async function generated(n: number): Promise<PlanResult> {
    const services = Array.from({ length: n }, (_, i) => `svc_${String(i).padStart(3, "0")}`);
    const result = await planFromValues(`gen-${n}`, { environment: "prod", clusterName: "bench", services });
    const problems = validatePlan(result.plan.resources, result.revealed);
    if (problems.length > 0) {
        throw new Error(problems.join("\n"));
    }
    return result;
}

async function time<T>(f: () => Promise<T>): Promise<[number, T]> {
    const t0 = performance.now();
    const v = await f();
    return [(performance.now() - t0) / 1000, v];
}

async function bench(): Promise<void> {
    await generated(3); // warm-up: module loading and JIT, not the plan
    const [prod, prodPlans] = await time(async () => [await planFromStackFile("hanzo-k8s"), await planFromStackFile("lux-k8s")]);
    const [t30, p30] = await time(() => generated(30));
    const [t300, p300] = await time(() => generated(300));
    const row = (label: string, seconds: number, plans: PlanResult[]) =>
        console.log(
            `${label.padEnd(32)} ${seconds.toFixed(2).padStart(6)} s  ${String(plans.reduce((n, p) => n + p.plan.resources.length, 0)).padStart(5)} resources  longest chain ${plans.map((p) => longestChain(p.plan)).join(", ")}`,
        );
    row("hanzo-k8s + lux-k8s", prod, prodPlans);
    row("generated, 30 services", t30, [p30]);
    row("generated, 300 services", t300, [p300]);
    console.log(
        `ratio 300/30: ${(t300 / t30).toFixed(2)} (resources ${(p300.plan.resources.length / p30.plan.resources.length).toFixed(2)}×)`,
    );
    const pack = await PolicyAnalyzer.start();
    try {
        console.log(`policy pack start-up (run-policy-pack, ts-node): ${pack.startupSeconds.toFixed(2)} s`);
        const [tGate, results] = await time(async () => [
            await gate(prodPlans[0].engine, {}, pack),
            await gate(prodPlans[1].engine, {}, pack),
        ]);
        const [tGate300, r300] = await time(() => gate(p300.engine, {}, pack));
        console.log(
            `gate (real analyzer, one pack) over hanzo-k8s + lux-k8s: ${tGate.toFixed(2)} s (${results.map((r) => r.violations.length).join(" + ")} violations; target <= 5 s)`,
        );
        console.log(
            `gate over 300 services: ${tGate300.toFixed(2)} s (${r300.violations.length} violations); ratio to the production pair: ${(tGate300 / tGate).toFixed(2)} (target <= 3)`,
        );
    } finally {
        await pack.close();
    }
}

/** The bench's command line (`npm run bench:plan -- --help` prints it): no flags. */
export const COMMAND = {
    name: "npm run bench:plan --",
    summary:
        "Times the offline plan of both production stacks and of generated 30- and 300-service stacks, then the policy gate through the real analyzer; " +
        "prints seconds, the 300/30 ratio and each plan's longest dependency chain, from one run.",
    flags: {},
} as const satisfies Command<Record<string, Flag>>;

if (require.main === module) {
    runCommand(COMMAND, { prefix: "bench:plan failed", code: 1, trace: true }, () => bench());
}
