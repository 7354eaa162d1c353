import * as assert from "assert";
import { Member, NetworkPolicy, covering, podRules } from "../harness/pod/netpol";

/**
 * The pod runner's NetworkPolicy semantics as rule text (test/harness/pod/netpol.ts), case by case from the API
 * reference; test/pods/ runs the same rules in pods' network namespaces.
 */
const pod = (ip: string, namespace: string, labels: Record<string, string>, ports: Member["ports"] = []): Member => ({
    ip,
    namespace,
    labels,
    ports,
});
const np = (namespace: string, spec: NetworkPolicy["spec"]): NetworkPolicy => ({ metadata: { name: "p", namespace }, spec });
const rules = (text: string) => text.split("\n").filter((l) => l.startsWith("-A") || l.startsWith(":NP"));

describe("test/harness/pod/netpol: NetworkPolicy semantics as iptables rules", () => {
    const me = pod("10.0.0.2", "hanzo", { app: "backup" });
    const server = pod("10.0.0.3", "hanzo", { app: "postgres" }, [{ name: "postgresql", containerPort: 5432 }]);
    const foreign = pod("10.0.0.4", "other", { app: "postgres" });
    const dns = pod("10.0.0.5", "kube-system", { "k8s-app": "kube-dns" });
    const all = [me, server, foreign, dns];

    it("leaves a pod no policy covers open, and covers Egress without policyTypes only when there is an egress section", () => {
        assert.deepStrictEqual(rules(podRules(me, all, [], "10.0.0.1").v4), []);
        assert.deepStrictEqual(covering(me, [np("hanzo", { podSelector: {}, ingress: [] })], "Egress"), []);
        assert.strictEqual(covering(me, [np("hanzo", { podSelector: {}, egress: [] })], "Egress").length, 1);
        // A policy of another namespace never selects the pod.
        assert.deepStrictEqual(covering(me, [np("other", { podSelector: {}, policyTypes: ["Egress"] })], "Egress"), []);
    });

    it("denies all egress but loopback and replies for a policy with no rules", () => {
        const r = podRules(me, all, [np("hanzo", { podSelector: {}, policyTypes: ["Egress"] })], "10.0.0.1");
        const base = ["-A OUTPUT -o lo -j ACCEPT", "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT", "-A OUTPUT -j DROP"];
        assert.deepStrictEqual(rules(r.v4), base);
        assert.deepStrictEqual(rules(r.v6), base);
    });

    it("resolves podSelector in the policy's namespace, both selectors together, named ports on the destination, UDP and TCP", () => {
        const r = podRules(
            me,
            all,
            [
                np("hanzo", {
                    podSelector: { matchLabels: { app: "backup" } },
                    policyTypes: ["Egress"],
                    egress: [
                        { to: [{ podSelector: { matchLabels: { app: "postgres" } } }], ports: [{ protocol: "TCP", port: "postgresql" }] },
                        {
                            to: [
                                {
                                    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
                                    podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
                                },
                            ],
                            ports: [
                                { protocol: "UDP", port: 53 },
                                { protocol: "TCP", port: 53 },
                            ],
                        },
                    ],
                }),
            ],
            "10.0.0.1",
        );
        assert.deepStrictEqual(rules(r.v4).slice(2), [
            "-A OUTPUT -d 10.0.0.3/32 -p tcp -m tcp --dport 5432 -j ACCEPT",
            "-A OUTPUT -d 10.0.0.5/32 -p udp -m udp --dport 53 -j ACCEPT",
            "-A OUTPUT -d 10.0.0.5/32 -p tcp -m tcp --dport 53 -j ACCEPT",
            "-A OUTPUT -j DROP",
        ]);
    });

    it("selects every pod of the selected namespaces with namespaceSelector alone, and takes port ranges", () => {
        const r = podRules(
            me,
            all,
            [
                np("hanzo", {
                    podSelector: {},
                    policyTypes: ["Egress"],
                    egress: [
                        {
                            to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "other" } } }],
                            ports: [{ port: 9000, endPort: 9001 }],
                        },
                    ],
                }),
            ],
            "10.0.0.1",
        );
        assert.deepStrictEqual(rules(r.v4).slice(2, -1), ["-A OUTPUT -d 10.0.0.4/32 -p tcp -m tcp --dport 9000:9001 -j ACCEPT"]);
    });

    it("matches an ipBlock minus its except CIDRs, per address family", () => {
        const r = podRules(
            me,
            all,
            [
                np("hanzo", {
                    podSelector: {},
                    policyTypes: ["Egress"],
                    egress: [
                        {
                            to: [
                                { ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "169.254.0.0/16"] } },
                                { ipBlock: { cidr: "::/0", except: ["fc00::/7"] } },
                            ],
                            ports: [{ protocol: "TCP", port: 443 }],
                        },
                    ],
                }),
            ],
            "10.0.0.1",
        );
        assert.deepStrictEqual(rules(r.v4), [
            ":NP-1 - [0:0]",
            "-A OUTPUT -o lo -j ACCEPT",
            "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-A NP-1 -d 10.0.0.0/8 -j RETURN",
            "-A NP-1 -d 169.254.0.0/16 -j RETURN",
            "-A NP-1 -p tcp -m tcp --dport 443 -j ACCEPT",
            "-A OUTPUT -d 0.0.0.0/0 -j NP-1",
            "-A OUTPUT -j DROP",
        ]);
        assert.deepStrictEqual(rules(r.v6), [
            ":NP-2 - [0:0]",
            "-A OUTPUT -o lo -j ACCEPT",
            "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-A NP-2 -d fc00::/7 -j RETURN",
            "-A NP-2 -p tcp -m tcp --dport 443 -j ACCEPT",
            "-A OUTPUT -d ::/0 -j NP-2",
            "-A OUTPUT -j DROP",
        ]);
    });

    it("isolates ingress but always admits the pod's node; a named port is the pod's own; policies add up", () => {
        const r = podRules(
            server,
            all,
            [
                np("hanzo", {
                    podSelector: { matchLabels: { app: "postgres" } },
                    policyTypes: ["Ingress"],
                    ingress: [{ from: [{ podSelector: {} }], ports: [{ protocol: "TCP", port: "postgresql" }] }],
                }),
                np("hanzo", {
                    podSelector: {},
                    ingress: [{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "other" } } }] }],
                }),
            ],
            "10.0.0.1",
        );
        assert.deepStrictEqual(rules(r.v4), [
            "-A INPUT -i lo -j ACCEPT",
            "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-A INPUT -s 10.0.0.1/32 -j ACCEPT",
            "-A INPUT -s 10.0.0.2/32 -p tcp -m tcp --dport 5432 -j ACCEPT",
            "-A INPUT -s 10.0.0.3/32 -p tcp -m tcp --dport 5432 -j ACCEPT",
            "-A INPUT -s 10.0.0.4/32 -j ACCEPT",
            "-A INPUT -j DROP",
        ]);
    });
});
