/**
 * Runs the program under Pulumi's mock runtime and records every resource registration as the engine
 * would receive it: type, name, URN, parent, inputs, dependencies and resource options (protect,
 * retainOnDelete, deletedWith, provider), which the mock's own callbacks do not show.
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtimeSettings from "@pulumi/pulumi/runtime/settings";
import { createHash } from "crypto";
import type { StackConfig } from "./stackFile";

export const PROJECT = "hanzo-sql";

export interface ResourceOptionsSeen {
    readonly protect: boolean;
    readonly retainOnDelete: boolean;
    /** URN of the resource whose deletion deletes this one too. */
    readonly deletedWith?: string;
    /** Provider reference (`<urn>::<id>`), for custom resources. */
    readonly provider?: string;
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
    /** URNs this resource depends on (explicitly or through its inputs). */
    readonly dependencies: string[];
    readonly options: ResourceOptionsSeen;
}

export interface Plan {
    readonly stack: string;
    readonly resources: PlannedResource[];
}

export interface PlanResult {
    readonly plan: Plan;
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

const mocks: pulumi.runtime.Mocks = {
    newResource(args) {
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "random:index/randomPassword:RandomPassword") {
            // New keepers (a rotation) give a new password, as the provider would.
            const keepers = args.inputs.keepers ? `#${JSON.stringify(args.inputs.keepers)}` : "";
            state.result = pulumi.secret(mockPassword(`${args.name}${keepers}`, args.inputs.special !== false));
        }
        if (args.type === "random:index/randomId:RandomId") {
            // Deterministic per resource name, like the passwords (a SCRAM salt in this program).
            const keepers = args.inputs.keepers ? `#${JSON.stringify(args.inputs.keepers)}` : "";
            const bytes = createHash("sha256").update(`salt:${args.name}${keepers}`).digest().subarray(0, Number(args.inputs.byteLength ?? 16));
            Object.assign(state, { b64Std: bytes.toString("base64"), b64Url: bytes.toString("base64url"), hex: bytes.toString("hex"), dec: BigInt(`0x${bytes.toString("hex")}`).toString() });
        }
        if (args.type === "digitalocean:index/spacesKey:SpacesKey") {
            // Computed by DigitalOcean on create.
            state.accessKey = `PLAN${createHash("sha256").update(args.name).digest("hex").slice(0, 16).toUpperCase()}`;
            state.secretKey = pulumi.secret(mockPassword(`${args.name}-secret`, false));
        }
        return { id: `${args.name}-id`, state };
    },
    call(args) {
        if (args.token === "digitalocean:index/getKubernetesCluster:getKubernetesCluster") {
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
};

interface Recorded {
    type: string;
    name: string;
    urn: string;
    parent?: string;
    custom: boolean;
    rawInputs: Record<string, unknown>;
    dependencies: string[];
    options: ResourceOptionsSeen;
}

type RegisterRequest = {
    getType(): string;
    getName(): string;
    getParent(): string;
    getCustom(): boolean;
    getDependenciesList(): string[];
    getProtect(): boolean;
    getRetainondelete(): boolean;
    getDeletedwith(): string;
    getProvider(): string;
};
type Monitor = { registerResource(req: RegisterRequest, cb: (err: unknown, res?: { getUrn(): string }) => void): unknown };

const settings = runtimeSettings as unknown as { getMonitor(): Monitor | undefined; waitForRPCs(): Promise<void> };

/**
 * Evaluates the program for a stack under the mock runtime. `program` is called once the mocks and the
 * configuration are in place; it returns the stack outputs. Duplicate URNs fail the plan.
 */
export async function runPlan(cfg: StackConfig, program: () => Record<string, unknown>): Promise<PlanResult> {
    await pulumi.runtime.setMocks(mocks, PROJECT, cfg.stack, false);
    pulumi.runtime.setAllConfig(cfg.config, cfg.secretKeys);
    const recorded: Recorded[] = [];
    const monitor = settings.getMonitor()!;
    const original = monitor.registerResource.bind(monitor);
    const deserialize = (await import("@pulumi/pulumi/runtime/rpc")).deserializeProperties as (s: unknown) => Record<string, unknown>;
    monitor.registerResource = (req, cb) =>
        original(req, (err, res) => {
            if (!err && res) {
                recorded.push({
                    type: req.getType(),
                    name: req.getName(),
                    urn: res.getUrn(),
                    parent: req.getParent() || undefined,
                    custom: req.getCustom(),
                    rawInputs: deserialize((req as unknown as { getObject(): unknown }).getObject()),
                    dependencies: [...req.getDependenciesList()].sort(),
                    options: {
                        protect: req.getProtect() === true,
                        retainOnDelete: req.getRetainondelete() === true,
                        deletedWith: req.getDeletedwith() || undefined,
                        provider: req.getProvider() || undefined,
                    },
                });
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
    const revealed = new Map<string, Record<string, unknown>>();
    const resources = recorded.map((r): PlannedResource => {
        const urn = real(r.urn);
        revealed.set(urn, transformSecrets(r.rawInputs, "reveal") as Record<string, unknown>);
        return {
            type: r.type,
            name: r.name,
            urn,
            ...(r.parent ? { parent: real(r.parent) } : {}),
            custom: r.custom,
            inputs: transformSecrets(r.rawInputs, "redact") as Record<string, unknown>,
            dependencies: r.dependencies.map(real).sort(),
            options: {
                protect: r.options.protect,
                retainOnDelete: r.options.retainOnDelete,
                ...(r.options.deletedWith ? { deletedWith: real(r.options.deletedWith) } : {}),
                ...(r.options.provider ? { provider: realRef(r.options.provider) } : {}),
            },
        };
    });
    const seen = new Map<string, number>();
    for (const r of resources) {
        seen.set(r.urn, (seen.get(r.urn) ?? 0) + 1);
    }
    const duplicates = [...seen].filter(([, n]) => n > 1).map(([urn]) => urn);
    if (duplicates.length > 0) {
        throw new Error(`duplicate URNs (two resources with one type and name; the second would replace the first):\n  ${duplicates.join("\n  ")}`);
    }
    return { plan: { stack: cfg.stack, resources }, revealed, outputs: resolved };
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
