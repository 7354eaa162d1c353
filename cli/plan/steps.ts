/**
 * The engine-step model: given the resources the engine holds (the plan before, or for an adoption the live
 * objects the program imports) and the program's new plan, the step `pulumi up` takes for every resource —
 * `same`, `update`, `replace` (create-then-delete, or delete-then-create), `create`, `delete`, `import` — or the
 * engine's refusal. Pure: no Pulumi runtime, no provider; the providers' replace-forcing rules come from
 * policies/standard/forceNew.ts, the engine's are written here, each with the file and function it comes from
 * in pulumi/pulumi (pkg/resource/deploy/step_generator.go, step.go) and pulumi/pulumi-kubernetes
 * (provider/pkg/provider/provider.go).
 *
 * What it does not model: refresh (the state is taken to match the cluster), targets, and provider-side
 * normalisation of inputs (defaults the API server fills in: give the live object as the API returns it).
 */
import { forceNewPaths, KubernetesProviderConfig } from "../../policies/standard/forceNew";
import { TYPES, UNKNOWN } from "../../policies/standard/types";

/** A resource as the engine holds it in state, or as the program registers it (a plan entry). */
export interface ModelResource {
    readonly type: string;
    readonly name: string;
    readonly urn: string;
    readonly parent?: string;
    readonly custom: boolean;
    readonly inputs: Record<string, unknown>;
    readonly dependencies?: string[];
    readonly propertyDependencies?: Record<string, string[]>;
    readonly options: {
        readonly protect?: boolean;
        readonly retainOnDelete?: boolean;
        readonly deletedWith?: string;
        readonly provider?: string;
        readonly ignoreChanges?: string[];
        readonly replaceOnChanges?: string[];
        readonly deleteBeforeReplace?: boolean;
        readonly import?: string;
        readonly aliases?: unknown[];
    };
}

/** An object that exists outside Pulumi's state, as its provider's Read returns it (an adoption's "before"). */
export interface LiveObject {
    readonly type: string;
    /** The ID the program's `import` option names (`namespace/name` for Kubernetes objects). */
    readonly id: string;
    readonly inputs: Record<string, unknown>;
}

export type StepKind = "same" | "update" | "replace" | "create" | "delete" | "import" | "refused";

export interface EngineStep {
    readonly urn: string;
    readonly type: string;
    readonly name: string;
    readonly step: StepKind;
    /** For a replace: the old object is deleted before the new one exists. */
    readonly deleteBeforeReplace?: boolean;
    /** For `import`: the update that follows in the same `up` (3.174 and later). */
    readonly thenUpdate?: boolean;
    /** For `delete` with retainOnDelete: removed from state, left in the cloud. */
    readonly retained?: boolean;
    /** The engine's error, for `refused`. */
    readonly error?: string;
    /** Input paths that changed; of them, the ones that force a replacement. */
    readonly changed?: string[];
    readonly replaceKeys?: string[];
    /** Why, in a few words. */
    readonly why: string;
}

export interface Transition {
    /** The resources in the engine's state before the `up` (the previous plan); none on a first `up`. */
    readonly before: readonly ModelResource[];
    /** The program's registrations, in order. */
    readonly after: readonly ModelResource[];
    /** Live objects the program imports (by type and ID). */
    readonly live?: readonly LiveObject[];
    /**
     * The Pulumi CLI version `up` runs with (`3.180.0`). Undefined: any version the project allows, which
     * without `requiredPulumiVersion` includes those before 3.174, so the model applies their import rule.
     */
    readonly cliVersion?: string;
}

/** 3.174.0: the release whose import no longer refuses differing inputs (pulumi/pulumi#19339). */
export const IMPORT_DIFF_VERSION = "3.174.0";

function versionAtLeast(v: string | undefined, min: string): boolean {
    if (!v) {
        return false;
    }
    const a = v.replace(/^v/, "").split(/[.-]/).map(Number);
    const b = min.split(".").map(Number);
    for (let i = 0; i < 3; i++) {
        if ((a[i] ?? 0) !== b[i]) {
            return (a[i] ?? 0) > b[i];
        }
    }
    return true;
}

// ---------------------------------------------------------------------------------------------------------
// Property paths and diffs

type Path = (string | number)[];

function pathString(p: Path): string {
    return p.reduce<string>((s, k) => (typeof k === "number" ? `${s}[${k}]` : s === "" ? k : `${s}.${k}`), "");
}

/** `resource.ParsePropertyPath` for the forms the program uses: `a.b`, `a[0]`, `a[*]`, `a["x.y"]`. */
function parsePath(p: string): (string | number | "*")[] {
    const out: (string | number | "*")[] = [];
    const re = /([^.[\]]+)|\[(\d+|\*)\]|\["([^"]+)"\]/g;
    for (const m of p.matchAll(re)) {
        out.push(m[1] ?? (m[2] === "*" ? "*" : m[2] !== undefined ? Number(m[2]) : m[3]));
    }
    return out;
}

/** `PropertyPath.Contains` (pulumi/pulumi sdk/go/common/resource/property_path.go): `outer` is a prefix of `inner`, `*` matching any key. */
function contains(outer: string, inner: Path): boolean {
    const o = parsePath(outer);
    if (o.length > inner.length) {
        return false;
    }
    return o.every((k, i) => k === "*" || k === inner[i] || String(k) === String(inner[i]));
}

function isObject(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function equal(a: unknown, b: unknown): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The top-level inputs whose values differ, sorted: every key of either side, or with `setOnly` only the keys
 * `news` sets (a Terraform-bridged provider's rule, terraformDiff below).
 */
function changedKeys(olds: Record<string, unknown>, news: Record<string, unknown>, setOnly = false): string[] {
    const keys = setOnly
        ? Object.keys(news).filter((k) => news[k] !== undefined)
        : [...new Set([...Object.keys(olds), ...Object.keys(news)])];
    return keys.filter((k) => !equal(olds[k], news[k])).sort();
}

/**
 * The leaf paths where `news` differs from `olds`, as pulumi-kubernetes' `convertPatchToDiff` walks the JSON
 * merge patch between them (provider.go): maps key by key (a key the new inputs drop is a DELETE), arrays
 * index by index, an unknown value a change.
 */
function leafDiff(olds: unknown, news: unknown, path: Path, out: { path: Path; added: boolean; value: unknown }[]): void {
    if (news === UNKNOWN) {
        out.push({ path, added: olds === undefined, value: news });
    } else if (isObject(olds) && isObject(news)) {
        for (const k of new Set([...Object.keys(olds), ...Object.keys(news)])) {
            if (olds[k] === undefined && news[k] === undefined) {
                continue;
            }
            leafDiff(olds[k], news[k], [...path, k], out);
        }
    } else if (Array.isArray(olds) && Array.isArray(news)) {
        for (let i = 0; i < Math.max(olds.length, news.length); i++) {
            leafDiff(olds[i], news[i], [...path, i], out);
        }
    } else if (!equal(olds, news)) {
        out.push({ path, added: olds === undefined, value: news });
    }
}

function getPath(o: unknown, p: (string | number | "*")[]): unknown {
    return p.reduce<unknown>((v, k) => (v === undefined || v === null ? undefined : (v as Record<string, unknown>)[k as string]), o);
}

function setPath(o: Record<string, unknown>, p: (string | number | "*")[], value: unknown): void {
    let cur: Record<string, unknown> = o;
    for (let i = 0; i < p.length - 1; i++) {
        const k = p[i] as string;
        if (!isObject(cur[k]) && !Array.isArray(cur[k])) {
            cur[k] = typeof p[i + 1] === "number" ? [] : {};
        }
        cur = cur[k] as Record<string, unknown>;
    }
    const last = p[p.length - 1] as string;
    if (value === undefined) {
        delete cur[last];
    } else {
        cur[last] = value;
    }
}

/**
 * `processIgnoreChanges` (pulumi/pulumi pkg/resource/deploy/step_generator.go): every ignored path takes its
 * old value before the provider diffs (and the Kubernetes provider drops ignored paths from its detailed diff,
 * `Diff` in provider.go).
 */
function applyIgnoreChanges(
    news: Record<string, unknown>,
    olds: Record<string, unknown>,
    ignore: readonly string[] = [],
): Record<string, unknown> {
    const out = JSON.parse(JSON.stringify(news)) as Record<string, unknown>;
    for (const p of ignore) {
        const path = parsePath(p);
        setPath(out, path, JSON.parse(JSON.stringify(getPath(olds, path) ?? null)) ?? undefined);
    }
    return out;
}

export interface ProviderDiff {
    readonly changed: string[];
    readonly replaceKeys: string[];
    readonly deleteBeforeReplace: boolean;
}

/**
 * pulumi-kubernetes `normalizeInputs` (provider.go) and `normalizeSecret` (provider/pkg/clients/unstructured.go):
 * unless a value is unknown, a Secret's `stringData` is folded into `data`, base64-encoded, as the API server
 * stores it, so a program's `stringData` compares with a live object's `data`.
 */
function normalizeInputs(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
    const sd = inputs.stringData;
    if (type !== TYPES.secret || !isObject(sd) || Object.keys(sd).length === 0 || JSON.stringify(inputs).includes(UNKNOWN)) {
        return inputs;
    }
    const data = { ...(isObject(inputs.data) ? inputs.data : {}) };
    for (const [k, v] of Object.entries(sd)) {
        data[k] = Buffer.from(String(v)).toString("base64");
    }
    const { stringData: _drop, ...rest } = inputs;
    return { ...rest, data };
}

/**
 * pulumi-kubernetes `kubeProvider.Diff` (provider/pkg/provider/provider.go): the leaf diff; a path is
 * replace-forcing when a `forceNewProperties` path (diff.go) is its prefix or, for a value added whole, lies
 * within it (`openapi.PatchPropertiesChanged` on the patch slice); delete-before-replace when the object is
 * replaced, named (`metadata.name`, not autonamed) and keeps its name and namespace.
 */
function kubernetesDiff(
    type: string,
    rawOlds: Record<string, unknown>,
    rawNews: Record<string, unknown>,
    config: KubernetesProviderConfig,
): ProviderDiff {
    const olds = normalizeInputs(type, rawOlds);
    const news = normalizeInputs(type, rawNews);
    const leaves: { path: Path; added: boolean; value: unknown }[] = [];
    leafDiff(olds, news, [], leaves);
    const forceNew = forceNewPaths(type, news, config);
    const changed: string[] = [];
    const replaceKeys: string[] = [];
    for (const leaf of leaves) {
        const p = pathString(leaf.path);
        changed.push(p);
        const forced = forceNew.some((f) => {
            if (contains(f, leaf.path)) {
                return true;
            }
            // A value added whole (or unknown) whose subtree holds a replace-forcing path.
            const fp = parsePath(f);
            const prefix = fp.length > leaf.path.length && leaf.path.every((k, i) => fp[i] === "*" || String(fp[i]) === String(k));
            return prefix && (leaf.value === UNKNOWN || getPath(leaf.value, fp.slice(leaf.path.length)) !== undefined);
        });
        if (forced) {
            replaceKeys.push(p);
        }
    }
    const meta = (o: Record<string, unknown>) => (isObject(o.metadata) ? o.metadata : {});
    const named = typeof meta(news).name === "string" && meta(news).name !== "";
    const deleteBeforeReplace =
        replaceKeys.length > 0 &&
        named &&
        meta(news).name === meta(olds).name &&
        (meta(news).namespace ?? "default") === (meta(olds).namespace ?? "default");
    return { changed: changed.sort(), replaceKeys: replaceKeys.sort(), deleteBeforeReplace };
}

/**
 * A Terraform-bridged provider's Diff: the top-level inputs the program sets that differ; a replacement when one of them is
 * `ForceNew` in the provider's schema (policies/standard/forceNew.ts). The bridge never asks for
 * delete-before-replace (only the program's `deleteBeforeReplace` option does).
 */
function terraformDiff(type: string, olds: Record<string, unknown>, news: Record<string, unknown>): ProviderDiff {
    const forceNew = forceNewPaths(type);
    // An input the program leaves out keeps the state's value (the schema's Optional+Computed attributes, which
    // Read fills: a Database's lc_collate, tablespace_name; a Role's valid_until): not a change.
    const changed = changedKeys(olds, news, true);
    return { changed, replaceKeys: changed.filter((k) => forceNew.includes(k)), deleteBeforeReplace: false };
}

/**
 * Provider resources (`pulumi:providers:*`). Kubernetes: `kubeProvider.DiffConfig` (provider.go) replaces when
 * `clusterIdentifier` changes, or when `kubeconfig`/`context`/`cluster` is unknown; otherwise it updates. Other
 * providers are updated in place (a new host or password reaches the next connection).
 */
function providerDiff(type: string, olds: Record<string, unknown>, news: Record<string, unknown>): ProviderDiff {
    const changed = changedKeys(olds, news);
    if (type !== TYPES.k8sProvider) {
        return { changed, replaceKeys: [], deleteBeforeReplace: false };
    }
    const replaceKeys = changed.filter(
        (k) =>
            (k === "clusterIdentifier" && olds[k] !== undefined && news[k] !== undefined) ||
            (["kubeconfig", "context", "cluster"].includes(k) && news[k] === UNKNOWN),
    );
    return { changed, replaceKeys, deleteBeforeReplace: false };
}

/** The provider's diff of a resource, after ignoreChanges and with replaceOnChanges applied. */
export function diffResource(
    r: Pick<ModelResource, "type" | "custom" | "options">,
    olds: Record<string, unknown>,
    rawNews: Record<string, unknown>,
    config: KubernetesProviderConfig = {},
): ProviderDiff {
    const news = applyIgnoreChanges(rawNews, olds, r.options.ignoreChanges);
    let d: ProviderDiff;
    if (!r.custom) {
        // Components: the engine compares their inputs itself (`diff` in step_generator.go, no provider): never a replacement.
        d = { changed: changedKeys(olds, news), replaceKeys: [], deleteBeforeReplace: false };
    } else if (r.type.startsWith("pulumi:providers:")) {
        d = providerDiff(r.type, olds, news);
    } else if (r.type.startsWith("kubernetes:")) {
        d = kubernetesDiff(r.type, olds, news, config);
    } else {
        d = terraformDiff(r.type, olds, news);
    }
    // `applyReplaceOnChanges` (step_generator.go): a changed path inside a replaceOnChanges path is a replacement.
    const roc = r.options.replaceOnChanges ?? [];
    const extra = d.changed.filter((c) => roc.some((p) => contains(p, parsePath(c))));
    return { ...d, replaceKeys: [...new Set([...d.replaceKeys, ...extra])].sort() };
}

// ---------------------------------------------------------------------------------------------------------
// The engine

function urnName(urn: string): string {
    return urn.slice(urn.lastIndexOf("::") + 2);
}

function urnQualifiedType(urn: string): string {
    return urn.split("::")[2];
}

/** The URN part of a provider reference `<urn>::<id>`. */
function providerUrn(ref: string | undefined): string | undefined {
    return ref ? ref.slice(0, ref.lastIndexOf("::")) : undefined;
}

/** The kubernetes provider configuration a resource is managed with (`enableSecretMutable`, ...). */
function kubernetesConfig(r: ModelResource, byUrn: ReadonlyMap<string, ModelResource>): KubernetesProviderConfig {
    const p = byUrn.get(providerUrn(r.options.provider) ?? "");
    const truthy = (v: unknown) => v === true || v === "true";
    return p
        ? { enableSecretMutable: truthy(p.inputs.enableSecretMutable), enableConfigMapMutable: truthy(p.inputs.enableConfigMapMutable) }
        : {};
}

/** Replaces every input whose property dependencies include one of `unknownUrns` by the engine's unknown. */
function withUnknowns(
    r: ModelResource,
    unknownUrns: ReadonlySet<string>,
    onlyWhereEqualTo?: Record<string, unknown>,
): Record<string, unknown> {
    const out = { ...r.inputs };
    for (const [k, urns] of Object.entries(r.propertyDependencies ?? {})) {
        if (urns.some((u) => unknownUrns.has(u)) && k in out && (!onlyWhereEqualTo || equal(onlyWhereEqualTo[k], out[k]))) {
            out[k] = UNKNOWN;
        }
    }
    return out;
}

const PROTECTED_REPLACE = (urn: string) =>
    `unable to replace resource "${urn}" as it is currently marked for protection. To unprotect the resource, remove the \`protect\` flag from the resource in your Pulumi program and run \`pulumi up\``;
const IMPORTED_REPLACE = (keys: string[]) =>
    `previously-imported resources that still specify an ID may not be replaced; please remove the \`import\` declaration from your program; replaced by: ${keys.join(", ")}`;
/** The server's error when the postgresql provider creates a role or database that exists (SQLSTATE 42710, 42P04). */
const CREATE_FAILS_ON_EXISTING: Readonly<Record<string, (name: string) => string>> = {
    [TYPES.role]: (name) => `pq: role "${name}" already exists`,
    [TYPES.database]: (name) => `pq: database "${name}" already exists`,
};
const IMPORT_MISMATCH = (keys: string[]) => `inputs to import do not match the existing resource: [${keys.join(" ")}]`;
const PROTECTED_DELETE = (urn: string) => `resource "${urn}" cannot be deleted because it is protected`;

/**
 * The steps of `pulumi up` for a transition, in registration order, then the deletes of what the program no
 * longer registers.
 */
export function engineSteps(t: Transition): EngineStep[] {
    const newCli = versionAtLeast(t.cliVersion, IMPORT_DIFF_VERSION);
    const olds = new Map(t.before.map((r) => [r.urn, r]));
    const afterByUrn = new Map(t.after.map((r) => [r.urn, r]));
    const beforeByUrn = new Map(t.before.map((r) => [r.urn, r]));
    const live = new Map((t.live ?? []).map((o) => [`${o.type}\u0000${o.id}`, o]));
    const steps = new Map<string, EngineStep>();
    /** New URN -> the old URN it was found under (`sg.aliases`). */
    const foundAs = new Map<string, string>();
    const claimed = new Set<string>();
    /**
     * Generators created or replaced in this `up`: a random resource's Create draws new values
     * (hashicorp/terraform-provider-random internal/provider/resource_password.go, resource_id.go `Create`), so
     * every input built from them changes, even where a plan shows it redacted. Other providers' outputs echo
     * their inputs, which the new plan already carries.
     */
    const unknownOutputs = new Set<string>();
    const generated = (r: ModelResource) => {
        if (r.type.startsWith("random:")) {
            unknownOutputs.add(r.urn);
        }
    };
    /** Old URNs deleted early by a delete-before-replace chain, with the step that did it. */
    const dbrDependents = new Map<string, string>();

    /**
     * `generateAliases` and `inheritedChildAlias` (step_generator.go): the resource's own aliases, and for a
     * parent found under an alias, the child's URN under that parent (the parent's old name replacing its new
     * one at the start of the child's name).
     */
    const aliasesOf = (r: ModelResource): string[] => {
        const out = (r.options.aliases ?? []).filter((a): a is string => typeof a === "string");
        const parentAlias = r.parent ? foundAs.get(r.parent) : undefined;
        if (r.parent && parentAlias) {
            const parentName = urnName(r.parent);
            const name = r.name.startsWith(parentName) ? urnName(parentAlias) + r.name.slice(parentName.length) : r.name;
            const stackProject = parentAlias.split("::").slice(0, 2).join("::");
            out.push(`${stackProject}::${urnQualifiedType(parentAlias)}$${r.type}::${name}`);
        }
        return out;
    };

    for (const r of t.after) {
        const base = { urn: r.urn, type: r.type, name: r.name };
        // `getOldResource` (step_generator.go): by URN, else by the first alias found in state.
        let old = olds.get(r.urn);
        if (!old) {
            const alias = aliasesOf(r).find((a) => olds.has(a) && !afterByUrn.has(a));
            if (alias) {
                old = olds.get(alias);
                foundAs.set(r.urn, alias);
            }
        }
        if (old) {
            claimed.add(old.urn);
        }
        if (old && dbrDependents.has(old.urn)) {
            // Deleted earlier in this `up` as a dependent of a delete-before-replace: created again now.
            generated(r);
            continue;
        }
        const config = r.type.startsWith("kubernetes:") ? kubernetesConfig(r, afterByUrn) : {};
        // Where the two plans show a value fed from a regenerated one as equal (redacted secrets), it changes
        // all the same; where they differ, the plan's own values are the diff `up` sees.
        const inputs = withUnknowns(r, unknownOutputs, old?.inputs ?? {});
        const importId = r.custom ? r.options.import : undefined;

        // Import: `continueStepsFromRefresh` (step_generator.go): `isImport := goal.Custom && goal.ID != "" &&
        // (old == nil || old.External || oldImportID != goal.ID)`.
        if (importId && (!old || old.options.import !== importId)) {
            const obj = live.get(`${r.type}\u0000${importId}`);
            if (!obj) {
                // `ImportStep.Apply` (step.go): the provider's Read finds nothing.
                steps.set(r.urn, {
                    ...base,
                    step: "refused",
                    error: `resource '${importId}' does not exist`,
                    why: "import of a missing object",
                });
                continue;
            }
            const d = diffResource(r, obj.inputs, inputs, config);
            if (!newCli) {
                // Before 3.174 `ImportStep.Apply` (step.go, removed by pulumi/pulumi#19339) diffed the program's inputs
                // against the imported ones (ignoreChanges applied) and failed on any difference.
                if (d.changed.length > 0) {
                    steps.set(r.urn, {
                        ...base,
                        step: "refused",
                        error: IMPORT_MISMATCH(d.changed),
                        changed: d.changed,
                        why: "import whose inputs differ (CLI before 3.174)",
                    });
                } else {
                    steps.set(r.urn, { ...base, step: "import", why: `imports ${importId}` });
                }
                continue;
            }
            // 3.174 and later: the import reads the object, then `continueStepsFromDiff` diffs it like any resource;
            // a replacement is refused because the goal still names an ID.
            if (d.replaceKeys.length > 0) {
                steps.set(r.urn, {
                    ...base,
                    step: "refused",
                    error: IMPORTED_REPLACE(d.replaceKeys),
                    changed: d.changed,
                    replaceKeys: d.replaceKeys,
                    why: "imported, and its diff is a replacement",
                });
            } else if (d.changed.length > 0) {
                steps.set(r.urn, {
                    ...base,
                    step: "import",
                    thenUpdate: true,
                    changed: d.changed,
                    why: `imports ${importId}, then updates it`,
                });
            } else {
                steps.set(r.urn, { ...base, step: "import", why: `imports ${importId}` });
            }
            continue;
        }

        if (!old) {
            // A role or database that already exists (a restored cluster's, given as live): the postgresql
            // provider creates with a plain CREATE ROLE / CREATE DATABASE (cyrilgdn/terraform-provider-postgresql,
            // resourcePostgreSQLRoleCreate, createDatabase), which the server refuses.
            const existing = CREATE_FAILS_ON_EXISTING[r.type];
            const name = r.inputs.name;
            if (existing && typeof name === "string" && live.has(`${r.type}\u0000${name}`)) {
                steps.set(r.urn, { ...base, step: "refused", error: existing(name), why: "create of an object that exists" });
                continue;
            }
            steps.set(r.urn, { ...base, step: "create", why: "new" });
            generated(r);
            continue;
        }

        // `diff` (step_generator.go): a resource `deletedWith` a replaced one, or whose provider is replaced (a new
        // provider reference, `providerChanged`), is replaced without asking its provider; else the provider diffs.
        const prov = providerUrn(r.options.provider);
        const d: ProviderDiff =
            r.options.deletedWith && steps.get(r.options.deletedWith)?.step === "replace"
                ? { changed: [], replaceKeys: ["deletedWith"], deleteBeforeReplace: false }
                : r.custom && prov && steps.get(prov)?.step === "replace"
                  ? { changed: [], replaceKeys: ["provider"], deleteBeforeReplace: false }
                  : diffResource(r, old.inputs, inputs, config);
        if (d.changed.length === 0 && d.replaceKeys.length === 0) {
            steps.set(r.urn, {
                ...base,
                step: "same",
                why: foundAs.has(r.urn) ? `same, found under its alias ${foundAs.get(r.urn)}` : "no change",
            });
            continue;
        }
        if (d.replaceKeys.length === 0) {
            steps.set(r.urn, {
                ...base,
                step: "update",
                changed: d.changed,
                why: `updates ${d.changed.slice(0, 4).join(", ")}${d.changed.length > 4 ? ", …" : ""}`,
            });
            continue;
        }
        // A replacement. Protected (in state and in the program): refused.
        if (r.options.protect && old.options.protect) {
            steps.set(r.urn, {
                ...base,
                step: "refused",
                error: PROTECTED_REPLACE(r.urn),
                changed: d.changed,
                replaceKeys: d.replaceKeys,
                why: "protected, and its diff is a replacement",
            });
            continue;
        }
        // The goal still names an ID (`import` left set after the import): refused.
        if (importId) {
            steps.set(r.urn, {
                ...base,
                step: "refused",
                error: IMPORTED_REPLACE(d.replaceKeys),
                changed: d.changed,
                replaceKeys: d.replaceKeys,
                why: "previously imported, and its diff is a replacement",
            });
            continue;
        }
        // The program's `deleteBeforeReplace` overrides the provider's choice.
        const dbr = r.options.deleteBeforeReplace ?? d.deleteBeforeReplace;
        steps.set(r.urn, {
            ...base,
            step: "replace",
            deleteBeforeReplace: dbr,
            changed: d.changed,
            replaceKeys: d.replaceKeys,
            why: `${dbr ? "deletes, then creates" : "creates, then deletes"}: ${d.replaceKeys.join(", ")} forces a replacement`,
        });
        generated(r);
        if (dbr) {
            for (const dep of dependentReplacements(old, t.before, beforeByUrn)) {
                if (dbrDependents.has(dep.urn)) {
                    continue;
                }
                dbrDependents.set(dep.urn, old.urn);
                const now = t.after.find((a) => a.urn === dep.urn) ?? dep;
                steps.set(now.urn, {
                    urn: now.urn,
                    type: now.type,
                    name: now.name,
                    ...(dep.options.protect
                        ? {
                              step: "refused" as const,
                              error: `unable to replace resource "${dep.urn}" as part of replacing "${old.urn}" as it is currently marked for protection`,
                              why: "protected dependent of a delete-before-replace",
                          }
                        : {
                              step: "replace" as const,
                              deleteBeforeReplace: true,
                              why: `deleted before ${r.name} is replaced, as its dependent`,
                          }),
                });
            }
        }
    }

    // `GenerateDeletes` (step_generator.go) and `DeleteStep.Apply` (step.go): what the program no longer
    // registers is deleted; protected in state: refused; retainOnDelete: removed from state only.
    for (const old of t.before) {
        if (claimed.has(old.urn) || afterByUrn.has(old.urn) || dbrDependents.has(old.urn)) {
            continue;
        }
        const base = { urn: old.urn, type: old.type, name: old.name };
        if (old.options.protect) {
            steps.set(old.urn, {
                ...base,
                step: "refused",
                error: PROTECTED_DELETE(old.urn),
                why: "protected, and no longer in the program",
            });
        } else {
            steps.set(old.urn, {
                ...base,
                step: "delete",
                ...(old.options.retainOnDelete ? { retained: true } : {}),
                why: old.options.retainOnDelete
                    ? "no longer in the program; retainOnDelete: left in place, dropped from state"
                    : "no longer in the program",
            });
        }
    }
    return [...steps.values()];
}

/**
 * `calculateDependentReplacements` (step_generator.go): every resource that (transitively, in the old
 * dependency graph) depends on a resource replaced delete-first, and that its provider would replace once the
 * inputs fed from the replaced set are unknown — or whose provider, or `deletedWith` target, is in that set.
 */
function dependentReplacements(
    root: ModelResource,
    before: readonly ModelResource[],
    byUrn: ReadonlyMap<string, ModelResource>,
): ModelResource[] {
    const replaceSet = new Set([root.urn]);
    const out: ModelResource[] = [];
    const dependsOn = (r: ModelResource, urns: ReadonlySet<string>) =>
        [
            ...(r.dependencies ?? []),
            ...Object.values(r.propertyDependencies ?? {}).flat(),
            providerUrn(r.options.provider) ?? "",
            r.options.deletedWith ?? "",
        ].some((u) => urns.has(u));
    // `DependingOn` walks the graph in order: a dependent comes after what it depends on.
    const seen = new Set([root.urn]);
    for (const r of before) {
        if (r.urn === root.urn || !dependsOn(r, seen)) {
            continue;
        }
        seen.add(r.urn);
        if (!r.custom) {
            continue;
        }
        let replace = false;
        if (replaceSet.has(providerUrn(r.options.provider) ?? "") || (r.options.deletedWith && replaceSet.has(r.options.deletedWith))) {
            replace = true;
        } else {
            const unknown = withUnknowns(r, replaceSet);
            if (!equal(unknown, r.inputs)) {
                const config = r.type.startsWith("kubernetes:") ? kubernetesConfig(r, byUrn) : {};
                replace = diffResource(r, r.inputs, unknown, config).replaceKeys.length > 0;
            }
        }
        if (replace) {
            replaceSet.add(r.urn);
            out.push(r);
        }
    }
    return out;
}

/** True when any step is the engine's refusal. */
export function refused(steps: readonly EngineStep[]): EngineStep[] {
    return steps.filter((s) => s.step === "refused");
}
