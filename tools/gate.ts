/**
 * npm run gate -- <plan.json> [--config pack-config.json]
 *
 * The policy pack without the Pulumi CLI: reads a plan in the format of `npm run plan -- --json` (or one
 * written by hand), runs every policy over it, prints each violation as
 * `policy-name: resource-name (type): message`, and exits 1 when a mandatory policy is violated.
 * `--config` takes the file `pulumi preview --policy-pack-config` takes (enforcement levels, settings).
 */
import * as fs from "fs";
import type { PolicyPackConfig } from "@pulumi/policy";
import { policies } from "../policies/all";
import { Violation, evaluate, formatViolation } from "./gate/evaluate";
import type { Plan } from "./plan/runner";

export interface GateResult {
    readonly violations: Violation[];
    /** The report, one line per violation and a closing count. */
    readonly text: string;
    /** 1 when any mandatory policy is violated, else 0. */
    readonly exitCode: number;
}

/** Checks a plan against the pack and says what the gate prints and returns. */
export async function gate(plan: Plan, packConfig: PolicyPackConfig = {}): Promise<GateResult> {
    const violations = await evaluate(plan, policies, packConfig);
    const mandatory = violations.filter((v) => v.enforcementLevel === "mandatory").length;
    const lines = violations.map(formatViolation);
    lines.push(`${plan.stack}: ${mandatory} mandatory and ${violations.length - mandatory} advisory violations of ${policies.length} policies`);
    return { violations, text: lines.join("\n") + "\n", exitCode: mandatory > 0 ? 1 : 0 };
}

/** Reads a plan file, with a message that says what is wrong with it. */
export function readPlan(file: string): Plan {
    let plan: Plan;
    try {
        plan = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new Error(`cannot read plan ${file}: ${(e as Error).message}`);
    }
    if (typeof plan?.stack !== "string" || !Array.isArray(plan.resources) || plan.resources.some((r) => typeof r?.type !== "string" || typeof r?.urn !== "string" || typeof r?.name !== "string")) {
        throw new Error(`${file} is not a plan: expected { "stack", "resources": [{ "type", "name", "urn", "inputs", ... }] } as npm run plan -- --json prints`);
    }
    return plan;
}

async function cli(argv: string[]): Promise<number> {
    let file: string | undefined;
    let config: PolicyPackConfig = {};
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--config") {
            config = JSON.parse(fs.readFileSync(argv[++i], "utf8"));
        } else if (file === undefined && !argv[i].startsWith("--")) {
            file = argv[i];
        } else {
            throw new Error(`unknown argument ${argv[i]}; usage: gate <plan.json> [--config pack-config.json]`);
        }
    }
    if (!file) {
        throw new Error("usage: gate <plan.json> [--config pack-config.json]");
    }
    const result = await gate(readPlan(file), config);
    process.stdout.write(result.text);
    return result.exitCode;
}

if (require.main === module) {
    cli(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (e: Error) => {
            process.stderr.write(`gate failed: ${e.message}\n`);
            process.exitCode = 2;
        },
    );
}
