/**
 * npm run gate -- <plan.json> [--config pack-config.json] [--preview]
 *
 * The policy pack as `pulumi preview --policy-pack policies` runs it, without the CLI: starts the pack as the
 * CLI does and drives its analyzer over gRPC as the engine does (cli/gate/analyzer.ts) over a plan in the
 * format of `npm run plan -- --json` (or one written by hand), prints each violation as
 * `policy-name: resource-name (type): message` and a closing count, and exits 1 when a mandatory policy is
 * violated (2 when the plan or the configuration is bad). `--config` takes the file
 * `pulumi preview --policy-pack-config` takes (enforcement levels, settings), validated against each
 * policy's config schema. `--preview` checks a plan made with `plan --json --preview`, whose unknown values
 * are the engine's unknown marker.
 */
import * as fs from "fs";
import type { PolicyPackConfig } from "@pulumi/policy";
import { Command, Flag, Parsed, runCommand } from "./cli";
import { PolicyAnalyzer, Violation } from "./gate/analyzer";
import type { Plan } from "./plan/runner";

export interface GateResult {
    readonly violations: Violation[];
    /** The report, one line per violation and a closing count. */
    readonly text: string;
    /** 1 when any mandatory policy is violated, else 0. */
    readonly exitCode: number;
}

/** `policy-name: resource-name (type): message`. */
export function formatViolation(v: Violation): string {
    return `${v.policy}: ${v.name} (${v.type}): ${v.message}`;
}

/**
 * Checks a plan against the pack and says what the gate prints and returns. Pass a running `analyzer` to
 * check several plans with one pack process; otherwise one is started and stopped.
 */
export async function gate(plan: Plan, packConfig: PolicyPackConfig = {}, analyzer?: PolicyAnalyzer): Promise<GateResult> {
    const pack = analyzer ?? (await PolicyAnalyzer.start());
    try {
        const violations = await pack.check(plan, packConfig);
        const count = (await pack.info()).policies.length;
        const mandatory = violations.filter((v) => v.enforcementLevel === "mandatory").length;
        const lines = violations.map(formatViolation);
        lines.push(`${plan.stack}: ${mandatory} mandatory and ${violations.length - mandatory} advisory violations of ${count} policies`);
        return { violations, text: lines.join("\n") + "\n", exitCode: mandatory > 0 ? 1 : 0 };
    } finally {
        if (!analyzer) {
            await pack.close();
        }
    }
}

/** A problem with the gate's input, as opposed to a violation (the gate exits 2 on any failure). */
export class GateInputError extends Error {}

/** Reads a plan file, with a message that says what is wrong with it. */
export function readPlan(file: string): Plan {
    let plan: Plan;
    try {
        plan = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new GateInputError(`cannot read plan ${file}: ${(e as Error).message}`);
    }
    if (
        typeof plan?.stack !== "string" ||
        !Array.isArray(plan.resources) ||
        plan.resources.some((r) => typeof r?.type !== "string" || typeof r?.urn !== "string" || typeof r?.name !== "string")
    ) {
        throw new GateInputError(
            `${file} is not a plan: expected { "stack", "resources": [{ "type", "name", "urn", "inputs", ... }] } as npm run plan -- --json prints`,
        );
    }
    return plan;
}

/** Reads a pack config file (the one `--policy-pack-config` takes). */
export function readPackConfig(file: string): PolicyPackConfig {
    try {
        const config = JSON.parse(fs.readFileSync(file, "utf8"));
        if (typeof config !== "object" || config === null || Array.isArray(config)) {
            throw new Error("expected an object of policy names (or all) to a level or { enforcementLevel, ...settings }");
        }
        return config;
    } catch (e) {
        throw new GateInputError(`cannot read pack config ${file}: ${(e as Error).message}`);
    }
}

/** The gate's command line (`npm run gate -- --help` prints it). */
export const GATE_COMMAND = {
    name: "npm run gate --",
    summary:
        "Runs the policy pack over a plan as `pulumi preview --policy-pack policies` would, through the pack's own analyzer over gRPC, " +
        "and prints each violation and a closing count. Exits 1 when a mandatory policy is violated, 2 when the plan, the pack config or the command line is bad.",
    positionals: [
        { name: "<plan.json>", description: "a plan as `npm run plan -- --json` prints it (or one written by hand)", required: true },
    ],
    flags: {
        config: {
            type: "string",
            value: "<pack-config.json>",
            description: "the file `pulumi preview --policy-pack-config` takes (enforcement levels, settings)",
        },
        preview: {
            type: "boolean",
            description: "the plan was made with `plan --json --preview` (unknown values are the engine's unknown marker)",
        },
    },
} as const satisfies Command<Record<string, Flag>>;

async function cli({ values, positionals }: Parsed<typeof GATE_COMMAND.flags>): Promise<number> {
    const [file] = positionals;
    const config: PolicyPackConfig = values.config === undefined ? {} : readPackConfig(values.config);
    const plan = readPlan(file);
    if (values.preview && plan.preview !== true) {
        throw new GateInputError(
            `${file} was planned as an update; for a preview, plan it with: npm run plan -- --stack ${plan.stack} --json --preview`,
        );
    }
    const result = await gate(plan, config);
    process.stdout.write(result.text);
    return result.exitCode;
}

if (require.main === module) {
    runCommand(GATE_COMMAND, { prefix: "gate failed", code: 2 }, cli);
}
