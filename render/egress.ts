/**
 * Egress rules of the workloads' NetworkPolicies, as pure data (networking.k8s.io/v1 NetworkPolicyEgressRule).
 *
 * The Kubernetes semantics these rely on (API reference, NetworkPolicySpec and NetworkPolicyEgressRule;
 * concepts/services-networking/network-policies): a pod selected by a policy whose policyTypes include
 * Egress is isolated for egress, and then only connections some rule of some such policy allows leave it
 * (replies implied); a rule allows a connection when it matches at least one peer of `to` (all
 * destinations when `to` is empty) AND at least one of `ports` (all ports when empty); a peer with both
 * namespaceSelector and podSelector selects those pods in those namespaces, podSelector alone pods of the
 * policy's own namespace; an ipBlock selects its CIDR minus the `except` CIDRs (which must lie inside it).
 * NetworkPolicy cannot select a destination by DNS name.
 */
import { NON_PUBLIC_IPV4, NON_PUBLIC_IPV6, addressNetwork } from "../policies/standard/network";

export type Selector = { matchLabels?: Record<string, string> };
export interface NetworkPolicyPeer {
    podSelector?: Selector;
    namespaceSelector?: Selector;
    ipBlock?: { cidr: string; except?: string[] };
}
export interface NetworkPolicyPort {
    protocol: "TCP" | "UDP";
    port: number;
}
export interface EgressRule {
    to: NetworkPolicyPeer[];
    ports: NetworkPolicyPort[];
}

/** The label the API server sets on every namespace (Kubernetes ≥ 1.21), the only one nobody else can set. */
export const NAMESPACE_LABEL = "kubernetes.io/metadata.name";
/**
 * The cluster DNS pods: CoreDNS in kube-system, labelled `k8s-app: kube-dns` as on every kubeadm-style
 * cluster and on DOKS (whose CNI, Cilium, enforces NetworkPolicy by these labels).
 */
export const CLUSTER_DNS = { namespace: "kube-system", labels: { "k8s-app": "kube-dns" } } as const;

/**
 * Name resolution: the cluster DNS pods on 53, UDP and TCP (a resolver falls back to TCP for an answer
 * that does not fit in a UDP datagram, RFC 7766).
 */
export function dnsEgress(): EgressRule {
    return {
        to: [
            {
                namespaceSelector: { matchLabels: { [NAMESPACE_LABEL]: CLUSTER_DNS.namespace } },
                podSelector: { matchLabels: { ...CLUSTER_DNS.labels } },
            },
        ],
        ports: [
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
        ],
    };
}

/** Pods of the policy's own namespace selected by labels, on one TCP port (e.g. the server on 5432). */
export function podEgress(labels: Readonly<Record<string, string>>, port: number): EgressRule {
    return { to: [{ podSelector: { matchLabels: { ...labels } } }], ports: [{ protocol: "TCP", port }] };
}

/** Where the backup pods reach the bucket: the endpoint's host and port, and whether it is a Service of the cluster. */
export function endpointTarget(endpoint: string, ownNamespace: string): { host: string; port: number; namespace?: string } {
    const url = new URL(endpoint);
    const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
    const host = url.hostname.toLowerCase();
    // <service> (of the own namespace) and <service>.<namespace>.svc[.cluster.local]: the cluster DNS's names.
    // (<service>.<namespace> resolves in the cluster too, but reads like any two-label domain: not taken.)
    const m = /^([a-z0-9-]+)(?:\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?)?$/.exec(host);
    if (m) {
        return { host, port, namespace: m[2] ?? ownNamespace };
    }
    return { host, port };
}

/**
 * The bucket endpoint (NetworkPolicy cannot name a host):
 * - a Service of the cluster (`http://minio.minio.svc:9000`): every pod of its namespace, on the URL's port
 *   (a Service's traffic is matched after translation to its pods, so this assumes the Service's port
 *   equals its targetPort, as MinIO's chart declares);
 * - an IP address: that address alone, on the URL's port;
 * - any other name (DigitalOcean Spaces, `https://<region>.digitaloceanspaces.com`): the public Internet,
 *   i.e. 0.0.0.0/0 and ::/0 except what is not public (policies/standard/network.ts: private, link-local,
 *   loopback, reserved; the pod networks a stack may name lie inside them), on the URL's port (443 for
 *   https). The metadata service, the VPC and the cluster's pods and Services stay out of reach.
 */
export function endpointEgress(endpoint: string, ownNamespace: string): EgressRule {
    const target = endpointTarget(endpoint, ownNamespace);
    const ports: NetworkPolicyPort[] = [{ protocol: "TCP", port: target.port }];
    if (target.namespace !== undefined) {
        return { to: [{ namespaceSelector: { matchLabels: { [NAMESPACE_LABEL]: target.namespace } } }], ports };
    }
    const address = addressNetwork(target.host);
    if (address !== undefined) {
        return { to: [{ ipBlock: { cidr: address } }], ports };
    }
    return {
        to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [...NON_PUBLIC_IPV4] } }, { ipBlock: { cidr: "::/0", except: [...NON_PUBLIC_IPV6] } }],
        ports,
    };
}
