/**
 * NetworkPolicy enforcement for the pod runner: a pod's policies rendered as iptables rules for its own
 * network namespace (`iptables-restore`/`ip6tables-restore`, Debian's iptables). Pure: from the pods and
 * policies to the rule text; test/harness/pod/network.ts installs it.
 *
 * The semantics, from the Kubernetes API reference (networking.k8s.io/v1 NetworkPolicySpec,
 * NetworkPolicyIngressRule/EgressRule, NetworkPolicyPeer, NetworkPolicyPort, IPBlock) and the concept page
 * (concepts/services-networking/network-policies, "The two sorts of pod isolation"):
 * - a policy selects the pods of its own namespace that its `podSelector` selects (`{}`: all of them);
 * - `policyTypes` lists the directions it covers; absent, it covers Ingress always, and Egress when it has
 *   an `egress` section;
 * - a pod some policy covers for a direction is isolated in that direction: only connections some rule of
 *   some such policy allows get through (policies are additive; reply traffic of an allowed connection is
 *   implicitly allowed). An isolated pod still receives connections from its own node (the kubelet's
 *   probes); traffic inside the pod (loopback) is never subject to policy;
 * - a rule allows a connection when one peer of `from`/`to` matches (an empty or absent list: any peer)
 *   and one of `ports` matches (empty or absent: any port); a port's protocol defaults to TCP; a named
 *   port is the destination pod's container port of that name; `endPort` makes a range;
 * - a peer with `podSelector` alone selects pods of the policy's namespace; `namespaceSelector` alone
 *   every pod of the selected namespaces; both together, the selected pods in the selected namespaces;
 *   an `ipBlock` its CIDR minus its `except` CIDRs.
 * Denied packets are dropped (as Cilium and most CNIs do), so a denied connection times out.
 */
import { selects } from "../../../policies/lib";

export interface Member {
    readonly ip: string;
    readonly namespace: string;
    readonly labels: Readonly<Record<string, string>>;
    /** Container ports, for named ports. */
    readonly ports: readonly { name?: string; containerPort: number; protocol?: string }[];
}

type Selector = { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
interface Peer {
    podSelector?: Selector;
    namespaceSelector?: Selector;
    ipBlock?: { cidr: string; except?: string[] };
}
interface Port {
    protocol?: string;
    port?: number | string;
    endPort?: number;
}
interface Rule {
    from?: Peer[];
    to?: Peer[];
    ports?: Port[];
}
export interface NetworkPolicy {
    metadata: { name: string; namespace: string };
    spec: { podSelector: Selector; policyTypes?: string[]; ingress?: Rule[]; egress?: Rule[] };
}

/** Labels of a namespace: the API server sets kubernetes.io/metadata.name on each (Kubernetes ≥ 1.21). */
export function namespaceLabels(ns: string): Record<string, string> {
    return { "kubernetes.io/metadata.name": ns };
}

/** The directions a policy covers (policyTypes, or its default). */
export function policyTypes(np: NetworkPolicy): string[] {
    return np.spec.policyTypes ?? ["Ingress", ...(np.spec.egress !== undefined ? ["Egress"] : [])];
}

/** The policies that select a pod and cover a direction. */
export function covering(pod: Member, policies: readonly NetworkPolicy[], direction: "Ingress" | "Egress"): NetworkPolicy[] {
    return policies.filter(
        (np) =>
            np.metadata.namespace === pod.namespace &&
            selects(np.spec.podSelector, { ...pod.labels }) &&
            policyTypes(np).includes(direction),
    );
}

/** The members a pod/namespace peer selects, seen from a policy of namespace `ns`. */
function peerMembers(peer: Peer, ns: string, members: readonly Member[]): Member[] {
    return members.filter((m) => {
        const inNamespace = peer.namespaceSelector ? selects(peer.namespaceSelector, namespaceLabels(m.namespace)) : m.namespace === ns;
        const pods = peer.podSelector ? selects(peer.podSelector, { ...m.labels }) : true;
        return inNamespace && pods;
    });
}

/** iptables match arguments of a NetworkPolicyPort against a destination's container ports. */
function portMatches(ports: Port[] | undefined, destination: Member | undefined): string[] | undefined {
    if (!ports || ports.length === 0) {
        return [""];
    }
    const out: string[] = [];
    for (const p of ports) {
        const proto = (p.protocol ?? "TCP").toLowerCase();
        if (p.port === undefined) {
            out.push(`-p ${proto}`);
            continue;
        }
        let port = p.port;
        if (typeof port === "string") {
            // A named port is the destination pod's; one without it is not matched by this port entry.
            const named = destination?.ports.find((c) => c.name === port && (c.protocol ?? "TCP").toLowerCase() === proto);
            if (!named) {
                continue;
            }
            port = named.containerPort;
        }
        out.push(`-p ${proto} -m ${proto} --dport ${port}${p.endPort !== undefined ? `:${p.endPort}` : ""}`);
    }
    return out.length > 0 ? out : undefined;
}

const isV6 = (cidr: string) => cidr.includes(":");

/**
 * The iptables-restore input (filter table) for one pod, IPv4 and IPv6: its egress and ingress isolation
 * and what its policies allow. A pod no policy covers in a direction keeps that direction open.
 */
export function podRules(
    pod: Member,
    members: readonly Member[],
    policies: readonly NetworkPolicy[],
    nodeIp: string,
): { v4: string; v6: string } {
    const v4: string[] = [];
    const v6: string[] = [];
    const chains4: string[] = [];
    const chains6: string[] = [];
    let n = 0;
    for (const [direction, chain, addr, iface] of [
        ["Egress", "OUTPUT", "-d", "-o"],
        ["Ingress", "INPUT", "-s", "-i"],
    ] as const) {
        const selecting = covering(pod, policies, direction);
        if (selecting.length === 0) {
            continue;
        }
        for (const out of [v4, v6]) {
            out.push(`-A ${chain} ${iface} lo -j ACCEPT`, `-A ${chain} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`);
        }
        if (direction === "Ingress") {
            v4.push(`-A INPUT -s ${nodeIp}/32 -j ACCEPT`);
        }
        for (const np of selecting) {
            const rules = (direction === "Egress" ? np.spec.egress : np.spec.ingress) ?? [];
            for (const rule of rules) {
                const peers = (direction === "Egress" ? rule.to : rule.from) ?? [];
                // The port belongs to the destination: the peer for egress, this pod for ingress.
                const forPeer = (m: Member | undefined) => portMatches(rule.ports, direction === "Egress" ? m : pod) ?? [];
                if (peers.length === 0) {
                    for (const p of forPeer(undefined)) {
                        v4.push(`-A ${chain} ${p} -j ACCEPT`.replace(/  +/g, " "));
                        v6.push(`-A ${chain} ${p} -j ACCEPT`.replace(/  +/g, " "));
                    }
                    continue;
                }
                for (const peer of peers) {
                    if (peer.ipBlock) {
                        const name = `NP-${++n}`;
                        const [out, chains] = isV6(peer.ipBlock.cidr) ? [v6, chains6] : [v4, chains4];
                        chains.push(`:${name} - [0:0]`);
                        for (const ex of peer.ipBlock.except ?? []) {
                            out.push(`-A ${name} ${addr} ${ex} -j RETURN`);
                        }
                        for (const p of forPeer(undefined)) {
                            out.push(`-A ${name} ${p} -j ACCEPT`.replace(/  +/g, " "));
                        }
                        out.push(`-A ${chain} ${addr} ${peer.ipBlock.cidr} -j ${name}`);
                        continue;
                    }
                    for (const m of peerMembers(peer, np.metadata.namespace, members)) {
                        for (const p of forPeer(m)) {
                            v4.push(`-A ${chain} ${addr} ${m.ip}/32 ${p} -j ACCEPT`.replace(/  +/g, " "));
                        }
                    }
                }
            }
        }
        for (const out of [v4, v6]) {
            out.push(`-A ${chain} -j DROP`);
        }
    }
    const table = (chains: string[], rules: string[]) =>
        ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...chains, ...rules, "COMMIT", ""].join("\n");
    return { v4: table(chains4, v4), v6: table(chains6, v6) };
}
