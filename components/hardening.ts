import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { EgressRule } from "../render/egress";

/**
 * A workload's own ServiceAccount, with no API token mounted. None of these pods talks to the Kubernetes
 * API, so a token would only be something to steal.
 */
export function workloadServiceAccount(
    resourceName: string,
    args: { namespace: pulumi.Input<string>; name: string; labels: Readonly<Record<string, string>> },
    opts: pulumi.CustomResourceOptions,
): k8s.core.v1.ServiceAccount {
    return new k8s.core.v1.ServiceAccount(
        resourceName,
        { metadata: { name: args.name, namespace: args.namespace, labels: { ...args.labels } }, automountServiceAccountToken: false },
        opts,
    );
}

/** A NetworkPolicy that isolates the selected pods for egress and allows exactly `egress`. */
export function egressPolicy(
    resourceName: string,
    args: {
        namespace: pulumi.Input<string>;
        name: string;
        labels: Readonly<Record<string, string>>;
        podSelector: Readonly<Record<string, string>>;
        egress: EgressRule[];
    },
    opts: pulumi.CustomResourceOptions,
): k8s.networking.v1.NetworkPolicy {
    return new k8s.networking.v1.NetworkPolicy(
        resourceName,
        {
            metadata: { name: args.name, namespace: args.namespace, labels: { ...args.labels } },
            spec: { podSelector: { matchLabels: { ...args.podSelector } }, policyTypes: ["Egress"], egress: args.egress },
        },
        opts,
    );
}
