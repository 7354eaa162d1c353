/**
 * The pods' network: a private Linux bridge with a /24 of 10.244.0.0/16 (inside the 10.0.0.0/8 the server's
 * pg_hba.conf admits, as a cluster's pod network is), one network namespace per pod joined to it by a veth
 * pair, and the Services' DNS names, which the runner writes into each pod's /etc/hosts (there is no cluster
 * DNS here; a ClusterIP Service resolves straight to its one pod). The host keeps the bridge's first
 * address, so a test process, s3rver or Prometheus listening there is reachable from every pod.
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";

function ip(...args: string[]): void {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

export class PodNetwork {
    private nextHost = 2;
    private readonly names = new Map<string, string>();
    private readonly namespaces = new Set<string>();

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
            const third = 1 + randomBytes(1)[0] % 250;
            const prefix = `10.244.${third}`;
            if (used.includes(` ${prefix}.`)) {
                continue;
            }
            const bridge = `hsqlbr${randomBytes(3).toString("hex")}`;
            ip("link", "add", "name", bridge, "type", "bridge");
            try {
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
    attach(): { netns: string; ip: string } {
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
        return { netns, ip: address };
    }

    /** Removes a pod's namespace (its veth pair goes with it). */
    detach(netns: string): void {
        if (this.namespaces.delete(netns)) {
            ip("netns", "del", netns);
        }
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

    /** /etc/hosts of a pod, as the kubelet writes it, plus the Services' names. */
    hostsFile(hostname: string, podIp: string): string {
        const lines = ["# Kubernetes-managed hosts file (pod runner).", "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", `${podIp}\t${hostname}`];
        for (const [name, address] of this.names) {
            lines.push(`${address}\t${name}`);
        }
        return lines.join("\n") + "\n";
    }

    /** Removes every namespace still attached, then the bridge. */
    destroy(): void {
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
