/**
 * npm run gate -- <plan.json> [--config pack-config.json] [--preview]
 *
 * The policy pack as `pulumi preview --policy-pack policies` runs it, without the CLI: starts the pack as the
 * CLI does and drives its analyzer over gRPC as the engine does (tools/gate/analyzer.ts) over a plan in the
 * format of `npm run plan -- --json` (or one written by hand), prints each violation as
 * `policy-name: resource-name (type): message` and a closing count, and exits 1 when a mandatory policy is
 * violated (2 when the plan or the configuration is bad). `--config` takes the file
 * `pulumi preview --policy-pack-config` takes (enforcement levels, settings), validated against each
 * policy's config schema. `--preview` checks a plan made with `plan --json --preview`, whose unknown values
 * are the engine's unknown marker.
 */
import * as fs from "fs";
import type { PolicyPackConfig } from "@pulumi/policy";
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
    if (typeof plan?.stack !== "string" || !Array.isArray(plan.resources) || plan.resources.some((r) => typeof r?.type !== "string" || typeof r?.urn !== "string" || typeof r?.name !== "string")) {
        throw new GateInputError(`${file} is not a plan: expected { "stack", "resources": [{ "type", "name", "urn", "inputs", ... }] } as npm run plan -- --json prints`);
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

const USAGE = "usage: gate <plan.json> [--config pack-config.json] [--preview]";

async function cli(argv: string[]): Promise<number> {
    let file: string | undefined;
    let config: PolicyPackConfig = {};
    let preview = false;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--config" && argv[i + 1] !== undefined) {
            config = readPackConfig(argv[++i]);
        } else if (argv[i] === "--preview") {
            preview = true;
        } else if (file === undefined && !argv[i].startsWith("--")) {
            file = argv[i];
        } else {
            throw new GateInputError(`unknown argument ${argv[i]}; ${USAGE}`);
        }
    }
    if (!file) {
        throw new GateInputError(USAGE);
    }
    const plan = readPlan(file);
    if (preview && plan.preview !== true) {
        throw new GateInputError(`${file} was planned as an update; for a preview, plan it with: npm run plan -- --stack ${plan.stack} --json --preview`);
    }
    const result = await gate(plan, config);
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
