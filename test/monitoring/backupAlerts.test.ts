import * as assert from "assert";
import { backupAlerts, backupDatabaseAlerts } from "../../render/alerts";
import { schedulePeriodSeconds } from "../../stacks/schedule";
import { checkRules, testRules } from "../support/promtool";

const NS = 'namespace="hanzo", cronjob="postgres-backup"';
const labels = { namespace: "hanzo", cronjob: "postgres-backup" };

describe("backup alerts (promtool)", () => {
    const groups = [backupAlerts({ namespace: "hanzo", cronJob: "postgres-backup", periodSeconds: schedulePeriodSeconds("0 */6 * * *") })];

    it("derive the staleness threshold from the schedule: twice its longest gap", () => {
        assert.strictEqual(schedulePeriodSeconds("0 */6 * * *"), 6 * 3600);
        assert.strictEqual(schedulePeriodSeconds("30 2 * * 1-5"), 72 * 3600);
        assert.strictEqual(schedulePeriodSeconds("@daily"), 24 * 3600);
        assert.match(groups[0].rules[0].expr, / > 43200$/);
        assert.strictEqual(groups[0].rules[0].annotations.summary, "No complete PostgreSQL backup for 12h");
    });

    it("pass promtool check rules", () => {
        const r = checkRules(groups);
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, /SUCCESS: 3 rules found/);
    });

    it("fire when no backup completed for twice the schedule, and not before", () => {
        // The last success stays at t=0 (a backup at the start, then only failures).
        const r = testRules(groups, [
            {
                series: { [`kube_cronjob_status_last_successful_time{${NS}}`]: "0x1000", [`kube_cronjob_created{${NS}}`]: "0x1000" },
                expect: [
                    { at: "11h", alert: "PostgresBackupStale", firing: [] },
                    { at: "12h5m", alert: "PostgresBackupStale", firing: [labels] },
                    { at: "12h5m", alert: "PostgresBackupNeverSucceeded", firing: [] },
                    { at: "12h5m", alert: "PostgresBackupJobMissing", firing: [] },
                ],
            },
            {
                // Backups every 6 hours: the last success moves forward, so the alert never fires.
                series: {
                    [`kube_cronjob_status_last_successful_time{${NS}}`]: "0x359 21600x359 43200x359",
                    [`kube_cronjob_created{${NS}}`]: "0x1100",
                },
                expect: [{ at: "17h", alert: "PostgresBackupStale", firing: [] }],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });

    it("fire when the job never succeeded, or is gone (a missing series does not silence them)", () => {
        const r = testRules(groups, [
            {
                series: { [`kube_cronjob_created{${NS}}`]: "0x1000" },
                expect: [
                    { at: "11h", alert: "PostgresBackupNeverSucceeded", firing: [] },
                    { at: "12h5m", alert: "PostgresBackupNeverSucceeded", firing: [labels] },
                    { at: "12h5m", alert: "PostgresBackupStale", firing: [] },
                ],
            },
            {
                series: { 'kube_cronjob_created{namespace="other", cronjob="x"}': "0x200" },
                expect: [
                    { at: "30m", alert: "PostgresBackupJobMissing", firing: [] },
                    { at: "1h5m", alert: "PostgresBackupJobMissing", firing: [labels] },
                ],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });
});

describe("per-database backup and drill alerts (promtool, the exporter's hanzo_backup_* series)", () => {
    const groups = [backupDatabaseAlerts({ namespace: "hanzo", periodSeconds: 6 * 3600, drillPeriodSeconds: 24 * 3600 })];
    const ok = (kind: string, db: string) =>
        `hanzo_backup_last_run_ok{namespace="hanzo", pod="postgres-0", kind="${kind}", database="${db}"}`;
    const success = (kind: string, db: string) =>
        `hanzo_backup_last_success_timestamp_seconds{namespace="hanzo", pod="postgres-0", kind="${kind}", database="${db}"}`;

    it("pass promtool check rules", () => {
        const r = checkRules(groups);
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, /SUCCESS: 4 rules found/);
    });

    it("name the database whose backup failed as soon as the failed run is scraped, and only it", () => {
        // One sample a minute. Runs every 6 hours; at 6h the run fails for platform only (its last success stays at the 0h run).
        const r = testRules(groups, [
            {
                series: {
                    [ok("backup", "iam")]: "1x800",
                    [ok("backup", "platform")]: "1x359 0x440",
                    [success("backup", "iam")]: "0x359 21600x440",
                    [success("backup", "platform")]: "0x800",
                },
                expect: [
                    { at: "5h50m", alert: "PostgresBackupDatabaseFailed", firing: [] },
                    { at: "6h5m", alert: "PostgresBackupDatabaseFailed", firing: [{ namespace: "hanzo", database: "platform" }] },
                    { at: "6h5m", alert: "PostgresBackupDatabaseStale", firing: [] },
                    { at: "7h5m", alert: "PostgresBackupDatabaseStale", firing: [{ namespace: "hanzo", database: "platform" }] },
                ],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });

    it("name a database whose job never reported (stale), and a drill that failed or stopped", () => {
        const r = testRules(groups, [
            {
                series: {
                    // The job stopped reporting after the 0h run: iam goes stale after 7h; the drill fails from 4h.
                    [ok("backup", "iam")]: "1x800",
                    [success("backup", "iam")]: "0x800",
                    [ok("drill", "kms")]: "1x239 0x600",
                    [success("drill", "kms")]: "0x800",
                },
                expect: [
                    { at: "6h55m", alert: "PostgresBackupDatabaseStale", firing: [] },
                    { at: "7h5m", alert: "PostgresBackupDatabaseStale", firing: [{ namespace: "hanzo", database: "iam" }] },
                    { at: "3h5m", alert: "PostgresRestoreDrillFailed", firing: [] },
                    { at: "6h45m", alert: "PostgresRestoreDrillFailed", firing: [{ namespace: "hanzo", database: "kms" }] },
                    { at: "8h", alert: "PostgresRestoreDrillStale", firing: [] },
                ],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });

    it("have no drill alerts when the stack has no drill", () => {
        const only = backupDatabaseAlerts({ namespace: "hanzo", periodSeconds: 6 * 3600 });
        assert.deepStrictEqual(
            only.rules.map((x) => x.alert),
            ["PostgresBackupDatabaseFailed", "PostgresBackupDatabaseStale"],
        );
    });
});
