/**
 * Runs the program under Pulumi's mock runtime and records every resource registration as the engine
 * would receive it: type, name, URN, parent, inputs, outputs (a custom resource's from the mock, a
 * component's as registerOutputs registered them), dependencies and every resource option the program
 * sets, which the mock's own callbacks do not show. As a preview, values the engine would not know yet
 * (generated passwords, keys the cloud computes, and everything built from them) are the engine's unknown.
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtimeSettings from "@pulumi/pulumi/runtime/settings";
import { createHash } from "crypto";
import type { StackConfig } from "./stackFile";
import { FUNCTIONS, PROJECT, TYPES, UNKNOWN } from "../../policies/standard/types";

export interface ResourceOptionsSeen {
    readonly protect: boolean;
    readonly retainOnDelete: boolean;
    /** URN of the resource whose deletion deletes this one too. */
    readonly deletedWith?: string;
    /** Provider reference (`<urn>::<id>`), for custom resources. */
    readonly provider?: string;
    // The options below appear only when the program sets them.
    readonly ignoreChanges?: string[];
    readonly replaceOnChanges?: string[];
    /** Go durations, as the program passes them (`10m`). */
    readonly customTimeouts?: { create?: string; update?: string; delete?: string };
    /** URNs this resource was known by. */
    readonly aliases?: string[];
    readonly additionalSecretOutputs?: string[];
    readonly deleteBeforeReplace?: boolean;
    /** The ID of an existing object the resource adopts (`import`). */
    readonly import?: string;
}

export interface PlannedResource {
    /** The Pulumi type token, e.g. `kubernetes:apps/v1:StatefulSet`. */
    readonly type: string;
    readonly name: string;
    readonly urn: string;
    readonly parent?: string;
    readonly custom: boolean;
    /** Inputs; every secret value replaced by "[secret]" (keys of secret objects kept). */
    readonly inputs: Record<string, unknown>;
    /** Outputs, redacted like the inputs: a custom resource's state, a component's registered outputs. */
    readonly outputs?: Record<string, unknown>;
    /** URNs this resource depends on (explicitly or through its inputs). */
    readonly dependencies: string[];
    /** Per input property, the URNs its value came from. */
    readonly propertyDependencies?: Record<string, string[]>;
    readonly options: ResourceOptionsSeen;
}

export interface Plan {
    readonly stack: string;
    /** Planned as a preview: unknown values are the engine's unknown marker. */
    readonly preview?: boolean;
    readonly resources: PlannedResource[];
}

export interface PlanResult {
    readonly plan: Plan;
    /**
     * The plan as the engine would hand it to the policy pack: inputs and outputs in the wire form
     * (secrets wrapped in Pulumi's secret signature with their value in plain text, unknowns as the
     * unknown marker). For the gate and tests; never printed.
     */
    readonly engine: Plan;
    /** Inputs with secret values revealed, by URN: for tests and renderers, never printed. */
    readonly revealed: ReadonlyMap<string, Record<string, unknown>>;
    /** The program's stack outputs, resolved. */
    readonly outputs: Record<string, unknown>;
}

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const REDACTED = "[secret]";

function isSecretWrapper(v: unknown): v is { value: unknown } {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG] === SECRET_SIG;
}

function redactLeaves(v: unknown): unknown {
    if (Array.isArray(v)) {
        return v.map(redactLeaves);
    }
    if (typeof v === "object" && v !== null) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactLeaves(x)]));
    }
    return REDACTED;
}

/** Replaces secrets (`redact`) or unwraps them (`reveal`), recursively. */
function transformSecrets(v: unknown, mode: "redact" | "reveal"): unknown {
    if (isSecretWrapper(v)) {
        return mode === "reveal" ? transformSecrets(v.value, mode) : redactLeaves(transformSecrets(v.value, "reveal"));
    }
    if (Array.isArray(v)) {
        return v.map((x) => transformSecrets(x, mode));
    }
    if (typeof v === "object" && v !== null) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, transformSecrets(x, mode)]));
    }
    return v;
}

/**
 * The password the mock gives a RandomPassword: deterministic per resource name, and (unless `special` is
 * false) full of characters that must be percent-encoded in a URL, so the plan exercises the encoding.
 */
export function mockPassword(name: string, special: boolean): string {
    const h = createHash("sha256").update(name).digest("hex").slice(0, 20);
    return special ? `p@ss:${h.slice(0, 10)}/#?%${h.slice(10)}` : `P${h}`;
}

/** The mock providers; in a preview, what a provider computes on create is unknown, as under the engine. */
const mocksFor = (preview: boolean): pulumi.runtime.Mocks => ({
    newResource(args) {
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === TYPES.password) {
            // New keepers (a rotation) give a new password, as the provider would.
            const keepers = args.inputs.keepers ? `#${JSON.stringify(args.inputs.keepers)}` : "";
            state.result = pulumi.secret(preview ? UNKNOWN : mockPassword(`${args.name}${keepers}`, args.inputs.special !== false));
        }
        if (args.type === TYPES.randomId) {
            // Deterministic per resource name, like the passwords (a SCRAM salt in this program); unknown at preview.
            const keepers = args.inputs.keepers ? `#${JSON.stringify(args.inputs.keepers)}` : "";
            const bytes = createHash("sha256")
                .update(`salt:${args.name}${keepers}`)
                .digest()
                .subarray(0, Number(args.inputs.byteLength ?? 16));
            const ids = {
                b64Std: bytes.toString("base64"),
                b64Url: bytes.toString("base64url"),
                hex: bytes.toString("hex"),
                dec: BigInt(`0x${bytes.toString("hex")}`).toString(),
            };
            Object.assign(state, preview ? Object.fromEntries(Object.keys(ids).map((k) => [k, UNKNOWN])) : ids);
        }
        if (args.type === TYPES.spacesKey) {
            // Computed by DigitalOcean on create.
            state.accessKey = preview ? UNKNOWN : `PLAN${createHash("sha256").update(args.name).digest("hex").slice(0, 16).toUpperCase()}`;
            state.secretKey = pulumi.secret(preview ? UNKNOWN : mockPassword(`${args.name}-secret`, false));
        }
        return { id: preview ? "" : `${args.name}-id`, state };
    },
    call(args) {
        if (args.token === FUNCTIONS.getKubernetesCluster) {
            const name = String(args.inputs.name);
            return {
                id: `plan-${name}-cluster-id`,
                name,
                kubeConfigs: [
                    {
                        rawConfig: `apiVersion: v1\nkind: Config\nclusters:\n- name: ${name}\n  cluster:\n    server: https://${name}.k8s.example\n`,
                        host: `https://${name}.k8s.example`,
                        token: "plan-token",
                        clusterCaCertificate: "",
                        clientCertificate: "",
                        clientKey: "",
                        expiresAt: "2099-01-01T00:00:00Z",
                    },
                ],
            };
        }
        throw new Error(`the offline plan has no mock for the call ${args.token}`);
    },
});

interface Recorded {
    type: string;
    name: string;
    urn: string;
    parent?: string;
    custom: boolean;
    /** Wire form, as the request carried them. */
    rawInputs: Record<string, unknown>;
    rawOutputs: Record<string, unknown>;
    dependencies: string[];
    propertyDependencies: Record<string, string[]>;
    options: ResourceOptionsSeen;
    /** Alias specs not yet resolved to URNs (they need the real URNs of parents). */
    aliasSpecs: AliasSpec[];
}

interface AliasSpec {
    urn?: string;
    name?: string;
    type?: string;
    stack?: string;
    project?: string;
    /** undefined: the resource's own parent; "": no parent. */
    parentUrn?: string;
}

type Struct = { toJavaScript(): Record<string, unknown> } | undefined;
type AliasMessage = {
    hasUrn(): boolean;
    getUrn(): string;
    getSpec():
        | { getName(): string; getType(): string; getStack(): string; getProject(): string; getParenturn(): string; getNoparent(): boolean }
        | undefined;
};
type RegisterRequest = {
    getType(): string;
    getName(): string;
    getParent(): string;
    getCustom(): boolean;
    getObject(): Struct;
    getDependenciesList(): string[];
    getPropertydependenciesMap(): { forEach(f: (v: { getUrnsList(): string[] }, k: string) => void): void };
    getProtect(): boolean | undefined;
    getRetainondelete(): boolean | undefined;
    getDeletedwith(): string;
    getProvider(): string;
    getIgnorechangesList(): string[];
    getReplaceonchangesList(): string[];
    getCustomtimeouts(): { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined;
    getAliasesList(): AliasMessage[];
    getAliasurnsList(): string[];
    getAdditionalsecretoutputsList(): string[];
    getDeletebeforereplace(): boolean;
    getDeletebeforereplacedefined(): boolean;
    getImportid(): string;
};
type Monitor = {
    registerResource(req: RegisterRequest, cb: (err: unknown, res?: { getUrn(): string; getObject(): Struct }) => void): unknown;
    registerResourceOutputs(req: { getUrn(): string; getOutputs(): Struct }, cb: (err: unknown, res?: unknown) => void): unknown;
};

/** The options a registration sets, beyond protect/retainOnDelete/deletedWith/provider, as the plan shows them. */
function optionsSet(req: RegisterRequest): Partial<ResourceOptionsSeen> {
    const t = req.getCustomtimeouts();
    const timeouts = t
        ? Object.fromEntries(Object.entries({ create: t.getCreate(), update: t.getUpdate(), delete: t.getDelete() }).filter(([, v]) => v))
        : {};
    const list = (key: string, values: string[]) => (values.length > 0 ? { [key]: [...values] } : {});
    return {
        ...list("ignoreChanges", req.getIgnorechangesList()),
        ...list("replaceOnChanges", req.getReplaceonchangesList()),
        ...(Object.keys(timeouts).length > 0 ? { customTimeouts: timeouts } : {}),
        ...list("additionalSecretOutputs", req.getAdditionalsecretoutputsList()),
        ...(req.getDeletebeforereplacedefined() ? { deleteBeforeReplace: req.getDeletebeforereplace() } : {}),
        ...(req.getImportid() ? { import: req.getImportid() } : {}),
    };
}

function propertyDependenciesOf(req: RegisterRequest): Record<string, string[]> {
    const deps: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((v, k) => (deps[k] = [...v.getUrnsList()]));
    return deps;
}

function aliasSpecs(req: RegisterRequest): AliasSpec[] {
    const specs: AliasSpec[] = req.getAliasurnsList().map((urn) => ({ urn }));
    for (const a of req.getAliasesList()) {
        const spec = a.getSpec();
        if (a.hasUrn()) {
            specs.push({ urn: a.getUrn() });
        } else if (spec) {
            specs.push({
                name: spec.getName() || undefined,
                type: spec.getType() || undefined,
                stack: spec.getStack() || undefined,
                project: spec.getProject() || undefined,
                parentUrn: spec.getNoparent() ? "" : spec.getParenturn() || undefined,
            });
        }
    }
    return specs;
}

const RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";

/**
 * A value as the engine marshals it for an analyzer: resource references become the resource's ID (custom)
 * or URN (component), since the engine does not keep resources (`MarshalOptions.KeepResources` unset).
 */
function forAnalyzer(v: unknown, realUrn: (urn: string) => string): unknown {
    if (Array.isArray(v)) {
        return v.map((x) => forAnalyzer(x, realUrn));
    }
    if (typeof v === "object" && v !== null) {
        const o = v as Record<string, unknown>;
        if (o[SIG] === RESOURCE_SIG) {
            return typeof o.id === "string" && o.id !== "" ? o.id : realUrn(String(o.urn));
        }
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, forAnalyzer(x, realUrn)]));
    }
    return v;
}

const settings = runtimeSettings as unknown as { getMonitor(): Monitor | undefined; waitForRPCs(): Promise<void> };

/**
 * Evaluates the program for a stack under the mock runtime. `program` is called once the mocks and the
 * configuration are in place; it returns the stack outputs. Duplicate URNs fail the plan.
 */
export async function runPlan(cfg: StackConfig, program: () => Record<string, unknown>, preview = false): Promise<PlanResult> {
    await pulumi.runtime.setMocks(mocksFor(preview), PROJECT, cfg.stack, preview);
    pulumi.runtime.setAllConfig(cfg.config, cfg.secretKeys);
    const recorded: Recorded[] = [];
    const monitor = settings.getMonitor()!;
    const original = monitor.registerResource.bind(monitor);
    const originalOutputs = monitor.registerResourceOutputs.bind(monitor);
    const byMockUrn = new Map<string, Recorded>();
    monitor.registerResource = (req, cb) =>
        original(req, (err, res) => {
            if (!err && res) {
                const r: Recorded = {
                    type: req.getType(),
                    name: req.getName(),
                    urn: res.getUrn(),
                    parent: req.getParent() || undefined,
                    custom: req.getCustom(),
                    rawInputs: req.getObject()?.toJavaScript() ?? {},
                    // A component's outputs are its inputs until it registers its own (as in the engine).
                    rawOutputs: res.getObject()?.toJavaScript() ?? {},
                    dependencies: [...req.getDependenciesList()].sort(),
                    propertyDependencies: propertyDependenciesOf(req),
                    options: {
                        protect: req.getProtect() === true,
                        retainOnDelete: req.getRetainondelete() === true,
                        deletedWith: req.getDeletedwith() || undefined,
                        provider: req.getProvider() || undefined,
                        ...optionsSet(req),
                    },
                    aliasSpecs: aliasSpecs(req),
                };
                recorded.push(r);
                byMockUrn.set(r.urn, r);
            }
            cb(err, res);
        });
    monitor.registerResourceOutputs = (req, cb) =>
        originalOutputs(req, (err, res) => {
            const r = byMockUrn.get(req.getUrn());
            if (!err && r) {
                r.rawOutputs = req.getOutputs()?.toJavaScript() ?? {};
            }
            cb(err, res);
        });

    const outputs = program();
    await settings.waitForRPCs();
    const resolved = await resolveOutputs(outputs);
    await settings.waitForRPCs();

    // The mock monitor builds a URN from the immediate parent's type only; the engine chains every
    // ancestor's type. Translate, so the plan shows the URNs `pulumi up` would use.
    const realUrn = new Map<string, string>();
    for (const r of recorded) {
        const parent = r.parent ? realUrn.get(r.parent) : undefined;
        const qualifiedType = parent ? `${parent.split("::")[2]}$${r.type}` : r.type;
        realUrn.set(r.urn, `urn:pulumi:${cfg.stack}::${PROJECT}::${qualifiedType}::${r.name}`);
    }
    const real = (urn: string) => realUrn.get(urn) ?? urn;
    const realRef = (ref: string) => {
        const i = ref.lastIndexOf("::");
        return realUrn.has(ref.slice(0, i)) ? `${real(ref.slice(0, i))}${ref.slice(i)}` : ref;
    };
    const aliasUrn = (r: Recorded, a: AliasSpec): string => {
        if (a.urn) {
            return a.urn;
        }
        const parent = a.parentUrn === undefined ? (r.parent ? real(r.parent) : undefined) : a.parentUrn || undefined;
        const type = a.type ?? r.type;
        const qualifiedType = parent && parent.split("::")[2] !== "pulumi:pulumi:Stack" ? `${parent.split("::")[2]}$${type}` : type;
        return `urn:pulumi:${a.stack ?? cfg.stack}::${a.project ?? PROJECT}::${qualifiedType}::${a.name ?? r.name}`;
    };
    const revealed = new Map<string, Record<string, unknown>>();
    const wire = new Map<string, { inputs: Record<string, unknown>; outputs: Record<string, unknown> }>();
    const resources = recorded.map((r): PlannedResource => {
        const urn = real(r.urn);
        const inputs = forAnalyzer(r.rawInputs, real) as Record<string, unknown>;
        const outputs = forAnalyzer(r.rawOutputs, real) as Record<string, unknown>;
        revealed.set(urn, transformSecrets(inputs, "reveal") as Record<string, unknown>);
        wire.set(urn, { inputs, outputs });
        const aliases = r.aliasSpecs.map((a) => aliasUrn(r, a));
        const propertyDependencies = Object.entries(r.propertyDependencies).filter(([, urns]) => urns.length > 0);
        return {
            type: r.type,
            name: r.name,
            urn,
            ...(r.parent ? { parent: real(r.parent) } : {}),
            custom: r.custom,
            inputs: transformSecrets(inputs, "redact") as Record<string, unknown>,
            outputs: transformSecrets(outputs, "redact") as Record<string, unknown>,
            dependencies: r.dependencies.map(real).sort(),
            ...(propertyDependencies.length > 0
                ? { propertyDependencies: Object.fromEntries(propertyDependencies.map(([k, urns]) => [k, urns.map(real).sort()])) }
                : {}),
            options: {
                ...r.options,
                deletedWith: r.options.deletedWith ? real(r.options.deletedWith) : undefined,
                provider: r.options.provider ? realRef(r.options.provider) : undefined,
                ...(aliases.length > 0 ? { aliases } : {}),
            },
        };
    });
    for (const r of resources) {
        // undefined options are left out of the JSON; drop them from the object too, for exact comparisons.
        for (const [k, v] of Object.entries(r.options)) {
            if (v === undefined) {
                delete (r.options as unknown as Record<string, unknown>)[k];
            }
        }
    }
    const seen = new Map<string, number>();
    for (const r of resources) {
        seen.set(r.urn, (seen.get(r.urn) ?? 0) + 1);
    }
    const duplicates = [...seen].filter(([, n]) => n > 1).map(([urn]) => urn);
    if (duplicates.length > 0) {
        throw new Error(
            `duplicate URNs (two resources with one type and name; the second would replace the first):\n  ${duplicates.join("\n  ")}`,
        );
    }
    const planned: Plan = { stack: cfg.stack, ...(preview ? { preview } : {}), resources };
    const engine: Plan = { ...planned, resources: resources.map((r) => ({ ...r, ...wire.get(r.urn)! })) };
    return { plan: planned, engine, revealed, outputs: resolved };
}

/** Resolves Outputs in the program's outputs; secrets stay redacted. */
async function resolveOutputs(v: unknown): Promise<Record<string, unknown>> {
    const out = pulumi.output(v as pulumi.Input<Record<string, unknown>>);
    const [value, secret] = await Promise.all([
        new Promise<Record<string, unknown>>((resolve) => out.apply((x) => resolve(x as Record<string, unknown>))),
        pulumi.isSecret(out),
    ]);
    return secret ? (redactLeaves(value) as Record<string, unknown>) : value;
}
