/**
 * npm run plan -- --stack <name> [--json] [--out DIR] [--policy] [--preview]
 *
 * Runs the program for a stack under Pulumi's mock runtime (no Pulumi CLI, no cloud, no cluster) and shows
 * what it would create. Kubernetes objects are validated against the Kubernetes schema and duplicate URNs
 * are detected; either fails the plan (exit 1), as does invalid stack configuration. `--preview` runs the
 * program as a first `pulumi preview` would (values providers compute are unknown). `--policy` then runs the
 * policy pack over the plan as the engine would (the gate: the pack's own analyzer, over gRPC, with secrets
 * in plain text as the engine sends them) and exits 1 on a mandatory violation. `--from before.json` shows
 * instead the steps `pulumi up` would take from that earlier plan to this one (cli/plan/steps.ts), and exits 1
 * when the engine would refuse one (docs/engine-steps.md).
 */
import { main } from "../program";
import { Command, Flag, Parsed, UsageError, runCommand } from "./cli";
import { gate } from "./gate";
import { validatePlan } from "./plan/kubernetes";
import { summarize, writePlanFiles } from "./plan/render";
import { PlanResult, runPlan } from "./plan/runner";
import { PROJECT_DIR, listStacks, stackConfig } from "./plan/stackFile";
import { engineSteps } from "./plan/steps";
import { readLiveFile, readPlanFile, requiredCliVersion, stepsJson, stepsTable } from "./plan/stepsReport";

/** The plan's command line (`npm run plan -- --help` prints it). */
export const PLAN_COMMAND = {
    name: "npm run plan --",
    summary:
        "Runs the program for a stack under Pulumi's mock runtime (no Pulumi CLI, no cloud, no cluster) and shows what it would create. " +
        "Exits 1 when the configuration is invalid, a Kubernetes object fails its schema, a URN is duplicated or (with --policy) a mandatory policy is violated; 2 on a bad command line.",
    flags: {
        stack: {
            type: "string",
            value: "<name>",
            required: true,
            description: "the stack to plan (a Pulumi.<name>.yaml beside Pulumi.yaml)",
            hint: () => `stacks: ${listStacks().join(", ")}`,
        },
        json: { type: "boolean", description: "print every resource as JSON (secrets redacted) instead of the summary" },
        out: {
            type: "string",
            value: "<dir>",
            description: "also write every Kubernetes object as YAML and every rendered file into this directory",
        },
        policy: { type: "boolean", description: "run the policy pack over the plan as the engine would (the offline gate)" },
        preview: { type: "boolean", description: "plan as a first `pulumi preview` would: values providers compute are unknown" },
        from: {
            type: "string",
            value: "<before.json>",
            description:
                "show the steps `pulumi up` would take from this earlier plan (`--json` output) to the stack's plan now: an offline `pulumi preview --diff`; exits 1 when the engine would refuse a step",
        },
        live: {
            type: "string",
            value: "<live.json>",
            description: "with --from: the objects the program imports, as a JSON list of {type, id, inputs} (an adoption's live state)",
        },
        "cli-version": {
            type: "string",
            value: "<x.y.z>",
            description:
                "with --from: the Pulumi CLI version `up` runs with (default: the lowest Pulumi.yaml's requiredPulumiVersion admits)",
        },
    },
} as const satisfies Command<Record<string, Flag>>;

export type PlanArgs = Parsed<typeof PLAN_COMMAND.flags>["values"];

/** The plan never calls DigitalOcean; the program only checks that credentials would be there. */
export function offlineEnv(): Record<string, string | undefined> {
    return {
        ...process.env,
        DIGITALOCEAN_TOKEN: process.env.DIGITALOCEAN_TOKEN ?? "plan-placeholder",
        SPACES_ACCESS_KEY_ID: process.env.SPACES_ACCESS_KEY_ID ?? "plan-placeholder",
        SPACES_SECRET_ACCESS_KEY: process.env.SPACES_SECRET_ACCESS_KEY ?? "plan-placeholder",
    };
}

/** The offline plan of a stack given its config values directly (keys without a namespace are hanzo-sql's). */
export async function planFromValues(
    stack: string,
    values: Record<string, unknown>,
    secretKeys: string[] = [],
    env = offlineEnv(),
    preview = false,
): Promise<PlanResult> {
    const cfg = stackConfig(stack, values);
    return runPlan({ ...cfg, secretKeys: [...cfg.secretKeys, ...secretKeys] }, () => ({ ...main(env) }), preview);
}

/** The offline plan of a stack from its stack file (as a first preview with `preview`), validated; throws on any problem. */
export async function planFromStackFile(stack: string, preview = false): Promise<PlanResult> {
    const cfg = stackConfig(stack);
    const env = offlineEnv();
    const result = await runPlan(cfg, () => ({ ...main(env) }), preview);
    const problems = validatePlan(result.plan.resources, result.revealed);
    if (problems.length > 0) {
        throw new Error(`Kubernetes schema validation failed:\n  ${problems.join("\n  ")}`);
    }
    return result;
}

async function plan(args: PlanArgs): Promise<number> {
    if ((args.live || args["cli-version"]) && !args.from) {
        throw new UsageError("--live and --cli-version go with --from <before.json>");
    }
    const result = await planFromStackFile(args.stack, args.preview);
    if (args.from) {
        const cliVersion = args["cli-version"] ?? requiredCliVersion(PROJECT_DIR);
        const steps = engineSteps({
            before: readPlanFile(args.from),
            after: result.plan.resources,
            live: args.live ? readLiveFile(args.live) : [],
            cliVersion,
        });
        process.stdout.write(args.json ? JSON.stringify(stepsJson(steps), null, 2) + "\n" : stepsTable(steps, cliVersion));
        return steps.some((s) => s.step === "refused") ? 1 : 0;
    }
    if (args.out) {
        const written = writePlanFiles(result, args.out);
        process.stderr.write(`wrote ${written.length} files to ${args.out}\n`);
    }
    process.stdout.write(args.json ? JSON.stringify(result.plan, null, 2) + "\n" : summarize(result));
    if (!args.policy) {
        return 0;
    }
    const checked = await gate(result.engine);
    (args.json ? process.stderr : process.stdout).write(`\npolicies:\n${checked.text}`);
    return checked.exitCode;
}

if (require.main === module) {
    runCommand(PLAN_COMMAND, { prefix: "plan failed", code: 1 }, ({ values }) => plan(values));
}
