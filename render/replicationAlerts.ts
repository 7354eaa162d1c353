/**
 * Monitoring of streaming standbys (issue 24, docs/standbys.md "Monitoring"), for a stack with standbys only.
 *
 * The pinned postgres_exporter 0.11.1 has no replication lag in seconds: its built-in `pg_stat_replication` map
 * exposes `pg_stat_replication_pg_wal_lsn_diff` (bytes, on the primary) and discards `replay_lag`; its
 * `pg_replication_slots` map exposes `pg_replication_slots_pg_wal_lsn_diff` and `_active`, but not `wal_status` or
 * `safe_wal_size` (test/monitoring/replicationAlerts.test.ts reads them from the real exporter scraping a real
 * primary and standby). HIP-29's `pg_replication_lag_seconds` is a name of later exporters' `replication`
 * collector; with 0.11.1 the lag, the slots' state and the count of streaming standbys come from the query file
 * below, under `hanzo_` names so that a later exporter's own series can never collide with them.
 */
import { AlertRule, RuleGroup } from "./alerts";

export interface ReplicationAlertsInput {
    readonly namespace: string;
    /** The stack's standbys (the count the missing-standby alert expects streaming). */
    readonly standbys: number;
}

/** HIP-29's monitoring table: replication lag above 60 s. */
export const REPLICATION_LAG_SECONDS = 60;
/** The share of max_slot_wal_keep_size a slot may hold before the warning. */
export const SLOT_WAL_SHARE = 0.5;

/**
 * postgres_exporter query file lines (`--extend.query-path`, appended to the stack's others) for the standbys'
 * alerts. Every function and view read here is granted to pg_monitor (the monitoring role's only membership).
 * - `hanzo_replication_lag_seconds`, on a standby: how far its replay is behind, in seconds of the primary's
 *   commits: 0 when it has replayed all it received (an idle primary is not lag), else the age of the last
 *   transaction it replayed. No row on the primary.
 * - `hanzo_replication_streaming_standbys`, on the primary: standbys in state `streaming`. No row on a standby.
 * - `hanzo_replication_slot_retained_bytes` and `_safe_wal_size_bytes` per physical slot on the primary, with
 *   `wal_status` as a label (`reserved`, `extended`, `unreserved`, `lost`).
 */
export function renderReplicationMetricsQueries(): string {
    return `# Rendered by hanzo-sql (render/replicationAlerts.ts): streaming standbys.
hanzo_replication:
  query: "SELECT CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) END AS lag_seconds WHERE pg_is_in_recovery()"
  metrics:
    - lag_seconds:
        usage: "GAUGE"
        description: "seconds the standby's replay is behind the WAL it received (0 when caught up)"
hanzo_replication_streaming:
  query: "SELECT count(*) FILTER (WHERE state = 'streaming') AS standbys FROM pg_stat_replication HAVING NOT pg_is_in_recovery()"
  metrics:
    - standbys:
        usage: "GAUGE"
        description: "standbys streaming from this primary"
hanzo_replication_slot:
  query: "SELECT slot_name, coalesce(wal_status, 'none') AS wal_status, coalesce(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END, restart_lsn), 0) AS retained_bytes, coalesce(safe_wal_size, 0) AS safe_wal_size_bytes FROM pg_replication_slots WHERE slot_type = 'physical'"
  metrics:
    - slot_name:
        usage: "LABEL"
        description: "the slot (postgres_standby_<i>, or postgres_0 for a rejoined former primary)"
    - wal_status:
        usage: "LABEL"
        description: "reserved, extended, unreserved (past max_slot_wal_keep_size) or lost"
    - retained_bytes:
        usage: "GAUGE"
        description: "WAL the slot keeps in pg_wal (from its restart_lsn to the current position)"
    - safe_wal_size_bytes:
        usage: "GAUGE"
        description: "WAL that can still be written before the slot is invalidated"
`;
}

/** The standbys' alerts: lag (HIP-29), a slot holding WAL toward max_slot_wal_keep_size or past it, a standby missing. */
export function replicationAlerts(input: ReplicationAlertsInput): RuleGroup {
    const sel = `namespace="${input.namespace}"`;
    const rules: AlertRule[] = [
        {
            alert: "PostgresReplicationLag",
            expr: `max by (namespace, pod) (hanzo_replication_lag_seconds{${sel}}) > ${REPLICATION_LAG_SECONDS}`,
            for: "5m",
            labels: { severity: "warning" },
            annotations: {
                summary: `A standby replays more than ${REPLICATION_LAG_SECONDS}s behind the primary`,
                description:
                    "{{ $labels.pod }} serves reads (postgres-ro) more than a minute old; a long query on it (hot_standby_feedback keeps it from being cancelled) or a slow volume holds its replay.",
            },
        },
        {
            alert: "PostgresReplicationSlotRetainingWal",
            // Against the server's own setting, as the exporter reports it (pg_settings), whatever renders it
            // (the standbys' share of the volume, or the WAL archive's budget: docs/pitr.md).
            expr: `max by (namespace, pod, slot_name) (hanzo_replication_slot_retained_bytes{${sel}}) > on (namespace, pod) group_left () (${SLOT_WAL_SHARE} * max by (namespace, pod) (pg_settings_max_slot_wal_keep_size_bytes{${sel}}))`,
            for: "10m",
            labels: { severity: "warning" },
            annotations: {
                summary: "A replication slot holds more than half of max_slot_wal_keep_size",
                description:
                    "Slot {{ $labels.slot_name }} on {{ $labels.pod }} keeps more than half of max_slot_wal_keep_size in pg_wal: its standby is down or far behind. Past it the slot is invalidated and that standby must be re-cloned.",
            },
        },
        {
            alert: "PostgresReplicationSlotLost",
            expr: `max by (namespace, pod, slot_name, wal_status) (hanzo_replication_slot_retained_bytes{${sel}, wal_status=~"unreserved|lost"}) >= 0`,
            labels: { severity: "critical" },
            annotations: {
                summary: "A replication slot is past max_slot_wal_keep_size",
                description:
                    "Slot {{ $labels.slot_name }} on {{ $labels.pod }} is {{ $labels.wal_status }}: the WAL its standby needs is (or is about to be) removed. Re-clone that standby (empty its volume; docs/standbys.md).",
            },
        },
        {
            alert: "PostgresStandbyMissing",
            expr: `max by (namespace) (hanzo_replication_streaming_standbys{${sel}}) < ${input.standbys}`,
            for: "5m",
            labels: { severity: "critical" },
            annotations: {
                summary: `Fewer than ${input.standbys} standbys stream from the primary`,
                description: `Fewer than ${input.standbys} standbys stream from {{ $labels.namespace }}'s primary: reads through postgres-ro have fewer servers, a failover has fewer candidates, and with synchronousStandbys commits may wait.`,
            },
        },
    ];
    return { name: "hanzo-sql-replication", rules };
}
