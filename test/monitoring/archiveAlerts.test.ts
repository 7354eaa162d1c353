import * as assert from "assert";
import { archiveAlerts } from "../../render/alerts";
import { walBudgetBytes } from "../../render/pitr";
import { checkRules, testRules } from "../support/promtool";

const GiB = 2 ** 30;

describe("WAL archive alerts (promtool)", () => {
    const groups = [archiveAlerts({ namespace: "hanzo", volumeBytes: 50 * GiB, walBudgetBytes: walBudgetBytes(50 * GiB) })];
    const pod = { namespace: "hanzo", pod: "postgres-0" };
    const sel = 'namespace="hanzo", pod="postgres-0"';

    it("pass promtool check rules, with the budget a quarter of the volume", () => {
        assert.strictEqual(walBudgetBytes(50 * GiB), 12.5 * GiB);
        const r = checkRules(groups);
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, /SUCCESS: 3 rules found/);
    });

    it("fire when archive_command keeps failing for 5 minutes, not on one failure", () => {
        const r = testRules(groups, [
            {
                // One failure at 10m, then failures every minute from 30m.
                series: { [`pg_stat_archiver_failed_count{${sel}}`]: "0x10 1x20 1+1x30" },
                expect: [
                    { at: "14m", alert: "PostgresWalArchiveFailing", firing: [] },
                    { at: "25m", alert: "PostgresWalArchiveFailing", firing: [] },
                    { at: "33m", alert: "PostgresWalArchiveFailing", firing: [] },
                    { at: "40m", alert: "PostgresWalArchiveFailing", firing: [pod] },
                ],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });

    it("fire when nothing was archived for 5 minutes while a segment waits; an idle server (nothing waiting) stays quiet", () => {
        const r = testRules(groups, [
            {
                series: {
                    // The age grows a minute per minute: archived at 0m, never again.
                    [`pg_stat_archiver_last_archive_age{${sel}}`]: "0+60x30",
                    // Idle until 20m (nothing waits), then a segment waits.
                    [`hanzo_wal_ready_segments{${sel}}`]: "0x20 1x10",
                },
                expect: [
                    { at: "4m", alert: "PostgresWalArchiveStale", firing: [] },
                    { at: "15m", alert: "PostgresWalArchiveStale", firing: [] },
                    { at: "22m", alert: "PostgresWalArchiveStale", firing: [pod] },
                ],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });

    it("fire when pg_wal holds more than half the WAL budget for 5 minutes", () => {
        const r = testRules(groups, [
            {
                series: { [`hanzo_wal_bytes{${sel}}`]: `${GiB}x10 ${7 * GiB}x20` },
                expect: [
                    { at: "9m", alert: "PostgresWalBacklogGrowing", firing: [] },
                    { at: "13m", alert: "PostgresWalBacklogGrowing", firing: [] },
                    { at: "20m", alert: "PostgresWalBacklogGrowing", firing: [pod] },
                ],
            },
        ]);
        assert.strictEqual(r.status, 0, r.out);
    });
});
