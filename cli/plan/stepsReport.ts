/**
 * `npm run plan -- --stack S --from before.json`: the steps `pulumi up` would take from the plan in
 * before.json (an earlier `npm run plan -- --json`) to the stack's plan now, by the engine-step model
 * (./steps.ts). A readable table, or with `--json` one `{urn, step, deleteBeforeReplace?, error?}` per resource.
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import type { Plan } from "./runner";
import { EngineStep, LiveObject, ModelResource } from "./steps";

/** A plan file as `npm run plan -- --json` writes it; fails with what is wrong and how to make one. */
export function readPlanFile(file: string): ModelResource[] {
    const hint = "write one with `npm run -s plan -- --stack <name> --json > before.json` before the change";
    let parsed: unknown;
    try {
        parsed = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new Error(`--from ${file}: cannot read a plan (${(e as Error).message}); ${hint}`);
    }
    const resources = (parsed as Plan | undefined)?.resources;
    if (
        !Array.isArray(resources) ||
        resources.some((r) => typeof r?.urn !== "string" || typeof r?.type !== "string" || typeof r?.inputs !== "object")
    ) {
        throw new Error(`--from ${file}: not a plan (expected {"resources": [{"urn", "type", "inputs", "options", ...}]}); ${hint}`);
    }
    return resources;
}

/** Live objects for an adoption: a JSON list of `{type, id, inputs}` (each as its provider's Read returns it). */
export function readLiveFile(file: string): LiveObject[] {
    let parsed: unknown;
    try {
        parsed = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new Error(`--live ${file}: cannot read it (${(e as Error).message})`);
    }
    if (
        !Array.isArray(parsed) ||
        parsed.some((o) => typeof o?.type !== "string" || typeof o?.id !== "string" || typeof o?.inputs !== "object")
    ) {
        throw new Error(`--live ${file}: expected a JSON list of {"type", "id", "inputs"}, one per object the program imports`);
    }
    return parsed as LiveObject[];
}

/**
 * The lowest CLI version Pulumi.yaml's `requiredPulumiVersion` admits (`>=3.174.0` gives 3.174.0), or
 * undefined when it sets none (then any version may run `up`, old ones included).
 */
export function requiredCliVersion(projectDir: string): string | undefined {
    const project = yaml.load(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) as Record<string, unknown>;
    const req = project?.requiredPulumiVersion;
    const m = typeof req === "string" ? /(?:>=|\^|~|=)?\s*v?(\d+\.\d+\.\d+)/.exec(req) : null;
    return m ? m[1] : undefined;
}

/** The JSON form: what review tooling needs, no more. */
export function stepsJson(steps: readonly EngineStep[]): { urn: string; step: string; deleteBeforeReplace?: boolean; error?: string }[] {
    return steps.map((s) => ({
        urn: s.urn,
        step: s.step,
        ...(s.deleteBeforeReplace !== undefined ? { deleteBeforeReplace: s.deleteBeforeReplace } : {}),
        ...(s.error ? { error: s.error } : {}),
    }));
}

/** The step as a word: `replace` says which way round. */
function label(s: EngineStep): string {
    if (s.step === "replace") {
        return s.deleteBeforeReplace ? "replace (delete first)" : "replace";
    }
    if (s.step === "import" && s.thenUpdate) {
        return "import, update";
    }
    if (s.step === "delete" && s.retained) {
        return "delete (retained)";
    }
    return s.step;
}

/** The table: every resource that changes (and a count of those that stay), refusals with the engine's words. */
export function stepsTable(steps: readonly EngineStep[], cliVersion: string | undefined): string {
    const changing = steps.filter((s) => s.step !== "same");
    const rows = changing.map((s) => [label(s), s.type, s.name, s.error ? `${s.why}: ${s.error}` : s.why]);
    const head = ["step", "type", "name", "why"];
    const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (i < 3 ? r[i].length : 0))));
    const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(width[i]) : c)).join("  ");
    const counts = new Map<string, number>();
    for (const s of steps) {
        counts.set(label(s), (counts.get(label(s)) ?? 0) + 1);
    }
    const refusals = steps.filter((s) => s.step === "refused").length;
    return [
        `engine steps (CLI ${cliVersion ?? "unpinned: any version, rules of those before 3.174 apply"}):`,
        ...(rows.length > 0 ? [line(head), ...rows.map(line)] : ["  nothing changes"]),
        "",
        [...counts].map(([k, n]) => `${n} ${k}`).join(", "),
        refusals > 0 ? `${refusals} refused: \`pulumi up\` would stop.` : "",
    ]
        .filter((l, i, a) => l !== "" || i < a.length - 1)
        .join("\n")
        .concat("\n");
}
