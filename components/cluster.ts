import * as digitalocean from "@pulumi/digitalocean";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterSpec } from "../stacks/spec";
import { requiredEngine } from "./cliVersion";

/**
 * A changed Secret or ConfigMap is updated in place, not replaced. Without these flags pulumi-kubernetes
 * lists a Secret's `type`/`data`/`stringData` and a ConfigMap's `data`/`binaryData` as replace-forcing
 * (`forceNewProperties`, provider/pkg/provider/diff.go, read from `kubernetes:config:enableSecretMutable` /
 * `enableConfigMapMutable` in `Configure`, provider/pkg/provider/provider.go), and a named object is replaced
 * delete-before-create: while a service's `<service>-database` Secret is gone its pods cannot start, and an
 * imported `postgres-credentials` cannot be replaced at all ("previously-imported resources that still specify
 * an ID may not be replaced", pkg/resource/deploy/step_generator.go in pulumi/pulumi). A Secret's `type` still
 * forces a replacement (the `core` kinds table in diff.go); every Secret here is `Opaque`. The pods that read
 * these objects at start roll through a checksum annotation on their template instead (postgresInstance.ts,
 * pooler.ts, backups.ts). Changing these flags updates the provider in place: its `clusterIdentifier` is
 * unchanged (`DiffConfig`, provider.go).
 */
export const MUTABLE_CONFIGURATION = { enableSecretMutable: true, enableConfigMapMutable: true } as const;

/**
 * The Kubernetes provider of a stack.
 *
 * For DOKS the cluster is looked up by name on every run: its kubeconfig carries a token that rotates, so
 * none is stored in configuration. `clusterIdentifier` is the cluster's ID, so a rotated token updates the
 * provider in place instead of replacing it (and with it every object it manages). For a local cluster the
 * provider uses the named context of the local kubeconfig.
 *
 * Either way, Secrets and ConfigMaps change in place ({@link MUTABLE_CONFIGURATION}), and the provider, so
 * every Kubernetes object, waits for the engine to confirm its version (components/cliVersion.ts).
 */
export function kubernetesProvider(name: string, cluster: ClusterSpec, opts: pulumi.ResourceOptions): k8s.Provider {
    if (cluster.kind === "kubeconfig") {
        return new k8s.Provider(
            name,
            { context: cluster.context, clusterIdentifier: requiredEngine(cluster.context), ...MUTABLE_CONFIGURATION },
            opts,
        );
    }
    const doks = digitalocean.getKubernetesClusterOutput({ name: cluster.name }, { parent: opts.parent });
    return new k8s.Provider(
        name,
        {
            kubeconfig: pulumi.secret(
                doks.kubeConfigs.apply((configs) => {
                    if (configs.length === 0) {
                        throw new Error(`DOKS cluster "${cluster.name}" returned no kubeconfig`);
                    }
                    return configs[0].rawConfig;
                }),
            ),
            clusterIdentifier: requiredEngine(doks.id),
            ...MUTABLE_CONFIGURATION,
        },
        opts,
    );
}
