/**
 * The standbys' monitoring (issue 24, render/replicationAlerts.ts): the real postgres_exporter (Debian's 0.11.1,
 * the version the stacks pin) scraping a real primary and its standby as the monitoring role, with the rendered
 * query file; what it exposes read from its /metrics, then the rules checked and unit-tested in promtool on series
 * with exactly the names and labels scraped (namespace and pod added, as the PodMonitor's target labels).
 */
import * as assert from "assert";
import { ChildProcess } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPLICATION_ROLE } from "../../policies/standard/replication";
import { renderReplicationMetricsQueries, replicationAlerts } from "../../render/replicationAlerts";
import { scramVerifier } from "../../render/scram";
import { PG_BIN, PgServer, freePort, registerSecret } from "../harness/pg/server";
import { checkRules, testRules } from "../support/promtool";
import { replicationFiles, startStandby } from "../support/replication";
import { httpGet, startExporter } from "../support/exporter";
import { untilValue } from "../support/until";

const FILES = replicationFiles({ standbys: 1, synchronousStandbys: 0 });
/** A small max_slot_wal_keep_size (and max_wal_size) for this pair only, so that a slot is lost after ~100 MB of WAL. */
const KEEP = "32MB";

/** The samples of an exposition: `name{labels}` → value (comments dropped). */
function samples(body: string): Map<string, number> {
    const m = new Map<string, number>();
    for (const line of body.split("\n")) {
        const x = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
        if (x) {
            m.set(x[1], Number(x[2]));
        }
    }
    return m;
}

/** The samples of one metric, as scraped (the exporter labels each with `server="<host>:<port>"`). */
function raw(s: Map<string, number>, name: string): [string, number][] {
    return [...s].filter(([k]) => k === name || k.startsWith(`${name}{`));
}

/** The samples of one metric without the `server` label (its port differs in every run). */
function of(s: Map<string, number>, name: string): [string, number][] {
    return raw(s, name).map(([k, v]) => [
        k
            .replace(/server="[^"]*",?/, "")
            .replace(/,?\}$/, "}")
            .replace(/\{\}$/, ""),
        v,
    ]);
}

/** The value of the one sample of a metric, or undefined. */
function value(s: Map<string, number>, name: string): number | undefined {
    const r = raw(s, name);
    return r.length === 1 ? r[0][1] : undefined;
}

/** A scraped sample's name and labels as a promtool series with the target labels Prometheus adds. */
function series(sample: string, pod: string): string {
    const target = `namespace="hanzo", pod="${pod}"`;
    const i = sample.indexOf("{");
    return i < 0 ? `${sample}{${target}}` : `${sample.slice(0, i)}{${target}, ${sample.slice(i + 1, -1)}}`;
}

describe("standbys' alerts on the real exporter's metrics (primary + standby)", function () {
    this.timeout(240_000);
    let primary: PgServer;
    let standby: PgServer;
    const exporters: ChildProcess[] = [];
    let queriesDir: string;
    const scrape: Record<"primary" | "standby", () => Promise<Map<string, number>>> = {} as never;
    const seen: Record<string, string> = {};
    const monitorPassword = randomBytes(24).toString("base64url");
    const replicationPassword = randomBytes(24).toString("base64url");
    registerSecret(monitorPassword, "hanzo_monitor");
    registerSecret(replicationPassword, REPLICATION_ROLE);

    before(async () => {
        // max_wal_size as small and wal_keep_size 0 (the rendered 1GB): WAL kept for either is never a slot's to lose.
        primary = await PgServer.start(FILES, {
            max_slot_wal_keep_size: `'${KEEP}'`,
            max_wal_size: `'${KEEP}'`,
            min_wal_size: `'${KEEP}'`,
            wal_keep_size: "0",
        });
        const salt = () => randomBytes(16).toString("base64");
        primary.psql(
            `CREATE ROLE hanzo_monitor LOGIN PASSWORD '${scramVerifier(monitorPassword, salt())}' IN ROLE pg_monitor;
             CREATE ROLE ${REPLICATION_ROLE} LOGIN REPLICATION PASSWORD '${scramVerifier(replicationPassword, salt())}';
             CREATE DATABASE app;`,
        );
        const r = await startStandby(FILES, primary, replicationPassword);
        standby = r.server;
        assert.strictEqual(r.run.status, 0, r.run.stderr);
        queriesDir = fs.mkdtempSync(path.join(os.tmpdir(), "exporter-queries-"));
        fs.writeFileSync(path.join(queriesDir, "queries.yaml"), renderReplicationMetricsQueries());
        for (const [name, server] of [
            ["primary", primary],
            ["standby", standby],
        ] as const) {
            const port = await freePort();
            exporters.push(startExporter(port, server.port, "hanzo_monitor", monitorPassword, path.join(queriesDir, "queries.yaml")));
            scrape[name] = () =>
                untilValue(`the ${name}'s exporter`, async () => {
                    try {
                        const r = await httpGet(`http://127.0.0.1:${port}/metrics`);
                        return r.status === 200 && /^pg_up 1$/m.test(r.body) ? samples(r.body) : undefined;
                    } catch {
                        return undefined;
                    }
                });
        }
    });

    after(() => {
        for (const e of exporters) {
            e.kill();
        }
        if (queriesDir) {
            fs.rmSync(queriesDir, { recursive: true, force: true });
        }
        for (const s of [standby, primary]) {
            try {
                s?.stop();
            } catch (e) {
                console.error((e as Error).message);
            }
        }
    });

    it("exposes the standby count and the slot (with wal_status) on the primary, the lag on the standby, nothing else of them", async () => {
        const p = await untilValue("the primary's exporter to see the standby streaming", async () => {
            const s = await scrape.primary();
            return value(s, "hanzo_replication_streaming_standbys") === 1 ? s : undefined;
        });
        assert.deepStrictEqual(of(p, "hanzo_replication_streaming_standbys"), [["hanzo_replication_streaming_standbys", 1]]);
        const slot = of(p, "hanzo_replication_slot_retained_bytes");
        assert.deepStrictEqual(
            slot.map(([k]) => k),
            ['hanzo_replication_slot_retained_bytes{slot_name="postgres_standby_0",wal_status="reserved"}'],
        );
        assert.ok(slot[0][1] >= 0);
        assert.deepStrictEqual(
            of(p, "hanzo_replication_slot_safe_wal_size_bytes").map(([k]) => k),
            ['hanzo_replication_slot_safe_wal_size_bytes{slot_name="postgres_standby_0",wal_status="reserved"}'],
        );
        assert.deepStrictEqual(of(p, "hanzo_replication_lag_seconds"), []);
        // What 0.11.1 has built in: bytes of lag on the primary, the slot's bytes and activity; no seconds, no wal_status.
        // (0.11.1 labels it slot_name with the walsender's pid.)
        const walsender = primary.psql("\\pset tuples_only on\nSELECT pid FROM pg_stat_replication").trim();
        assert.deepStrictEqual(
            of(p, "pg_stat_replication_pg_wal_lsn_diff").map(([k]) => k),
            [
                `pg_stat_replication_pg_wal_lsn_diff{application_name="postgres_standby_0",client_addr="127.0.0.1",slot_name="${walsender}",state="streaming"}`,
            ],
        );
        assert.deepStrictEqual(
            of(p, "pg_replication_slots_pg_wal_lsn_diff").map(([k]) => k),
            ['pg_replication_slots_pg_wal_lsn_diff{database="",slot_name="postgres_standby_0"}'],
        );
        assert.deepStrictEqual(of(p, "pg_replication_lag_seconds"), []);
        assert.deepStrictEqual(of(p, "pg_replication_lag"), []);
        seen.streaming = raw(p, "hanzo_replication_streaming_standbys")[0][0];
        seen.slot = raw(p, "hanzo_replication_slot_retained_bytes")[0][0];
        // The server's max_slot_wal_keep_size, which the slot alert compares with.
        assert.deepStrictEqual(of(p, "pg_settings_max_slot_wal_keep_size_bytes"), [
            ["pg_settings_max_slot_wal_keep_size_bytes", 32 * 2 ** 20],
        ]);
        seen.keep = raw(p, "pg_settings_max_slot_wal_keep_size_bytes")[0][0];

        const s = await untilValue("the standby's exporter to see it caught up", async () => {
            const m = await scrape.standby();
            return value(m, "hanzo_replication_lag_seconds") === 0 ? m : undefined;
        });
        assert.deepStrictEqual(of(s, "hanzo_replication_lag_seconds"), [["hanzo_replication_lag_seconds", 0]]);
        assert.deepStrictEqual(of(s, "hanzo_replication_streaming_standbys"), []);
        assert.deepStrictEqual(of(s, "hanzo_replication_slot_retained_bytes"), []);
        seen.lag = raw(s, "hanzo_replication_lag_seconds")[0][0];
    });

    it("shows the standby's lag in seconds once its replay stops behind what it received", async () => {
        // A transaction replayed first: the lag is the age of the last one replayed (none yet after the clone).
        primary.psql("CREATE TABLE first AS SELECT 1 AS one", {}, "app");
        const first = primary.psql("\\pset tuples_only on\nSELECT pg_current_wal_lsn()").trim();
        await untilValue("the standby to replay it", async () =>
            standby.psql(`\\pset tuples_only on\nSELECT pg_last_wal_replay_lsn() >= '${first}'`).trim() === "t" ? true : undefined,
        );
        standby.psql("SELECT pg_wal_replay_pause()");
        primary.psql("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g", {}, "app");
        const lsn = primary.psql("\\pset tuples_only on\nSELECT pg_current_wal_lsn()").trim();
        await untilValue("the standby to receive the write", async () =>
            standby.psql(`\\pset tuples_only on\nSELECT pg_last_wal_receive_lsn() >= '${lsn}'`).trim() === "t" ? true : undefined,
        );
        const s = await untilValue("a lag above 0", async () => {
            const m = await scrape.standby();
            return (value(m, "hanzo_replication_lag_seconds") ?? 0) > 0 ? m : undefined;
        });
        assert.ok(value(s, "hanzo_replication_lag_seconds")! > 0);
        standby.psql("SELECT pg_wal_replay_resume()");
    });

    it("shows the standby missing, then its slot past max_slot_wal_keep_size (lost)", async () => {
        standby.runAsPostgres(`${PG_BIN}/pg_ctl`, ["-D", standby.dataDir, "-m", "immediate", "-w", "stop"]);
        await untilValue("the primary's exporter to count no standby", async () =>
            value(await scrape.primary(), "hanzo_replication_streaming_standbys") === 0 ? true : undefined,
        );
        // More WAL than max_slot_wal_keep_size, then a checkpoint: the inactive slot is invalidated.
        primary.psql("CREATE TABLE w AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 400000) g; CHECKPOINT;", {}, "app");
        let slots: [string, number][] = [];
        const p = await untilValue("the slot to be lost", async () => {
            const m = await scrape.primary();
            slots = of(m, "hanzo_replication_slot_retained_bytes");
            return slots.some(([k]) => k.includes('wal_status="lost"')) ? m : undefined;
        }).catch((e) => {
            throw new Error(`${(e as Error).message}: ${JSON.stringify(slots)} ${primary.psql("SELECT * FROM pg_replication_slots")}`);
        });
        assert.deepStrictEqual(of(p, "hanzo_replication_slot_retained_bytes"), [
            ['hanzo_replication_slot_retained_bytes{slot_name="postgres_standby_0",wal_status="lost"}', 0],
        ]);
        seen.lost = raw(p, "hanzo_replication_slot_retained_bytes")[0][0];
    });

    describe("the rules in promtool, on the scraped series", () => {
        const groups = [replicationAlerts({ namespace: "hanzo", standbys: 1 })];

        it("pass promtool check rules", () => {
            const r = checkRules(groups);
            assert.strictEqual(r.status, 0, r.out);
            assert.match(r.out, /SUCCESS: 4 rules found/);
        });

        it("fire on a lag above 60 s for 5 minutes, not on a short one", () => {
            const standbyPod = { namespace: "hanzo", pod: "postgres-standby-0" };
            const r = testRules(groups, [
                {
                    series: { [series(seen.lag, "postgres-standby-0")]: "0x5 90x3 0x5 90x10" },
                    expect: [
                        { at: "8m", alert: "PostgresReplicationLag", firing: [] },
                        { at: "14m", alert: "PostgresReplicationLag", firing: [] },
                        { at: "23m", alert: "PostgresReplicationLag", firing: [standbyPod] },
                    ],
                },
            ]);
            assert.strictEqual(r.status, 0, r.out);
        });

        it("fire when a slot holds more than half of max_slot_wal_keep_size for 10 minutes, and at once when it is lost", () => {
            const labels = { namespace: "hanzo", pod: "postgres-0", slot_name: "postgres_standby_0" };
            const r = testRules(groups, [
                {
                    series: {
                        // max_slot_wal_keep_size 32MB (as scraped): 10MB held, then 20MB.
                        [series(seen.keep, "postgres-0")]: `${32 * 2 ** 20}x25`,
                        [series(seen.slot, "postgres-0")]: `${10 * 2 ** 20}x5 ${20 * 2 ** 20}x20`,
                        [series(seen.lost, "postgres-0")]: "_x20 0x5",
                    },
                    expect: [
                        { at: "10m", alert: "PostgresReplicationSlotRetainingWal", firing: [] },
                        { at: "17m", alert: "PostgresReplicationSlotRetainingWal", firing: [labels] },
                        { at: "19m", alert: "PostgresReplicationSlotLost", firing: [] },
                        { at: "21m", alert: "PostgresReplicationSlotLost", firing: [{ ...labels, wal_status: "lost" }] },
                    ],
                },
            ]);
            assert.strictEqual(r.status, 0, r.out);
        });

        it("fire when fewer standbys stream than the stack has, for 5 minutes", () => {
            const r = testRules(groups, [
                {
                    series: { [series(seen.streaming, "postgres-0")]: "1x5 0x2 1x5 0x10" },
                    expect: [
                        { at: "11m", alert: "PostgresStandbyMissing", firing: [] },
                        { at: "18m", alert: "PostgresStandbyMissing", firing: [] },
                        { at: "21m", alert: "PostgresStandbyMissing", firing: [{ namespace: "hanzo" }] },
                    ],
                },
            ]);
            assert.strictEqual(r.status, 0, r.out);
        });
    });
});
