import * as assert from "assert";
import { PITR_RESTORE_ALERT_SECONDS, pitrDrillAlerts } from "../../render/alerts";
import { checkRules, testRules } from "../support/promtool";

/**
 * The WAL archive drill's alerts in promtool, over the series the real exporter gives for it
 * (test/db/pitrDrill.test.ts reads exactly these names and labels from it).
 */
describe("point-in-time restore drill alerts (promtool, the exporter's hanzo_backup_* series, kind pitr)", () => {
    const groups = [pitrDrillAlerts({ namespace: "hanzo", drillPeriodSeconds: 24 * 3600 })];
    const sel = 'namespace="hanzo", pod="postgres-0", kind="pitr", database="all"';
    const ns = { namespace: "hanzo" };

    it("pass promtool check rules", () => {
        const r = checkRules(groups);
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, /SUCCESS: 3 rules found/);
        assert.strictEqual(PITR_RESTORE_ALERT_SECONDS, 3600);
    });

    it("fire when the last drill failed, and when none succeeded for a period plus seven hours", () => {
        // One sample a minute; drills daily. The drill at 0h succeeded, the one at 24h failed, and then none reports.
        const r = testRules(groups, [
            {
                series: {
                    [`hanzo_backup_last_run_ok{${sel}}`]: "1x1439 0x1000",
                    [`hanzo_backup_last_success_timestamp_seconds{${sel}}`]: "0x2440",
                    // A drill of the dumps failing does not fire the archive's alerts.
                    'hanzo_backup_last_run_ok{namespace="hanzo", pod="postgres-0", kind="drill", database="iam"}': "0x2440",
                },
                expect: [
                    { at: "23h", alert: "PostgresPitrDrillFailed", firing: [] },
                    { at: "24h5m", alert: "PostgresPitrDrillFailed", firing: [ns] },
                    { at: "30h50m", alert: "PostgresPitrDrillStale", firing: [] },
                    { at: "31h5m", alert: "PostgresPitrDrillStale", firing: [ns] },
                ],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });

    it("fire when the restore took more than an hour, not at 59 minutes", () => {
        const r = testRules(groups, [
            {
                series: { [`hanzo_backup_restore_seconds{${sel}}`]: "3540x60 3720x60" },
                expect: [
                    { at: "30m", alert: "PostgresPitrRestoreSlow", firing: [] },
                    { at: "1h30m", alert: "PostgresPitrRestoreSlow", firing: [ns] },
                ],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });
});
