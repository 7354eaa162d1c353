/**
 * npm run plan -- --stack <name> [--json] [--out DIR] [--policy] [--preview]
 *
 * Runs the program for a stack under Pulumi's mock runtime (no Pulumi CLI, no cloud, no cluster) and shows
 * what it would create. Kubernetes objects are validated against the Kubernetes schema and duplicate URNs
 * are detected; either fails the plan (exit 1), as does invalid stack configuration. `--preview` runs the
 * program as a first `pulumi preview` would (values providers compute are unknown). `--policy` then runs the
 * policy pack over the plan as the engine would (the gate: the pack's own analyzer, over gRPC, with secrets
 * in plain text as the engine sends them) and exits 1 on a mandatory violation.
 */
import { main } from "../program";
import { gate } from "./gate";
import { validatePlan } from "./plan/kubernetes";
import { summarize, writePlanFiles } from "./plan/render";
import { PlanResult, runPlan } from "./plan/runner";
import { listStacks, stackConfig } from "./plan/stackFile";

export interface PlanArgs {
    stack?: string;
    json: boolean;
    out?: string;
    /** Run the policy pack over the plan too (the offline gate). */
    policy: boolean;
    /** Plan as a first preview: unknown values where the engine would have them. */
    preview: boolean;
}

export function parseArgs(argv: string[]): PlanArgs {
    const args: PlanArgs = { json: false, policy: false, preview: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--stack") {
            args.stack = argv[++i];
        } else if (a === "--json") {
            args.json = true;
        } else if (a === "--policy") {
            args.policy = true;
        } else if (a === "--preview") {
            args.preview = true;
        } else if (a === "--out") {
            args.out = argv[++i];
        } else {
            throw new Error(`unknown argument ${a}; usage: plan --stack <name> [--json] [--out DIR] [--policy] [--preview]`);
        }
    }
    if (!args.stack) {
        throw new Error(`--stack is required; stacks: ${listStacks().join(", ")}`);
    }
    if (args.out === "" || (argv.includes("--out") && args.out === undefined)) {
        throw new Error("--out needs a directory");
    }
    return args;
}

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
export async function planFromValues(stack: string, values: Record<string, unknown>, secretKeys: string[] = [], env = offlineEnv(), preview = false): Promise<PlanResult> {
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

async function cli(argv: string[]): Promise<number> {
    const args = parseArgs(argv);
    const result = await planFromStackFile(args.stack!, args.preview);
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
    // exitCode, not exit(): a pipe must receive all of stdout before the process ends.
    cli(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (e: Error) => {
            process.stderr.write(`plan failed: ${e.message}\n`);
            process.exitCode = 1;
        },
    );
}
