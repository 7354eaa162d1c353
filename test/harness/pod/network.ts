/**
 * The pods' network: a private Linux bridge with a /24 of 10.244.0.0/16 (inside the 10.0.0.0/8 the server's
 * pg_hba.conf admits, as a cluster's pod network is), one network namespace per pod joined to it by a veth
 * pair, and the Services' DNS names (a ClusterIP Service resolves straight to its one pod). The host is the
 * pods' node and keeps the bridge's first address, so a test process or Prometheus listening there is
 * reachable from every pod.
 *
 * Names: by default the runner writes the Services' names into each pod's /etc/hosts. With `serveDns`, a
 * cluster DNS stand-in (test/harness/pod/dns.ts) answers them instead, as `kube-dns` of kube-system at an
 * address of its own, and each pod's resolv.conf is the kubelet's (ClusterFirst: that nameserver, the
 * namespace's search list, ndots:5).
 *
 * NetworkPolicies: with `enforce`, each pod's policies are installed in its network namespace as
 * iptables rules (test/harness/pod/netpol.ts) and re-installed whenever a pod or a server joins or leaves, so
 * selectors always resolve against what runs. Servers the tests run on the host (s3rver standing in for
 * MinIO, the DNS stand-in) join as members with an address, a namespace and labels of their own.
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import { DnsServer } from "./dns";
import { Member, NetworkPolicy, podRules } from "./netpol";
import { CLUSTER_DNS } from "../../../render/egress";

/** A random locally administered unicast MAC address (the first octet's two low bits: 1 and 0). */
function bridgeAddress(): string {
    const b = randomBytes(6);
    b[0] = (b[0] & 0xfc) | 0x02;
    return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

function ip(...args: string[]): void {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** What a pod or a server on the network is, for NetworkPolicy selectors. */
export type MemberInfo = Omit<Member, "ip">;

export class PodNetwork {
    private nextHost = 2;
    private readonly names = new Map<string, string>();
    /** Services resolved by their selector against the members' current labels, by DNS name. */
    private readonly selectorServices = new Map<string, { namespace: string; selector: Readonly<Record<string, string>> }>();
    private readonly namespaces = new Set<string>();
    /** Pods (with their network namespace) and host-side servers, by address. */
    private readonly members = new Map<string, Member & { netns?: string; ready?: boolean }>();
    private policies?: readonly NetworkPolicy[];
    private dns?: DnsServer;

    private constructor(
        /** The bridge's interface name. */
        readonly bridge: string,
        /** The first three octets of the /24. */
        readonly prefix: string,
    ) {}

    /** The host's address on the bridge. */
    get gateway(): string {
        return `${this.prefix}.1`;
    }

    /** A new bridge with a free /24 of 10.244.0.0/16 (root only). */
    static create(): PodNetwork {
        const used = execFileSync("ip", ["-4", "-o", "addr", "show"], { encoding: "utf8" });
        for (let attempt = 0; attempt < 50; attempt++) {
            const third = 1 + (randomBytes(1)[0] % 250);
            const prefix = `10.244.${third}`;
            if (used.includes(` ${prefix}.`)) {
                continue;
            }
            const bridge = `hsqlbr${randomBytes(3).toString("hex")}`;
            ip("link", "add", "name", bridge, "type", "bridge");
            try {
                // An address of its own (locally administered): left to the kernel, a bridge takes the lowest of
                // its ports' addresses and changes it when that port leaves, so after a pod's namespace is deleted
                // the other pods' ARP entries for the host's addresses (the gateway, s3rver, the DNS stand-in) point
                // at an address nobody answers, and their packets to them are lost until the entry is probed again
                // (up to a minute: a standby's restore_command hung 60 s during a promotion that way).
                ip("link", "set", bridge, "address", bridgeAddress());
                ip("addr", "add", `${prefix}.1/24`, "dev", bridge);
                ip("link", "set", bridge, "up");
            } catch (e) {
                ip("link", "del", bridge);
                throw e;
            }
            return new PodNetwork(bridge, prefix);
        }
        throw new Error("pod network: no free /24 in 10.244.0.0/16");
    }

    /** A network namespace on the bridge with the next address; returns its name and address. */
    attach(member?: MemberInfo): { netns: string; ip: string } {
        const id = randomBytes(4).toString("hex");
        const netns = `hsql-${id}`;
        const hostSide = `hsv${id}`;
        const address = `${this.prefix}.${this.nextHost++}`;
        ip("netns", "add", netns);
        this.namespaces.add(netns);
        ip("link", "add", hostSide, "type", "veth", "peer", "name", `hsp${id}`);
        ip("link", "set", `hsp${id}`, "netns", netns);
        ip("-n", netns, "link", "set", `hsp${id}`, "name", "eth0");
        ip("-n", netns, "addr", "add", `${address}/24`, "dev", "eth0");
        ip("-n", netns, "link", "set", "lo", "up");
        ip("-n", netns, "link", "set", "eth0", "up");
        ip("-n", netns, "route", "add", "default", "via", this.gateway);
        ip("link", "set", hostSide, "master", this.bridge);
        ip("link", "set", hostSide, "up");
        if (member) {
            this.members.set(address, { ...member, ip: address, netns });
            this.reconcile();
        }
        return { netns, ip: address };
    }

    /** Removes a pod's namespace (its veth pair goes with it). */
    detach(netns: string): void {
        if (this.namespaces.delete(netns)) {
            ip("netns", "del", netns);
            for (const [address, m] of this.members) {
                if (m.netns === netns) {
                    this.members.delete(address);
                }
            }
            this.reconcile();
        }
    }

    /**
     * An address of its own on the bridge, on the host side, for a server the test runs on the host that
     * stands for a pod (e.g. s3rver as MinIO in namespace `minio`): pods reach it through the bridge and
     * their policies select it by its namespace and labels.
     */
    addMember(member: MemberInfo): string {
        const address = `${this.prefix}.${this.nextHost++}`;
        ip("addr", "add", `${address}/24`, "dev", this.bridge);
        this.members.set(address, { ...member, ip: address });
        this.reconcile();
        return address;
    }

    /**
     * Starts the cluster DNS stand-in as `kube-dns` in kube-system (UDP and TCP 53, at an address of its
     * own); from then on pods resolve the Services' names through it, not /etc/hosts.
     */
    async serveDns(): Promise<string> {
        const address = this.addMember({
            namespace: CLUSTER_DNS.namespace,
            labels: CLUSTER_DNS.labels,
            ports: [
                { name: "dns", containerPort: 53, protocol: "UDP" },
                { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
            ],
        });
        this.dns = await DnsServer.start(address, (name) => this.resolve(name));
        return address;
    }

    /** Enforces these NetworkPolicies in every pod's network namespace from now on. */
    enforce(policies: readonly NetworkPolicy[]): void {
        this.policies = policies;
        this.reconcile();
    }

    /** Installs every pod's rules for the current members and policies. */
    private reconcile(): void {
        if (!this.policies) {
            return;
        }
        const all = [...this.members.values()];
        for (const m of all) {
            if (!m.netns) {
                continue;
            }
            const rules = podRules(m, all, this.policies, this.gateway);
            execFileSync("ip", ["netns", "exec", m.netns, "iptables-restore"], { input: rules.v4, stdio: ["pipe", "ignore", "pipe"] });
            execFileSync("ip", ["netns", "exec", m.netns, "ip6tables-restore"], { input: rules.v6, stdio: ["pipe", "ignore", "pipe"] });
        }
    }

    /**
     * A pod's labels changed (`kubectl label`): policies that select it, and Services resolved by selector, see
     * its new labels from now on.
     */
    relabel(netns: string, labels: Readonly<Record<string, string>>): void {
        for (const [address, m] of this.members) {
            if (m.netns === netns) {
                this.members.set(address, { ...m, labels: { ...labels } });
            }
        }
        this.reconcile();
    }

    /** A pod's Ready condition, as its readiness probe last found it: Services resolved by selector list ready pods only. */
    setReady(netns: string, ready: boolean): void {
        for (const [address, m] of this.members) {
            if (m.netns === netns) {
                this.members.set(address, { ...m, ready });
            }
        }
    }

    /**
     * A Service whose names resolve, at each query, to a pod of its namespace its selector matches now (the
     * endpoints controller's view after a relabel), among the pods whose Ready condition is true (a headless
     * Service's DNS lists ready endpoints only; `Pod.checkReady` runs the probe as the kubelet's next period
     * would). Served by the DNS stand-in only.
     */
    addSelectorService(name: string, namespace: string, selector: Readonly<Record<string, string>>): void {
        for (const n of [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`]) {
            this.selectorServices.set(n, { namespace, selector: { ...selector } });
        }
    }

    /** The address a name resolves to now, or undefined. */
    resolve(name: string): string | undefined {
        const fixed = this.names.get(name);
        if (fixed !== undefined) {
            return fixed;
        }
        const service = this.selectorServices.get(name);
        if (service === undefined) {
            return undefined;
        }
        const selected = [...this.members.values()].find(
            (m) =>
                m.netns !== undefined &&
                m.ready !== false &&
                m.namespace === service.namespace &&
                Object.entries(service.selector).every(([k, v]) => m.labels[k] === v),
        );
        return selected?.ip;
    }

    /** resolv.conf of a pod of a namespace, as the kubelet writes it for dnsPolicy ClusterFirst (empty without DNS). */
    resolvConf(namespace: string): string {
        if (!this.dns) {
            return "";
        }
        return `search ${namespace}.svc.cluster.local svc.cluster.local cluster.local\nnameserver ${this.dns.address}\noptions ndots:5\n`;
    }

    /** Makes DNS names (a Service's `name`, `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`) resolve to an address. */
    addService(name: string, namespace: string, address: string): void {
        for (const n of [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`]) {
            this.names.set(n, address);
        }
    }

    /** A name for the host's address on the bridge (e.g. an S3 endpoint's host). */
    addHost(name: string, address = this.gateway): void {
        this.names.set(name, address);
    }

    /** /etc/hosts of a pod, as the kubelet writes it, plus the Services' names when no DNS serves them. */
    hostsFile(hostname: string, podIp: string): string {
        const lines = [
            "# Kubernetes-managed hosts file (pod runner).",
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            `${podIp}\t${hostname}`,
        ];
        for (const [name, address] of this.dns ? [] : this.names) {
            lines.push(`${address}\t${name}`);
        }
        return lines.join("\n") + "\n";
    }

    /** Removes every namespace still attached, then the bridge (and stops the DNS stand-in). */
    destroy(): void {
        void this.dns?.stop();
        this.dns = undefined;
        for (const ns of [...this.namespaces]) {
            this.detach(ns);
        }
        try {
            ip("link", "del", this.bridge);
        } catch {
            // already gone
        }
    }
}
