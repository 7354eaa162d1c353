/**
 * What a plan shows a person: a summary, and the files `--out` writes (Kubernetes YAML, rendered files).
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { TYPES } from "../../policies/standard/types";
import { renderInitSql } from "../sql/initSql";
import { manifestOf } from "./kubernetes";
import type { Plan, PlanResult } from "./runner";

const T = TYPES;

const ofType = (plan: Plan, type: string) => plan.resources.filter((r) => r.type === type);

/** A readable summary: counts by type, then databases, roles, extensions and Secrets. */
export function summarize(result: PlanResult): string {
    const { plan } = result;
    const lines: string[] = [];
    const counts = new Map<string, number>();
    for (const r of plan.resources) {
        counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    }
    lines.push(`stack ${plan.stack}: ${plan.resources.length} resources`);
    for (const [type, n] of [...counts].sort((a, b) => a[0].localeCompare(b[0]))) {
        lines.push(`  ${String(n).padStart(3)}  ${type}`);
    }
    const roles = new Map(ofType(plan, T.role).map((r) => [String(r.inputs.name), r]));
    lines.push("", "databases (owner; extensions):");
    for (const db of ofType(plan, T.database)) {
        const name = String(db.inputs.name);
        const exts = ofType(plan, T.extension)
            .filter((e) => e.inputs.database === name)
            .map((e) => String(e.inputs.name));
        const protectedNote = db.options.protect ? ", protected" : "";
        lines.push(`  ${name.padEnd(20)} ${String(db.inputs.owner)}${protectedNote}; ${exts.join(", ")}`);
    }
    const t1 = ofType(plan, T.extension)
        .filter((e) => e.inputs.database === "template1")
        .map((e) => String(e.inputs.name));
    lines.push(`  ${"template1".padEnd(20)} (template for hand-made databases); ${t1.join(", ")}`);
    lines.push("", "roles (login; forbidden attributes all false):");
    for (const [name, r] of roles) {
        const attrs = ["superuser", "createRole", "createDatabase", "replication", "bypassRowLevelSecurity"].filter(
            (a) => r.inputs[a] === true,
        );
        lines.push(`  ${name.padEnd(24)} login=${r.inputs.login === true}${attrs.length ? `  HAS ${attrs.join(", ")}` : ""}`);
    }
    lines.push("", "secrets (namespace/name: keys):");
    for (const s of ofType(plan, T.secret)) {
        const meta = s.inputs.metadata as { name?: string; namespace?: string };
        const data = (s.inputs.stringData ?? s.inputs.data ?? {}) as Record<string, unknown>;
        lines.push(`  ${meta.namespace}/${meta.name}: ${Object.keys(data).join(", ")}`);
    }
    lines.push("", "outputs:");
    for (const [k, v] of Object.entries(result.outputs)) {
        lines.push(`  ${k}: ${JSON.stringify(v)}`);
    }
    return lines.join("\n") + "\n";
}

/** The file name of a resource's manifest: `<kind>-<namespace>-<name>.yaml`. */
function manifestFile(kind: string, meta: { name?: string; namespace?: string } | undefined): string {
    return `${[kind.toLowerCase(), meta?.namespace, meta?.name].filter(Boolean).join("-")}.yaml`;
}

/**
 * Writes `dir/plan.json`, `dir/kubernetes/*.yaml` (secret values redacted), `dir/files/*` (every file a
 * ConfigMap carries: postgresql.conf, pg_hba.conf, scripts) and `dir/files/init.sql` (the initialisation
 * SQL, without passwords). Returns the paths written.
 */
export function writePlanFiles(result: PlanResult, dir: string): string[] {
    const written: string[] = [];
    const write = (rel: string, text: string) => {
        const file = path.join(dir, rel);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, text);
        written.push(file);
    };
    write("plan.json", JSON.stringify(result.plan, null, 2) + "\n");
    write(path.join("files", "init.sql"), renderInitSql(result.plan));
    for (const r of result.plan.resources) {
        const manifest = manifestOf(r);
        if (!manifest) {
            continue;
        }
        write(
            path.join("kubernetes", manifestFile(manifest.kind, manifest.metadata)),
            yaml.dump(manifest, { lineWidth: 140, noRefs: true }),
        );
        if (r.type === T.configMap) {
            for (const [file, text] of Object.entries((manifest.data ?? {}) as Record<string, string>)) {
                write(path.join("files", file), text);
            }
        }
    }
    return written;
}
