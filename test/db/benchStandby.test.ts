/**
 * `npm run bench:standby`'s machinery run once at a tiny size (test/harness/local/standbys.ts), so it cannot rot:
 * the lag sampler, pgbench -S on both servers, and both failovers under writes. Nothing here is timed; it asserts
 * what must hold whatever the machine: every sample sees the standby, the promoted server is a primary serving
 * the writers' later commits, and no acknowledged commit is lost in synchronous mode.
 */
import * as assert from "assert";
import { runStandbyBench } from "../../bench/standby";
import { percentile } from "../harness/local/standbys";

describe("bench:standby at a tiny size", function () {
    this.timeout(600_000);

    it("samples lag, measures reads on both servers, fails over twice, and loses nothing synchronously", async () => {
        const r = await runStandbyBench({ scale: 1, loadSeconds: 2, readSeconds: 1, clients: 2, before: 100, after: 30 }, true);
        assert.ok(r.lag.samples > 0);
        // One standby: one row of pg_stat_replication per sample, never missing.
        assert.strictEqual(r.lag.bytes.length, r.lag.samples);
        assert.ok(
            r.lag.bytes.every((b) => Number.isFinite(b) && b >= 0),
            JSON.stringify(r.lag.bytes),
        );
        assert.ok(r.lag.tps > 0 && r.readTps.primary > 0 && r.readTps.standby > 0, JSON.stringify(r.readTps));
        for (const f of [r.async, r.sync]) {
            assert.ok(f.ackedBefore >= 100, JSON.stringify(f));
            assert.ok(f.ackedAfter >= 30, JSON.stringify(f));
            assert.ok(f.promotedS > 0 && f.relabelledS >= f.promotedS && f.firstWriteS >= f.relabelledS, JSON.stringify(f));
        }
        // The failover is npm run failover's own (cli/failover.ts), through test/harness/kubectl.ts: its account.
        assert.deepStrictEqual(r.async.log, [
            "failover: postgres-0 does not exist: nothing to fence",
            "failover: postgres-standby-0 promoted (CHECKPOINT done)",
            "failover: postgres-standby-0 labelled hanzo.ai/role=primary and Ready: postgres selects it",
        ]);
        const [to, other] =
            r.sync.promoted === "postgres_standby_0"
                ? ["postgres-standby-0", "postgres-standby-1"]
                : ["postgres-standby-1", "postgres-standby-0"];
        // The WAL positions the command read after the walreceivers stopped (the bench's were read at the kill).
        const [, second, ...rest] = r.sync.log;
        assert.match(
            second,
            new RegExp(`^failover: ${to} holds the most WAL \\(${to} [0-9A-F]+/[0-9A-F]+, ${other} [0-9A-F]+/[0-9A-F]+\\)$`),
        );
        assert.deepStrictEqual(
            [r.sync.log[0], ...rest],
            [
                "failover: postgres-0 does not exist: nothing to fence",
                `failover: ${to} promoted (CHECKPOINT done)`,
                `failover: the slots ${other.replace(/-/g, "_")} exist on ${to} (1 created)`,
                `failover: ${to} labelled hanzo.ai/role=primary and Ready: postgres selects it`,
            ],
        );
        assert.deepStrictEqual(Object.keys(r.async.receiveLsns), ["postgres_standby_0"]);
        assert.strictEqual(r.async.promoted, "postgres_standby_0");
        assert.deepStrictEqual(Object.keys(r.sync.receiveLsns), ["postgres_standby_0", "postgres_standby_1"]);
        assert.strictEqual(r.sync.lost, 0);
        assert.strictEqual(percentile([3, 1, 2, 4], 50), 2);
        assert.strictEqual(percentile([3, 1, 2, 4], 100), 4);
    });
});
