/**
 * Runs policies over a plan without the Pulumi CLI: resource policies per resource, stack policies over the
 * whole, with the validation arguments @pulumi/policy defines (stackTags and notApplicable included) and
 * each policy's configuration and enforcement level resolved as the engine would from the pack config.
 */
import type {
    EnforcementLevel, Policies, PolicyPackConfig, PolicyResource, PolicyResourceOptions, ResourceValidationArgs,
    StackValidationArgs, StackValidationPolicy,
} from "@pulumi/policy";
import type { Plan, PlannedResource } from "../plan/runner";

export interface Violation {
    readonly policy: string;
    readonly enforcementLevel: EnforcementLevel;
    /** The resource the violation is about; absent for stack-wide violations. */
    readonly urn?: string;
    readonly name: string;
    readonly type: string;
    readonly message: string;
}

class NotApplicable extends Error {}

type ResourceClass = { __pulumiType?: string } & (new (...rest: any[]) => unknown);

function typeCheck(type: string) {
    return (resourceClass: ResourceClass): boolean => (resourceClass as { __pulumiType?: string }).__pulumiType === type;
}

function options(r: PlannedResource): PolicyResourceOptions & { retainOnDelete: boolean } {
    return {
        protect: r.options?.protect === true,
        retainOnDelete: r.options?.retainOnDelete === true,
        ignoreChanges: r.options?.ignoreChanges ?? [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
        ...(r.parent ? { parent: r.parent } : {}),
    };
}

/** The plan's resources as the PolicyResource objects a stack policy receives (parents and dependencies linked). */
export function policyResources(plan: Plan): PolicyResource[] {
    const byUrn = new Map<string, PolicyResource>();
    const planned = plan.resources;
    for (const r of planned) {
        byUrn.set(r.urn, {
            type: r.type,
            props: r.inputs ?? {},
            urn: r.urn,
            name: r.name,
            opts: options(r),
            dependencies: [],
            propertyDependencies: {},
            isType: typeCheck(r.type),
            asType: (c: ResourceClass) => (typeCheck(r.type)(c) ? (r.inputs as never) : undefined),
        } as PolicyResource);
    }
    for (const r of planned) {
        const pr = byUrn.get(r.urn)! as { parent?: PolicyResource; dependencies: PolicyResource[]; provider?: PolicyResource["provider"] };
        pr.parent = r.parent ? byUrn.get(r.parent) : undefined;
        pr.dependencies = (r.dependencies ?? []).map((u) => byUrn.get(u)).filter((d): d is PolicyResource => d !== undefined);
        const ref = r.options?.provider;
        const provider = ref ? byUrn.get(ref.slice(0, ref.lastIndexOf("::"))) : undefined;
        if (provider) {
            pr.provider = { type: provider.type, props: provider.props, urn: provider.urn, name: provider.name };
        }
    }
    return planned.map((r) => byUrn.get(r.urn)!);
}

/** A policy's enforcement level and configuration from the pack config (the engine's rules). */
function resolve(policy: { name: string; enforcementLevel?: EnforcementLevel }, packConfig: PolicyPackConfig, packLevel: EnforcementLevel) {
    const entry = packConfig[policy.name] ?? packConfig.all;
    if (typeof entry === "string") {
        return { level: entry as EnforcementLevel, config: {} };
    }
    const { enforcementLevel, ...config } = (entry ?? {}) as { enforcementLevel?: EnforcementLevel };
    return { level: enforcementLevel ?? policy.enforcementLevel ?? packLevel, config };
}

const notApplicable = (): never => {
    throw new NotApplicable();
};

/** Resource validation arguments for one resource, as @pulumi/policy defines them. */
export function resourceArgs(r: PolicyResource, config: object): ResourceValidationArgs {
    return {
        type: r.type,
        props: r.props,
        urn: r.urn,
        name: r.name,
        opts: r.opts,
        provider: r.provider,
        stackTags: new Map(),
        isType: r.isType,
        asType: (c: ResourceClass) => (r.isType(c as never) ? (r.props as never) : undefined),
        getConfig: <T extends object>() => config as T,
        notApplicable,
    } as ResourceValidationArgs;
}

/** Stack validation arguments over every resource, as @pulumi/policy defines them. */
export function stackArgs(resources: PolicyResource[], config: object): StackValidationArgs {
    return { resources, stackTags: new Map(), getConfig: <T extends object>() => config as T, notApplicable };
}

/** Every violation of every enabled policy over a plan. */
export async function evaluate(plan: Plan, policies: Policies, packConfig: PolicyPackConfig = {}, packLevel: EnforcementLevel = "mandatory"): Promise<Violation[]> {
    const resources = policyResources(plan);
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const violations: Violation[] = [];
    for (const policy of policies) {
        const { level, config } = resolve(policy, packConfig, packLevel);
        if (level === "disabled") {
            continue;
        }
        const add = (message: string, urn?: string, subject?: PolicyResource) => {
            const r = subject ?? (urn ? byUrn.get(urn) : undefined);
            violations.push({
                policy: policy.name,
                enforcementLevel: level === "remediate" ? "mandatory" : level,
                ...(r ? { urn: r.urn } : urn ? { urn } : {}),
                name: r?.name ?? plan.stack,
                type: r?.type ?? "pulumi:pulumi:Stack",
                message,
            });
        };
        try {
            if ("validateResource" in policy && policy.validateResource) {
                const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
                for (const r of resources) {
                    for (const validate of validations) {
                        try {
                            await validate(resourceArgs(r, config), (message, urn) => add(message, urn, urn ? undefined : r));
                        } catch (e) {
                            if (!(e instanceof NotApplicable)) {
                                throw e;
                            }
                        }
                    }
                }
            } else if ((policy as StackValidationPolicy).validateStack) {
                await (policy as StackValidationPolicy).validateStack!(stackArgs(resources, config), (message, urn) => add(message, urn));
            }
        } catch (e) {
            if (!(e instanceof NotApplicable)) {
                throw new Error(`policy ${policy.name} failed: ${(e as Error).message}`);
            }
        }
    }
    return violations;
}

/** `policy-name: resource-name (type): message`. */
export function formatViolation(v: Violation): string {
    return `${v.policy}: ${v.name} (${v.type}): ${v.message}`;
}
