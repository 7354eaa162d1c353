import * as assert from "assert";
import { backupAlerts } from "../../render/alerts";
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
                series: { [`kube_cronjob_status_last_successful_time{${NS}}`]: "0x359 21600x359 43200x359", [`kube_cronjob_created{${NS}}`]: "0x1100" },
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
