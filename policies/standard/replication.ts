/**
 * Streaming standbys (HIP-29 Phase 2, issue 24), written once: the replication role, the standbys' names and
 * slots, the server settings and pg_hba lines a stack with standbys gets. Pure; the schema, the renderers, the
 * components, the policy pack and the tests use it. docs/standbys.md explains the choices.
 */
import { REPLICATION_ROLE } from "./roles";

/**
 * A postgresql.conf line and a pg_hba.conf rule, as settings.ts (`Setting`) and pgHba.ts (`HbaRule`) declare them;
 * restated structurally here because those modules call this one (no import cycle).
 */
interface SettingLine {
    readonly name: string;
    readonly value: string;
    readonly why: string;
}
interface HbaLine {
    readonly type: "host";
    readonly database: string;
    readonly user: string;
    readonly address: string;
    readonly method: string;
    readonly why: string;
}

/** The role standbys connect as: REPLICATION and LOGIN, nothing else (roles.ts ALLOWED_ROLE_ATTRIBUTES). */
export { REPLICATION_ROLE };
/** The Secret holding the replication role's `username`, `password` and a `.pgpass` line for the standbys. */
export const REPLICATION_SECRET = "postgres-replication";
/** The StatefulSet of the standbys; pod i is `postgres-standby-<i>`, its slot `postgres_standby_<i>`. */
export const STANDBY_STATEFULSET = "postgres-standby";
/** The Service selecting the standbys only (reads). */
export const READ_SERVICE = "postgres-ro";
/**
 * The key of a `.pgpass` line: in the replication Secret, and in the administrator's in a stack with standbys
 * (pg_rewind's, for a former primary's rejoin); the server pods mount that one key of it (credentials-confined).
 */
export const PGPASS_KEY = "pgpass";
/** Pod label saying whether a pod serves as `primary` or `standby`; the Services select on it. */
export const ROLE_LABEL = "hanzo.ai/role";
/** Most standbys a stack may declare (each one a walsender, a slot and a full copy of the data). */
export const MAX_STANDBYS = 5;
/** max_slot_wal_keep_size as a fraction of the volume: a dead standby's slot may retain this much WAL, then is invalidated. */
export const SLOT_WAL_FRACTION = 0.2;

/** What a stack declares about standbys. */
export interface ReplicationSpec {
    /** Hot standbys streaming from the primary (0: a single server). */
    readonly standbys: number;
    /** How many standbys must have flushed a commit before it returns (0: asynchronous). */
    readonly synchronousStandbys: number;
}

export const NO_STANDBYS: ReplicationSpec = { standbys: 0, synchronousStandbys: 0 };

/** A server pod's replication slot (and application_name): its name with `_` for `-` (slot names allow `[a-z0-9_]` only). */
export function slotOfPod(pod: string): string {
    return pod.replace(/-/g, "_");
}

/** Standby `ordinal`'s pod. */
export function standbyPodName(ordinal: number): string {
    return `${STANDBY_STATEFULSET}-${ordinal}`;
}

/** The replication slot (and application_name) of standby `ordinal`. */
export function standbySlot(ordinal: number): string {
    return slotOfPod(standbyPodName(ordinal));
}

/** Why this combination cannot be rendered, or undefined. */
export function replicationProblem(r: ReplicationSpec): { key: keyof ReplicationSpec; message: string } | undefined {
    if (!Number.isInteger(r.standbys) || r.standbys < 0 || r.standbys > MAX_STANDBYS) {
        return { key: "standbys", message: `must be a whole number from 0 to ${MAX_STANDBYS} (0: one server, no standby)` };
    }
    if (!Number.isInteger(r.synchronousStandbys) || r.synchronousStandbys < 0) {
        return { key: "synchronousStandbys", message: "must be a whole number, 0 (asynchronous) or more" };
    }
    if (r.synchronousStandbys > r.standbys) {
        return {
            key: "synchronousStandbys",
            message: `is ${r.synchronousStandbys} but the stack has ${r.standbys} standbys: commits would wait forever; set synchronousStandbys to at most standbys (${r.standbys}), or raise standbys`,
        };
    }
    return undefined;
}

/** The primary's pod, and its slot (and application_name), used once it rejoins as a standby after a failover. */
export const PRIMARY_POD = "postgres-0";
export const PRIMARY_SLOT = slotOfPod(PRIMARY_POD);

/** Every server's application_name: the primary's pod, then the standbys. */
export function memberNames(r: ReplicationSpec): string[] {
    return [PRIMARY_SLOT, ...Array.from({ length: r.standbys }, (_, i) => standbySlot(i))];
}

/**
 * `'ANY k (postgres_0, postgres_standby_0, …)'`, or `''` (asynchronous). Every member is listed, the primary's
 * pod too: a server never counts itself, and after a failover the old primary, rejoined as a standby, is one
 * of the k a commit may wait for.
 */
export function synchronousStandbyNames(r: ReplicationSpec): string {
    if (r.synchronousStandbys === 0) {
        return "''";
    }
    return `'ANY ${r.synchronousStandbys} (${memberNames(r).join(", ")})'`;
}

/**
 * The settings a stack with standbys adds to postgresql.conf (the same file on the primary and the standbys,
 * so a promoted standby needs no new configuration). None without standbys: a single server renders as before.
 */
export function replicationSettings(r: ReplicationSpec, storageBytes: number): SettingLine[] {
    if (r.standbys === 0) {
        return [];
    }
    const keep = Math.floor((storageBytes * SLOT_WAL_FRACTION) / 2 ** 20);
    return [
        { name: "hot_standby", value: "on", why: "standbys serve read-only queries (postgres-ro)" },
        {
            name: "hot_standby_feedback",
            value: "on",
            why: "a standby's long read does not get cancelled by the primary's vacuum (costs bloat on the primary instead)",
        },
        {
            name: "max_replication_slots",
            value: String(Math.max(10, r.standbys + 2)),
            why: "a slot per standby, plus one for a rejoining old primary",
        },
        {
            name: "max_slot_wal_keep_size",
            value: `${keep}MB`,
            why: `${SLOT_WAL_FRACTION * 100}% of the volume: a dead standby's slot cannot fill the primary's disk; past it the slot is invalidated and the standby re-clones`,
        },
        {
            name: "wal_log_hints",
            value: "on",
            why: "pg_rewind can rejoin an old primary even on a volume initdb'd without data checksums (adopted seed)",
        },
        {
            name: "synchronous_standby_names",
            value: synchronousStandbyNames(r),
            why:
                r.synchronousStandbys === 0
                    ? "asynchronous: a failover may lose the last unreplicated commits"
                    : `a commit returns once ${r.synchronousStandbys} standby(s) flushed it; with fewer standbys up, commits block (RPO 0 over availability)`,
        },
    ];
}

/**
 * max_wal_senders with standbys: one per standby, plus two for a clone in progress (pg_basebackup -X stream
 * uses two), never below the standard's 3.
 */
export function maxWalSenders(r: ReplicationSpec, standard: number): number {
    return Math.max(standard, r.standbys + 2);
}

/** pg_hba lines for physical replication: the replication role from the pod network, with SCRAM; nothing else. */
export function replicationHbaRules(r: ReplicationSpec, podNetworkCidrs: readonly string[]): HbaLine[] {
    if (r.standbys === 0) {
        return [];
    }
    return podNetworkCidrs.map((cidr) => ({
        type: "host",
        database: "replication",
        user: REPLICATION_ROLE,
        address: cidr,
        method: "scram-sha-256",
        why: "standbys stream from the pod network as the replication role (no other role, no other network)",
    }));
}

/**
 * pg_hba lines that keep the replication role out of every database (placed before the lines admitting `all`
 * users): it may stream WAL and nothing else, even where a database's CONNECT is granted to PUBLIC.
 */
export function replicationRoleRejectRules(r: ReplicationSpec): HbaLine[] {
    if (r.standbys === 0) {
        return [];
    }
    return ["0.0.0.0/0", "::/0"].map((address) => ({
        type: "host",
        database: "all",
        user: REPLICATION_ROLE,
        address,
        method: "reject",
        why: "the replication role never opens a database session (`all` does not cover replication connections)",
    }));
}
