/**
 * The two steps a failover needs when a stack has more than one standby (docs/standbys.md, issue 24), written once:
 * `npm run failover` (cli/failover.ts) and the bench's failover (test/harness/local/standbys.ts) both call them.
 *  - which standby to promote: the one holding the most WAL. Under `ANY k` with k < standbys an acknowledged commit
 *    may be on one standby only, so promoting another loses it;
 *  - the slots a promoted standby lacks: slots are not replicated, so the new primary has none, and the other
 *    standbys (whose walreceivers reconnect through the `postgres` Service with `primary_slot_name` set) cannot
 *    stream until theirs exist — in synchronous mode every write waits until then. The start script
 *    (render/scripts/replica-start.sh) creates a standby's slot only when its pod starts, and the old primary's
 *    (`postgres_0`) when it rejoins (clone or rewind), so the running standbys' slots are this step's job.
 * Pure.
 */

/** A pg_lsn's text (`16/B374D848`) as a number, to compare two of them; throws on anything else. */
export function lsnValue(lsn: string): bigint {
    const m = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn.trim());
    if (!m) {
        throw new Error(`not a WAL location (pg_lsn): '${lsn}'`);
    }
    return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/**
 * The WAL a standby holds: the greater of what it received and what it replayed (a standby restarted while no
 * primary answers has replayed WAL but received nothing since its start: pg_last_wal_receive_lsn() is NULL there).
 * One row, one pg_lsn; `0/0` for a server that has neither. (GREATEST and coalesce are SQL constructs, not functions:
 * nothing there to schema-qualify.)
 */
export const HELD_WAL_SQL =
    "SELECT GREATEST(coalesce(pg_catalog.pg_last_wal_receive_lsn(), '0/0'), coalesce(pg_catalog.pg_last_wal_replay_lsn(), '0/0'))";

/** The candidate holding the most WAL (the first of equals, in the order given); undefined for none. */
export function mostAdvanced<K extends string>(held: Readonly<Record<K, string>>): K | undefined {
    let best: K | undefined;
    for (const k of Object.keys(held) as K[]) {
        if (best === undefined || lsnValue(held[k]) > lsnValue(held[best])) {
            best = k;
        }
    }
    return best;
}

/**
 * The statements that create on a newly promoted primary the physical slots `slots` (reserving WAL from now, as
 * pg_basebackup --create-slot does) that do not exist yet, so a second run creates nothing twice. Its session
 * commits locally: nothing here must wait for a synchronous standby, which cannot stream before its slot exists.
 * The last statement answers how many slots it created.
 */
export function createSlotsStatements(slots: readonly string[]): string[] {
    for (const s of slots) {
        if (!/^[a-z0-9_]+$/.test(s)) {
            throw new Error(`not a replication slot name: '${s}'`);
        }
    }
    return [
        "SET synchronous_commit = local",
        "SELECT pg_catalog.count(pg_catalog.pg_create_physical_replication_slot(s, true)) " +
            `FROM pg_catalog.unnest(ARRAY[${slots.map((s) => `'${s}'`).join(", ")}]::pg_catalog.text[]) AS s ` +
            "WHERE s OPERATOR(pg_catalog.<>) ALL (SELECT slot_name::pg_catalog.text FROM pg_catalog.pg_replication_slots)",
    ];
}
