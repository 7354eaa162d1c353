/**
 * Prometheus alerting rules of the standard (STANDARD §9) and of the backups (§8), rendered from the
 * stack. Metric names are the ones the pinned postgres_exporter (0.11) and kube-state-metrics expose;
 * promtool checks the rules and its unit tests show each alert firing and not firing.
 */

export interface AlertRule {
    readonly alert: string;
    readonly expr: string;
    readonly for?: string;
    readonly labels: Record<string, string>;
    readonly annotations: Record<string, string>;
}

export interface RuleGroup {
    readonly name: string;
    readonly rules: AlertRule[];
}

export interface ServerAlertsInput {
    /** Namespace of the server (its metrics carry it as a label). */
    readonly namespace: string;
    /** The exporter's scrape job (the PodMonitor's), to tell "exporter down" from "PostgreSQL down". */
    readonly job: string;
    /** The data volume's size (storageSize, in bytes): the database-size alert is relative to it. */
    readonly volumeBytes: number;
}

export interface BackupAlertsInput {
    readonly namespace: string;
    readonly cronJob: string;
    /** The longest gap between two scheduled runs, in seconds. */
    readonly periodSeconds: number;
}

/**
 * Thresholds of the standard. Its "database size > 40GB" is 80% of its 50Gi volume; a stack with another
 * storageSize gets the same share of its own volume (40GiB would fire never on 500Gi, or too late on 45Gi).
 */
export const THRESHOLDS = {
    connections: 150,
    databaseShareOfVolume: 0.8,
} as const;

/** The size past which a database alerts: the standard's share of the volume, in whole bytes. */
export function databaseAlertBytes(volumeBytes: number): number {
    return Math.floor(volumeBytes * THRESHOLDS.databaseShareOfVolume);
}

/** Bytes in GiB for a message: "40GiB", "409.6GiB". */
function gib(bytes: number): string {
    return `${Number((bytes / 2 ** 30).toFixed(1))}GiB`;
}

/** A duration in Prometheus' notation: 12h, 90m, 45s. */
export function promDuration(seconds: number): string {
    if (seconds % 3600 === 0) {
        return `${seconds / 3600}h`;
    }
    return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/** The PostgreSQL server's alerts: connections, database size, backend buffer writes, down, exporter down. */
export function serverAlerts(input: ServerAlertsInput): RuleGroup {
    const sel = `namespace="${input.namespace}"`;
    const job = `job="${input.job}"`;
    const databaseBytes = databaseAlertBytes(input.volumeBytes);
    return {
        name: "hanzo-sql-postgres",
        rules: [
            {
                alert: "PostgresTooManyConnections",
                expr: `sum by (namespace, pod) (pg_stat_activity_count{${sel}}) > ${THRESHOLDS.connections}`,
                for: "5m",
                labels: { severity: "warning" },
                annotations: {
                    summary: "PostgreSQL has more than 150 connections",
                    description:
                        "{{ $labels.pod }} holds more than 150 of its 200 connections; pool the busiest services (PgBouncer) or plan Phase 2 (HIP-29).",
                },
            },
            {
                alert: "PostgresDatabaseTooLarge",
                expr: `max by (namespace, pod, datname) (pg_database_size_bytes{${sel}}) > ${databaseBytes}`,
                for: "15m",
                labels: { severity: "warning" },
                annotations: {
                    summary: `A database is larger than ${gib(databaseBytes)}`,
                    description: `Database {{ $labels.datname }} in {{ $labels.pod }} is larger than ${gib(databaseBytes)}, ${THRESHOLDS.databaseShareOfVolume * 100}% of its ${gib(input.volumeBytes)} volume; grow the volume (storageSize) or prune data.`,
                },
            },
            {
                alert: "PostgresBackendBufferWrites",
                expr: `sum by (namespace, pod) (rate(pg_stat_bgwriter_buffers_backend_total{${sel}}[15m])) > 0`,
                for: "30m",
                labels: { severity: "warning" },
                annotations: {
                    summary: "Backends write buffers themselves",
                    description:
                        "{{ $labels.pod }}: backends have been writing shared buffers themselves for 30 minutes; shared_buffers or the bgwriter cannot keep up.",
                },
            },
            {
                alert: "PostgresDown",
                expr: `max by (namespace, pod) (pg_up{${sel}}) == 0`,
                for: "1m",
                labels: { severity: "critical" },
                annotations: {
                    summary: "PostgreSQL is down",
                    description: "The exporter in {{ $labels.pod }} cannot reach PostgreSQL.",
                },
            },
            {
                alert: "PostgresExporterDown",
                // A missing series must not silence the alert: absent() fires when nothing is scraped at all.
                expr: `max by (namespace, pod) (up{${sel}, ${job}}) == 0 or absent(up{${sel}, ${job}})`,
                for: "5m",
                labels: { severity: "critical" },
                annotations: {
                    summary: "The PostgreSQL metrics exporter is down or not scraped",
                    description: "Without it, PostgresDown and every other PostgreSQL alert are blind.",
                },
            },
        ],
    };
}

/** The backups' alerts: no complete backup for twice the schedule's period, none ever, the job gone. */
export function backupAlerts(input: BackupAlertsInput): RuleGroup {
    const sel = `namespace="${input.namespace}", cronjob="${input.cronJob}"`;
    const stale = promDuration(2 * input.periodSeconds);
    return {
        name: "hanzo-sql-backups",
        rules: [
            {
                alert: "PostgresBackupStale",
                // The job succeeds only after its manifest is uploaded: its last success is the last complete backup.
                expr: `time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{${sel}}) > ${2 * input.periodSeconds}`,
                labels: { severity: "critical" },
                annotations: {
                    summary: `No complete PostgreSQL backup for ${stale}`,
                    description:
                        "The last complete backup is older than twice the schedule's period; see the failed Jobs of {{ $labels.cronjob }}.",
                },
            },
            {
                alert: "PostgresBackupNeverSucceeded",
                expr: `(time() - max by (namespace, cronjob) (kube_cronjob_created{${sel}}) > ${2 * input.periodSeconds}) unless on (namespace, cronjob) kube_cronjob_status_last_successful_time{${sel}}`,
                labels: { severity: "critical" },
                annotations: {
                    summary: `No PostgreSQL backup has ever completed, ${stale} after the job was created`,
                    description: "The backup CronJob {{ $labels.cronjob }} has never succeeded.",
                },
            },
            {
                alert: "PostgresBackupJobMissing",
                expr: `absent(kube_cronjob_created{${sel}})`,
                for: "1h",
                labels: { severity: "critical" },
                annotations: {
                    summary: "The PostgreSQL backup CronJob is missing (or kube-state-metrics is not scraped)",
                    description: `No ${input.cronJob} CronJob is reported in ${input.namespace}: nothing is being backed up.`,
                },
            },
        ],
    };
}

export interface BackupDatabaseAlertsInput {
    readonly namespace: string;
    /** Period of the backup schedule, in seconds. */
    readonly periodSeconds: number;
    /** Period of the restore drill's schedule, when the stack has the drill. */
    readonly drillPeriodSeconds?: number;
}

/**
 * Per-database alerts from the exporter's `hanzo_backup_*` series (render/backup.ts: report.sh records each
 * run's result per database in hanzo_backup.status): the database that failed is named as soon as the run
 * that failed it is scraped, and a database whose last success is older than one period plus an hour (the
 * job's start deadline) is named even when the job never got to report.
 */
export function backupDatabaseAlerts(input: BackupDatabaseAlertsInput): RuleGroup {
    const sel = (kind: string) => `{namespace="${input.namespace}", kind="${kind}"}`;
    const stale = (period: number) => period + 3600;
    const rules: AlertRule[] = [
        {
            alert: "PostgresBackupDatabaseFailed",
            expr: `max by (namespace, database) (hanzo_backup_last_run_ok${sel("backup")}) == 0`,
            labels: { severity: "critical" },
            annotations: {
                summary: "The last backup of database {{ $labels.database }} failed",
                description:
                    "Its dump or upload failed (see the last Job of the backup CronJob); the other databases' dumps were uploaded.",
            },
        },
        {
            alert: "PostgresBackupDatabaseStale",
            expr: `time() - max by (namespace, database) (hanzo_backup_last_success_timestamp_seconds${sel("backup")}) > ${stale(input.periodSeconds)}`,
            labels: { severity: "critical" },
            annotations: {
                summary: `No backup of database {{ $labels.database }} for ${promDuration(stale(input.periodSeconds))}`,
                description: "No run has dumped and uploaded this database within one schedule period (plus the job's start deadline).",
            },
        },
    ];
    if (input.drillPeriodSeconds !== undefined) {
        rules.push(
            {
                alert: "PostgresRestoreDrillFailed",
                expr: `max by (namespace, database) (hanzo_backup_last_run_ok${sel("drill")}) == 0`,
                labels: { severity: "critical" },
                annotations: {
                    summary: "The restore drill failed for database {{ $labels.database }}",
                    description:
                        "The latest complete backup of this database did not restore, or failed the ADR-60 checks (see the drill Job's log).",
                },
            },
            {
                alert: "PostgresRestoreDrillStale",
                expr: `time() - max by (namespace, database) (hanzo_backup_last_success_timestamp_seconds${sel("drill")}) > ${stale(input.drillPeriodSeconds) + 6 * 3600}`,
                labels: { severity: "warning" },
                annotations: {
                    summary: `No successful restore drill of database {{ $labels.database }} for ${promDuration(stale(input.drillPeriodSeconds) + 6 * 3600)}`,
                    description: "The drill has not restored and checked this database within its schedule's period.",
                },
            },
        );
    }
    return { name: "hanzo-sql-backup-databases", rules };
}

export interface ArchiveAlertsInput {
    readonly namespace: string;
    /** The data volume's size (storageSize, in bytes). */
    readonly volumeBytes: number;
    /** The WAL budget (pgBackRest's archive-push-queue-max, render/pitr.ts): past it, WAL is dropped from the archive. */
    readonly walBudgetBytes: number;
}

/** Seconds without an archived segment while one waits, after which archiving is stale (issue 23: 5 minutes). */
export const ARCHIVE_STALE_SECONDS = 300;

/**
 * Continuous archiving's alerts (docs/pitr.md): archive_command failing (pg_stat_archiver's failed_count, a
 * counter of the exporter's built-in pg_stat_archiver map), the last archived segment older than 5 minutes
 * while a segment waits (an idle server writes no WAL and archives nothing, which is fine: the wait is
 * what matters), and WAL piling up in pg_wal toward the budget after which pgBackRest drops it, or the
 * volume filling. The waiting segments and WAL bytes come from the exporter's query file
 * (renderArchiveMetricsQueries).
 */
export function archiveAlerts(input: ArchiveAlertsInput): RuleGroup {
    const sel = `namespace="${input.namespace}"`;
    const half = Math.floor(input.walBudgetBytes / 2);
    return {
        name: "hanzo-sql-wal-archive",
        rules: [
            {
                alert: "PostgresWalArchiveFailing",
                expr: `sum by (namespace, pod) (increase(pg_stat_archiver_failed_count{${sel}}[5m])) > 0`,
                for: "5m",
                labels: { severity: "warning" },
                annotations: {
                    summary: "WAL archiving to the bucket keeps failing",
                    description:
                        "archive_command (pgBackRest archive-push) has failed in {{ $labels.pod }} for 5 minutes; WAL accumulates in pg_wal. Check the bucket, its credentials and the server's log.",
                },
            },
            {
                alert: "PostgresWalArchiveStale",
                expr: `max by (namespace, pod) (pg_stat_archiver_last_archive_age{${sel}}) > ${ARCHIVE_STALE_SECONDS} and on (namespace, pod) max by (namespace, pod) (hanzo_wal_ready_segments{${sel}}) > 0`,
                labels: { severity: "critical" },
                annotations: {
                    summary: "No WAL archived for 5 minutes while segments wait",
                    description:
                        "{{ $labels.pod }}: the point-in-time recovery window has stopped moving; a lost volume now loses everything since the last archived segment.",
                },
            },
            {
                alert: "PostgresWalBacklogGrowing",
                expr: `max by (namespace, pod) (hanzo_wal_bytes{${sel}}) > ${half}`,
                for: "5m",
                labels: { severity: "critical" },
                annotations: {
                    summary: `pg_wal holds more than half of its ${gib(input.walBudgetBytes)} budget`,
                    description: `{{ $labels.pod }}: unarchived WAL is piling up; at ${gib(input.walBudgetBytes)} pgBackRest drops it (the archive gets a gap until the next full backup) so the ${gib(input.volumeBytes)} volume does not fill.`,
                },
            },
        ],
    };
}

/**
 * postgres_exporter query file lines (`--extend.query-path`, appended to the backup ones) for the WAL
 * alerts: segments waiting for archive_command and the bytes in pg_wal. Both functions are granted to
 * pg_monitor (PostgreSQL ≥ 12), which the monitoring role is a member of.
 */
export function renderArchiveMetricsQueries(): string {
    return `# Rendered by hanzo-sql (render/alerts.ts): WAL waiting to be archived.
hanzo_wal:
  query: "SELECT (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') AS ready_segments, (SELECT coalesce(sum(size), 0) FROM pg_ls_waldir()) AS bytes"
  metrics:
    - ready_segments:
        usage: "GAUGE"
        description: "WAL segments waiting for archive_command"
    - bytes:
        usage: "GAUGE"
        description: "bytes in pg_wal"
`;
}

export interface PitrDrillAlertsInput {
    readonly namespace: string;
    /** Period of the restore drill's schedule, in seconds (the WAL archive's drill runs in the same Job). */
    readonly drillPeriodSeconds: number;
}

/**
 * The restore time past which the archive's drill alerts: an hour, the same bound the server pod gives crash
 * recovery before its liveness probe may act (render/pods/server.ts STARTUP_PROBE). A restore slower than
 * that is an outage longer than the standard plans for; the data's growth, the WAL since the last full
 * backup, or the bucket's throughput is why (docs/pitr.md "Restore speed").
 */
export const PITR_RESTORE_ALERT_SECONDS = 3600;

/**
 * The WAL archive's drill (render/scripts/pitr-drill.sh; docs/pitr.md "The drill"): its result and its
 * restore time come from the exporter's hanzo_backup_* series (kind="pitr", database="all"):
 * `hanzo_backup_last_run_ok`, `hanzo_backup_last_success_timestamp_seconds` and
 * `hanzo_backup_restore_seconds` (render/backup.ts renderRestoreMetricsQueries).
 */
export function pitrDrillAlerts(input: PitrDrillAlertsInput): RuleGroup {
    const sel = `{namespace="${input.namespace}", kind="pitr"}`;
    const stale = input.drillPeriodSeconds + 3600 + 6 * 3600;
    return {
        name: "hanzo-sql-pitr-drill",
        rules: [
            {
                alert: "PostgresPitrDrillFailed",
                expr: `max by (namespace) (hanzo_backup_last_run_ok${sel}) == 0`,
                labels: { severity: "critical" },
                annotations: {
                    summary: "The point-in-time restore drill failed",
                    description:
                        "The latest base backup plus the archived WAL did not restore to the drill's target, or the restored server lacked the marker written before the target or held the one written after (see the drill Job's pitr-drill container log).",
                },
            },
            {
                alert: "PostgresPitrDrillStale",
                expr: `time() - max by (namespace) (hanzo_backup_last_success_timestamp_seconds${sel}) > ${stale}`,
                labels: { severity: "warning" },
                annotations: {
                    summary: `No successful point-in-time restore drill for ${promDuration(stale)}`,
                    description: "The WAL archive's drill has not restored and checked the archive within its schedule's period.",
                },
            },
            {
                alert: "PostgresPitrRestoreSlow",
                expr: `max by (namespace) (hanzo_backup_restore_seconds${sel}) > ${PITR_RESTORE_ALERT_SECONDS}`,
                labels: { severity: "warning" },
                annotations: {
                    summary: `The point-in-time restore drill took more than ${promDuration(PITR_RESTORE_ALERT_SECONDS)}`,
                    description:
                        "The last drill's restore of the latest base backup and its WAL (hanzo_backup_restore_seconds) took longer than that: it is the outage a lost volume would cost now. Take full backups more often (pitrFullSchedule), or see docs/pitr.md on restore speed.",
                },
            },
        ],
    };
}
