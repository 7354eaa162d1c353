/**
 * A replicated stack's servers on loopback (issue 24): the rendered files of a stack with standbys, with
 * 127.0.0.1/32 as its pod network, and a standby cloned from a primary by the pods' start script
 * (test/harness/pg/replica.ts), with the replication Secret's and the administrator's pgpass lines.
 */
import { hbaRules } from "../../policies/standard/pgHba";
import { REPLICATION_ROLE, ReplicationSpec, standbySlot } from "../../policies/standard/replication";
import { serverSettings } from "../../policies/standard/settings";
import { pgpassAnyHost } from "../../render/connection";
import { renderPgHba } from "../../render/pgHba";
import { renderPostgresqlConf } from "../../render/postgresqlConf";
import { ReplicaOptions, ScriptRun, startReplica } from "../harness/pg/replica";
import { ADMIN, PgServer, ServerFiles } from "../harness/pg/server";

const GiB = 2 ** 30;

/** postgresql.conf (1 GiB of memory, a 10 GiB volume) and pg_hba.conf of a stack with `spec`'s standbys, pod network 127.0.0.1/32. */
export function replicationFiles(spec: ReplicationSpec): ServerFiles {
    return {
        postgresqlConf: renderPostgresqlConf(GiB, serverSettings(GiB, undefined, { replication: { spec, storageBytes: 10 * GiB } })),
        pgHba: renderPgHba(hbaRules(["127.0.0.1/32"], spec)),
    };
}

/** The pgpass lines a pod of the stack mounts (the replication role's, the administrator's of `primary`), and the administrator's password. */
export function replicaSecrets(
    primary: PgServer,
    replicationPassword: string,
): Pick<ReplicaOptions, "replicationPgpass" | "adminPgpass" | "adminPassword"> {
    return {
        replicationPgpass: pgpassAnyHost("replication", REPLICATION_ROLE, replicationPassword),
        adminPgpass: `*:*:*:${ADMIN}:${primary.adminPassword}`,
        adminPassword: primary.adminPassword,
    };
}

/**
 * Standby `index` of `primary` on a new empty volume: its start script clones the primary into slot
 * `standbySlot(index)`, then the server starts. The script's exit status is the caller's to assert (the
 * server is returned either way, for the caller to stop).
 */
export function startStandby(
    files: ServerFiles,
    primary: PgServer,
    replicationPassword: string,
    index = 0,
): Promise<{ server: PgServer; run: ScriptRun }> {
    return startReplica({
        files,
        primaryPort: primary.port,
        slot: standbySlot(index),
        role: "standby",
        ...replicaSecrets(primary, replicationPassword),
    });
}
