import * as digitalocean from "@pulumi/digitalocean";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterSpec } from "../stacks/spec";

/**
 * The Kubernetes provider of a stack.
 *
 * For DOKS the cluster is looked up by name on every run: its kubeconfig carries a token that rotates, so
 * none is stored in configuration. `clusterIdentifier` is the cluster's ID, so a rotated token updates the
 * provider in place instead of replacing it (and with it every object it manages). For a local cluster the
 * provider uses the named context of the local kubeconfig.
 */
export function kubernetesProvider(name: string, cluster: ClusterSpec, opts: pulumi.ResourceOptions): k8s.Provider {
    if (cluster.kind === "kubeconfig") {
        return new k8s.Provider(name, { context: cluster.context, clusterIdentifier: cluster.context }, opts);
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
            clusterIdentifier: doks.id,
        },
        opts,
    );
}
