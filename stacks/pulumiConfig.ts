import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import { ConfigSource } from "./load";

// `isConfigSecret` is exported by the runtime but left out of its typings.
const { isConfigSecret } = runtimeConfig as unknown as { isConfigSecret(key: string): boolean };

/** The configuration of the running Pulumi program (the engine's, or what the mock runtime was given). */
export function pulumiConfigSource(env: Readonly<Record<string, string | undefined>> = process.env): ConfigSource {
    return {
        stack: pulumi.getStack(),
        get: (key) => pulumi.runtime.getConfig(key),
        isSecret: (key) => isConfigSecret(key),
        keys: () => Object.keys(pulumi.runtime.allConfig()),
        env,
    };
}
