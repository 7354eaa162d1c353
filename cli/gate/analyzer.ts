/**
 * The policy pack as the Pulumi engine runs it, without the CLI: the pack is started the way
 * `pulumi preview --policy-pack` starts it and driven over its gRPC Analyzer service the way the engine drives it.
 *
 * Where each rule comes from (pulumi/pulumi):
 * - start: `sdk/go/common/resource/plugin/analyzer_plugin.go` NewPolicyAnalyzer: the `pulumi-analyzer-policy`
 *   shim runs `node <pack>/node_modules/@pulumi/pulumi/cmd/run-policy-pack <engine address> <pack dir>` with the
 *   pack directory as its working directory; the pack's @pulumi/policy server prints its port on stdout.
 * - configuration: `pkg/resource/analyzer/config.go` ReconcilePolicyPackConfig: every policy starts from its
 *   schema's defaults and its own enforcement level, then `all`'s level, then the policy's own entry, and the
 *   result is validated against each policy's configSchema (a JSON schema of type object); the engine then calls
 *   Configure with a PolicyConfig per policy.
 * - Analyze: `pkg/resource/deploy/step_generator.go`: every custom resource, with its inputs after Check, its
 *   options (protect, ignoreChanges, deleteBeforeReplace, additionalSecretOutputs, aliases, customTimeouts,
 *   parent) and its provider (type, URN, name, the provider's inputs); a diagnostic is always attributed to the
 *   analyzed resource.
 * - AnalyzeStack: after the preview or update, every resource with its outputs (a component's are what it
 *   registered), parent, dependencies, property dependencies, provider and options.
 * - values: `MarshalProperties` with KeepUnknowns and KeepSecrets: secrets travel wrapped in Pulumi's secret
 *   signature with the value in plain text (the pack unwraps them), an unknown is the string
 *   04da6b54-80e4-46f7-96ec-b56ff0331ba9, resource references are their ID or URN.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { performance } from "perf_hooks";
import type { EnforcementLevel, PolicyPackConfig } from "@pulumi/policy";
import type { Plan, PlannedResource } from "../plan/runner";
import { PROJECT } from "../../policies/standard/types";
import { PROJECT_DIR } from "../plan/stackFile";

/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any --
   the engine's generated gRPC stubs and messages have no types, and the message classes must be the very module
   instances of @pulumi/pulumi's own google-protobuf (loaded by path): this file is the untyped boundary. */
const grpc: typeof import("@grpc/grpc-js") = require("@grpc/grpc-js");
const analyzerRpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const proto = require("@pulumi/pulumi/proto/analyzer_pb");
// The message classes the stubs above were generated against (the same module instances).
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const fromPulumi = (m: string) => require(require.resolve(m, { paths: [pulumiDir] }));
const { Struct } = fromPulumi("google-protobuf/google/protobuf/struct_pb");
const { Empty } = fromPulumi("google-protobuf/google/protobuf/empty_pb");

/** The policy pack of this repository. */
export const PACK_DIR = path.join(PROJECT_DIR, "policies");

const LEVELS: EnforcementLevel[] = ["advisory", "mandatory", "disabled", "remediate"];

export interface PolicyInfo {
    readonly name: string;
    readonly description: string;
    readonly enforcementLevel: EnforcementLevel;
    readonly configSchema?: { properties: Record<string, any>; required: string[] };
}

export interface PackInfo {
    readonly name: string;
    readonly version: string;
    readonly policies: PolicyInfo[];
}

export interface Violation {
    readonly policy: string;
    readonly enforcementLevel: EnforcementLevel;
    /** The resource the violation is about; absent for stack-wide violations. */
    readonly urn?: string;
    readonly name: string;
    readonly type: string;
    readonly message: string;
}

/** A bad pack configuration: every problem, as the CLI reports them. */
export class PackConfigError extends Error {}

/** The configuration the engine sends with Configure: each policy's level and properties. */
export type ResolvedConfig = Record<string, { enforcementLevel: EnforcementLevel; properties: Record<string, unknown> }>;

/** A pack config file (`--policy-pack-config`): `{ "<policy>|all": level | { enforcementLevel?, ...properties } }`. */
export function resolveConfig(info: PackInfo, file: PolicyPackConfig): ResolvedConfig {
    const problems: string[] = [];
    const given: Record<string, { enforcementLevel?: EnforcementLevel; properties: Record<string, unknown> }> = {};
    for (const [key, value] of Object.entries(file ?? {})) {
        if (typeof value === "string") {
            if (!LEVELS.includes(value)) {
                problems.push(`parsing enforcement level for "${key}": "${value}" is not a valid enforcement level (${LEVELS.join(", ")})`);
            }
            given[key] = { enforcementLevel: value, properties: {} };
        } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
            const { enforcementLevel, ...properties } = value as Record<string, unknown>;
            if (enforcementLevel !== undefined && !LEVELS.includes(enforcementLevel as EnforcementLevel)) {
                problems.push(
                    `parsing enforcement level for "${key}": ${JSON.stringify(enforcementLevel)} is not a valid enforcement level (${LEVELS.join(", ")})`,
                );
            }
            given[key] = { enforcementLevel: enforcementLevel as EnforcementLevel | undefined, properties };
        } else {
            problems.push(`parsing "${key}": ${JSON.stringify(value)} is not a valid value; must be a string or object`);
        }
    }
    const result: ResolvedConfig = {};
    for (const p of info.policies) {
        const defaults = Object.entries(p.configSchema?.properties ?? {}).filter(([, s]) => s && "default" in s);
        result[p.name] = { enforcementLevel: p.enforcementLevel, properties: Object.fromEntries(defaults.map(([k, s]) => [k, s.default])) };
    }
    const all = given.all?.enforcementLevel;
    if (all) {
        for (const c of Object.values(result)) {
            c.enforcementLevel = all;
        }
    }
    for (const [key, g] of Object.entries(given)) {
        if (key === "all") {
            continue;
        }
        const c = (result[key] ??= { enforcementLevel: "mandatory", properties: {} });
        c.enforcementLevel = g.enforcementLevel ?? c.enforcementLevel;
        Object.assign(c.properties, g.properties);
    }
    // Validated as the engine does (gojsonschema, a draft-07 validator): each policy's properties against
    // { type: object, properties, required }.
    const Ajv = require("ajv").default;
    const ajv = new Ajv({ strict: false, allErrors: true });
    for (const p of info.policies) {
        if (!p.configSchema) {
            continue;
        }
        const validate = ajv.compile({
            type: "object",
            properties: p.configSchema.properties,
            ...(p.configSchema.required.length > 0 ? { required: p.configSchema.required } : {}),
        });
        if (!validate(result[p.name].properties)) {
            for (const e of validate.errors as { instancePath: string; message: string; params: Record<string, unknown> }[]) {
                const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "(root)";
                const allowed = Array.isArray(e.params.allowedValues)
                    ? `: ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}`
                    : "";
                problems.push(`${p.name}: ${where} ${e.message}${allowed}`);
            }
        }
    }
    if (problems.length > 0) {
        throw new PackConfigError(`the policy pack configuration is invalid:\n  ${problems.join("\n  ")}`);
    }
    return result;
}

/** Seconds of a Go duration (`1h30m`, `10m`, `90s`), as the engine parses customTimeouts. */
export function durationSeconds(d: string | undefined): number {
    if (!d) {
        return 0;
    }
    const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };
    let total = 0;
    const re = /([0-9.]+)(h|ms|m|s|us|µs|ns)/g;
    let consumed = 0;
    for (let m = re.exec(d); m; m = re.exec(d)) {
        total += Number(m[1]) * units[m[2]];
        consumed += m[0].length;
    }
    if (consumed !== d.length) {
        throw new Error(`invalid custom timeout "${d}"; expected a Go duration such as 10m or 1h30m`);
    }
    return total;
}

function optionsMessage(r: PlannedResource) {
    const o = new proto.AnalyzerResourceOptions();
    o.setProtect(r.options?.protect === true);
    o.setIgnorechangesList(r.options?.ignoreChanges ?? []);
    if (r.options?.deleteBeforeReplace !== undefined) {
        o.setDeletebeforereplace(r.options.deleteBeforeReplace);
        o.setDeletebeforereplacedefined(true);
    }
    o.setAdditionalsecretoutputsList(r.options?.additionalSecretOutputs ?? []);
    o.setAliasesList(r.options?.aliases ?? []);
    const t = new proto.AnalyzerResourceOptions.CustomTimeouts();
    t.setCreate(durationSeconds(r.options?.customTimeouts?.create));
    t.setUpdate(durationSeconds(r.options?.customTimeouts?.update));
    t.setDelete(durationSeconds(r.options?.customTimeouts?.delete));
    o.setCustomtimeouts(t);
    if (r.parent) {
        o.setParent(r.parent);
    }
    return o;
}

/** The URN of a provider reference `<urn>::<id>`. */
function providerUrn(ref: string | undefined): string | undefined {
    return ref ? ref.slice(0, ref.lastIndexOf("::")) : undefined;
}

/** Values must survive protobuf's Struct: no undefined anywhere. */
function struct(v: Record<string, unknown> | undefined) {
    return Struct.fromJavaScript(JSON.parse(JSON.stringify(v ?? {})));
}

type Diagnostic = {
    getPolicyname(): string;
    getDescription(): string;
    getMessage(): string;
    getEnforcementlevel(): number;
    getUrn(): string;
};

/** A running policy pack and a gRPC client of its Analyzer service. */
export class PolicyAnalyzer {
    private infoCache?: Promise<PackInfo>;

    private constructor(
        private readonly child: ChildProcess,
        private readonly client: any,
        /** Seconds from spawning the pack to its port being printed (ts-node type-checks and compiles it). */
        readonly startupSeconds: number,
        readonly packDir: string,
    ) {}

    /**
     * Starts a pack as the CLI does. `packDir` must hold PulumiPolicy.yaml and the pack's installed
     * node_modules (`npm ci --prefix policies`).
     */
    static async start(packDir = PACK_DIR): Promise<PolicyAnalyzer> {
        const dir = path.resolve(packDir);
        const runner = path.join(dir, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack");
        if (!fs.existsSync(path.join(dir, "PulumiPolicy.yaml"))) {
            throw new Error(`${dir} is not a policy pack (no PulumiPolicy.yaml)`);
        }
        if (!fs.existsSync(runner)) {
            throw new Error(
                `the policy pack's dependencies are not installed; run npm ci --prefix ${path.relative(process.cwd(), dir) || "."}`,
            );
        }
        const t0 = performance.now();
        // The engine address is where the pack would send log messages; these policies log nothing.
        const child = spawn(process.execPath, [runner, "127.0.0.1:1", dir], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        const port = await new Promise<number>((resolve, reject) => {
            const timer = setTimeout(() => {
                child.kill();
                reject(new Error(`the policy pack printed no port within 120 s; stderr: ${stderr}`));
            }, 120_000);
            const onExit = (code: number | null) => {
                clearTimeout(timer);
                reject(new Error(`the policy pack exited (${code}) before serving: ${stderr.trim()}`));
            };
            child.once("exit", onExit);
            child.stdout.on("data", (d) => {
                stdout += d;
                const m = /^(\d+)\n/.exec(stdout);
                if (m) {
                    clearTimeout(timer);
                    child.off("exit", onExit);
                    resolve(Number(m[1]));
                }
            });
        });
        const startupSeconds = (performance.now() - t0) / 1000;
        const client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
            "grpc.max_send_message_length": 400 * 1024 * 1024,
            "grpc.max_receive_message_length": 400 * 1024 * 1024,
        });
        return new PolicyAnalyzer(child, client, startupSeconds, dir);
    }

    private call<T>(method: string, req: unknown): Promise<T> {
        return new Promise((resolve, reject) =>
            this.client[method](req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
        );
    }

    /** GetAnalyzerInfo: the pack's name, version and policies (levels and config schemas). */
    info(): Promise<PackInfo> {
        this.infoCache ??= this.call<any>("getAnalyzerInfo", new Empty()).then((res) => ({
            name: res.getName(),
            version: res.getVersion(),
            policies: res.getPoliciesList().map((p: any): PolicyInfo => {
                const schema = p.getConfigschema();
                return {
                    name: p.getName(),
                    description: p.getDescription(),
                    enforcementLevel: LEVELS[p.getEnforcementlevel()],
                    ...(schema
                        ? { configSchema: { properties: schema.getProperties()?.toJavaScript() ?? {}, required: schema.getRequiredList() } }
                        : {}),
                };
            }),
        }));
        return this.infoCache;
    }

    /** Configure: one PolicyConfig per policy. */
    async configure(config: ResolvedConfig): Promise<void> {
        const req = new proto.ConfigureAnalyzerRequest();
        const map = req.getPolicyconfigMap();
        for (const [name, c] of Object.entries(config)) {
            const pc = new proto.PolicyConfig();
            pc.setEnforcementlevel(LEVELS.indexOf(c.enforcementLevel));
            pc.setProperties(struct(c.properties));
            map.set(name, pc);
        }
        await this.call("configure", req);
    }

    /** ConfigureStack: the stack and project being analyzed (the pack keeps the tags, which are empty here). */
    private async configureStack(stack: string): Promise<void> {
        const req = new proto.AnalyzerStackConfigureRequest();
        req.setStack(stack);
        req.setProject(PROJECT);
        req.setOrganization("organization");
        await this.call("configureStack", req);
    }

    /**
     * Checks a plan as `pulumi preview`/`up` with this pack would: Analyze per custom resource (inputs), then
     * AnalyzeStack (outputs; a plan written by hand without outputs is analyzed on its inputs). Returns every
     * diagnostic, Analyze's in resource order first, then AnalyzeStack's.
     */
    async check(plan: Plan, packConfig: PolicyPackConfig = {}): Promise<Violation[]> {
        const info = await this.info();
        await this.configureStack(plan.stack);
        await this.configure(resolveConfig(info, packConfig));
        const byUrn = new Map(plan.resources.map((r) => [r.urn, r]));
        const provider = (r: PlannedResource) => {
            const p = byUrn.get(providerUrn(r.options?.provider) ?? "");
            if (!p) {
                return undefined;
            }
            const m = new proto.AnalyzerProviderResource();
            m.setUrn(p.urn);
            m.setType(p.type);
            m.setName(p.name);
            m.setProperties(struct(p.inputs));
            return m;
        };
        const violation = (d: Diagnostic, subject?: PlannedResource): Violation => {
            const r = subject ?? byUrn.get(d.getUrn());
            const prefix = `${d.getDescription()}\n`;
            const message = d.getMessage().startsWith(prefix) ? d.getMessage().slice(prefix.length) : d.getMessage();
            return {
                policy: d.getPolicyname(),
                enforcementLevel: LEVELS[d.getEnforcementlevel()] === "remediate" ? "mandatory" : LEVELS[d.getEnforcementlevel()],
                ...(r ? { urn: r.urn } : {}),
                name: r?.name ?? plan.stack,
                type: r?.type ?? "pulumi:pulumi:Stack",
                message,
            };
        };

        const custom = plan.resources.filter((r) => r.custom !== false);
        const perResource: Violation[][] = new Array(custom.length);
        let next = 0;
        const worker = async () => {
            for (let i = next++; i < custom.length; i = next++) {
                const r = custom[i];
                const req = new proto.AnalyzeRequest();
                req.setUrn(r.urn);
                req.setType(r.type);
                req.setName(r.name);
                req.setProperties(struct(r.inputs));
                req.setOptions(optionsMessage(r));
                const p = provider(r);
                if (p) {
                    req.setProvider(p);
                }
                const res = await this.call<any>("analyze", req);
                perResource[i] = res.getDiagnosticsList().map((d: Diagnostic) => violation(d, r));
            }
        };
        await Promise.all(Array.from({ length: Math.min(16, custom.length) }, worker));

        const stackReq = new proto.AnalyzeStackRequest();
        stackReq.setResourcesList(
            plan.resources.map((r) => {
                const m = new proto.AnalyzerResource();
                m.setUrn(r.urn);
                m.setType(r.type);
                m.setName(r.name);
                m.setProperties(struct(r.outputs ?? r.inputs));
                m.setOptions(optionsMessage(r));
                const p = provider(r);
                if (p) {
                    m.setProvider(p);
                }
                if (r.parent) {
                    m.setParent(r.parent);
                }
                m.setDependenciesList(r.dependencies ?? []);
                const deps = m.getPropertydependenciesMap();
                for (const [k, urns] of Object.entries(r.propertyDependencies ?? {})) {
                    const d = new proto.AnalyzerPropertyDependencies();
                    d.setUrnsList(urns);
                    deps.set(k, d);
                }
                return m;
            }),
        );
        const stackRes = await this.call<any>("analyzeStack", stackReq);
        return [...perResource.flat(), ...stackRes.getDiagnosticsList().map((d: Diagnostic) => violation(d))];
    }

    /** Stops the pack process. */
    async close(): Promise<void> {
        this.client.close();
        if (this.child.exitCode === null && this.child.signalCode === null) {
            const exited = new Promise((resolve) => this.child.once("exit", resolve));
            this.child.kill("SIGTERM");
            await exited;
        }
    }
}
