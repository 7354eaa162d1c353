/**
 * pg_hba.conf (STANDARD §4, defect 9 fixed): the local socket is trusted, loopback and the pod network
 * authenticate with SCRAM, everything else is rejected. The rules, and the text parsed back for the policy pack;
 * render/pgHba.ts renders them.
 */
import { NO_STANDBYS, ReplicationSpec, replicationHbaRules, replicationRoleRejectRules } from "./replication";

export interface HbaRule {
    readonly type: "local" | "host" | "hostssl" | "hostnossl";
    readonly database: string;
    readonly user: string;
    /** Absent for `local`. */
    readonly address?: string;
    readonly method: string;
    /** One line saying why the rule is there; rendered as a comment. */
    readonly why?: string;
}

/** The rules for a server whose clients live in `podNetworkCidrs`. Order matters: first match wins. */
export function hbaRules(podNetworkCidrs: readonly string[], replication: ReplicationSpec = NO_STANDBYS): HbaRule[] {
    return [
        {
            type: "local",
            database: "all",
            user: "all",
            method: "trust",
            why: "the local socket, inside the pod only (probes, administration)",
        },
        ...replicationRoleRejectRules(replication),
        {
            type: "host",
            database: "all",
            user: "all",
            address: "127.0.0.1/32",
            method: "scram-sha-256",
            why: "loopback: kubectl port-forward and sidecars",
        },
        { type: "host", database: "all", user: "all", address: "::1/128", method: "scram-sha-256", why: "loopback over IPv6" },
        ...podNetworkCidrs.map((cidr): HbaRule => ({
            type: "host",
            database: "all",
            user: "all",
            address: cidr,
            method: "scram-sha-256",
            why: "the pod network, with a password",
        })),
        ...replicationHbaRules(replication, podNetworkCidrs),
        {
            type: "host",
            database: "all",
            user: "all",
            address: "0.0.0.0/0",
            method: "reject",
            why: "everything else over IPv4 is rejected",
        },
        { type: "host", database: "all", user: "all", address: "::/0", method: "reject", why: "everything else over IPv6 is rejected" },
    ];
}

/** The rules of a pg_hba.conf text (comments and blank lines dropped). */
export function parsePgHba(text: string): HbaRule[] {
    const rules: HbaRule[] = [];
    for (const rawLine of text.split("\n")) {
        const line = rawLine.replace(/#.*/, "").trim();
        if (line === "") {
            continue;
        }
        const f = line.split(/\s+/);
        const type = f[0] as HbaRule["type"];
        if (type === "local") {
            rules.push({ type, database: f[1], user: f[2], method: f[3] });
        } else {
            // An address may be written as "ip mask" (two fields); join it so the method is always last.
            const method = f[f.length - 1];
            rules.push({ type, database: f[1], user: f[2], address: f.slice(3, -1).join(" "), method });
        }
    }
    return rules;
}
