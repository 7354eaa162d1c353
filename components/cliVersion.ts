import * as pulumi from "@pulumi/pulumi";

/**
 * The Pulumi CLI versions this program is written for, as Pulumi.yaml's `requiredPulumiVersion` says (a test
 * keeps the two equal). 3.174.0 is the first engine that imports and then updates a resource whose inputs
 * differ from the live object's (pulumi/pulumi#19339, `continueStepsFromImport` in
 * pkg/resource/deploy/step_generator.go); before it `ImportStep.Apply` (step.go) refused with "inputs to import
 * do not match the existing resource", so adoption could not work. 3.219.0 is the first CLI that reads
 * `requiredPulumiVersion` from Pulumi.yaml (`ValidatePulumiVersionRange` in `up`, `preview`, `refresh`, `destroy`);
 * an older one ignores the key, so the program also asks the engine itself ({@link requiredEngine}).
 */
export const REQUIRED_PULUMI_VERSION = ">=3.219.0";

/**
 * Resolves to `value` once the engine running the program says its version satisfies
 * {@link REQUIRED_PULUMI_VERSION} (the `RequirePulumiVersion` RPC, engine.proto; since 3.217.0). A CLI out of
 * range, or one too old to know the RPC ("does not support the `RequirePulumiVersion` RPC"), rejects it, and
 * whatever waits on the value fails before it is created. Without an engine (the offline plan's mocks) it
 * resolves at once.
 */
export function requiredEngine<T>(value: pulumi.Input<T>): pulumi.Output<T> {
    const ok = pulumi.output(pulumi.requirePulumiVersion(REQUIRED_PULUMI_VERSION).then(() => true));
    return pulumi.all([ok, value]).apply(([, v]) => v as T);
}
