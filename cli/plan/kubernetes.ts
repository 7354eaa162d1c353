/**
 * Kubernetes objects of a plan: validated against the Kubernetes OpenAPI schema (kubernetes-models), and
 * rendered as the manifests the provider would apply.
 */
import { kmsSyncCrd } from "../../render/kmsSync";
import { openApiProblems } from "../../render/openApiSchema";
import { UNKNOWN } from "../../policies/standard/types";
import { PlannedResource } from "./runner";

export interface KubernetesObject {
    apiVersion: string;
    kind: string;
    metadata?: { name?: string; namespace?: string; [k: string]: unknown };
    [k: string]: unknown;
}

/** `kubernetes:apps/v1:StatefulSet` → { group: "apps", version: "v1", kind: "StatefulSet" }; core has group "". */
export function parseKubernetesType(type: string): { group: string; version: string; kind: string } | undefined {
    const m = /^kubernetes:([^/]+)\/([^:]+):(.+)$/.exec(type);
    if (!m) {
        return undefined;
    }
    return { group: m[1] === "core" ? "" : m[1], version: m[2], kind: m[3] };
}

/** The manifest of a planned Kubernetes resource (its inputs, which carry apiVersion and kind). */
export function manifestOf(r: { type: string; inputs: Record<string, unknown> }): KubernetesObject | undefined {
    if (!parseKubernetesType(r.type) || r.type.startsWith("kubernetes:helm") || r.type.startsWith("kubernetes:yaml")) {
        return undefined;
    }
    return r.inputs as KubernetesObject;
}

/** Groups whose kinds are custom resources (CRDs); kubernetes-models has no schema for them. */
const CUSTOM_GROUPS = ["monitoring.coreos.com", "secrets.infisical.com", "kms.hanzo.ai", "secrets.lux.network"];

/**
 * Schema problems of a Kubernetes object, or [] when it validates. An object of a kind the schema package
 * does not know (a CRD) is reported as such unless its group is a known custom one.
 */
export function validateManifest(type: string, manifest: KubernetesObject): string[] {
    const parsed = parseKubernetesType(type)!;
    // A KMS sync resource is validated against its CRD's schema (render/kmsSync.ts).
    const kms = kmsSyncCrd(`${parsed.group}/${parsed.version}`, parsed.kind);
    if (kms) {
        return openApiProblems(kms.schema, manifest);
    }
    if (CUSTOM_GROUPS.includes(parsed.group)) {
        return [];
    }
    // A `<Kind>Patch` (server-side apply of some fields) is checked against its kind's schema, as a part
    // of an object: the fields it sets must be right, the ones it leaves out may be required.
    const patch = parsed.kind.endsWith("Patch");
    const t = patch ? { ...parsed, kind: parsed.kind.slice(0, -"Patch".length) } : parsed;
    const modulePath = `kubernetes-models/${t.group === "" ? "" : `${t.group}/`}${t.version}/${t.kind}`;
    let Model: new (data: unknown) => { validate(): void };
    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        Model = (require(modulePath) as Record<string, new (data: unknown) => { validate(): void }>)[t.kind];
    } catch {
        return [`no schema for ${t.group || "core"}/${t.version} ${t.kind}`];
    }
    try {
        new Model(patch ? { ...manifest, kind: t.kind } : manifest).validate();
        return [];
    } catch (e) {
        const err = e as { message: string; errors?: { instancePath?: string; message?: string; keyword?: string }[] };
        if (Array.isArray(err.errors) && err.errors.length > 0) {
            return err.errors
                .filter((x) => !(patch && x.keyword === "required"))
                .map((x) => `${x.instancePath || "/"} ${x.message ?? ""}`.trim());
        }
        return [err.message];
    }
}

/** A value without its unknown parts (a preview's): the provider, too, validates only what is known. */
function known(v: unknown): unknown {
    if (Array.isArray(v)) {
        return v.filter((x) => x !== UNKNOWN).map(known);
    }
    if (typeof v === "object" && v !== null) {
        return Object.fromEntries(
            Object.entries(v)
                .filter(([, x]) => x !== UNKNOWN)
                .map(([k, x]) => [k, known(x)]),
        );
    }
    return v;
}

/** Schema problems of every Kubernetes object of a plan, as "type name: problem" lines (unknown values skipped). */
export function validatePlan(resources: readonly PlannedResource[], revealed: ReadonlyMap<string, Record<string, unknown>>): string[] {
    const problems: string[] = [];
    for (const r of resources) {
        const manifest = manifestOf({ type: r.type, inputs: known(revealed.get(r.urn) ?? r.inputs) as Record<string, unknown> });
        if (manifest) {
            for (const p of validateManifest(r.type, manifest)) {
                problems.push(`${r.type} ${r.name}: ${p}`);
            }
        }
    }
    return problems;
}
